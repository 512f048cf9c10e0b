// The main-thread side of the stress and fault suite: builds a shared primitive, runs `workers` stress workers
// (test/helpers/stress-worker.ts) over it, optionally terminates one in the middle of its work, and checks the
// ownership map afterwards. Used by test/stress.test.ts (CI size) and bench/stress.ts (full size).
import { Worker } from "node:worker_threads";
import { ConcurrentHeap, NULL, SharedArrayBufferBacked, SharedBumpArena } from "../../src/index.js";
import { type StressJob, type StressResult, controlWords, heapIdWord, queueBuffer } from "./stress-worker.js";

/** One stress run. */
export interface StressOptions {
  kind: "bump" | "slab" | "heap";
  workers: number;
  /** Operations per worker (allocations, frees, resets, remote frees). */
  ops: number;
  seed: number;
  /** Bytes of shared memory. */
  bytes: number;
  /** Terminate worker 2 once it has done this many operations (a fault); the others run solo. */
  terminateAfter?: number;
}

/** What a run found. */
export interface StressReport {
  results: StressResult[];
  /** Operations run by all workers (the terminated one's up to its end, as far as it published them). */
  ops: number;
  duplicates: number;
  lost: number;
  corrupted: number;
  /** Workers terminated in the middle of their work. */
  faults: number;
  /** Granules still claimed after the run by a worker that finished (should be 0: nothing leaked or lost). */
  leftover: number;
  /** After a fault: blocks the main thread allocated afterwards that collided with a live block (should be 0). */
  collisionsAfterFault: number;
  /** After a fault on a `ConcurrentHeap`: the pages `reclaim` took over from the terminated worker. */
  reclaimedPages: number;
  /** Statistics of the primitive read from the main thread at the end. */
  stats: Record<string, number>;
}

const WORKER = new URL("./stress-worker.js", import.meta.url);

/** Runs one stress configuration to the end. */
export async function runStress(o: StressOptions): Promise<StressReport> {
  const map = new SharedArrayBuffer(4 * (o.bytes >>> 3));
  const control = new SharedArrayBuffer(4 * controlWords(o.workers));
  const fault = o.terminateAfter !== undefined;
  const queues = Array.from({ length: o.workers }, () => Array.from({ length: o.workers }, queueBuffer));
  let arena: SharedBumpArena | undefined;
  let heap: ConcurrentHeap | undefined;
  let memory: SharedArrayBuffer | undefined;
  if (o.kind === "bump") arena = new SharedBumpArena(new SharedArrayBufferBacked(o.bytes));
  if (o.kind === "heap") heap = new ConcurrentHeap(new SharedArrayBufferBacked(o.bytes));
  if (o.kind === "slab") memory = new SharedArrayBuffer(o.bytes);
  const workers: Worker[] = [];
  const results: Promise<StressResult | null>[] = [];
  for (let id = 1; id <= o.workers; id++) {
    const job: StressJob = {
      kind: o.kind,
      id,
      workers: fault ? 1 : o.workers,
      ops: o.ops,
      seed: o.seed * 1000 + id,
      map,
      control,
      queues,
      ...(memory ? { memory } : {}),
      ...(arena ? { arena: arena.share() } : {}),
      ...(heap ? { heap: heap.share() } : {}),
      ...(fault ? { rounds: 1, reset: false } : {}),
    };
    const w = new Worker(WORKER, { workerData: job });
    workers.push(w);
    results.push(
      new Promise((resolve, reject) => {
        w.on("message", (m: { result?: StressResult; descriptor?: unknown }) => {
          if (m.descriptor !== undefined) for (const other of workers.slice(1)) other.postMessage(m);
          if (m.result !== undefined) resolve(m.result);
        });
        w.once("error", reject);
        w.once("exit", () => resolve(null)); // terminated (or exited) without a result
      }),
    );
  }
  let faults = 0;
  if (fault) {
    const progress = new Int32Array(control);
    let exited = false;
    workers[1]!.once("exit", () => (exited = true));
    while (!exited && Atomics.load(progress, 2 + 2) < o.terminateAfter!)
      await new Promise((r) => setTimeout(r, 1));
    if (!exited) faults++; // terminated in the middle of its work (not after it)
    await workers[1]!.terminate();
  }
  const done = await Promise.all(results);
  const finished = done.filter((r): r is StressResult => r !== null);
  const owners = new Int32Array(map);
  let leftover = 0;
  const survivors = new Set(finished.map((r) => r.id));
  for (let g = 0; g < owners.length; g++) if (owners[g] !== 0 && survivors.has(owners[g]!)) leftover++;
  // After a fault, the main thread keeps allocating: none of its blocks may collide with a live block of anyone.
  let collisionsAfterFault = 0;
  let reclaimedPages = 0;
  if (fault && heap) {
    // The terminated worker never released its pages: take them over (its free slots come back, its live blocks stay
    // live), and the heap must be consistent.
    const id = Atomics.load(new Int32Array(control), heapIdWord(o.workers, 2)) - 1; // worker 2's heap id
    if (id >= 0) reclaimedPages = heap.reclaim(id);
    heap.validate();
  }
  if (fault) {
    const alloc = (n: number): number => (arena ? arena.allocate(n) : heap ? heap.malloc(n) : NULL);
    for (let i = 0; i < 10_000; i++) {
      const p = alloc(32);
      if (p === NULL) break;
      for (let g = p >>> 3; g <= (p + 31) >>> 3; g++)
        if (Atomics.compareExchange(owners, g, 0, 99) !== 0) collisionsAfterFault++;
    }
  }
  const progress = new Int32Array(control);
  const terminatedOps = fault ? Atomics.load(progress, 2 + 2) : 0;
  const sum = (f: (r: StressResult) => number): number => finished.reduce((a, r) => a + f(r), 0);
  const stats: Record<string, number> = {};
  if (arena) Object.assign(stats, arena.stats());
  if (heap) {
    const s = heap.stats() as unknown as Record<string, number>;
    for (const k of Object.keys(s)) if (typeof s[k] === "number") stats[k] = s[k]!;
  }
  return {
    results: finished,
    ops: sum((r) => r.ops) + terminatedOps,
    duplicates: sum((r) => r.duplicates),
    lost: sum((r) => r.lost),
    corrupted: sum((r) => r.corrupted),
    faults,
    leftover,
    collisionsAfterFault,
    reclaimedPages,
    stats,
  };
}
