// One heap across processes: ConcurrentHeap allocate/free throughput with 1, 2 and 4 processes attached to one
// SharedMmapBacked (forked children, each joining the heap through /proc/<parent>/fd), against the same work done
// by 1, 2 and 4 worker threads of one process over a SharedArrayBuffer. Every participant runs the churn of
// bench/workers.ts (free + malloc of 16..527 B, 1024 live blocks each), first untimed (WARMUP steps: the timed loop
// is optimized code), then timed after a common start signal (a futex on a word of the mapping for the processes,
// Atomics.wait for the threads); the aggregate rate is total operations / the slowest participant's time; each cell
// is the median of `--rounds` runs. A second table times SharedBumpArena across 1 and 2 processes the same way
// (32-byte allocations from one arena in a SharedMmapBacked, `--bump-ops` each after BUMP_WARMUP untimed).
// `node build/bench/processes.js [--ops=N] [--bump-ops=N] [--rounds=N] [--write]`.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import {
  ConcurrentHeap,
  type ConcurrentHeapDescriptor,
  NULL,
  SharedArrayBufferBacked,
  SharedBumpArena,
} from "../src/index.js";
import { type SharedMappingDescriptor, SharedMmapBacked } from "../src/os.js";
import { SeededRandom } from "../src/testing/index.js";
import { runProcessCache } from "../examples/process-cache.js";
import { type Bar, machine, numberArg, progress, publish } from "./output.js";

/** Operations per participant. */
const OPS: number = numberArg("ops", 2_000_000);
const WARMUP = 300_000;
/** The word of the mapping (or of the threads' start buffer) the participants wait on. */
const START = 64;
const COUNTS = [1, 2, 4] as const;
/** SharedBumpArena: 32-byte allocations per participant (timed), after BUMP_WARMUP untimed. */
const BUMP_OPS: number = numberArg("bump-ops", 1_000_000);
const BUMP_WARMUP = 1_000_000;
const BUMP_COUNTS = [1, 2] as const;

/** The churn of bench/workers.ts: returns the nanoseconds of the timed part. */
function churn(heap: ConcurrentHeap, ops: number, seed: number, waitForStart: () => void): number {
  const rng = new SeededRandom(seed);
  const live = new Int32Array(1024);
  for (let i = 0; i < 1024; i++) live[i] = heap.malloc(16 + (rng.nextU32() & 511));
  const steps = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const k = rng.nextU32() & 1023;
      heap.free(live[k]!);
      live[k] = heap.malloc(16 + (rng.nextU32() & 511));
    }
  };
  steps(WARMUP);
  waitForStart();
  const t0 = process.hrtime.bigint();
  steps(ops);
  const ns = Number(process.hrtime.bigint() - t0);
  for (let i = 0; i < 1024; i++) heap.free(live[i]!);
  return ns;
}

interface ProcessJob {
  mapping: SharedMappingDescriptor;
  ops: number;
  seed: number;
}

/** SharedBumpArena's participant: warm up, wait for the start, allocate `ops` 32-byte blocks; the timed ns. */
function bumpChurn(arena: SharedBumpArena, ops: number, waitForStart: () => void): number {
  let sum = 0;
  // one loop for the warm-up and the timed run, so the timed run is the code the warm-up optimized
  const steps = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const p = arena.allocate(32);
      if (p === NULL) throw new Error("bench/processes: the bump arena is too small");
      sum += p;
    }
  };
  steps(BUMP_WARMUP);
  waitForStart();
  const t0 = process.hrtime.bigint();
  steps(ops);
  const ns = Number(process.hrtime.bigint() - t0);
  if (sum === 0) throw new Error("unreachable");
  return ns;
}

if (process.argv.includes("--bump-child")) {
  process.once("message", (job: ProcessJob) => {
    const shared = SharedMmapBacked.attach(job.mapping);
    const arena = SharedBumpArena.join(shared);
    const ns = bumpChurn(arena, job.ops, () => {
      Atomics.add(shared.memory.i32, (START >>> 2) + 1, 1); // ready
      while (Atomics.load(shared.memory.i32, START >>> 2) === 0) shared.wait(START, 0, 1000);
    });
    arena.leave();
    shared.dispose();
    process.send!(ns, () => process.exit(0));
  });
} else if (process.argv.includes("--child")) {
  // a forked participant: join the heap, get ready, wait for the start word, run, report
  process.once("message", (job: ProcessJob) => {
    const shared = SharedMmapBacked.attach(job.mapping);
    const heap = ConcurrentHeap.join(shared);
    const ns = churn(heap, job.ops, job.seed, () => {
      Atomics.add(shared.memory.i32, (START >>> 2) + 1, 1); // ready
      while (Atomics.load(shared.memory.i32, START >>> 2) === 0) shared.wait(START, 0, 1000);
    });
    heap.release();
    shared.dispose();
    process.send!(ns, () => process.exit(0));
  });
} else if (!isMainThread) {
  const job = workerData as {
    heap: ConcurrentHeapDescriptor;
    start: SharedArrayBuffer;
    ops: number;
    seed: number;
  };
  const heap = ConcurrentHeap.attach(job.heap);
  const go = new Int32Array(job.start);
  const ns = churn(heap, job.ops, job.seed, () => {
    Atomics.add(go, 1, 1);
    Atomics.wait(go, 0, 0);
  });
  heap.release();
  parentPort!.postMessage(ns);
} else {
  const rounds = numberArg("rounds", 3);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const steps = COUNTS.length * 2 + BUMP_COUNTS.length + 1;
  let done = 0;

  /**
   * Forks `n` children running `mode` over `shared` (each gets the mapping, `ops` and its seed), waits until all of
   * them stand at the start word, starts them together, and returns the slowest one's nanoseconds.
   */
  async function forkAndTime(
    shared: SharedMmapBacked,
    mode: string,
    n: number,
    ops: number,
  ): Promise<number> {
    const script = fileURLToPath(import.meta.url);
    const results = Array.from({ length: n }, (_, k) => {
      const child = fork(script, [mode], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
      child.send({ mapping: shared.share(), ops, seed: k + 1 } satisfies ProcessJob);
      return new Promise<number>((resolve, reject) => {
        child.once("message", (ns: number) => resolve(ns));
        child.once(
          "exit",
          (code) => code !== 0 && reject(new Error(`a benchmark child exited with ${code}`)),
        );
      });
    });
    const i32 = shared.memory.i32;
    while (Atomics.load(i32, (START >>> 2) + 1) < n) await new Promise((r) => setTimeout(r, 2));
    Atomics.store(i32, START >>> 2, 1);
    shared.notify(START);
    return Math.max(...(await Promise.all(results)));
  }

  /** n forked processes on one SharedMmapBacked heap: the slowest one's nanoseconds. */
  async function runProcesses(n: number): Promise<number> {
    using shared = new SharedMmapBacked(64 << 20);
    const heap = new ConcurrentHeap(shared); // formats it; the parent stays attached, idle
    const ns = await forkAndTime(shared, "--child", n, OPS);
    heap.release();
    return ns;
  }

  /** n forked processes allocating from one SharedBumpArena: the slowest one's nanoseconds. */
  async function runBumpProcesses(n: number): Promise<number> {
    using shared = new SharedMmapBacked(n * (BUMP_OPS + BUMP_WARMUP) * 32 + (4 << 20));
    const arena = new SharedBumpArena(shared); // formats it; the parent stays joined, idle
    const ns = await forkAndTime(shared, "--bump-child", n, BUMP_OPS);
    arena.release();
    return ns;
  }

  /** n worker threads on one SharedArrayBuffer heap: the slowest one's nanoseconds. */
  async function runThreads(n: number): Promise<number> {
    const heap = new ConcurrentHeap(new SharedArrayBufferBacked(64 << 20));
    const start = new SharedArrayBuffer(8);
    const go = new Int32Array(start);
    const results = Array.from({ length: n }, (_, k) => {
      const w = new Worker(new URL(import.meta.url), {
        workerData: { heap: heap.share(), start, ops: OPS, seed: k + 1 },
      });
      return new Promise<number>((resolve, reject) => (w.once("message", resolve), w.once("error", reject)));
    });
    while (Atomics.load(go, 1) < n) await new Promise((r) => setTimeout(r, 2));
    Atomics.store(go, 0, 1);
    Atomics.notify(go, 0);
    const ns = Math.max(...(await Promise.all(results)));
    heap.release();
    return ns;
  }

  const rate: Record<string, number[]> = { processes: [], workers: [] };
  for (const [kind, run] of [
    ["processes", runProcesses],
    ["workers", runThreads],
  ] as const) {
    for (const n of COUNTS) {
      const samples: number[] = [];
      for (let r = 0; r < rounds; r++) samples.push(await run(n));
      rate[kind]!.push(((n * OPS) / median(samples)) * 1000);
      progress(++done, steps, `${kind} x ${n}`);
    }
  }
  const bumpRate: number[] = [];
  for (const n of BUMP_COUNTS) {
    const samples: number[] = [];
    for (let r = 0; r < rounds; r++) samples.push(await runBumpProcesses(n));
    bumpRate.push(((n * BUMP_OPS) / median(samples)) * 1000);
    progress(++done, steps, `SharedBumpArena, processes x ${n}`);
  }
  const bars: Bar[] = [];
  const rows = [
    "| participants | processes: aggregate Mops/s | workers: aggregate Mops/s | processes / workers | processes: scaling vs 1 |",
    "|---|---|---|---|---|",
  ];
  COUNTS.forEach((n, i) => {
    const p = rate["processes"]![i]!;
    const w = rate["workers"]![i]!;
    bars.push(
      { group: `${n} participant${n > 1 ? "s" : ""}`, label: "processes (SharedMmapBacked)", value: p },
      { group: `${n} participant${n > 1 ? "s" : ""}`, label: "workers (SharedArrayBuffer)", value: w },
    );
    rows.push(
      `| ${n} | ${p.toFixed(1)} | ${w.toFixed(1)} | ${(p / w).toFixed(2)}x | ${(p / rate["processes"]![0]!).toFixed(2)}x |`,
    );
  });
  rows.push(
    "",
    "| SharedBumpArena across processes (32 B allocations) | aggregate Mops/s | scaling vs 1 |",
    "|---|---|---|",
    ...BUMP_COUNTS.map(
      (n, i) =>
        `| ${n} process${n > 1 ? "es" : ""} | ${bumpRate[i]!.toFixed(1)} | ${(bumpRate[i]! / bumpRate[0]!).toFixed(2)}x |`,
    ),
  );
  // the recipe: processes sharing one cache of records (examples/process-cache.ts), timed once
  const recipe = await runProcessCache(3, 2000, 4000, () => undefined);
  progress(++done, steps, "the cache recipe");
  rows.push(
    "",
    "| recipe (examples/process-cache.ts) | processes | records inserted | evicted | lookups | hits | ms (fork to validate) |",
    "|---|---|---|---|---|---|---|",
    `| one cache of 4,000 records, one heap | ${recipe.processes} | ${recipe.inserted} | ${recipe.evicted} | ${recipe.lookups} | ${recipe.hits} | ${recipe.ms.toFixed(0)} |`,
  );
  publish({
    section: "processes",
    title: "One heap across processes",
    setup:
      `${machine()}. ConcurrentHeap, free + malloc of 16..527 B with 1024 live blocks per participant, ` +
      `${OPS.toLocaleString("en")} timed operations each after ${WARMUP.toLocaleString("en")} untimed; median of ` +
      `${rounds} runs. Processes are forked children attached to one SharedMmapBacked (a memfd mapped MAP_SHARED); ` +
      `workers are threads of one process over a SharedArrayBuffer. More participants than cores share them. ` +
      `SharedBumpArena: ${BUMP_OPS.toLocaleString("en")} timed 32-byte allocations per process after ` +
      `${BUMP_WARMUP.toLocaleString("en")} untimed, from one arena in a SharedMmapBacked.`,
    table: rows.join("\n"),
    charts: [
      {
        title: "ConcurrentHeap: processes against workers",
        unit: "aggregate Mops/s",
        lowerIsBetter: false,
        bars,
      },
    ],
  });
}
