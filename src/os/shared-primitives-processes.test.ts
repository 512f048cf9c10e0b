// SharedBumpArena and SlabOwner/SlabRemote across real processes: children forked with the mapping's memory file,
// ownership maps that prove no byte is handed out twice, the reset epoch across processes, and children killed
// with SIGKILL in the middle of their work while the others go on.
import assert from "node:assert/strict";
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import { AllocError, NULL, SharedArrayBufferBacked, SharedBumpArena, UnsupportedError } from "../index.js";
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

const BUMP_CHILD = join(ROOT, "build", "test", "helpers", "process-bump-child.js");

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
    const exited = new Promise((resolve) => child.on("exit", resolve));
    child.send(order);
    while (arena.stats().workers < 2) await sleep(2);
    while (arena.stats().allocatedBytes < arena.stats().capacityBytes - 64 * 1024) await sleep(2);
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
