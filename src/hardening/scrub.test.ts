// Issue 12: ZeroizeOnFree.reset() scrubs every live block over any inner (or is refused where it cannot), and
// PoisonOnFree's checkOnReuse covers Tlsf blocks but for the words Tlsf itself writes into a free block.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  type Allocator,
  ArrayBufferBacked,
  BumpArena,
  CorruptionError,
  Heap,
  NULL,
  PoisonOnFree,
  Quarantine,
  SharedArrayBufferBacked,
  SharedBumpArena,
  Slab,
  StaticBacked,
  Tlsf,
  WithFallback,
  ZeroizeOnFree,
} from "../index.js";

const SECRET = 0x5a;

function secretsLeft(z: Allocator, blocks: [number, number][]): number {
  let left = 0;
  for (const [p, n] of blocks) for (let i = 0; i < n; i++) if (z.memory.u8[p + i] === SECRET) left++;
  return left;
}

describe("ZeroizeOnFree.reset() scrubs every live block", () => {
  const inners: [string, () => Allocator][] = [
    ["Slab", () => new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 256, capacity: 64 })],
    ["Tlsf", () => new Tlsf(new ArrayBufferBacked(1 << 16))],
    ["Heap", () => new Heap(new ArrayBufferBacked(1 << 18))],
    ["Quarantine<Heap>", () => new Quarantine(new Heap(new ArrayBufferBacked(1 << 18)), 4)],
    [
      "WithFallback<Slab, Tlsf>",
      () => {
        const backing = new ArrayBufferBacked(1 << 17);
        return new WithFallback(
          new Slab(backing, { blockSize: 32, capacity: 8 }),
          new Tlsf(StaticBacked.carve(backing, 1 << 16)),
        );
      },
    ],
    ["BumpArena", () => new BumpArena(new ArrayBufferBacked(1 << 16))],
  ];
  for (const [name, make] of inners) {
    test(`over ${name}: no byte of a live secret survives reset(), and the inner works afterwards`, () => {
      const z = new ZeroizeOnFree(make());
      const blocks: [number, number][] = [];
      for (let i = 0; i < 20; i++) {
        const n = 8 + ((i * 37) % 200);
        const p = z.allocate(n);
        if (p === NULL) continue;
        z.memory.u8.fill(SECRET, p, p + n);
        blocks.push([p, n]);
      }
      assert.ok(blocks.length >= 8, `${blocks.length} blocks`);
      z.deallocate(blocks[0]![0], blocks[0]![1]); // freed ones are zeroed at once, as before
      z.reset();
      assert.equal(secretsLeft(z, blocks), 0, "every live block was zeroed");
      const p = z.allocate(24);
      assert.notEqual(p, NULL, "the inner allocates after the reset");
      z.deallocate(p, 24);
    });
  }

  test("refused at construction over a shared inner whose other workers' blocks it cannot see", () => {
    const arena = new SharedBumpArena(new SharedArrayBufferBacked(1 << 16));
    assert.throws(
      () => new ZeroizeOnFree(arena),
      (e: unknown) => e instanceof AllocError && /cannot scrub/.test((e as Error).message),
    );
  });
});

describe("PoisonOnFree checkOnReuse over Tlsf", () => {
  const poisoned = (): PoisonOnFree<Tlsf> =>
    new PoisonOnFree(new Tlsf(new ArrayBufferBacked(1 << 16)), { checkOnReuse: true });

  test("a write into a freed Tlsf block is detected when the block is reused", () => {
    const pool = poisoned();
    const a = pool.allocate(64);
    const guard = pool.allocate(64); // keeps a from merging with the free rest
    pool.deallocate(a, 64);
    pool.memory.u8[a + 20] = 1; // use after free, away from the words Tlsf writes
    assert.throws(() => pool.allocate(64), CorruptionError);
    assert.equal(pool.corruptionEvents(), 1);
    pool.deallocate(guard, 64);
  });

  test("every byte but Tlsf's own words (the free-list links and the back link) is covered", () => {
    let detected = 0;
    let offsets = 0;
    for (let at = 0; at < 64; at++) {
      const pool = poisoned();
      const a = pool.allocate(64);
      pool.allocate(64);
      pool.deallocate(a, 64);
      pool.memory.u8[a + at] = 1;
      const own = at < 8 || at >= 60; // next and prev free (8 bytes), the back link (the last 4)
      if (own) continue;
      offsets++;
      try {
        pool.allocate(64);
      } catch (e) {
        assert.ok(e instanceof CorruptionError);
        detected++;
      }
    }
    assert.equal(detected, offsets, `${detected} of ${offsets} offsets detected`);
  });

  test("over a Heap too: a write into a freed large block is detected on reuse", () => {
    const pool = new PoisonOnFree(new Heap(new ArrayBufferBacked(1 << 20)), { checkOnReuse: true });
    const a = pool.allocate(4096); // a Tlsf block of the heap (a list boundary: the same block comes back)
    const keep = pool.allocate(4096);
    pool.deallocate(a, 4096);
    pool.memory.u8[a + 4000] = 1;
    assert.throws(() => pool.allocate(4096), CorruptionError);
    pool.deallocate(keep, 4096);
  });

  for (const [name, make] of [
    ["Tlsf", () => new Tlsf(new ArrayBufferBacked(1 << 20))],
    ["Heap", () => new Heap(new ArrayBufferBacked(1 << 20))],
    ["Quarantine<Heap>", () => new Quarantine(new Heap(new ArrayBufferBacked(1 << 20)), 3)],
  ] as const) {
    test(`an honest random run over ${name} (coalescing, splitting, aligned blocks) never reports corruption`, () => {
      for (let run = 0; run < 4; run++) {
        const pool = new PoisonOnFree<Allocator>(make(), { checkOnReuse: true });
        const live: [number, number, number][] = [];
        let seed = 100 + run;
        const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
        for (let i = 0; i < 5000; i++) {
          const r = next();
          if (live.length > 0 && (r & 3) < 2) {
            const [p, n, a] = live.splice(r % live.length, 1)[0]!;
            pool.deallocate(p, n, a);
          } else {
            const n = 1 + (next() % ((r & 64) !== 0 ? 5000 : 200));
            const a = (r & 0x700) === 0 ? 64 : 8;
            const p = pool.allocate(n, a);
            if (p !== NULL) {
              pool.memory.u8.fill(0x11, p, p + n);
              live.push([p, n, a]);
            }
          }
        }
        pool.verifyFreed();
        assert.equal(pool.corruptionEvents(), 0);
      }
    });
  }

  test("an honest random run over Tlsf with coalescing and splitting never reports corruption", () => {
    const pool = poisoned();
    const live: [number, number][] = [];
    let seed = 11;
    const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 20_000; i++) {
      const r = next();
      if (live.length > 0 && (r & 3) < 2) {
        const [p, n] = live.splice(r % live.length, 1)[0]!;
        pool.deallocate(p, n);
      } else {
        const n = 1 + (next() % 700);
        const align = (r & 15) === 0 ? 64 : 8;
        const p = pool.allocate(n, align);
        if (p !== NULL) {
          pool.memory.u8.fill(0x11, p, p + n); // the owner writes its block
          live.push([p, n]);
        }
      }
    }
    assert.equal(pool.corruptionEvents(), 0);
    pool.inner.validate();
  });
});

describe("PoisonOnFree over a Slab fills by 8-byte words", () => {
  test("every pattern byte lands exactly in every byte of the slot (0xFF, whose word is a NaN, bytewise)", () => {
    for (const [blockSize, align] of [
      [24, 8],
      [12, 4],
    ] as const) {
      const slab = new Slab(new ArrayBufferBacked(1 << 14), { blockSize, capacity: 8, align });
      for (let pattern = 0; pattern < 256; pattern++) {
        const poisoned = new PoisonOnFree(slab, { pattern });
        const p = poisoned.allocate(blockSize, align);
        poisoned.memory.u8.fill(pattern ^ 0x5a, p - 1, p + slab.stride + 1); // the neighbours' edges too
        poisoned.deallocate(p, blockSize, align);
        for (let i = 0; i < slab.stride; i++) assert.equal(poisoned.memory.u8[p + i], pattern, `byte ${i}`);
        assert.equal(poisoned.memory.u8[p - 1], pattern ^ 0x5a, "the byte before the slot is untouched");
        assert.equal(
          poisoned.memory.u8[p + slab.stride],
          pattern ^ 0x5a,
          "the byte after the slot is untouched",
        );
      }
    }
  });

  test("slots of every word count from 1 to 25 (straight-line stores up to 8 words, the loop above) fill exactly", () => {
    for (let words = 1; words <= 25; words++) {
      const blockSize = words * 8;
      const slab = new Slab(new ArrayBufferBacked(1 << 14), { blockSize, capacity: 4 });
      const poisoned = new PoisonOnFree(slab, { pattern: 0x3c });
      const blocks = [0, 1, 2].map(() => poisoned.allocate(blockSize));
      const p = blocks[1]!;
      const u8 = poisoned.memory.u8;
      u8.fill(0x11, blocks[0]!, blocks[2]! + blockSize);
      poisoned.deallocate(p, blockSize);
      for (let i = 0; i < blockSize; i++) assert.equal(u8[p + i], 0x3c, `${words} words: byte ${i}`);
      for (let i = 1; i <= 8; i++) {
        assert.equal(
          u8[p - i],
          0x11,
          `${words} words: the previous slot's byte ${blockSize - i} is untouched`,
        );
        assert.equal(
          u8[p + blockSize + i - 1],
          0x11,
          `${words} words: the next slot's byte ${i - 1} is untouched`,
        );
      }
    }
  });
});
