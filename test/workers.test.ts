// Many workers, one memory: real worker_threads over one SharedArrayBuffer.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import {
  AllocError,
  ConcurrentHeap,
  NULL,
  RemoteFreeRing,
  SharedArrayBufferBacked,
  SharedBumpArena,
  SlabOwner,
  SlabRemote,
} from "../src/index.js";
import { Memory } from "../src/core/index.js";

function run<T>(file: string, workerData: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(file, import.meta.url), { workerData });
    w.once("message", resolve);
    w.once("error", reject);
    w.once("exit", (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
  });
}

describe("SharedBumpArena across workers", () => {
  test("2 workers x 1,000,000 allocations: no block handed out twice, none lost", async () => {
    const N = 1_000_000;
    const bytes = 2 * N * 8 + (1 << 20); // chunk tails are given up at each refill: room for them
    const arena = new SharedBumpArena(new SharedArrayBufferBacked(bytes));
    const start = 128 + 384; // the control block sits at the first 128-aligned offset; blocks follow
    const map = new SharedArrayBuffer(4 * (bytes >>> 3));
    const results = await Promise.all(
      [1, 2].map((id) =>
        run<{ doubles: number; failures: number }>("./helpers/bump-worker.js", {
          arena: arena.share(),
          map,
          start,
          id,
          count: N,
        }),
      ),
    );
    assert.deepEqual(results, [
      { doubles: 0, failures: 0 },
      { doubles: 0, failures: 0 },
    ]);
    const owners = new Int32Array(map);
    let claimed = 0;
    const perWorker = [0, 0, 0];
    for (let i = 0; i < owners.length; i++) {
      if (owners[i] !== 0) claimed++;
      perWorker[owners[i]!]!++;
    }
    assert.equal(
      claimed,
      2 * N,
      "every 8-byte unit of the issued range is owned once: none lost, none twice",
    );
    assert.deepEqual(perWorker.slice(1), [N, N]);
    assert.deepEqual(arena.stats().allocations, 2 * N, "statistics read the same from the main thread");
    assert.equal(arena.allocate(1 << 21), NULL, "the rest of the range is smaller than that");
  });
});

describe("SlabOwner / SlabRemote across workers", () => {
  test("2 workers free 100,000 blocks each through the ring while the owner drains; all come back exactly once", async () => {
    const N = 200_000;
    const owner = new SlabOwner(new SharedArrayBufferBacked(N * 8 + (1 << 16)), {
      blockSize: 8,
      capacity: N,
      ringCapacity: 1024,
      policy: { kind: "fixed", threshold: 64 },
    });
    const list = new SharedArrayBuffer(4 * N);
    const ptrs = new Int32Array(list);
    for (let i = 0; i < N; i++) ptrs[i] = owner.allocate(8);
    assert.equal(owner.slab.liveCount(), N);
    const done = Promise.all(
      [0, 1].map((k) =>
        run<{ accepted: number }>("./helpers/remote-worker.js", {
          owner: owner.share(),
          list,
          from: k * (N / 2),
          to: (k + 1) * (N / 2),
          mode: "blocking",
        }),
      ),
    );
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished || owner.ring.pending() > 0) {
      owner.drain();
      await new Promise((r) => setImmediate(r));
    }
    const results = await done;
    assert.deepEqual(
      results.map((r) => r.accepted),
      [N / 2, N / 2],
    );
    owner.drain();
    assert.equal(owner.slab.liveCount(), 0);
    assert.equal(owner.remoteFreeErrors(), 0);
    assert.deepEqual(owner.ring.counters(), { pushed: N, drained: N });
    const again = new Set(Array.from({ length: N }, () => owner.allocate(8)));
    assert.equal(again.size, N, "every block is reusable, none twice");
  });

  test("closing the owner while remotes push: every accepted push is drained, later ones are refused", async () => {
    const N = 100_000;
    const owner = new SlabOwner(new SharedArrayBufferBacked(N * 8 + (1 << 16)), {
      blockSize: 8,
      capacity: N,
      ringCapacity: 256,
    });
    const list = new SharedArrayBuffer(4 * N);
    const ptrs = new Int32Array(list);
    for (let i = 0; i < N; i++) ptrs[i] = owner.allocate(8);
    const done = Promise.all(
      [0, 1].map((k) =>
        run<{ accepted: number; closed: number }>("./helpers/remote-worker.js", {
          owner: owner.share(),
          list,
          from: k * (N / 2),
          to: (k + 1) * (N / 2),
          mode: "try-until-closed",
        }),
      ),
    );
    for (let i = 0; i < 20; i++) {
      owner.drain();
      await new Promise((r) => setTimeout(r, 1));
    }
    owner.close();
    const results = await done;
    const accepted = results.reduce((a, r) => a + r.accepted, 0);
    const refused = results.reduce((a, r) => a + r.closed, 0);
    assert.equal(accepted + refused, N);
    assert.ok(refused > 0, "some pushes came after the close");
    const { pushed, drained } = owner.ring.counters();
    assert.deepEqual([pushed, drained], [accepted, accepted], "every accepted push was drained");
    assert.equal(owner.slab.liveCount(), N - accepted);
  });
});

describe("ConcurrentHeap across workers", () => {
  test("2 workers x 1,000,000 mixed operations, then each frees the other's leftovers remotely: nothing twice, nothing lost", async () => {
    const heap = new ConcurrentHeap(new SharedArrayBufferBacked(64 << 20));
    const map = new SharedArrayBuffer(4 * ((64 << 20) >>> 4));
    const leftovers = new SharedArrayBuffer(2 * 4 * 2001);
    const barrier = new SharedArrayBuffer(4);
    const results = await Promise.all(
      [1, 2].map((id) =>
        run<{ doubles: number; lost: number; remote: number }>("./helpers/heap-worker.js", {
          heap: heap.share(),
          map,
          leftovers,
          barrier,
          id,
          ops: 1_000_000,
        }),
      ),
    );
    for (const r of results) assert.deepEqual([r.doubles, r.lost], [0, 0]);
    assert.ok(
      results.every((r) => r.remote > 0),
      "both workers freed blocks of the other",
    );
    const s = heap.stats();
    assert.equal(s.allocations, s.frees, "every block allocated was freed");
    assert.ok(s.remoteFrees >= results[0]!.remote + results[1]!.remote);
    assert.equal(s.workers, 1, "the workers released their slots; the main thread's remains");
    assert.ok(
      new Int32Array(map).every((v) => v === 0),
      "the ownership map is empty",
    );
    // The pages the workers left (empty or abandoned) are reusable: the main thread can take the whole heap back.
    const blocks: number[] = [];
    for (;;) {
      const p = heap.allocate(16000); // the largest class (16 KiB): four per page
      if (p === NULL) break;
      blocks.push(p);
    }
    assert.ok(blocks.length >= (s.pages - 4) * 4, `reclaimed ${blocks.length} blocks of 16000 bytes`);
  });
});

describe("the ring, step by step (deterministic interleavings)", () => {
  const ring = (capacity = 4): RemoteFreeRing =>
    new RemoteFreeRing(Memory.of(new SharedArrayBuffer(4096)), 128, capacity, true);

  test("a reserved slot that is not yet published stops the drain until it is", () => {
    const r = ring();
    const seen: number[] = [];
    const a = r.reserve() as number;
    const b = r.reserve() as number;
    r.publish(b, 22);
    assert.equal(
      r.drain((w) => seen.push(w)),
      0,
      "slot a is reserved but empty: the drain waits",
    );
    r.publish(a, 11);
    assert.equal(
      r.drain((w) => seen.push(w)),
      2,
    );
    assert.deepEqual(seen, [11, 22], "oldest first");
  });

  test("a full ring refuses with 'full', a drain makes space, a closed ring refuses with 'closed'", () => {
    const r = ring(2);
    assert.deepEqual([r.push(1), r.push(2), r.push(3)], ["ok", "ok", "full"]);
    assert.equal(r.waitForSpace(1), false, "no drain: the wait times out");
    r.drain(() => {});
    assert.equal(r.push(3), "ok");
    r.close();
    assert.equal(r.push(4), "closed");
    assert.equal(r.pending(), 1, "what was accepted before the close is still there to drain");
    assert.throws(() => r.push(0), AllocError);
  });

  test("counters wrap without breaking the ring", () => {
    const r = ring(4);
    for (let i = 1; i <= 10_000; i++) {
      assert.equal(r.push(i), "ok");
      let got = 0;
      r.drain((w) => (got = w));
      assert.equal(got, i);
    }
    assert.deepEqual(r.counters(), { pushed: 10_000, drained: 10_000 });
  });

  test("a remote free under a full ring: tryDeallocate says full, the blocking form waits and then times out", () => {
    const owner = new SlabOwner(new SharedArrayBufferBacked(1 << 16), {
      blockSize: 16,
      capacity: 64,
      ringCapacity: 4,
    });
    const remote = SlabRemote.attach(owner.share());
    const ptrs = Array.from({ length: 6 }, () => owner.allocate(16));
    for (const p of ptrs.slice(0, 4)) assert.equal(remote.tryDeallocate(p), "ok");
    assert.equal(remote.tryDeallocate(ptrs[4]!), "full");
    assert.throws(() => remote.deallocate(ptrs[4]!, 20), /stayed full for 20 ms/);
    assert.equal(owner.drain(), 4);
    remote.deallocate(ptrs[4]!);
    assert.throws(() => remote.tryDeallocate(ptrs[0]! + 1), /not one of the owner's blocks/);
    owner.close();
    assert.throws(() => remote.deallocate(ptrs[5]!), /owner is closed/);
    assert.equal(owner.slab.liveCount(), 1);
  });

  test("the adaptive policy moves between the Rust levels", () => {
    const owner = new SlabOwner(new SharedArrayBufferBacked(1 << 20), {
      blockSize: 8,
      capacity: 10_000,
      ringCapacity: 64,
      policy: { kind: "adaptive", threshold: 64 },
    });
    assert.equal(owner.currentThreshold(), 64);
    for (let i = 0; i < 64 * 40; i++) owner.allocate(8); // an empty ring: the threshold steps up to 128
    assert.equal(owner.currentThreshold(), 128);
  });
});
