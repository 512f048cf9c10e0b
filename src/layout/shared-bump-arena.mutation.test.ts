// SharedBumpArena: the constructor's checks and what formatting writes, attach's checks, the chunk sizes and where
// the cursor goes, the shared counters (published every 4,096 allocations), growth of a growable shared memory,
// reset and release as other workers see them, the checks of deallocate/grow/shrink/usableSize, and the worker slots
// over a memory processes share (join, leave, reclaimDead), driven through a process-shared stand-in backing.
// Written to kill the mutants that survived the arena's group (docs/TESTING.md, `npm run mutate -- shared-bump-arena`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  InvalidPointerError,
  LayoutError,
  Memory,
  NULL,
  SharedArrayBufferBacked,
  StaticBacked,
  UnsupportedError,
} from "../index.js";
import { SharedBumpArena } from "./shared-bump-arena.js";

const CONTROL = 384;
const K = 1024;

const arena = (bytes = 1 << 20): SharedBumpArena => new SharedBumpArena(new SharedArrayBufferBacked(bytes));

/** A range of a memory, as a process that maps it sees it: `pid`, `stamp`, and which processes are alive. */
class ProcessRange extends StaticBacked {
  readonly processSharing: { pid: number; stamp: number; alive: (pid: number, stamp: number) => boolean };
  constructor(memory: Memory, pid: number, dead: Set<number> = new Set(), stamp = 7) {
    super(memory, { offset: 1024, size: 64 * K });
    this.processSharing = { pid, stamp, alive: (p: number, s: number) => !dead.has(p) && s === stamp };
  }
}

const throwsWith =
  (type: new (...args: never[]) => Error, pattern: RegExp) =>
  (e: unknown): boolean =>
    e instanceof type && pattern.test(e.message);

describe("SharedBumpArena's constructor and attach", () => {
  test("refuses what is not a FixedRange, a memory that is not shared, and a range too small, writing nothing", () => {
    assert.throws(
      () => new SharedBumpArena({} as never),
      throwsWith(AllocError, /^SharedBumpArena: the backing must be a FixedRange$/),
    );
    const plain = Memory.of(new ArrayBuffer(8192));
    assert.throws(
      () => new SharedBumpArena(new StaticBacked(plain, { offset: 128, size: 4096 })),
      throwsWith(AllocError, /^SharedBumpArena: the memory is not shared; use SharedArrayBufferBacked/),
    );
    const memory = Memory.of(new SharedArrayBuffer(8192));
    assert.throws(
      () => new SharedBumpArena(new StaticBacked(memory, { offset: 128, size: CONTROL })),
      throwsWith(AllocError, /^SharedBumpArena: the range is too small$/),
    );
    // the control block rounds up to 128: a range from 130 has CONTROL + 1 bytes after 256 only if it is long enough
    assert.throws(
      () => new SharedBumpArena(new StaticBacked(memory, { offset: 136, size: 120 + CONTROL })),
      /the range is too small/,
    );
    assert.ok(
      new Int32Array(memory.buffer).every((w) => w === 0),
      "nothing written",
    );
    const one = new SharedBumpArena(new StaticBacked(memory, { offset: 136, size: 120 + CONTROL + 1 }));
    assert.equal(one.share().control, 256, "the control block at the next multiple of 128");
    assert.equal(one.capacityBytes(), 1);
    assert.equal(one.allocate(1, 1), 256 + CONTROL);
    assert.equal(one.allocate(1, 1), NULL);
  });

  test("a backing that cannot commit the control block is refused", () => {
    const memory = Memory.of(new SharedArrayBuffer(8192));
    const range = {
      memory,
      base: () => 128,
      size: () => 4096,
      commit: () => false,
      contains: () => true,
    };
    assert.throws(
      () => new SharedBumpArena(range as never),
      throwsWith(AllocError, /^SharedBumpArena: the backing cannot commit the control block$/),
    );
  });

  test("formatting is refused over a live arena and one being formatted, allowed after release and over a stale state", () => {
    const memory = Memory.of(new SharedArrayBuffer(1 << 16));
    const range = () => new StaticBacked(memory, { offset: 128, size: 1 << 15 });
    const a = new SharedBumpArena(range());
    assert.throws(
      () => new SharedBumpArena(range()),
      throwsWith(
        AllocError,
        /^SharedBumpArena: the memory at offset 128 already holds a live SharedBumpArena/,
      ),
    );
    a.allocate(100);
    a.release();
    const b = new SharedBumpArena(range());
    assert.deepEqual(b.stats(), {
      allocations: 0,
      failures: 0,
      allocatedBytes: 0,
      capacityBytes: (1 << 15) - CONTROL,
      workers: 0,
    });
    assert.equal(b.resetEpoch(), 0, "the epoch starts again");
    assert.equal(b.allocate(8), 128 + CONTROL, "from the start of the range");
    const state = 128 / 4 + 3;
    const other = Memory.of(new SharedArrayBuffer(1 << 16));
    Atomics.store(other.i32, state, 1); // being formatted
    assert.throws(
      () => new SharedBumpArena(new StaticBacked(other, { offset: 128, size: 4096 })),
      AllocError,
    );
    const stale = Memory.of(new SharedArrayBuffer(1 << 16));
    Atomics.store(stale.i32, state, 2); // "live", but no arena's magic there
    assert.equal(
      new SharedBumpArena(new StaticBacked(stale, { offset: 128, size: 4096 })).allocate(8),
      128 + CONTROL,
    );
  });

  test("attach checks the descriptor, the memory, the offset and that a live arena is there", () => {
    const a = arena(1 << 16);
    const d = a.share();
    assert.deepEqual(Object.keys(d).sort(), ["control", "kind", "source"]);
    assert.equal(d.kind, "SharedBumpArena");
    for (const bad of [undefined, {}, { ...d, kind: "SharedBump" }]) {
      assert.throws(
        () => SharedBumpArena.attach(bad as never),
        throwsWith(AllocError, /^SharedBumpArena\.attach: not a SharedBumpArena descriptor$/),
      );
    }
    const nowhere = [
      { ...d, source: new ArrayBuffer(1 << 16) },
      { ...d, control: d.control + 64 },
      { ...d, control: d.control + 128 },
      { ...d, control: (1 << 16) - CONTROL + 128 },
      { ...d, control: 1 << 16 },
    ];
    for (const bad of nowhere) {
      assert.throws(
        () => SharedBumpArena.attach(bad as never),
        throwsWith(
          AllocError,
          /^SharedBumpArena\.attach: no live arena is formatted at offset \d+ of the shared memory$/,
        ),
        String(bad.control),
      );
    }
    const b = SharedBumpArena.attach(d);
    assert.equal(b.capacityBytes(), a.capacityBytes());
    a.release();
    assert.throws(() => SharedBumpArena.attach(d), /no live arena is formatted/);
  });

  test("over a process-shared memory: share() is refused; attach of a process arena and join of a thread arena too", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const a = new SharedBumpArena(new ProcessRange(memory, 100));
    assert.throws(
      () => a.share(),
      throwsWith(UnsupportedError, /^SharedBumpArena\.share: this arena is in a mapping/),
    );
    const sab = new SharedArrayBufferBacked(1 << 16);
    new SharedBumpArena(sab);
    assert.throws(
      () => SharedBumpArena.join(sab),
      throwsWith(AllocError, /^SharedBumpArena\.join: the backing is not a mapping processes share/),
    );
    // a thread arena joined as if from a process
    const threads = Memory.of(new SharedArrayBuffer(1 << 17));
    new SharedBumpArena(new StaticBacked(threads, { offset: 1024, size: 64 * K }));
    const asProcess = new ProcessRange(threads, 5);
    assert.throws(
      () => SharedBumpArena.join(asProcess),
      throwsWith(
        AllocError,
        /^SharedBumpArena\.join: the arena there was formatted for threads of one process/,
      ),
    );
    const fresh = Memory.of(new ArrayBuffer(1 << 17));
    assert.throws(
      () => SharedBumpArena.join(new ProcessRange(fresh, 5)),
      throwsWith(AllocError, /^SharedBumpArena\.attach: no live arena is formatted at that offset/),
    );
  });
});

describe("SharedBumpArena's allocations", () => {
  /** The cursor's moves while one worker allocates `size`-byte blocks (align 1) until the arena is exhausted. */
  const chunkMoves = (a: SharedBumpArena, size: number, limit = Infinity): number[] => {
    const moves: number[] = [];
    let last = 0;
    while (moves.length < limit && a.allocate(size, 1) !== NULL) {
      const now = a.stats().allocatedBytes;
      if (now !== last) moves.push(now - last);
      last = now;
    }
    return moves;
  };

  test("chunks: 4 KiB first, doubling to 64 KiB", () => {
    assert.deepEqual(chunkMoves(arena(1 << 21), 64, 8), [
      4 * K,
      8 * K,
      16 * K,
      32 * K,
      64 * K,
      64 * K,
      64 * K,
      64 * K,
    ]);
  });

  test("chunks near the end: never more than a sixteenth of what is left, at least 4 KiB, never past the end", () => {
    const a = arena(160 * K);
    const cap = a.capacityBytes();
    const moves = chunkMoves(a, 1);
    // what the module documentation says, chunk by chunk
    const expected: number[] = [];
    let used = 0;
    for (let doubling = 4 * K; used < cap; doubling = Math.min(64 * K, doubling * 2)) {
      const chunk = Math.min(cap - used, Math.max(4 * K, Math.min(doubling, (cap - used) >>> 4)));
      expected.push(chunk);
      used += chunk;
    }
    assert.deepEqual(moves, expected);
    assert.ok(
      moves.some((m) => m > 4 * K && m < 8 * K),
      `the sixteenth rule applies: ${moves}`,
    );
    assert.equal(a.stats().allocatedBytes, cap, "every byte handed out");
  });

  test("a block larger than a chunk gets a chunk of its own size; alignment is kept across chunks", () => {
    const a = arena(1 << 20);
    const base = a.allocate(1, 1);
    const big = a.allocate(10 * K, 4096);
    assert.equal(big % 4096, 0);
    assert.ok(big >= base + 4 * K, "from a new chunk");
    assert.equal(a.stats().allocatedBytes, big + 10 * K - base, "the chunk ends with the block");
    for (const align of [1, 2, 8, 64, 1024]) assert.equal(a.allocate(3, align) % align, 0);
    assert.throws(() => a.allocate(0), throwsWith(LayoutError, /^SharedBumpArena\.allocate/));
    assert.throws(() => a.allocate(8, 3), LayoutError);
  });

  test("an exhausted arena returns NULL and counts the failure; the last bytes are still served", () => {
    const a = arena(8 * K);
    const cap = a.capacityBytes();
    const p = a.allocate(cap - 8, 8);
    assert.notEqual(p, NULL);
    assert.equal(a.allocate(16), NULL);
    assert.equal(a.allocate(8), p + cap - 8, "exactly the rest");
    assert.equal(a.allocate(1, 1), NULL);
    assert.deepEqual(
      { ...a.stats(), capacityBytes: 0 },
      { allocations: 2, failures: 2, allocatedBytes: cap, capacityBytes: 0, workers: 0 },
    );
  });

  test("the shared count: published every 4,096 allocations, on refill, flush and stats", () => {
    const a = arena(1 << 22);
    const b = SharedBumpArena.attach(a.share());
    for (let i = 0; i < 4095; i++) a.allocate(1, 1); // one chunk of 4 KiB: one refill, then the fast path
    assert.equal(b.stats().allocations, 0, "not published yet");
    a.allocate(1, 1);
    assert.equal(b.stats().allocations, 4096, "the 4,096th publishes");
    a.allocate(1, 1); // a refill: publishes nothing new (0 pending), then counts 1
    b.allocate(8);
    assert.equal(b.stats().allocations, 4097, "b's own count is flushed by its stats()");
    a.flush();
    assert.equal(b.stats().allocations, 4098);
    a.flush();
    assert.equal(a.stats().allocations, 4098, "a second flush adds nothing");
  });

  test("over a growable shared memory: a chunk past its length grows it; one past its maximum is given up", () => {
    const backing = new SharedArrayBufferBacked({ size: 16 * K, maxSize: 256 * K });
    const a = new SharedBumpArena(backing);
    const memory = a.memory;
    assert.equal(memory.byteLength, 16 * K);
    const p = a.allocate(20 * K);
    assert.notEqual(p, NULL);
    assert.ok(p + 20 * K <= 32 * K);
    assert.equal(memory.byteLength, 32 * K, "grown to twice its length, which covers the block");
    memory.u8.fill(1, p, p + 20 * K);
    // a range that claims more than the memory can ever hold
    const sab = Memory.of(new SharedArrayBuffer(16 * K, { maxByteLength: 32 * K } as never));
    const liar = {
      memory: sab,
      base: () => 128,
      size: () => 1 << 20,
      commit: () => true,
      contains: () => true,
    };
    const c = new SharedBumpArena(liar as never);
    assert.equal(c.allocate(40 * K), NULL, "the memory cannot grow to 40 KiB");
    assert.equal(c.stats().failures, 1);
    assert.equal(sab.byteLength, 16 * K);
  });

  test("allocateZeroed zeroes; NULL stays NULL", () => {
    const a = arena(8 * K);
    const p = a.allocate(64);
    a.memory.u8.fill(0xab, p + 64, p + 128);
    const q = a.allocateZeroed(64);
    assert.equal(q, p + 64);
    assert.ok(a.memory.u8.subarray(q, q + 64).every((x) => x === 0));
    assert.equal(a.allocateZeroed(1 << 20), NULL);
  });
});

describe("SharedBumpArena's checks of issued blocks", () => {
  test("deallocate, grow, shrink and usableSize accept issued blocks and refuse the rest, naming the call", () => {
    const a = arena(1 << 16);
    const b = SharedBumpArena.attach(a.share());
    const p = a.allocate(64, 16);
    const q = b.allocate(32); // b's chunk: after a's
    const calls = (ptr: number, size: number, align = 8): [string, () => unknown][] => [
      ["deallocate", () => a.deallocate(ptr, size, align)],
      ["grow", () => a.grow(ptr, size, size + 8, align)],
      ["shrink", () => a.shrink(ptr, size, 1, align)],
      ...(align === 16 ? [] : ([["usableSize", () => a.usableSize(ptr, size)]] as [string, () => unknown][])),
    ];
    const cursor = p + a.stats().allocatedBytes; // a's chunk and b's
    const bad: [number, number, number][] = [
      [p - 8, 8, 8], // before the range
      [p + 64, 8, 8], // the unissued tail of a's chunk
      [p + 60, 8, 4], // straddles the end of what a issued
      [cursor, 8, 8], // past the cursor
      [cursor - 4, 8, 4], // ends past the cursor
      [p + 8, 8, 16], // not aligned to 16
      [1.5, 8, 1],
      [Number.NaN, 8, 1],
    ];
    for (const [ptr, size, align] of bad) {
      for (const [what, call] of calls(ptr, size, align)) {
        assert.throws(
          call,
          throwsWith(
            InvalidPointerError,
            new RegExp(`^SharedBumpArena\\.${what}: .* \\(size ${size}\\) was not issued by this arena$`),
          ),
          `${what} ${ptr}, ${size}, ${align}`,
        );
      }
    }
    assert.throws(() => a.deallocate(p, 0), throwsWith(LayoutError, /^SharedBumpArena\.deallocate/));
    // issued blocks
    a.deallocate(p, 64, 16);
    a.deallocate(p + 56, 8);
    a.deallocate(q, 32); // another worker's block
    assert.equal(a.usableSize(p, 64), 64);
    assert.equal(a.shrink(p, 64, 16, 16), p);
    a.memory.u8.set([1, 2, 3, 4], p);
    const moved = a.grow(p, 4, 100, 16);
    assert.notEqual(moved, p);
    assert.equal(moved % 16, 0);
    assert.deepEqual([...a.memory.u8.subarray(moved, moved + 4)], [1, 2, 3, 4], "grow moves the bytes");
    assert.equal(a.corruptionEvents(), 0);
  });
});

describe("SharedBumpArena's reset and release", () => {
  test("reset: the cursor back to the start, the epoch on, every worker's next block from a new chunk", () => {
    const a = arena(1 << 18);
    const b = SharedBumpArena.attach(a.share());
    const first = a.allocate(8);
    const bFirst = b.allocate(8);
    assert.equal(bFirst, first + 4 * K, "b's chunk follows a's");
    a.reset();
    assert.equal(a.resetEpoch(), 1);
    assert.equal(b.resetEpoch(), 1);
    assert.equal(a.stats().allocatedBytes, 0);
    const bAfter = b.allocate(8);
    assert.equal(bAfter, first, "b drops its old chunk and takes the first one");
    const aAfter = a.allocate(8);
    assert.equal(
      aAfter,
      first + 8 * K,
      "a's old chunk is gone too: a new one after b's (b's second chunk: 8 KiB)",
    );
    a.reset();
    a.reset();
    assert.equal(b.resetEpoch(), 3);
  });

  test("release: once, for every worker; their next refill throws; the memory can be formatted anew", () => {
    const backing = new SharedArrayBufferBacked(1 << 18);
    const a = new SharedBumpArena(backing);
    const b = SharedBumpArena.attach(a.share());
    a.allocate(8);
    b.allocate(8);
    a.release();
    assert.equal(a.resetEpoch(), 1);
    a.release();
    b.release();
    assert.equal(a.resetEpoch(), 1, "released once");
    for (const x of [a, b]) {
      assert.throws(
        () => x.allocate(8),
        throwsWith(
          AllocError,
          /^SharedBumpArena\.allocate: the arena was released; no block can be allocated from it$/,
        ),
      );
    }
    assert.throws(() => a.reset(), throwsWith(AllocError, /^SharedBumpArena\.reset: the arena was released/));
    const c = new SharedBumpArena(backing);
    assert.equal(c.allocate(8) > 0, true);
  });
});

describe("SharedBumpArena over a memory processes share", () => {
  test("the creator holds slot 0; joins take the next slots; stats count them; leave gives a slot back", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const a = new SharedBumpArena(new ProcessRange(memory, 100));
    assert.equal(a.workerId, 0);
    const b = SharedBumpArena.join(new ProcessRange(memory, 200));
    const c = SharedBumpArena.join(new ProcessRange(memory, 300));
    assert.deepEqual([b.workerId, c.workerId], [1, 2]);
    assert.equal(a.stats().workers, 3);
    assert.equal(a.capacityBytes(), 64 * K - CONTROL - 64 * 16, "the slot table follows the control block");
    const p = a.allocate(8);
    assert.equal(p, 1024 + CONTROL + 64 * 16);
    assert.ok(b.allocate(8) > p);
    b.leave();
    assert.equal(b.workerId, -1);
    b.leave();
    assert.equal(a.stats().workers, 2);
    assert.equal(a.stats().allocations, 2, "b's count was published when it left");
    assert.throws(
      () => b.allocate(8),
      throwsWith(
        AllocError,
        /^SharedBumpArena\.allocate: this process left the arena \(leave\(\)\); join it again$/,
      ),
    );
    const d = SharedBumpArena.join(new ProcessRange(memory, 400));
    assert.equal(d.workerId, 1, "the slot b gave back");
    assert.deepEqual(a.reclaimDead(), [], "everyone is alive");
  });

  test("64 slots, then join is refused until a slot is given back; slots past 31 use the second word", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const dead = new Set<number>();
    const all = [new SharedBumpArena(new ProcessRange(memory, 1000, dead))];
    for (let i = 1; i < 64; i++) all.push(SharedBumpArena.join(new ProcessRange(memory, 1000 + i, dead)));
    assert.deepEqual(
      all.map((x) => x.workerId),
      Array.from({ length: 64 }, (_, i) => i),
    );
    assert.equal(all[0]!.stats().workers, 64);
    assert.throws(
      () => SharedBumpArena.join(new ProcessRange(memory, 5000, dead)),
      throwsWith(AllocError, /^SharedBumpArena\.join: 64 processes are joined already/),
    );
    all[40]!.leave();
    assert.equal(all[0]!.stats().workers, 63);
    assert.equal(SharedBumpArena.join(new ProcessRange(memory, 5000, dead)).workerId, 40);
    dead.add(1033);
    dead.add(1005);
    assert.deepEqual(all[0]!.reclaimDead(), [5, 33]);
    assert.equal(all[0]!.stats().workers, 62);
    assert.deepEqual(all[1]!.reclaimDead(), [], "given back once");
    assert.equal(SharedBumpArena.join(new ProcessRange(memory, 6000, dead)).workerId, 5);
    assert.equal(SharedBumpArena.join(new ProcessRange(memory, 6001, dead)).workerId, 33);
  });

  test("reclaimDead: not its own slot, not a slot of its own pid, not a process that is alive; a new stamp is another process", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const dead = new Set<number>();
    const a = new SharedBumpArena(new ProcessRange(memory, 100, dead));
    const b = SharedBumpArena.join(new ProcessRange(memory, 200, dead));
    const sameProcess = SharedBumpArena.join(new ProcessRange(memory, 100, dead));
    assert.equal(sameProcess.workerId, 2);
    dead.add(100); // a's own pid, as a's view of the world says: never reclaimed by a
    assert.deepEqual(a.reclaimDead(), []);
    dead.delete(100);
    // b restarted with the same pid and another start stamp: the slot's process has ended
    const later = SharedBumpArena.join(new ProcessRange(memory, 300, dead, 8));
    assert.equal(later.workerId, 3);
    assert.deepEqual(
      later.reclaimDead(),
      [0, 1, 2],
      "every other slot has stamp 7, which the stamp-8 world calls dead",
    );
    assert.equal(later.stats().workers, 1);
    assert.equal(b.workerId, 1, "b's object does not know");
  });

  test("reclaimDead leaves a slot being reclaimed by another process, and a slot whose pid changed meanwhile", () => {
    const memory = Memory.of(new ArrayBuffer(1 << 17));
    const dead = new Set<number>([200]);
    const a = new SharedBumpArena(new ProcessRange(memory, 100, dead));
    SharedBumpArena.join(new ProcessRange(memory, 200, dead));
    const slot1 = (1024 + CONTROL) / 4 + 4; // slot 1's words
    Atomics.store(memory.i32, slot1 + 2, 1); // another process has won the reclaim flag
    assert.deepEqual(a.reclaimDead(), []);
    Atomics.store(memory.i32, slot1 + 2, 0);
    // the pid changes between the first read and the reclaim flag (a new process claimed the slot)
    const atomics = Atomics as unknown as { compareExchange: (...args: unknown[]) => number };
    const cas = atomics.compareExchange;
    atomics.compareExchange = (...args: unknown[]): number => {
      atomics.compareExchange = cas;
      Atomics.store(memory.i32, slot1, 999);
      return cas.apply(Atomics, args);
    };
    try {
      assert.deepEqual(a.reclaimDead(), []);
    } finally {
      atomics.compareExchange = cas;
    }
    assert.equal(Atomics.load(memory.i32, slot1 + 2), 0, "the flag given back");
    assert.equal(Atomics.load(memory.i32, slot1), 999);
    Atomics.store(memory.i32, slot1, 200);
    assert.deepEqual(a.reclaimDead(), [1]);
    assert.equal(Atomics.load(memory.i32, slot1), 0, "the pid cleared");
  });

  test("over a memory only threads share: no slots, reclaimDead gives nothing back, leave does nothing", () => {
    const a = arena(1 << 16);
    assert.equal(a.workerId, -1);
    assert.deepEqual(a.reclaimDead(), []);
    a.leave();
    assert.notEqual(a.allocate(8), NULL);
    assert.equal(a.stats().workers, 0);
  });
});
