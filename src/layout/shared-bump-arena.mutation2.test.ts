// SharedBumpArena, second part: what the first Stryker run of the arena's group (28 November) let live. Names in
// errors; bytes outside the range left alone by formatting and by a failed allocateZeroed; attach's own checks (each
// with its own message, before the constructor's); growth only when a chunk passes the memory's length; which
// blocks the issued-block check accepts at its edges; and the worker slots: the creator leaving, leave and join
// touching only their own slot, a slot mid-claim, a stale reclaim flag, a pid or stamp that changes during a reclaim,
// a slot this process held and lost, and a stray bit past the 64 slots.
// In a file of its own so that an incremental run retests only the mutants these reach (docs/TESTING.md).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  LayoutError,
  Memory,
  NULL,
  SharedArrayBufferBacked,
  StaticBacked,
  Statistics,
} from "../index.js";
import { SharedBumpArena } from "./shared-bump-arena.js";

const CONTROL = 384;
const K = 1024;
const MAGIC = 0x5b4d_4152;
/** Word indexes in the control block. */
const W = { magic: 0, end: 2, state: 3, workers: 48 } as const;
const LIVE = 2;

/** A range of a memory, as a process that maps it sees it: `pid`, `stamp`, and which processes are alive. */
class ProcessRange extends StaticBacked {
  readonly processSharing: { pid: number; stamp: number; alive: (pid: number, stamp: number) => boolean };
  constructor(memory: Memory, pid: number, dead: Set<number> = new Set(), stamp = 7, size = 64 * K) {
    super(memory, { offset: 1024, size });
    this.processSharing = { pid, stamp, alive: (p: number, s: number) => !dead.has(p) && s === stamp };
  }
}
/** Word index of the control block of a ProcessRange's arena, and of worker slot `id`'s first word. */
const CTRL = 1024 / 4;
const slot = (id: number): number => (1024 + CONTROL) / 4 + 4 * id;

const throwsWith =
  (type: new (...args: never[]) => Error, pattern: RegExp) =>
  (e: unknown): boolean =>
    e instanceof type && pattern.test(e.message);

const filled = (u8: Uint8Array, from: number, to: number, byte: number): boolean =>
  u8.subarray(from, to).every((b) => b === byte);

describe("SharedBumpArena: names in errors", () => {
  test("a wrapper that acts on allocate is refused as the range, naming SharedBumpArena", () => {
    assert.throws(
      () => new SharedBumpArena(new Statistics(new SharedArrayBufferBacked(1 << 16)) as never),
      throwsWith(
        AllocError,
        /^SharedBumpArena: Statistics as the range under SharedBumpArena would do nothing/,
      ),
    );
  });

  test("grow and shrink with sizes the wrong way round name themselves", () => {
    const a = new SharedBumpArena(new SharedArrayBufferBacked(1 << 16));
    const p = a.allocate(16);
    assert.throws(() => a.grow(p, 8, 4), throwsWith(LayoutError, /^SharedBumpArena\.grow: /));
    assert.throws(() => a.shrink(p, 8, 16), throwsWith(LayoutError, /^SharedBumpArena\.shrink: /));
  });
});

describe("SharedBumpArena writes only inside its range", () => {
  test("formatting for processes: a range too small for the control block and the slot table is refused", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    memory.u8.fill(0xa5);
    // 1,024 bytes hold the control block (384) but not the 64 worker slots after it (1,024 more)
    assert.throws(
      () => new SharedBumpArena(new ProcessRange(memory, 100, new Set(), 7, 1024)),
      throwsWith(AllocError, /^SharedBumpArena: the range is too small$/),
    );
    assert.ok(filled(memory.u8, 0, 1 << 17, 0xa5), "nothing written");
    assert.ok(
      new SharedBumpArena(new ProcessRange(memory, 100, new Set(), 7, CONTROL + 1024 + 8)).allocate(8) > 0,
    );
  });

  test("formatting leaves the bytes before the range alone, for processes and for threads", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    memory.u8.fill(0xa5, 0, 1024);
    new SharedBumpArena(new ProcessRange(memory, 100));
    assert.ok(filled(memory.u8, 0, 1024, 0xa5), "the process arena wrote before its range");
    const sab = Memory.of(new SharedArrayBuffer(1 << 17));
    sab.u8.fill(0xa5, 0, 1024);
    new SharedBumpArena(new StaticBacked(sab, { offset: 1024, size: 64 * K }));
    assert.ok(filled(sab.u8, 0, 1024, 0xa5), "the thread arena wrote before its range");
  });

  test("formatting clears both words of the workers map (slots 0 to 31 and 32 to 63)", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    Atomics.store(memory.i32, CTRL + W.workers, -1); // left by a previous user of the memory
    Atomics.store(memory.i32, CTRL + W.workers + 1, -1);
    const a = new SharedBumpArena(new ProcessRange(memory, 100));
    assert.equal(a.stats().workers, 1, "the creator only");
    assert.equal(SharedBumpArena.join(new ProcessRange(memory, 200)).workerId, 1);
  });

  test("formatting anew after a release starts the shared count at 0", () => {
    const memory = Memory.of(new SharedArrayBuffer(1 << 17));
    const range = (): StaticBacked => new StaticBacked(memory, { offset: 1024, size: 64 * K });
    const a = new SharedBumpArena(range());
    a.allocate(8);
    a.allocate(8);
    a.flush();
    assert.equal(a.stats().allocations, 2);
    a.release();
    const b = new SharedBumpArena(range());
    assert.equal(b.stats().allocations, 0);
    assert.equal(b.stats().failures, 0);
  });

  test("a failed allocateZeroed writes nothing (not at address 0 either)", () => {
    const memory = Memory.of(new SharedArrayBuffer(1 << 16));
    const a = new SharedBumpArena(new StaticBacked(memory, { offset: 1024, size: 8 * K }));
    assert.notEqual(a.allocate(a.capacityBytes() - 8), NULL);
    memory.u8.fill(0x5a, 0, 64);
    assert.equal(a.allocateZeroed(64), NULL);
    assert.ok(filled(memory.u8, 0, 64, 0x5a));
  });
});

describe("SharedBumpArena.attach's own checks", () => {
  /** A live arena at 1,024 of a shared memory, and its descriptor. */
  const live = () => {
    const memory = Memory.of(new SharedArrayBuffer(1 << 16));
    const a = new SharedBumpArena(new StaticBacked(memory, { offset: 1024, size: 32 * K }));
    return { memory, a, d: a.share() };
  };
  const refusedAt = (control: number) =>
    throwsWith(
      AllocError,
      new RegExp(
        `^SharedBumpArena\\.attach: no live arena is formatted at offset ${control} of the shared memory$`,
      ),
    );

  test("an arena away from the memory's start: attach finds its control block and range", () => {
    const { a, d } = live();
    assert.equal(d.control, 1024);
    const b = SharedBumpArena.attach(d);
    assert.equal(b.capacityBytes(), a.capacityBytes());
    const p = a.allocate(8);
    const q = b.allocate(8);
    assert.equal(q, p + 4 * K, "b's chunk follows a's: the same cursor");
  });

  test("a released arena, and words that say live without the magic: refused by attach itself", () => {
    const { memory, a, d } = live();
    a.release();
    assert.throws(() => SharedBumpArena.attach(d), refusedAt(1024));
    const forged = Memory.of(new SharedArrayBuffer(1 << 16));
    Atomics.store(forged.i32, CTRL + W.state, LIVE);
    Atomics.store(forged.i32, CTRL + W.end, 1 << 15);
    assert.throws(
      () => SharedBumpArena.attach({ ...d, source: forged.buffer as SharedArrayBuffer }),
      refusedAt(1024),
    );
    assert.equal(memory.byteLength, 1 << 16);
  });

  test("a control block copied to an offset that is not a multiple of 128, or into memory that is not shared", () => {
    const { memory, d } = live();
    memory.i32.copyWithin(CTRL + 16, CTRL, CTRL + CONTROL / 4); // the same words, 64 bytes further on
    assert.throws(() => SharedBumpArena.attach({ ...d, control: 1024 + 64 }), refusedAt(1024 + 64));
    const copy = new ArrayBuffer(1 << 16);
    new Uint8Array(copy).set(memory.u8);
    assert.throws(() => SharedBumpArena.attach({ ...d, source: copy as never }), refusedAt(1024));
  });

  test("a control block that ends exactly at the memory's end is read (and then too small to hold an arena)", () => {
    const memory = Memory.of(new SharedArrayBuffer(4096));
    const at = 4096 - CONTROL;
    assert.equal(at % 128, 0);
    Atomics.store(memory.i32, at / 4 + W.magic, MAGIC);
    Atomics.store(memory.i32, at / 4 + W.state, LIVE);
    Atomics.store(memory.i32, at / 4 + W.end, 4096);
    assert.throws(
      () =>
        SharedBumpArena.attach({
          kind: "SharedBumpArena",
          source: memory.buffer as SharedArrayBuffer,
          control: at,
        }),
      throwsWith(AllocError, /^SharedBumpArena: the range is too small$/),
    );
  });
});

describe("SharedBumpArena.join's checks of what is formatted there", () => {
  const nothingThere = throwsWith(
    AllocError,
    /^SharedBumpArena\.attach: no live arena is formatted at that offset of the shared memory$/,
  );

  test("a released arena is not joined", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const a = new SharedBumpArena(new ProcessRange(memory, 100));
    a.release();
    assert.throws(() => SharedBumpArena.join(new ProcessRange(memory, 200)), nothingThere);
  });

  test("a state word that says live, without the magic, is not an arena", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    Atomics.store(memory.i32, CTRL + W.state, LIVE);
    assert.throws(() => SharedBumpArena.join(new ProcessRange(memory, 200)), nothingThere);
  });
});

describe("SharedBumpArena's growth", () => {
  test("a growable memory grows only for a chunk that passes its length, not for one that ends at it", () => {
    const a = new SharedBumpArena(new SharedArrayBufferBacked({ size: 16 * K, maxSize: 256 * K }));
    const memory = a.memory;
    assert.equal(memory.byteLength, 16 * K);
    assert.notEqual(a.allocate(8), NULL);
    assert.equal(memory.byteLength, 16 * K, "a chunk inside the length: no growth");
    const b = new SharedBumpArena(new SharedArrayBufferBacked({ size: 16 * K, maxSize: 256 * K }));
    const start = b.share().control + CONTROL;
    // a block larger than a chunk gets a chunk of its own size: here one that ends exactly at the length
    const p = b.allocate(16 * K - start, 1);
    assert.equal(p, start);
    assert.equal(b.stats().allocatedBytes, 16 * K - start);
    assert.equal(b.memory.byteLength, 16 * K, "a chunk that ends at the length: no growth");
  });
});

describe("SharedBumpArena's issued-block check at its edges", () => {
  test("a block that starts at this worker's chunk and runs past what it issued is refused", () => {
    const a = new SharedBumpArena(new SharedArrayBufferBacked(1 << 16));
    const p = a.allocate(64, 16);
    assert.equal(p, a.share().control + CONTROL, "the first block starts the chunk");
    for (const call of [() => a.deallocate(p, 128), () => a.usableSize(p, 65), () => a.shrink(p, 128, 8)])
      assert.throws(call, /was not issued by this arena/);
    a.deallocate(p, 64, 16);
  });

  test("the block that ends exactly at the cursor is issued", () => {
    const a = new SharedBumpArena(new SharedArrayBufferBacked(8 * K));
    const rest = a.capacityBytes();
    const p = a.allocate(rest, 8);
    assert.notEqual(p, NULL);
    assert.equal(p + rest, a.stats().allocatedBytes + p, "the cursor is at its end");
    a.deallocate(p, rest);
    assert.equal(a.usableSize(p, rest), rest);
    const b = new SharedBumpArena(new SharedArrayBufferBacked(1 << 18));
    const big = b.allocate(10 * K, 4096);
    b.deallocate(big, 10 * K, 4096); // a chunk of its own: it ends at the cursor
  });

  test("after another worker's reset, a block issued since is accepted where this worker's old chunk was", () => {
    const a = new SharedBumpArena(new SharedArrayBufferBacked(1 << 18));
    const b = SharedBumpArena.attach(a.share());
    const start = a.allocate(8); // a's chunk: [start, start + 4 KiB)
    assert.equal(b.allocate(8), start + 4 * K); // b's chunk follows
    a.reset();
    const p = a.allocate(6 * K); // from the start again: it covers b's old chunk
    assert.equal(p, start);
    b.deallocate(p, 6 * K);
    assert.equal(b.usableSize(p, 6 * K), 6 * K);
  });
});

describe("SharedBumpArena's worker slots", () => {
  test("the creator (slot 0) can leave like any other", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const a = new SharedBumpArena(new ProcessRange(memory, 100));
    const b = SharedBumpArena.join(new ProcessRange(memory, 200));
    assert.equal(a.workerId, 0);
    a.leave();
    assert.equal(a.workerId, -1);
    assert.equal(b.stats().workers, 1);
    assert.throws(() => a.allocate(8), /this process left the arena/);
    assert.equal(SharedBumpArena.join(new ProcessRange(memory, 300)).workerId, 0, "slot 0 is free again");
  });

  test("leave clears only its own slot: the others' records and the shared words stay", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const all = [new SharedBumpArena(new ProcessRange(memory, 100))];
    for (let i = 1; i <= 8; i++) all.push(SharedBumpArena.join(new ProcessRange(memory, 100 + i)));
    all[0]!.reset();
    all[4]!.leave();
    assert.deepEqual(all[1]!.reclaimDead(), [], "everyone left is alive, with their stamps");
    all[8]!.leave();
    assert.equal(all[0]!.resetEpoch(), 1);
    assert.equal(all[0]!.stats().workers, 7);
    for (const id of [0, 1, 2, 3, 5, 6, 7])
      assert.deepEqual([memory.i32[slot(id)], memory.i32[slot(id) + 1]], [100 + id, 7], `slot ${id}`);
  });

  test("a slot given back by reclaimDead and claimed again can be given back again", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const dead = new Set<number>();
    const a = new SharedBumpArena(new ProcessRange(memory, 100, dead));
    SharedBumpArena.join(new ProcessRange(memory, 200, dead));
    dead.add(200);
    assert.deepEqual(a.reclaimDead(), [1]);
    assert.equal(SharedBumpArena.join(new ProcessRange(memory, 300, dead)).workerId, 1);
    dead.add(300);
    assert.deepEqual(a.reclaimDead(), [1], "its reclaim flag was cleared by the new claim");
  });

  test("a join clears its own slot only: the next slot's process can still be found dead", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const dead = new Set<number>();
    const a = new SharedBumpArena(new ProcessRange(memory, 100, dead));
    const b = SharedBumpArena.join(new ProcessRange(memory, 200, dead));
    SharedBumpArena.join(new ProcessRange(memory, 300, dead));
    b.leave();
    assert.equal(SharedBumpArena.join(new ProcessRange(memory, 400, dead)).workerId, 1);
    assert.equal(memory.i32[slot(2)], 300);
    dead.add(300);
    assert.deepEqual(a.reclaimDead(), [2]);
  });

  test("reclaimDead leaves a slot that is being claimed (its bit set, its pid not yet written)", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const a = new SharedBumpArena(new ProcessRange(memory, 100));
    Atomics.or(memory.i32, CTRL + W.workers, 1 << 5); // a process between its claim and its pid
    assert.deepEqual(a.reclaimDead(), []);
    assert.equal(a.stats().workers, 2);
  });

  test("reclaimDead leaves a slot whose stamp changed after it read it (the same pid, a new process)", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const dead = new Set<number>([200]);
    const a = new SharedBumpArena(new ProcessRange(memory, 100, dead));
    SharedBumpArena.join(new ProcessRange(memory, 200, dead));
    const atomics = Atomics as unknown as { compareExchange: (...args: unknown[]) => number };
    const cas = atomics.compareExchange;
    atomics.compareExchange = (...args: unknown[]): number => {
      atomics.compareExchange = cas;
      Atomics.store(memory.i32, slot(1) + 1, 8); // a new process with pid 200 took the slot meanwhile
      return cas.apply(Atomics, args);
    };
    try {
      assert.deepEqual(a.reclaimDead(), []);
    } finally {
      atomics.compareExchange = cas;
    }
    assert.equal(Atomics.load(memory.i32, slot(1)), 200, "its pid kept");
    assert.equal(Atomics.load(memory.i32, slot(1) + 2), 0, "the flag given back");
  });

  test("reclaimDead never gives back the slot this object holds, even when another process took it over", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const a = new SharedBumpArena(new ProcessRange(memory, 100, new Set(), 7));
    // a process in another world (stamps of 8 are alive there) finds a dead and takes its slot back
    const later = SharedBumpArena.join(new ProcessRange(memory, 300, new Set(), 8));
    assert.deepEqual(later.reclaimDead(), [0]);
    const x = SharedBumpArena.join(new ProcessRange(memory, 500, new Set(), 9));
    assert.equal(x.workerId, 0);
    assert.equal(a.workerId, 0, "a does not know");
    // in a's world only stamp 7 is alive: later (slot 1) is dead; slot 0 is a's own as far as a knows
    assert.deepEqual(a.reclaimDead(), [1]);
    assert.equal(memory.i32[slot(0)], 500, "x keeps its slot");
  });

  test("reclaimDead looks at the 64 slots only: a stray bit past them is not a slot", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    Atomics.store(memory.i32, CTRL + W.workers + 2, 1); // left in the memory by a previous user, never cleared
    const a = new SharedBumpArena(new ProcessRange(memory, 100));
    const p = a.allocate(16);
    assert.equal(p, slot(64) * 4, "the first block lies where a 65th slot would");
    memory.i32.set([5, 3, 0, 0], p / 4); // the program's data
    assert.deepEqual(a.reclaimDead(), []);
    assert.deepEqual([...memory.i32.subarray(p / 4, p / 4 + 4)], [5, 3, 0, 0], "the block untouched");
  });
});
