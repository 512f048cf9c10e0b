// Detection tests: each wrapper catches what it claims, every time, and says so without leaking secrets.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { inspect } from "node:util";
import {
  AllocError,
  ArrayBufferBacked,
  BumpArena,
  CorruptionError,
  HalfSipHashMac,
  InvalidPointerError,
  LayoutError,
  NULL,
  Slab,
  StackAlloc,
  StaticBacked,
  WithFallback,
} from "../index.js";
import {
  AlwaysFail,
  CacheJitter,
  Canary,
  FailAfter,
  FailEveryNth,
  FailOnSize,
  Faulty,
  NeverFail,
  PoisonOnFree,
  Quarantine,
  SeededFailures,
  Statistics,
  Watermark,
  type WatermarkEvent,
  ZeroizeOnFree,
  observable,
  uafResistant,
} from "./index.js";

const slab = (blockSize = 64, capacity = 16): Slab =>
  new Slab(new ArrayBufferBacked(1 << 16), { blockSize, capacity });

describe("Canary", () => {
  test("a 1-byte write past the end or before the start is reported at free, every time, and counted", () => {
    const c = new Canary(slab(128, 160)); // corrupted blocks are not freed: room for all of them
    let expected = 0;
    for (let size = 1; size <= 100; size += 3) {
      for (const offset of [size, -1, size + 7, -8]) {
        const p = c.allocate(size);
        const u8 = c.memory.u8;
        u8[p + offset] = u8[p + offset]! ^ 0x01;
        assert.throws(() => c.deallocate(p, size), CorruptionError, `size ${size} offset ${offset}`);
        assert.equal(c.corruptionEvents(), ++expected);
      }
    }
  });

  test("an intact block frees cleanly and its canary words are zeroed", () => {
    const c = new Canary(slab(), { seed: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) });
    const p = c.allocate(20);
    c.memory.u8.fill(0xff, p, p + 20);
    c.deallocate(p, 20);
    assert.deepEqual([...c.memory.u8.subarray(p - 8, p)], new Array(8).fill(0));
    assert.deepEqual([...c.memory.u8.subarray(p + 20, p + 28)], new Array(8).fill(0));
    assert.equal(c.corruptionEvents(), 0);
  });

  test("an overflow of a block freed with a smaller alignment than its allocation's is reported as corruption", () => {
    const c = new Canary(
      new Slab(new ArrayBufferBacked(1 << 14), { blockSize: 128, capacity: 16, align: 32 }),
    );
    const p = c.allocate(16, 32);
    c.memory.u8[p + 16]! ^= 0x01; // one byte past the end: the word after the block
    assert.throws(
      () => c.deallocate(p, 16, 8), // the allocation's alignment was 32: the padding before the block says so
      (e: unknown) => e instanceof CorruptionError && /overflow/.test((e as Error).message),
    );
    assert.equal(c.corruptionEvents(), 1);
  });

  test("a double free, a foreign pointer and a wrong alignment are not reported as corruption", () => {
    const c = new Canary(
      new Slab(new ArrayBufferBacked(1 << 14), { blockSize: 128, capacity: 16, align: 32 }),
    );
    const p = c.allocate(16, 32);
    assert.throws(
      () => c.deallocate(p, 16, 8),
      (e: unknown) => e instanceof LayoutError && /allocated with alignment 32/.test((e as Error).message),
    );
    c.deallocate(p, 16, 32);
    assert.throws(() => c.deallocate(p, 16, 32), InvalidPointerError);
    assert.throws(() => c.deallocate(p + 64, 16), InvalidPointerError);
    assert.equal(c.corruptionEvents(), 0);
  });

  test("the secret never appears in a message, util.inspect or JSON", () => {
    const seed = new Uint8Array([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
    const c = new Canary(slab(), { seed });
    const p = c.allocate(8);
    c.memory.u8[p + 8] = 0;
    let message = "";
    try {
      c.deallocate(p, 8);
    } catch (e) {
      message = (e as Error).message + (e as Error).stack;
    }
    const secrets = ["44332211", "88776655", String(0x44332211), String(0x88776655), "0x44332211"];
    for (const text of [message, inspect(c, { showHidden: true, depth: 5 }), JSON.stringify(c)]) {
      for (const s of secrets) assert.ok(!text.toLowerCase().includes(s), `${s} leaked in ${text}`);
    }
    assert.match(inspect(c), /secret: \[redacted\]/);
  });

  test("is refused over a slab too tight for one canaried byte, and under a bump arena", () => {
    assert.throws(() => new Canary(slab(16)), /cannot hold one byte between two 8-byte canaries/);
    const inner = new Canary(new BumpArena(new ArrayBufferBacked(4096)));
    assert.throws(
      () => new BumpArena(inner as never),
      /Put Canary outside instead: new Canary\(new BumpArena\(range\)\)/,
    );
    assert.throws(
      () => new StackAlloc(new Statistics(new ArrayBufferBacked(4096)) as never),
      /Statistics as the range under StackAlloc would do nothing/,
    );
  });
});

describe("PoisonOnFree and ZeroizeOnFree", () => {
  test("poison covers the usable size (the whole stride), with 0xDE by default", () => {
    const p0 = new PoisonOnFree(new Slab(new ArrayBufferBacked(4096), { blockSize: 20, capacity: 4 }));
    const p = p0.allocate(10);
    p0.memory.u8.fill(1, p, p + 24);
    p0.deallocate(p, 10);
    assert.deepEqual([...p0.memory.u8.subarray(p, p + 24)], new Array(24).fill(0xde));
    assert.throws(() => new PoisonOnFree(slab(), { pattern: 256 }), /not a byte/);
  });

  test("with checkOnReuse, a write into a freed block is reported when checked, and at reuse", () => {
    const pool = new PoisonOnFree(slab(), { checkOnReuse: true });
    const a = pool.allocate(64);
    const b = pool.allocate(64);
    pool.deallocate(a, 64);
    pool.deallocate(b, 64);
    assert.equal(pool.verifyFreed(), 2);
    pool.memory.u8[a + 5] = 0; // use after free
    assert.throws(
      () => pool.verifyFreed(),
      (e: unknown) => e instanceof CorruptionError && /byte 5 of the freed block/.test((e as Error).message),
    );
    assert.equal(pool.corruptionEvents(), 1);
    pool.memory.u8[b + 9] = 7;
    assert.throws(() => pool.allocate(64), CorruptionError, "reusing the written block reports it");
    assert.equal(pool.corruptionEvents(), 2);
  });

  test("checkOnReuse is refused over a wrapper that writes into blocks (it would report false writes after free)", () => {
    assert.throws(
      () => new PoisonOnFree(new Canary(slab()), { checkOnReuse: true }),
      /Canary inside writes into blocks/,
    );
    assert.throws(
      () => new PoisonOnFree(new Quarantine(new ZeroizeOnFree(slab())), { checkOnReuse: true }),
      /ZeroizeOnFree inside/,
    );
    assert.doesNotThrow(
      () => new PoisonOnFree(new Quarantine(new Statistics(slab())), { checkOnReuse: true }),
    );
  });

  test("zeroize leaves zeros, and a reset zeroes the whole range", () => {
    const z = new ZeroizeOnFree(slab());
    const p = z.allocate(64);
    const q = z.allocate(64);
    z.memory.u8.fill(0x5a, p, p + 64);
    z.memory.u8.fill(0x5a, q, q + 64);
    z.deallocate(p, 64);
    assert.deepEqual([...z.memory.u8.subarray(p, p + 64)], new Array(64).fill(0));
    z.reset();
    assert.deepEqual([...z.memory.u8.subarray(q, q + 64)], new Array(64).fill(0));
  });

  test("a bad pointer is refused before anything is written", () => {
    const z = new ZeroizeOnFree(slab());
    const p = z.allocate(64);
    z.memory.u8.fill(9, p, p + 64);
    assert.throws(() => z.deallocate(p + 8, 64), InvalidPointerError);
    assert.equal(z.memory.u8[p + 8], 9);
  });
});

describe("Quarantine", () => {
  test("a freed block is not reused before `epochs` more frees, and comes back in FIFO order", () => {
    const q = new Quarantine(slab(64, 16), 3);
    const blocks = Array.from({ length: 8 }, () => q.allocate(64));
    q.deallocate(blocks[0]!, 64);
    const fresh = Array.from({ length: 3 }, () => q.allocate(64));
    assert.ok(!fresh.includes(blocks[0]!));
    for (const b of blocks.slice(1, 4)) q.deallocate(b, 64); // the 4th free evicts blocks[0]
    assert.equal(q.pending(), 3);
    assert.equal(q.allocate(64), blocks[0]);
  });

  test("a double free of a block still in quarantine throws InvalidPointerError; flush empties it", () => {
    const q = new Quarantine(slab(), 4);
    const p = q.allocate(64);
    q.deallocate(p, 64);
    assert.throws(
      () => q.deallocate(p, 64),
      (e: unknown) => e instanceof InvalidPointerError && /still in quarantine/.test((e as Error).message),
    );
    assert.throws(() => q.deallocate(p + 8, 64), InvalidPointerError, "a pointer the inner does not hold");
    q.flush();
    assert.equal(q.pending(), 0);
    assert.throws(
      () => q.deallocate(p, 64),
      InvalidPointerError,
      "after eviction the slab reports the double free",
    );
    assert.throws(() => new Quarantine(slab(), 0), AllocError);
  });
});

describe("Statistics", () => {
  test("counts allocations, frees, bytes, the peak and failures, and mirrors corruption", () => {
    const s = new Statistics(slab(64, 2));
    const a = s.allocate(10);
    const b = s.allocate(30);
    assert.equal(s.allocate(8), NULL);
    s.deallocate(a, 10);
    assert.deepEqual(s.stats(), {
      totalAllocations: 2,
      totalDeallocations: 1,
      currentBytes: 30,
      peakBytes: 40,
      failures: 1,
      liveCount: 1,
      corruptionEvents: 0,
    });
    assert.throws(() => s.deallocate(a, 10), InvalidPointerError);
    assert.equal(s.stats().totalDeallocations, 1, "a refused free is not counted");
    s.reset();
    assert.equal(s.stats().liveCount, 0);
    void b;
  });
});

describe("Watermark", () => {
  test("fires warn and critical once on the rising edge, onOom every time, and rearm() arms again", () => {
    const events: string[] = [];
    const record = (e: WatermarkEvent): void => void events.push(`${e.level}@${e.allocatedBytes}`);
    const w = new Watermark(
      new Slab(new ArrayBufferBacked(4096), { blockSize: 100, capacity: 10, align: 4 }),
      { onWarn: record, onCritical: record, onOom: record },
    );
    const ptrs = Array.from({ length: 10 }, () => w.allocate(100, 4));
    assert.deepEqual(events, ["warn@800", "critical@900"]);
    w.allocate(100, 4);
    w.allocate(100, 4);
    assert.deepEqual(events.slice(2), ["oom@1000", "oom@1000"]);
    for (const p of ptrs.slice(0, 5)) w.deallocate(p, 100, 4);
    w.allocate(100, 4);
    assert.equal(events.length, 4, "falling below does not re-arm");
    w.rearm();
    w.allocate(100, 4);
    w.allocate(100, 4);
    w.allocate(100, 4);
    assert.deepEqual(events.slice(4), ["warn@800", "critical@900"]);
  });

  test("a throwing handler gets the block freed again before the error propagates; thresholds are validated", () => {
    const inner = slab(64, 4);
    const w = new Watermark(
      inner,
      {
        onWarn: () => {
          throw new Error("handler");
        },
      },
      { warn: 0.5, critical: 1 },
    );
    w.allocate(64);
    assert.throws(() => w.allocate(64), /handler/);
    assert.equal(inner.liveCount(), 1);
    assert.equal(w.allocatedBytes(), 64);
    assert.throws(() => new Watermark(slab(), {}, { warn: 0.9, critical: 0.5 }), /0 < warn <= critical <= 1/);
  });
});

describe("Faulty and its policies", () => {
  test("FailEveryNth(3) fails calls 3, 6, 9; FailAfter, FailOnSize, AlwaysFail and NeverFail do what they say", () => {
    const f = new Faulty(slab(64, 64), new FailEveryNth(3));
    const results = Array.from({ length: 9 }, () => f.allocate(8) === NULL);
    assert.deepEqual(results, [false, false, true, false, false, true, false, false, true]);
    const after = new FailAfter(2);
    assert.deepEqual([after.shouldFail(), after.shouldFail(), after.shouldFail()], [false, false, true]);
    assert.deepEqual(
      [new FailOnSize(100).shouldFail(99), new FailOnSize(100).shouldFail(100)],
      [false, true],
    );
    assert.equal(new Faulty(slab(), new AlwaysFail()).allocate(8), NULL);
    assert.notEqual(new Faulty(slab(), new NeverFail()).allocate(8), NULL);
    assert.throws(() => new FailEveryNth(0), AllocError);
    assert.throws(
      () => new Faulty(slab(), new AlwaysFail()).allocate(0),
      LayoutError,
      "bad layouts still throw",
    );
  });

  test("SeededFailures replays the same failures from the same seed", () => {
    const run = (seed: number): boolean[] => {
      const p = new SeededFailures({ seed, probability: 0.3 });
      return Array.from({ length: 50 }, () => p.shouldFail());
    };
    assert.deepEqual(run(42), run(42));
    assert.notDeepEqual(run(42), run(43));
    assert.ok(run(42).some(Boolean) && !run(42).every(Boolean));
    assert.throws(() => new SeededFailures({ seed: 1, probability: 2 }), AllocError);
  });

  test("drives WithFallback's secondary and Watermark's onOom", () => {
    const backing = new ArrayBufferBacked(1 << 14);
    const primary = new Faulty(new Slab(backing, { blockSize: 64, capacity: 8 }), new AlwaysFail());
    const secondary = new BumpArena(StaticBacked.carve(backing, 4096));
    const both = new WithFallback(primary, secondary);
    assert.ok(secondary.contains(both.allocate(64)), "the secondary took it");
    let ooms = 0;
    const w = new Watermark(new Faulty(slab(), new AlwaysFail()), { onOom: () => void ooms++ });
    w.allocate(8);
    assert.equal(ooms, 1);
  });
});

describe("CacheJitter", () => {
  test("displaces blocks by whole lines within `assoc` and detects a smashed header", () => {
    const j = new CacheJitter(new BumpArena(new ArrayBufferBacked(1 << 20)), { line: 64, assoc: 8, seed: 3 });
    const offsets = new Set<number>();
    const ptrs: number[] = [];
    for (let i = 0; i < 200; i++) {
      const p = j.allocate(64);
      assert.equal(p % 64, 0);
      ptrs.push(p);
      offsets.add(((p - 64) / 64) % 9);
    }
    assert.ok(offsets.size > 3, "several displacements are used");
    j.deallocate(ptrs[0]!, 64);
    const u8 = j.memory.u8;
    u8[ptrs[1]! - 3] = u8[ptrs[1]! - 3]! ^ 0x40; // flip a MAC bit
    assert.throws(() => j.deallocate(ptrs[1]!, 64), CorruptionError);
    assert.equal(j.corruptionEvents(), 1);
    assert.match(inspect(j), /key: \[redacted\]/);
    assert.throws(() => new CacheJitter(slab(), { line: 48 }), /line 48 is not valid/);
  });
});

describe("Slab free-list MAC", () => {
  test("a forged free-list entry is detected at allocation, counted, and never followed", () => {
    const meta = new ArrayBufferBacked(1 << 12); // the free set lives here, where other code can write
    const s = new Slab(new ArrayBufferBacked(1 << 14), {
      blockSize: 64,
      capacity: 8,
      metadata: meta,
      protection: new HalfSipHashMac(),
    });
    const a = s.allocate(64);
    const b = s.allocate(64);
    s.deallocate(a, 64);
    s.deallocate(b, 64);
    const set = new Int32Array(meta.memory.buffer, 16, 3 * 8);
    set[1] = a + 64 * 5; // forge the top entry to point at a slot of the attacker's choice
    assert.throws(() => s.allocate(64), CorruptionError, "the forged entry is reported");
    const next = s.allocate(64);
    assert.notEqual(next, a + 64 * 5, "the forged pointer is not followed");
    assert.equal(s.corruptionEvents(), 1);
    s.validate();
  });

  test("without a MAC but with external metadata, an implausible entry is still never followed", () => {
    const meta = new ArrayBufferBacked(1 << 12);
    const s = new Slab(new ArrayBufferBacked(1 << 14), { blockSize: 64, capacity: 8, metadata: meta });
    const a = s.allocate(64);
    s.deallocate(a, 64);
    new Int32Array(meta.memory.buffer, 16, 16)[0] = 12345; // not a slot
    assert.throws(() => s.allocate(64), CorruptionError);
    assert.notEqual(s.allocate(64), 12345);
    assert.equal(s.corruptionEvents(), 1);
  });
});

describe("recipes", () => {
  test("observable: counters and alarms over an allocator", () => {
    let warned = 0;
    const o = observable(slab(64, 4), { onWarn: () => void warned++ });
    for (let i = 0; i < 3; i++) o.allocate(64);
    assert.equal(o.stats().liveCount, 3);
    assert.equal(warned, 1);
  });

  test("uafResistant: a revoked token is poisoned at once, not reused within 4 frees, and checked on reuse", () => {
    const pool = uafResistant(slab(64, 16));
    const tokens = Array.from({ length: 8 }, () => pool.allocate(64));
    pool.deallocate(tokens[0]!, 64);
    assert.equal(pool.memory.u8[tokens[0]!], 0xde);
    const next = Array.from({ length: 4 }, () => pool.allocate(64));
    assert.ok(!next.includes(tokens[0]!));
    assert.equal(pool.stats().liveCount, 11);
  });
});
