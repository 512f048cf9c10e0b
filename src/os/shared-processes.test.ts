// One heap across real processes: SharedMmapBacked attached by forked children, Atomics and the futex across them,
// ConcurrentHeap's ownership under 2 x 200,000 operations, and a child killed with SIGKILL mid-work.
import assert from "node:assert/strict";
import { type ChildProcess, fork, spawn } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import { AllocError, ConcurrentHeap, SharedArrayBufferBacked } from "../index.js";
import { OsError, SharedMmapBacked } from "../os.js";
import { OS, ROOT } from "../../test/helpers/child.js";
import { needs } from "../../test/helpers/host.js";
import {
  CORRUPT,
  type ChildOrder,
  DUPLICATES,
  LOST,
  MAILBOX,
  MAILBOX_SLOTS,
  MAP_CONTROL,
  PROGRESS,
  RECLAIMED,
  TAGS,
} from "../../test/helpers/process-heap-child.js";

const CHILD = join(ROOT, "build", "test", "helpers", "process-heap-child.js");

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  messages: { done?: number; live?: number; error?: string }[];
}

/** Forks the heap child with the heap's memory file as its fd 4, and sends it its order. */
function forkChild(
  heapShared: SharedMmapBacked,
  order: ChildOrder,
): { child: ChildProcess; done: Promise<Outcome> } {
  const child = fork(CHILD, [], { stdio: ["ignore", "inherit", "inherit", "ipc", heapShared.fd] });
  const messages: Outcome["messages"] = [];
  child.on("message", (m: Outcome["messages"][number]) => messages.push(m));
  const done = new Promise<Outcome>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, messages })),
  );
  child.send(order);
  return { child, done };
}

/** Runs an ES module body in a child that gets `fd` as its fd 3; resolves with its stdout. */
function runWithFd(
  code: string,
  fd: number,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
    stdio: ["ignore", "pipe", "pipe", fd],
    cwd: ROOT,
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("exit", (status) => resolve({ status, stdout, stderr })));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Walks every granule of the heap mapping: a block the ownership map says is held must be live in the heap, and a
 * live block must be held. Returns the granules that break either (held but not live: `lost`; live but held by
 * no one: `unheld`).
 */
function audit(heap: ConcurrentHeap, tags: Uint8Array, length: number): { lost: number[]; unheld: number[] } {
  const lost: number[] = [];
  const unheld: number[] = [];
  for (let p = 0; p < length; p += 16) {
    const held = tags[p >>> 4] !== 0;
    const live = heap.sizeOf(p) >= 0;
    if (held && !live) lost.push(p);
    if (live && !held) unheld.push(p);
  }
  return { lost, unheld };
}

describe("SharedMmapBacked across processes", needs("linux", "addon"), () => {
  test("Atomics on the mapping are atomic across processes, and the futex wakes another process", async () => {
    using shared = new SharedMmapBacked(1 << 16);
    const i32 = shared.memory.i32;
    const body = (n: number) => `
      import { SharedMmapBacked } from ${JSON.stringify(OS)};
      const shared = SharedMmapBacked.attach(${JSON.stringify(shared.share())}, { fd: 3 });
      const w = shared.memory.i32;
      for (let i = 0; i < ${n}; i++) {
        Atomics.add(w, 100, 1);
        for (;;) { const v = Atomics.load(w, 101); if (Atomics.compareExchange(w, 101, v, v + 1) === v) break; }
      }
      console.log("done");`;
    const n = 50_000;
    const runs = await Promise.all([runWithFd(body(n), shared.fd), runWithFd(body(n), shared.fd)]);
    for (const r of runs) assert.equal(r.stdout.trim(), "done", r.stderr);
    assert.equal(i32[100], 2 * n, "Atomics.add lost updates across processes");
    assert.equal(i32[101], 2 * n, "compare-and-swap lost updates across processes");

    // The child announces itself at word 201, then waits on word 200 (value 0) for up to 30 s.
    const waiter = runWithFd(
      `import { SharedMmapBacked } from ${JSON.stringify(OS)};
       const shared = SharedMmapBacked.attach(${JSON.stringify(shared.share())}, { fd: 3 });
       Atomics.store(shared.memory.i32, 201, 1);
       console.log(shared.wait(800, 0, 30000));`,
      shared.fd,
    );
    while (Atomics.load(i32, 201) === 0) await sleep(2);
    let woken = 0;
    for (let k = 0; k < 3000 && woken === 0; k++) {
      woken = shared.notify(800);
      if (woken === 0) await sleep(2);
    }
    const r = await waiter;
    assert.equal(woken, 1);
    assert.equal(r.stdout.trim(), "ok", r.stderr);
  });

  test("attach refuses what is not the described mapping, and nothing stays mapped", () => {
    using shared = new SharedMmapBacked(1 << 16);
    const d = shared.share();
    assert.throws(() => SharedMmapBacked.attach({ ...d, token: [d.token[0] ^ 1, d.token[1]] }), AllocError);
    assert.throws(
      () => SharedMmapBacked.attach({ ...d, length: d.length * 2 }),
      (e: unknown) => e instanceof OsError && e.code === "ERANGE",
    );
    assert.throws(
      () => SharedMmapBacked.attach(d, { fd: 0 }), // stdin: not a sealed memory file
      (e: unknown) => e instanceof OsError && e.code === "EINVAL",
    );
    assert.throws(() => SharedMmapBacked.attach({ ...d, fd: 1 << 20 }), OsError); // no such descriptor
    for (const bad of [
      null,
      {},
      { ...d, kind: "x" },
      { ...d, pid: 0 },
      { ...d, length: 100 },
      { ...d, token: [1] },
    ])
      assert.throws(() => SharedMmapBacked.attach(bad as never), AllocError);
    assert.throws(() => SharedMmapBacked.attach(d, { fd: -1 }), AllocError);
    assert.throws(() => new SharedMmapBacked(100), AllocError);
    assert.throws(() => shared.wait(2, 0, 0), AllocError); // unaligned
    assert.throws(() => shared.wait(1 << 16, 0, 0), AllocError); // outside
    assert.throws(() => shared.wait(64, 0, -1), AllocError);
    assert.equal(shared.wait(64, 1, 0), "not-equal");
    assert.equal(shared.wait(64, 0, 1), "timed-out");
    using again = SharedMmapBacked.attach(d);
    again.memory.i32[100] = 7; // the same bytes, through another mapping
    assert.equal(shared.memory.i32[100], 7);
  });

  test("dispose retires this process's view and closes its file; the other mapping keeps the contents", () => {
    const shared = new SharedMmapBacked(1 << 16);
    const again = SharedMmapBacked.attach(shared.share());
    shared.memory.i32[100] = 42;
    const fd = shared.fd;
    shared.dispose();
    assert.equal(shared.memory.i32[100], 0);
    assert.throws(() => shared.fd, AllocError);
    assert.throws(() => SharedMmapBacked.attach({ ...again.share(), fd, pid: process.pid, token: [0, 0] }));
    assert.equal(again.memory.i32[100], 42);
    again.dispose();
    assert.equal(again.memory.i32[100], 0);
  });
});

describe("ConcurrentHeap across processes", needs("linux", "addon"), () => {
  const HEAP_BYTES = 48 << 20;
  const OPS = 200_000;

  function setup(): { heapShared: SharedMmapBacked; mapShared: SharedMmapBacked; heap: ConcurrentHeap } {
    const heapShared = new SharedMmapBacked(HEAP_BYTES);
    const mapShared = new SharedMmapBacked(TAGS + HEAP_BYTES / 16);
    return { heapShared, mapShared, heap: new ConcurrentHeap(heapShared) };
  }

  /** Frees every block the ownership map says is held, checking its first word; returns how many. */
  function freeHeld(heap: ConcurrentHeap, heapShared: SharedMmapBacked, tags: Uint8Array): number {
    const u32 = heapShared.memory.u32;
    let n = 0;
    for (let g = 0; g < tags.length; g++) {
      if (tags[g] === 0) continue;
      assert.equal(u32[(g << 4) >>> 2], g << 4, `block ${g << 4} was overwritten`);
      tags[g] = 0;
      heap.free(g << 4);
      n++;
    }
    return n;
  }

  test("2 processes x 200,000 operations: no block handed out twice, none lost", async () => {
    const { heapShared, mapShared, heap } = setup();
    const words = mapShared.memory.i32;
    const tags = new Uint8Array(mapShared.memory.buffer, TAGS);
    const runs = [0, 1].map((index) =>
      forkChild(heapShared, { heap: heapShared.share(), map: mapShared.share(), index, ops: OPS }),
    );
    const outcomes = await Promise.all(runs.map((r) => r.done));
    let held = 0;
    for (const [index, o] of outcomes.entries()) {
      assert.equal(o.code, 0, JSON.stringify(o.messages));
      held += o.messages.find((m) => m.done === index)!.live!;
      const ctl = (MAP_CONTROL >>> 2) + 16 * index;
      assert.equal(words[ctl + PROGRESS], OPS);
      assert.equal(words[ctl + DUPLICATES], 0, "a block was handed out twice");
      assert.equal(words[ctl + LOST], 0, "a block's claim was gone when it was freed");
      assert.equal(words[ctl + CORRUPT], 0, "a block was overwritten by another one");
    }
    for (let k = 0; k < MAILBOX_SLOTS; k++) if (words[(MAILBOX >>> 2) + k] !== 0) held++;
    const { lost, unheld } = audit(heap, tags, heapShared.regionSize());
    assert.deepEqual({ lost, unheld }, { lost: [], unheld: [] });
    assert.equal(freeHeld(heap, heapShared, tags), held, "every block held is live: zero lost");
    assert.ok(heap.stats().remoteFrees > 0 || heap.stats().frees > 0);
    heap.validate();
    assert.deepEqual(audit(heap, tags, heapShared.regionSize()), { lost: [], unheld: [] });
    heap.release();
    mapShared.dispose();
    heapShared.dispose();
  });

  test("a child killed mid-work: the others go on, reclaim its pages, and validate() passes", async () => {
    const { heapShared, mapShared, heap } = setup();
    const words = mapShared.memory.i32;
    const tags = new Uint8Array(mapShared.memory.buffer, TAGS);
    const ops = OPS / 2;
    const victim = 2;
    // the victim has ten times the work: however late the kill lands on a loaded machine, it has not finished
    const runs = [0, 1, 2].map((index) =>
      forkChild(heapShared, {
        heap: heapShared.share(),
        map: mapShared.share(),
        index,
        ops: index === victim ? ops * 10 : ops,
      }),
    );
    const at = (MAP_CONTROL >>> 2) + 16 * victim + PROGRESS;
    while (Atomics.load(words, at) < 10_000) await sleep(1);
    runs[victim]!.child.kill("SIGKILL");
    const outcomes = await Promise.all(runs.map((r) => r.done));
    assert.equal(outcomes[victim]!.signal, "SIGKILL");
    let reclaimedByOthers = 0;
    for (const index of [0, 1]) {
      assert.equal(outcomes[index]!.code, 0, JSON.stringify(outcomes[index]!.messages));
      const ctl = (MAP_CONTROL >>> 2) + 16 * index;
      assert.equal(words[ctl + PROGRESS], ops, "a survivor stopped");
      reclaimedByOthers += words[ctl + RECLAIMED]!;
    }
    for (const index of [0, 1, 2]) {
      const ctl = (MAP_CONTROL >>> 2) + 16 * index;
      assert.equal(words[ctl + DUPLICATES], 0, `child ${index}: a block was handed out twice`);
      assert.equal(words[ctl + LOST], 0, `child ${index}: a block's claim was gone`);
      assert.equal(words[ctl + CORRUPT], 0, `child ${index}: a block was overwritten`);
    }
    assert.ok(words[at]! < ops * 10, "the victim was killed before it finished");
    // The survivors found the dead process while they ran (they look every 1,000 operations); whatever is left
    // to reclaim, the parent does now. Exactly one worker is taken over.
    const late = heap.reclaimDead();
    assert.equal(reclaimedByOthers + late.length, 1);
    assert.equal(heap.stats().workers, 1, "only the parent is attached now");
    heap.validate();
    // The victim died inside at most one operation: between an allocation and its claim in the map, or between a
    // release of its claim and the free. That block is live and held by no one; nothing held is lost.
    const { lost, unheld } = audit(heap, tags, heapShared.regionSize());
    assert.deepEqual(lost, []);
    assert.ok(unheld.length <= 1, `unheld blocks: ${unheld.join(", ")}`);
    freeHeld(heap, heapShared, tags);
    for (const p of unheld) heap.free(p);
    heap.validate();
    assert.deepEqual(audit(heap, tags, heapShared.regionSize()), { lost: [], unheld: [] });
    heap.release();
    mapShared.dispose();
    heapShared.dispose();
  });

  test("reclaimDead leaves live processes and threads alone, and share() refuses a process-shared heap", () => {
    const { heapShared, mapShared, heap } = setup();
    const other = ConcurrentHeap.join(SharedMmapBacked.attach(heapShared.share()));
    assert.deepEqual(heap.reclaimDead(), []); // the other worker is this (live) process
    assert.throws(() => heap.share(), /join/);
    other.release();
    heap.release();
    mapShared.dispose();
    heapShared.dispose();
    // over a SharedArrayBuffer (threads of one process) no pid is recorded and nothing is reclaimed
    const threads = new ConcurrentHeap(new SharedArrayBufferBacked(1 << 20));
    const peer = ConcurrentHeap.attach(threads.share());
    assert.deepEqual(threads.reclaimDead(), []);
    peer.release();
    threads.release();
  });
});
