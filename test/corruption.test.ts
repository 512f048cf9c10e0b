// forge-alloc: corrupts memory on purpose (run-tests keeps it out of the debug-level pass)
// Randomized corruption properties (the Rust crate's proptest_corruption.rs): random bit flips in the bytes a
// hardening layer checks (canary words, cache-jitter headers, MAC-protected free-list metadata) are each either
// detected (`CorruptionError`, counted) or harmless (the allocator goes on handing out only blocks that are free),
// and a forged free-list link is never followed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  ArrayBufferBacked,
  CacheJitter,
  Canary,
  CorruptionError,
  ExtendableSlab,
  HalfSipHashMac,
  NULL,
  Slab,
} from "../src/index.js";

const RUNS = { numRuns: 300 };

/** A block of `size` bytes with a random bit flipped at `flip` (an offset from the block, and a bit). */
interface Flip {
  offset: number;
  bit: number;
}

describe("Canary: a flipped bit in either canary word is detected; one in the block is harmless", () => {
  test("every single flip in [pointer - 8, pointer + size + 8)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.constantFrom(1, 2, 4, 8, 16, 64),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 0, max: 7 }),
        (size, align, at, bit) => {
          const guarded = new Canary(
            new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 512, capacity: 16, align: 64 }),
          );
          const p = guarded.allocate(size, align);
          assert.notEqual(p, NULL);
          const flip: Flip = { offset: -8 + Math.floor(at * (size + 16)), bit };
          guarded.memory.u8[p + flip.offset]! ^= 1 << bit;
          const inCanary = flip.offset < 0 || flip.offset >= size;
          if (inCanary) {
            assert.throws(() => guarded.deallocate(p, size, align), CorruptionError);
            assert.equal(guarded.corruptionEvents(), 1);
          } else {
            guarded.deallocate(p, size, align);
            assert.equal(guarded.corruptionEvents(), 0);
            assert.equal(guarded.allocate(size, align), p, "the block was freed and comes back");
          }
        },
      ),
      RUNS,
    );
  });
});

describe("CacheJitter: a flipped bit in the header is detected; one in the block is harmless", () => {
  test("every single flip in [pointer - 8, pointer + size)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 256 }),
        fc.integer({ min: 0, max: 0x7fffffff }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 0, max: 7 }),
        (size, seed, at, bit) => {
          const jittered = new CacheJitter(
            new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 1024, capacity: 8, align: 64 }),
            {
              line: 64,
              assoc: 8,
              seed,
            },
          );
          const p = jittered.allocate(size);
          const offset = -8 + Math.floor(at * (size + 8));
          jittered.memory.u8[p + offset]! ^= 1 << bit;
          if (offset < 0) {
            assert.throws(() => jittered.deallocate(p, size), CorruptionError);
            assert.equal(jittered.corruptionEvents(), 1);
          } else {
            jittered.deallocate(p, size);
            assert.equal(jittered.corruptionEvents(), 0);
          }
        },
      ),
      RUNS,
    );
  });
});

/** Allocates until `NULL` or a `CorruptionError`; returns the blocks and whether corruption was reported. */
function drain(alloc: () => number): { got: number[]; detected: boolean } {
  const got: number[] = [];
  for (;;) {
    let p: number;
    try {
      p = alloc();
    } catch (e) {
      assert.ok(e instanceof CorruptionError, String(e));
      return { got, detected: true };
    }
    if (p === NULL) return { got, detected: false };
    got.push(p);
  }
}

describe("Slab with its free set in memory and a MAC: flips in the metadata are detected or harmless", () => {
  // The free set lives in the metadata allocator's memory: stack, positions and tags, 12 bytes per slot, from the
  // first offset a fresh backing hands out.
  const CAP = 16;
  const META = 16;
  const make = (): Slab =>
    new Slab(new ArrayBufferBacked(1 << 14), {
      blockSize: 64,
      capacity: CAP,
      metadata: new ArrayBufferBacked(1 << 12),
      protection: new HalfSipHashMac(),
    });

  test("random flips: no block handed out twice, none that is live, none outside the slots", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: CAP - 1 }), { minLength: 1, maxLength: CAP }),
        fc.array(
          fc.record({
            offset: fc.integer({ min: 0, max: 12 * CAP - 1 }),
            bit: fc.integer({ min: 0, max: 7 }),
          }),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        (freed, flips) => {
          const slab = make();
          const blocks = Array.from({ length: CAP }, () => slab.allocate(64));
          for (const i of freed) slab.deallocate(blocks[i]!, 64);
          const meta = (slab as unknown as { freeSet: Int32Array }).freeSet;
          const bytes = new Uint8Array(meta.buffer, meta.byteOffset, meta.byteLength);
          assert.equal(meta.byteOffset, META);
          for (const f of flips) bytes[f.offset]! ^= 1 << f.bit;
          const free = new Set(freed.map((i) => blocks[i]!));
          const { got, detected } = drain(() => slab.allocate(64));
          assert.equal(new Set(got).size, got.length, "a block handed out twice");
          for (const p of got) assert.ok(free.has(p), `handed out ${p}, which was live`);
          assert.equal(slab.corruptionEvents(), detected ? 1 : 0);
        },
      ),
      RUNS,
    );
  });

  test("a forged entry on top of the stack (a live block, any tag) is never followed", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: CAP - 1 }), fc.integer(), (victim, tag) => {
        const slab = make();
        const blocks = Array.from({ length: CAP }, () => slab.allocate(64));
        slab.deallocate(blocks[0]!, 64);
        slab.deallocate(blocks[1]!, 64);
        const meta = (slab as unknown as { freeSet: Int32Array }).freeSet;
        const target = blocks[(victim % (CAP - 2)) + 2]!; // live
        meta[1] = target; // the top of the stack now names a live block ...
        meta[2 * CAP + 1] = tag; // ... with a tag of the attacker's choosing
        const { got, detected } = drain(() => slab.allocate(64));
        assert.ok(!got.includes(target), "the forged entry was followed");
        assert.ok(detected);
      }),
      RUNS,
    );
  });
});

describe("ExtendableSlab with a MAC: flips in freed blocks are detected or harmless; forged links never followed", () => {
  const make = (): ExtendableSlab =>
    new ExtendableSlab(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 16 }), {
      blockSize: 32,
      initialCapacity: 16,
      protection: new HalfSipHashMac(),
    });

  test("random flips anywhere in the freed blocks", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 15 }), { minLength: 1, maxLength: 16 }),
        fc.array(
          fc.record({
            block: fc.nat(),
            offset: fc.integer({ min: 0, max: 31 }),
            bit: fc.integer({ min: 0, max: 7 }),
          }),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        (freed, flips) => {
          const pool = make();
          const blocks = Array.from({ length: 16 }, () => pool.allocate(32));
          for (const i of freed) pool.deallocate(blocks[i]!, 32);
          for (const f of flips)
            pool.memory.u8[blocks[freed[f.block % freed.length]!]! + f.offset]! ^= 1 << f.bit;
          const live = new Set(blocks.filter((_, i) => !freed.includes(i)));
          const seen = new Set<number>();
          let detected = false;
          for (let k = 0; k < 40; k++) {
            let p: number;
            try {
              p = pool.allocate(32);
            } catch (e) {
              assert.ok(e instanceof CorruptionError, String(e));
              detected = true;
              continue;
            }
            assert.ok(!live.has(p), `handed out ${p}, which was live`);
            assert.ok(!seen.has(p), `handed out ${p} twice`);
            assert.ok(pool.contains(p) && (p - pool.base()) % pool.stride === 0);
            seen.add(p);
          }
          const touchedLink = flips.some((f) => f.offset < 8);
          if (!touchedLink) assert.equal(detected, false, "a flip outside the links is harmless");
          assert.equal(pool.corruptionEvents(), detected ? 1 : 0);
        },
      ),
      RUNS,
    );
  });

  test("a forged link (any next, any tag) in the head block is never followed", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (next, tag) => {
          const pool = make();
          const blocks = Array.from({ length: 4 }, () => pool.allocate(32));
          pool.deallocate(blocks[0]!, 32);
          pool.deallocate(blocks[1]!, 32); // head: blocks[1] -> blocks[0]
          const view = pool.memory.dataView;
          const genuine = [view.getUint32(blocks[1]!, true), view.getUint32(blocks[1]! + 4, true)];
          fc.pre(next !== genuine[0] || tag !== genuine[1]);
          view.setUint32(blocks[1]!, next, true);
          view.setUint32(blocks[1]! + 4, tag, true);
          assert.throws(() => pool.allocate(32), CorruptionError);
          const after = pool.allocate(32);
          assert.equal(after, pool.base() + 4 * pool.stride, "the next block comes from the untouched tail");
        },
      ),
      RUNS,
    );
  });
});
