// SharedBumpArena and SlabOwner/SlabRemote across real processes: children forked with the mapping's memory file,
// ownership maps that prove no byte is handed out twice, the reset epoch across processes, and children killed
// with SIGKILL in the middle of their work while the others go on.
import assert from "node:assert/strict";
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  AllocError,
  NULL,
  SharedArrayBufferBacked,
  SharedBumpArena,
  SlabOwner,
  SlabRemote,
  UnsupportedError,
} from "../index.js";
import { SharedMmapBacked } from "../os.js";
import { ROOT } from "../../test/helpers/child.js";
import { needs } from "../../test/helpers/host.js";
import {
  ARRIVED,
  type BumpChildOrder,
  CORRUPT,
  DUPLICATES,
  MAP_CONTROL,
  PHASE,
  PROGRESS,
  RECLAIMED,
  TAGS,
} from "../../test/helpers/process-bump-child.js";

import {
  FILLED,
  FREED,
  LOST,
  MAILBOX_SLOTS,
  SLAB_CONTROL,
  SLAB_MAILBOX,
  SLAB_TAGS,
  type SlabChildOrder,
} from "../../test/helpers/process-slab-child.js";

const BUMP_CHILD = join(ROOT, "build", "test", "helpers", "process-bump-child.js");
const SLAB_CHILD = join(ROOT, "build", "test", "helpers", "process-slab-child.js");

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  messages: unknown[];
}

/** Forks `file` with `shared`'s memory file as its fd 4, and sends it `order`. */
function forkWith(
  file: string,
  shared: SharedMmapBacked,
  order: object,
): { child: ChildProcess; done: Promise<Outcome> } {
  const child = fork(file, [], { stdio: ["ignore", "inherit", "inherit", "ipc", shared.fd] });
  const messages: unknown[] = [];
  child.on("message", (m) => messages.push(m));
  const done = new Promise<Outcome>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, messages })),
  );
  child.send(order);
  return { child, done };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("SharedBumpArena across processes", needs("linux", "addon"), () => {
  test("join, leave and reclaimDead in one process; what is refused", () => {
    using shared = new SharedMmapBacked(1 << 20);
    const arena = new SharedBumpArena(shared);
    assert.equal(arena.workerId, 0);
    using again = SharedMmapBacked.attach(shared.share());
    const other = SharedBumpArena.join(again);
    assert.equal(other.workerId, 1);
    assert.equal(arena.stats().workers, 2);
    // the same cursor through two mappings: blocks never overlap
    const a = arena.allocate(64);
    const b = other.allocate(64);
    assert.ok(a !== NULL && b !== NULL && Math.abs(a - b) >= 64);
    // the reset epoch is in the mapping: after a reset in one, the other's next block comes from a fresh chunk
    arena.reset();
    assert.equal(
      other.allocate(64),
      a,
      "after the reset the other mapping's next block starts a fresh chunk",
    );
    assert.throws(() => arena.share(), UnsupportedError);
    assert.throws(() => new SharedBumpArena(again), AllocError, "a live arena is not formatted again");
    assert.throws(() => SharedBumpArena.join(new SharedArrayBufferBacked(1 << 16)), AllocError);
    assert.deepEqual(arena.reclaimDead(), [], "the other slot is this (live) process");
    other.leave();
    other.leave(); // idempotent
    assert.equal(other.workerId, -1);
    assert.equal(arena.stats().workers, 1);
    assert.throws(() => other.allocate(64), /left the arena/);
    const joined: SharedBumpArena[] = [];
    for (let i = 1; i < 64; i++) joined.push(SharedBumpArena.join(again));
    assert.throws(() => SharedBumpArena.join(again), /64 processes/);
    for (const j of joined) j.leave();
    assert.equal(arena.stats().workers, 1);
    arena.release();
  });

  test("a dead process's slot is given back by reclaimDead, once", async () => {
    using shared = new SharedMmapBacked(1 << 20);
    const arena = new SharedBumpArena(shared);
    // a child joins, allocates (taking a chunk) and exits without leave(): its slot names a process that ended
    const child = fork(join(ROOT, "build", "test", "helpers", "process-bump-child.js"), [], {
      stdio: ["ignore", "inherit", "inherit", "ipc", shared.fd],
    });
    using map = new SharedMmapBacked(TAGS + (1 << 20) / 8);
    const order: BumpChildOrder = {
      arena: shared.share(),
      map: map.share(),
      index: 0,
      ops: 1 << 30, // more than fits: it fills the arena, then waits to be killed
      resetAt: 0,
      waitWhenFull: true,
    };
    let gone = false;
    const exited = new Promise((resolve) => child.on("exit", resolve)).then(() => (gone = true));
    child.send(order);
    while (!gone && arena.stats().allocatedBytes < arena.stats().capacityBytes - 64 * 1024) await sleep(2);
    assert.equal(gone, false, "the child ended before it filled the arena");
    assert.equal(arena.stats().workers, 2);
    child.kill("SIGKILL");
    await exited;
    assert.deepEqual(arena.reclaimDead(), [1]);
    assert.deepEqual(arena.reclaimDead(), []);
    assert.equal(arena.stats().workers, 1);
    arena.release();
  });

  const ARENA_BYTES = 32 << 20;

  test("2 processes x 200,000 allocations with a reset between: no byte handed out twice", async () => {
    using shared = new SharedMmapBacked(ARENA_BYTES);
    using map = new SharedMmapBacked(TAGS + ARENA_BYTES / 8);
    const arena = new SharedBumpArena(shared);
    const words = map.memory.i32;
    const tags = new Uint8Array(map.memory.buffer, TAGS);
    const ops = 200_000;
    const resetAt = 80_001; // 80,000 before the reset, 120,000 after: the cursor passes every chunk from before it
    const runs = [0, 1].map((index) =>
      forkWith(BUMP_CHILD, shared, {
        arena: shared.share(),
        map: map.share(),
        index,
        ops,
        resetAt,
        waitWhenFull: false,
      } satisfies BumpChildOrder),
    );
    const exits = Promise.all(runs.map((r) => r.done));
    let failed: Outcome[] | undefined;
    void exits.then((o) => (failed = o));
    while (Atomics.load(words, ARRIVED) < 2 && failed === undefined) await sleep(2);
    assert.equal(failed, undefined, JSON.stringify(failed));
    const before = arena.stats().allocatedBytes;
    arena.reset(); // every child waits at the barrier: none is in the middle of an allocation
    tags.fill(0);
    Atomics.store(words, PHASE, 1);
    map.notify(PHASE * 4);
    const outcomes = await exits;
    for (const [index, o] of outcomes.entries()) {
      assert.equal(o.code, 0, JSON.stringify(o.messages));
      const ctl = (MAP_CONTROL >>> 2) + 16 * index;
      assert.equal(words[ctl + PROGRESS], ops);
      assert.equal(words[ctl + DUPLICATES], 0, `child ${index}: a byte was handed out twice`);
      assert.equal(words[ctl + CORRUPT], 0, `child ${index}: a block was overwritten`);
    }
    const stats = arena.stats();
    assert.ok(
      stats.allocatedBytes > before,
      "after the reset the cursor went past every chunk from before it",
    );
    assert.equal(stats.allocations, 2 * ops, "every allocation is counted (each child published its count)");
    assert.equal(stats.failures, 0);
    assert.equal(stats.workers, 1, "the children left");
    arena.release();
  });

  test("a child killed mid-work: the others go on, no byte is handed out twice, its chunk is never reissued", async () => {
    const bytes = 48 << 20;
    using shared = new SharedMmapBacked(bytes);
    using map = new SharedMmapBacked(TAGS + bytes / 8);
    const arena = new SharedBumpArena(shared);
    const words = map.memory.i32;
    const tags = new Uint8Array(map.memory.buffer, TAGS);
    const ops = 100_000;
    const victim = 2;
    const runs = [0, 1, 2].map((index) =>
      forkWith(BUMP_CHILD, shared, {
        arena: shared.share(),
        map: map.share(),
        index,
        ops: index === victim ? ops * 10 : ops,
        resetAt: 0,
        waitWhenFull: index === victim,
      } satisfies BumpChildOrder),
    );
    const at = (MAP_CONTROL >>> 2) + 16 * victim + PROGRESS;
    while (Atomics.load(words, at) < 10_000) await sleep(1);
    runs[victim]!.child.kill("SIGKILL");
    const outcomes = await Promise.all(runs.map((r) => r.done));
    assert.equal(outcomes[victim]!.signal, "SIGKILL");
    let reclaimed = 0;
    for (const index of [0, 1, 2]) {
      const ctl = (MAP_CONTROL >>> 2) + 16 * index;
      if (index !== victim) {
        assert.equal(outcomes[index]!.code, 0, JSON.stringify(outcomes[index]!.messages));
        assert.equal(words[ctl + PROGRESS], ops, "a survivor stopped");
      }
      assert.equal(words[ctl + DUPLICATES], 0, `child ${index}: a byte was handed out twice`);
      assert.equal(words[ctl + CORRUPT], 0, `child ${index}: a block was overwritten`);
      reclaimed += words[ctl + RECLAIMED]!;
    }
    assert.equal(reclaimed + arena.reclaimDead().length, 1, "the victim's slot is given back once");
    assert.equal(arena.stats().workers, 1);
    // The parent takes the rest of the arena: none of it is a byte any child (the victim included) holds.
    let taken = 0;
    for (let p = arena.allocate(64); p !== NULL; p = arena.allocate(64)) {
      for (let g = p >>> 3; g < (p + 64) >>> 3; g++)
        assert.equal(tags[g], 0, `byte ${g << 3} handed out twice`);
      taken++;
    }
    assert.ok(taken > 0);
    arena.release();
  });
});

describe("SlabOwner and SlabRemote across processes", needs("linux", "addon"), () => {
  test("join over a second mapping, what is refused, and a full ring waited for on the futex", () => {
    using shared = new SharedMmapBacked(1 << 20);
    const owner = new SlabOwner(shared, { blockSize: 64, capacity: 256, ringCapacity: 4 });
    assert.equal(owner.ring.crashSafe, true);
    assert.throws(() => owner.share(), UnsupportedError);
    const location = owner.location();
    assert.deepEqual(JSON.parse(JSON.stringify(location)), location, "plain JSON, for IPC");
    using again = SharedMmapBacked.attach(shared.share());
    const remote = SlabRemote.join(again, location);
    const blocks = [0, 1, 2, 3, 4].map(() => owner.allocate(64));
    for (const p of blocks.slice(0, 4)) remote.deallocate(p);
    assert.equal(remote.tryDeallocate(blocks[4]!), "full");
    assert.throws(() => remote.deallocate(blocks[4]!, 5), /stayed full/, "the futex wait times out");
    assert.equal(owner.drain(), 4);
    remote.deallocate(blocks[4]!);
    assert.equal(owner.drain(), 1);
    assert.equal(owner.slab.liveCount(), 0);
    assert.throws(() => remote.deallocate(owner.slab.base() + 1), /not one of the owner's blocks/);
    for (const bad of [
      null,
      {},
      { ...location, kind: "x" },
      { ...location, ring: -128 },
      { ...location, ring: 1 << 20 },
      { ...location, region: (1 << 20) - 64, capacity: 256 },
      { ...location, stride: 0 },
    ])
      assert.throws(() => SlabRemote.join(again, bad as never), AllocError);
    assert.throws(() => SlabRemote.join(new SharedArrayBufferBacked(1 << 16), location), AllocError);
    assert.throws(() => SlabRemote.join(again, { ...location, ringCapacity: 8 }), AllocError, "no ring of 8");
    owner.close();
    assert.throws(() => remote.deallocate(owner.allocate(64)), /closed/);
  });

  test("remotes in 3 processes free the owner's blocks, one killed mid-push: nothing freed twice, none lost, the ring goes on", async () => {
    using shared = new SharedMmapBacked(4 << 20);
    const owner = new SlabOwner(shared, { blockSize: 64, capacity: 8192, ringCapacity: 64 });
    using map = new SharedMmapBacked(SLAB_TAGS + 8192);
    const words = map.memory.i32;
    const tags = new Uint8Array(map.memory.buffer, SLAB_TAGS);
    const { region, stride } = owner.location();
    const ops = 40_000;
    const victim = 2;
    const runs = [0, 1, 2].map((index) =>
      forkWith(SLAB_CHILD, shared, {
        slab: shared.share(),
        map: map.share(),
        location: owner.location(),
        index,
        ops: index === victim ? ops * 100 : ops,
      } satisfies SlabChildOrder),
    );
    const alive = [true, true, true];
    runs.forEach((r, i) => void r.done.then(() => (alive[i] = false)));
    let duplicates = 0;
    let killed = false;
    while (alive.some((a) => a)) {
      owner.drain();
      for (let i = 0; i < 3; i++) {
        if (!alive[i]) continue;
        const box = (SLAB_MAILBOX >>> 2) + MAILBOX_SLOTS * i;
        let filled = 0;
        for (let k = 0; k < MAILBOX_SLOTS; k++) {
          if (Atomics.load(words, box + k) !== NULL) continue;
          const p = owner.allocate(64);
          if (p === NULL) break;
          if (Atomics.compareExchange(tags, (p - region) / stride, 0, 1) !== 0) duplicates++;
          Atomics.store(words, box + k, p);
          filled++;
        }
        if (filled > 0) {
          Atomics.add(words, (SLAB_CONTROL >>> 2) + 16 * i + FILLED, 1);
          map.notify(4 * ((SLAB_CONTROL >>> 2) + 16 * i + FILLED));
        }
      }
      if (!killed && Atomics.load(words, (SLAB_CONTROL >>> 2) + 16 * victim + FREED) >= 5000) {
        runs[victim]!.child.kill("SIGKILL");
        killed = true;
      }
      await new Promise((r) => setImmediate(r));
    }
    const outcomes = await Promise.all(runs.map((r) => r.done));
    assert.equal(outcomes[victim]!.signal, "SIGKILL");
    for (const i of [0, 1]) {
      assert.equal(outcomes[i]!.code, 0, JSON.stringify(outcomes[i]!.messages));
      assert.equal(words[(SLAB_CONTROL >>> 2) + 16 * i + FREED], ops, "a survivor stopped");
    }
    for (const i of [0, 1, 2]) assert.equal(words[(SLAB_CONTROL >>> 2) + 16 * i + LOST], 0, `child ${i}`);
    assert.equal(duplicates, 0, "a block was handed out while another process still held it");
    owner.drain();
    assert.equal(owner.remoteFreeErrors(), 0, "no free arrived twice or for a block that was not live");
    // Every block a process holds (claimed in the tags, in a mailbox or taken by the victim) is live; besides those,
    // at most one block is live: the victim's, if it died after dropping its claim and before its push landed.
    let held = 0;
    for (let idx = 0; idx < 8192; idx++) {
      if (tags[idx] === 0) continue;
      held++;
      assert.ok(owner.slab.sizeOf(region + idx * stride) > 0, `block ${idx} is held but not live`);
    }
    const unheld = owner.slab.liveCount() - held;
    assert.ok(unheld === 0 || unheld === 1, `${unheld} live blocks held by no one`);
    const { pushed, drained } = owner.ring.counters();
    assert.ok(drained >= 2 * ops && pushed <= drained && drained - pushed <= 1, `${pushed} ${drained}`);
    // the ring goes on after the kill: a remote in this process pushes, the owner drains and closes
    const remote = SlabRemote.join(shared, owner.location());
    for (let idx = 0; idx < 8192; idx++) {
      if (tags[idx] === 0) continue;
      if (remote.tryDeallocate(region + idx * stride) === "full") {
        owner.drain();
        assert.equal(remote.tryDeallocate(region + idx * stride), "ok");
      }
    }
    owner.drain();
    assert.equal(owner.slab.liveCount(), unheld);
    owner.close();
    assert.equal(owner.ring.settled(), true);
  });
});
