// NUMA placement per worker: the pure plan on synthetic topologies, and on this machine a ConcurrentHeap whose
// every page is bound to the worker's node and read back there.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import { AllocError, ArrayBufferBacked, ConcurrentHeap } from "../index.js";
import {
  NumaPagePlacement,
  SharedMmapBacked,
  currentNumaNode,
  nodeOfCpu,
  numaTopology,
  pinThread,
  planWorkerPlacement,
  threadAffinity,
} from "../os.js";
import { CORE, OS, runChild } from "../../test/helpers/child.js";
import { needs } from "../../test/helpers/host.js";

/** Four nodes: 0 and 1 with four CPUs each, 2 with memory only, 3 with two CPUs listed out of order. */
const SYNTHETIC = {
  nodes: [
    { id: 1, cpus: [4, 5, 6, 7], memTotalBytes: 1 << 30 },
    { id: 0, cpus: [0, 1, 2, 3], memTotalBytes: 1 << 30 },
    { id: 2, cpus: [], memTotalBytes: 1 << 30 },
    { id: 3, cpus: [9, 8], memTotalBytes: 1 << 30 },
  ],
};

describe("the placement plan (pure)", () => {
  test("workers spread round-robin over the nodes that have CPUs, in node order", () => {
    const nodes = [0, 1, 2, 3, 4, 5].map((w) => planWorkerPlacement(SYNTHETIC, w, "node").node);
    assert.deepEqual(nodes, [0, 1, 3, 0, 1, 3]); // node 2 has no CPU: no worker runs there
    assert.deepEqual(planWorkerPlacement(SYNTHETIC, 2, "node").cpus, [8, 9]);
  });

  test('"cpu" pins the workers of a node to its CPUs in turn', () => {
    const cpus = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((w) => planWorkerPlacement(SYNTHETIC, w, "cpu").cpus);
    assert.deepEqual(cpus, [[0], [4], [8], [1], [5], [9], [2], [6], [8]]);
  });

  test("nodeOfCpu finds the node of a CPU, -1 for none", () => {
    assert.equal(nodeOfCpu(SYNTHETIC, 6), 1);
    assert.equal(nodeOfCpu(SYNTHETIC, 8), 3);
    assert.equal(nodeOfCpu(SYNTHETIC, 10), -1);
  });

  test("bad input is refused", () => {
    for (const w of [-1, 1.5, NaN, "0" as unknown as number])
      assert.throws(() => planWorkerPlacement(SYNTHETIC, w, "node"), AllocError);
    assert.throws(
      () => planWorkerPlacement({ nodes: [{ id: 0, cpus: [], memTotalBytes: 0 }] }, 0, "cpu"),
      AllocError,
    );
    assert.throws(() => pinThread([]), AllocError);
    assert.throws(() => pinThread([-1]), AllocError);
    assert.throws(() => new NumaPagePlacement(new ArrayBufferBacked(1 << 16) as never), AllocError);
  });
});

describe("NumaPagePlacement on this machine", needs("linux", "addon", "numa"), () => {
  test("every page the heap takes is bound to the worker's node and read back there", () => {
    using shared = new SharedMmapBacked(8 << 20);
    assert.throws(
      () => new NumaPagePlacement(shared, { pin: "all" as never }),
      (e: unknown) => e instanceof AllocError && /pin/.test((e as Error).message),
    );
    const placement = new NumaPagePlacement(shared);
    const heap = new ConcurrentHeap(shared, { placement });
    const blocks: number[] = [];
    for (let i = 0; i < 3000; i++) blocks.push(heap.malloc(16 + (i % 64) * 16)); // several classes, many pages
    blocks.push(heap.malloc(200_000)); // a large block: four pages at once
    const stats = heap.stats();
    const placed = stats.placement!;
    const node = currentNumaNode()!;
    assert.ok(placed.pagesPlaced >= 20, `only ${placed.pagesPlaced} pages`);
    assert.equal(placed.pagesPlaced, stats.pagesInUse, "every page in use was placed");
    assert.equal(placed.pagesVerified, placed.pagesPlaced * (65536 / 4096), "every OS page was read back");
    assert.equal(placed.mismatches, 0);
    assert.equal(placed.enforced, true);
    assert.deepEqual(placed.nodes, [node]);
    assert.equal(placed.node, node);
    assert.equal(
      numaTopology().nodes.some((n) => n.id === node),
      true,
    );
    for (const p of blocks) heap.free(p);
    heap.validate();
    heap.release();
  });

  test("a worker in another process joins with its own placement (and a heap without one reports none)", () => {
    using shared = new SharedMmapBacked(4 << 20);
    const heap = new ConcurrentHeap(shared);
    assert.equal(heap.stats().placement, undefined);
    const joined = ConcurrentHeap.join(SharedMmapBacked.attach(shared.share()), {
      placement: new NumaPagePlacement(shared),
    });
    joined.free(joined.malloc(64));
    assert.equal(joined.stats().placement!.pagesPlaced, 1);
    joined.release();
    heap.release();
  });

  test("a worker thread maps the memory again, joins, pins itself and places its pages", async () => {
    using shared = new SharedMmapBacked(4 << 20);
    const heap = new ConcurrentHeap(shared);
    const p = heap.malloc(64);
    const code = `
      const { workerData, parentPort } = require("node:worker_threads");
      Promise.all([import(${JSON.stringify(CORE)}), import(${JSON.stringify(OS)})]).then(([core, os]) => {
        const s = os.SharedMmapBacked.attach(workerData.mapping);
        const placement = new os.NumaPagePlacement(s, { pin: "cpu", worker: 1 });
        const h = core.ConcurrentHeap.join(s, { placement });
        h.free(workerData.p); // the main thread's block
        const q = h.malloc(1000);
        parentPort.postMessage({ id: h.workerId, q, placed: h.stats().placement, affinity: os.threadAffinity() });
        h.release();
        s.dispose();
      });`;
    const w = new Worker(code, { eval: true, workerData: { mapping: shared.share(), p } });
    const m = (await new Promise(
      (resolve, reject) => (w.once("message", resolve), w.once("error", reject)),
    )) as {
      id: number;
      q: number;
      placed: { pagesPlaced: number; mismatches: number; policy: string };
      affinity: number[];
    };
    await new Promise((resolve) => w.once("exit", resolve));
    assert.equal(m.id, 1);
    assert.ok(heap.sizeOf(m.q) >= 1000, "the worker's block is live in the main thread's view");
    assert.equal(m.placed.pagesPlaced, 1);
    assert.equal(m.placed.mismatches, 0);
    assert.match(m.placed.policy, /pinned/);
    assert.equal(m.affinity.length, 1, "the worker thread is pinned to one CPU");
    assert.ok((threadAffinity() ?? []).length >= 1);
    heap.free(m.q);
    heap.validate();
    heap.release();
  });

  test("pinning restricts the thread to the planned CPUs (in a child process)", () => {
    const r = runChild(`
      import { SharedMmapBacked, NumaPagePlacement, numaTopology, planWorkerPlacement, threadAffinity } from ${JSON.stringify(OS)};
      const shared = new SharedMmapBacked(1 << 20);
      const before = threadAffinity();
      const placement = new NumaPagePlacement(shared, { pin: "cpu", worker: 1 });
      const plan = planWorkerPlacement(numaTopology(), 1, "cpu");
      console.log(JSON.stringify({ before: before.length, after: threadAffinity(), plan, pinned: placement.pinnedNode, policy: placement.stats().policy }));
    `);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      before: number;
      after: number[];
      plan: { node: number; cpus: number[] };
      pinned: number;
      policy: string;
    };
    assert.ok(out.before >= 1);
    assert.deepEqual(out.after, out.plan.cpus);
    assert.equal(out.pinned, out.plan.node);
    assert.match(out.policy, /pinned/);
    assert.ok((threadAffinity() ?? []).length >= 1); // this process is not pinned
  });
});
