// Adaptive batching (the Rust crate's `adaptive_batch` bench): a SlabOwner allocates while a worker frees every
// block remotely through a SlabRemote, and the owner takes the frees back in batches under each BatchPolicy:
// fixed 8, 64 and 128, and adaptive (8 .. 128 by how full the ring is). The owner allocates `--ops` blocks of 64
// bytes from a slab of 4,096 and sends them to the worker 256 at a time; when the slab is empty it drains, and if the
// worker has not freed anything yet it waits (a stall). A run's figure is the owner's ns per allocation, stalls
// included; each round runs every policy once (a fresh owner and worker each, in a rotated order) and the table
// reports the median over rounds. `node build/bench/adaptive-batch.js [--rounds=N] [--ops=N] [--write]`.
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import {
  BatchPolicy,
  SharedArrayBufferBacked,
  SlabOwner,
  SlabRemote,
  type SlabRemoteDescriptor,
} from "../src/index.js";
import { type Bar, machine, numberArg, progress, publish } from "./output.js";

const BATCH = 256;

if (!isMainThread) {
  const remote = SlabRemote.attach(workerData as SlabRemoteDescriptor);
  parentPort!.on("message", (batch: Int32Array | null) => {
    if (batch === null) {
      parentPort!.postMessage("done");
      parentPort!.close();
      return;
    }
    for (let i = 0; i < batch.length; i++) remote.deallocate(batch[i]!);
  });
  parentPort!.postMessage("ready");
} else {
  const rounds = numberArg("rounds", 5);
  const ops = numberArg("ops", 1_000_000);
  const self = fileURLToPath(import.meta.url);
  const policies: [string, () => BatchPolicy][] = [
    ["fixed 8", () => BatchPolicy.fixed(8)],
    ["fixed 64 (the default)", () => BatchPolicy.fixed(64)],
    ["fixed 128", () => BatchPolicy.fixed(128)],
    ["adaptive", () => BatchPolicy.adaptive()],
  ];
  const pause = new Int32Array(new SharedArrayBuffer(4));

  interface Run {
    ns: number;
    stalls: number;
    threshold: number;
  }

  const run = async (policy: BatchPolicy): Promise<Run> => {
    const owner = new SlabOwner(new SharedArrayBufferBacked(1 << 20), {
      blockSize: 64,
      capacity: 4096,
      policy,
      ringCapacity: 1024,
    });
    const worker = new Worker(self, { workerData: owner.share() });
    const messages: string[] = [];
    let wake: (() => void) | null = null;
    worker.on("message", (m: string) => {
      messages.push(m);
      wake?.();
    });
    const next = (what: string): Promise<void> =>
      messages.includes(what)
        ? Promise.resolve()
        : new Promise<void>((done) => (wake = () => messages.includes(what) && done()));
    await next("ready");
    let stalls = 0;
    let batch = new Int32Array(BATCH);
    let n = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) {
      let p = owner.allocate(64);
      while (p === 0) {
        stalls++;
        Atomics.wait(pause, 0, 0, 0.05); // the worker has not freed anything yet: a short pause, not a spin
        p = owner.allocate(64);
      }
      batch[n++] = p;
      if (n === BATCH) {
        worker.postMessage(batch, [batch.buffer]);
        batch = new Int32Array(BATCH);
        n = 0;
      }
    }
    const ns = Number(process.hrtime.bigint() - t0);
    worker.postMessage(batch.subarray(0, n));
    worker.postMessage(null);
    const draining = setInterval(() => owner.drain(), 1); // the worker may still be freeing: keep the ring moving
    await next("done");
    clearInterval(draining);
    await worker.terminate();
    const threshold = owner.currentThreshold();
    owner.close();
    return { ns: ns / ops, stalls, threshold };
  };

  const results = policies.map(() => [] as Run[]);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < policies.length; k++) {
      const j = (k + r) % policies.length;
      results[j]!.push(await run(policies[j]![1]()));
      progress(r * policies.length + k + 1, rounds * policies.length, policies[j]![0]);
    }
  }

  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const base = median(results[1]!.map((x) => x.ns));
  const rows = [
    "| policy | owner ns per allocation (median) | spread of runs | stalls per run (median) | threshold at the end | vs fixed 64 |",
    "|---|---|---|---|---|---|",
    ...policies.map(([name], i) => {
      const ns = results[i]!.map((x) => x.ns);
      const m = median(ns);
      return `| ${name} | ${m.toFixed(1)} | ${Math.min(...ns).toFixed(1)} .. ${Math.max(...ns).toFixed(1)} | ${median(results[i]!.map((x) => x.stalls))} | ${results[i]!.map((x) => x.threshold).join(", ")} | ${(m / base).toFixed(2)}x |`;
    }),
  ];
  const bars: Bar[] = policies.map(([name], i) => ({
    group: "owner allocation with remote frees",
    label: name,
    value: median(results[i]!.map((x) => x.ns)),
  }));
  publish({
    section: "adaptive-batch",
    title: "Remote frees: fixed and adaptive batch policies",
    setup: `${machine()}; ${rounds} rounds; ${ops} allocations of 64 B per run from a slab of 4,096, a ring of 1,024, every block freed by one worker in batches of ${BATCH}.`,
    table: rows.join("\n"),
    charts: [
      {
        title: "owner ns per allocation, remote frees included",
        unit: "ns/alloc",
        lowerIsBetter: true,
        bars,
      },
    ],
  });
}
