// Canary: the sizes it asks of the inner and hands back to it, the words around blocks of every size and alignment
// (and their zeroing), the seed's special cases, the raw-protocol queries (`sizeOf`, `check`, `usableSize`), and
// what each refusal says. Written to kill the mutants that survived the rest of the suite (docs/TESTING.md,
// `npm run mutate -- canary`). The first Canary of this file sits over a Tlsf, so Tlsf is the inner class its call
// sites reach directly; the later ones over a Slab or Statistics take the forwarded path.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  CorruptionError,
  InvalidPointerError,
  LayoutError,
  NULL,
  Slab,
  Tlsf,
} from "../index.js";
import { Canary, Quarantine, Statistics } from "./index.js";
import { isError } from "../../test/helpers/assertions.js";

const SEED = Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x08]);
const W0 = 0x44332211;
const W1 = 0x08776655;
/** A slab whose slots are aligned to 64, so blocks of every alignment up to 32 fit in a slot of 64 bytes or more. */
const slab = (blockSize = 64, capacity = 16): Slab =>
  new Slab(new ArrayBufferBacked(1 << 16), { blockSize, capacity, align: 64 });
test("Canary over Tlsf (its direct inner): blocks filled to their last byte never touch another block's words", () => {
  const tlsf = new Tlsf(new ArrayBufferBacked(1 << 16));
  const c = new Canary(tlsf, { seed: SEED });
  const u8 = c.memory.u8;
  const blocks: [number, number, number][] = [];
  for (let round = 0; round < 3; round++) {
    for (const size of [8, 16, 24, 40, 64, 128, 13, 1, 30]) {
      for (const align of [1, 8, 16, 64]) {
        const p = c.allocate(size, align);
        assert.notEqual(p, NULL);
        assert.equal(p % Math.max(8, align), 0);
        blocks.push([p, size, align]);
      }
    }
  }
  for (const [p, size] of blocks) u8.fill(0xa5, p, p + size);
  for (const [p, size, align] of blocks) assert.equal(c.usableSize(p, size), size, `${p} ${size} ${align}`);
  for (const [p, size, align] of blocks) c.deallocate(p, size, align);
  assert.equal(c.corruptionEvents(), 0);
  tlsf.validate();
  assert.equal(tlsf.stats().usedBlocks, 0, "every inner block went back with the size it was allocated with");
});

test("Canary: a free the inner refuses puts the words back and says the inner does not hold the block", () => {
  for (const [size, align] of [
    [24, 8],
    [20, 8],
    [24, 16],
  ] as const) {
    const inner = slab();
    const c = new Canary(inner, { seed: SEED });
    const p = c.allocate(size, align);
    const pre = Math.max(8, align);
    inner.deallocate(p - pre, pre + size + 8, pre); // behind the canary's back: its words stay intact
    const words = c.memory.u8.slice(p - 8, p + size + 8);
    assert.throws(
      () => c.deallocate(p, size, align),
      isError(InvalidPointerError, /canaries are intact but the inner allocator does not hold the block/),
      `size ${size} align ${align}`,
    );
    assert.deepEqual(c.memory.u8.slice(p - 8, p + size + 8), words, "the refused free changed nothing");
    assert.throws(() => c.check("check", p, size, align), InvalidPointerError);
    assert.throws(() => c.usableSize(p, size), InvalidPointerError);
    assert.equal(c.corruptionEvents(), 0);
  }
});

test("Canary: after a free both words are zero, for every size and alignment (the post word unaligned too)", () => {
  const c = new Canary(slab(128), { seed: SEED });
  const u8 = c.memory.u8;
  for (let size = 1; size <= 24; size++) {
    for (const align of [8, 16]) {
      const p = c.allocate(size, align);
      c.deallocate(p, size, align);
      // The slab writes its own free-list link at the start of its block (the pre word); the post word is ours.
      assert.deepEqual([...u8.subarray(p + size, p + size + 8)], [0, 0, 0, 0, 0, 0, 0, 0], `size ${size}`);
    }
  }
});

test("Canary: the seed's special cases (zero words, a double's exponent all zeros or all ones) and bad seeds", () => {
  const value = (bytes: number[]): bigint =>
    new Canary(slab(), { seed: Uint8Array.from(bytes) }).canaryValue();
  assert.equal(value([0, 0, 0, 0, 5, 6, 7, 8]), 0x08070605_00000000n, "a zero low word alone is kept");
  assert.equal(
    value([1, 2, 3, 4, 0, 0, 0, 0]),
    0x40000000_04030201n,
    "a zero high word: its exponent is folded",
  );
  assert.equal(value([1, 2, 3, 4, 0, 0, 0xf0, 0x7f]), 0x3ff00000_04030201n, "an all-ones exponent is folded");
  assert.equal(value([1, 2, 3, 4, 0, 0, 0xf0, 0xff]), 0xbff00000_04030201n, "with the sign bit set too");
  assert.equal(value([1, 2, 3, 4, 0, 0, 0xe0, 0x7f]), 0x7fe00000_04030201n, "a normal exponent is kept");
  for (const seed of [new Uint8Array(7), new Uint8Array(9), [1, 2, 3, 4, 5, 6, 7, 8]]) {
    assert.throws(
      () => new Canary(slab(), { seed: seed as Uint8Array }),
      isError(AllocError, /^Canary: the seed must be 8 bytes$/),
    );
  }
  // Blocks work with folded words (they are compared as doubles on the fast path).
  const c = new Canary(slab(), { seed: Uint8Array.from([1, 2, 3, 4, 0, 0, 0, 0]) });
  const p = c.allocate(16);
  assert.equal(c.memory.dataView.getBigUint64(p + 16, true), c.canaryValue());
  c.deallocate(p, 16);
});

test("Canary over a slab: 17-byte blocks are the smallest it accepts, and the refusal says what is needed", () => {
  assert.throws(
    () => new Canary(slab(16)),
    isError(AllocError, /16-byte blocks cannot hold one byte/, /blocks of at least 17 bytes \(size \+ 16\)$/),
  );
  const c = new Canary(new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 17, capacity: 4, align: 8 }));
  const p = c.allocate(1, 1);
  assert.notEqual(p, NULL);
  c.deallocate(p, 1, 1);
});

test("Canary: a request whose canaried size would pass MAX_SIZE is NULL, for every alignment", () => {
  const c = new Canary(slab());
  for (const size of [0x40000000, 0x40000000 - 8, 0x40000000 - 15]) {
    for (const align of [1, 8, 16]) assert.equal(c.allocate(size, align), NULL, `${size} ${align}`);
  }
  const q = new Quarantine(c);
  assert.equal(q.allocate(0x40000000 - 8), NULL);
});

test("Canary.sizeOf (raw protocol): the room after the block up to its post word, or -1", () => {
  const c = new Canary(slab(64), { seed: SEED });
  const p8 = c.allocate(24);
  const p16 = c.allocate(24, 16);
  assert.equal(c.sizeOf(p8), 64 - 8 - 8);
  assert.equal(c.sizeOf(p16), 64 - 16 - 8);
  assert.equal(c.sizeOf("16"), -1);
  assert.equal(c.sizeOf(p8 + 8), -1, "not a block start");
  c.memory.u8[p8 - 1]! ^= 1;
  assert.equal(c.sizeOf(p8), -1, "the pre word's high half changed");
  c.memory.u8[p8 - 1]! ^= 1;
  c.memory.u8[p8 - 8]! ^= 1;
  assert.equal(c.sizeOf(p8), -1, "the pre word's low half changed");
  c.memory.u8[p8 - 8]! ^= 1;
  assert.equal(c.sizeOf(p8), 48);
  // The smallest block a slab can give it: 17 bytes, on a 24-byte stride.
  const tight = new Canary(
    new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 17, capacity: 2, align: 8 }),
    {
      seed: SEED,
    },
  );
  const t = tight.allocate(1, 1);
  assert.equal(tight.sizeOf(t), 24 - 16, "the slab's 24-byte stride less both words");
});

test("Canary.check: an intact block passes and stays live; anything else is refused as deallocate would", () => {
  const c = new Canary(slab(), { seed: SEED });
  const p = c.allocate(24, 16);
  c.check("check", p, 24, 16);
  c.check("check", p, 24, 16);
  c.deallocate(p, 24, 16); // still live after two checks
  const q = c.allocate(24);
  assert.throws(() => c.check("peek", q, 0), isError(LayoutError, /^Canary\.peek/));
  assert.throws(() => c.check("peek", q + 8, 24), isError(InvalidPointerError, /^Canary\.peek/));
  c.memory.u8[q + 24]! ^= 0xff;
  assert.throws(() => c.check("peek", q, 24), isError(CorruptionError, /^Canary\.peek/));
  assert.equal(c.corruptionEvents(), 0, "a check is a probe: only a free counts a corruption");
  assert.throws(() => c.deallocate(q, 24), CorruptionError);
  assert.equal(c.corruptionEvents(), 1);
});

test("Canary.usableSize: exactly the size for an intact live block of any alignment; a Tlsf refuses a wrong size", () => {
  const c = new Canary(slab(), { seed: SEED });
  for (const align of [8, 16, 32]) {
    const p = c.allocate(24, align);
    assert.equal(c.usableSize(p, 24), 24, `align ${align}`);
    c.deallocate(p, 24, align);
    assert.throws(() => c.usableSize(p, 24), InvalidPointerError);
  }
  assert.throws(() => c.usableSize(c.memory.byteLength + 64, 8), InvalidPointerError);
  assert.throws(() => c.usableSize(c.memory.byteLength, 8), InvalidPointerError);
});

test("Canary under Quarantine: evicted blocks of any alignment reach the inner with their own size and padding", () => {
  const stats = new Statistics(slab());
  const q = new Quarantine(new Canary(stats, { seed: SEED }), 1);
  const blocks = [
    [24, 16],
    [24, 8],
    [13, 16],
    [24, 32],
    [8, 8],
  ] as const;
  const ptrs = blocks.map(([size, align]) => q.allocate(size, align));
  for (let i = 0; i < blocks.length; i++) q.deallocate(ptrs[i]!, blocks[i]![0], blocks[i]![1]);
  q.flush();
  assert.equal(stats.stats().currentBytes, 0);
  assert.equal(stats.stats().liveCount, 0);
  assert.equal(q.corruptionEvents(), 0);
  stats.inner.validate();
});

test("Canary: what each refused free says (which word, underflow or overflow, wrong alignment, not live)", () => {
  const c = new Canary(slab(128), { seed: SEED });
  const u8 = c.memory.u8;
  const corrupt = (offset: number, word: RegExp, kind: RegExp, size = 24, align = 8): void => {
    const p = c.allocate(size, align);
    u8[p + offset]! ^= 0x40;
    assert.throws(
      () => c.deallocate(p, size, align),
      isError(CorruptionError, word, kind, /\(size \d+\)/, /The block is not freed\./),
      `offset ${offset}`,
    );
    u8[p + offset]! ^= 0x40;
    c.deallocate(p, size, align);
  };
  corrupt(-8, /guard word before block/, /a buffer underflow/);
  corrupt(-1, /guard word before block/, /a buffer underflow/);
  corrupt(24, /guard word after block/, /a buffer overflow/);
  corrupt(31, /guard word after block/, /a buffer overflow/);
  corrupt(13, /guard word after block/, /a buffer overflow/, 13, 16);
  corrupt(20, /guard word after block/, /a buffer overflow/, 13, 16);
  // A post word changed on a block freed with a smaller alignment than its allocation's: a corruption (counted),
  // not a mere alignment mistake: the block is found by the padding stored before it, whose word is intact.
  for (const offset of [24, 28]) {
    const p = c.allocate(24, 16);
    u8[p + offset]! ^= 1;
    assert.throws(
      () => c.deallocate(p, 24, 8),
      isError(CorruptionError, /a buffer overflow/),
      `offset ${offset}`,
    );
    u8[p + offset]! ^= 1;
    c.deallocate(p, 24, 16);
  }
  // Both words wrong on a block the inner holds: not a live canaried block (a wrong pointer), not a corruption.
  const p = c.allocate(24);
  u8[p - 8]! ^= 1;
  u8[p + 24]! ^= 1;
  assert.equal(c.corruptionEvents(), 8, "eight corrupted words");
  assert.throws(
    () => c.deallocate(p, 24),
    isError(InvalidPointerError, /not a live canaried block of size 24: never issued, freed already/),
  );
  u8[p - 8]! ^= 1;
  u8[p + 24]! ^= 1;
  c.deallocate(p, 24);
  // One word wrong on a block the inner no longer holds: not live either.
  const inner = c.inner;
  const r = c.allocate(24);
  inner.deallocate(r - 8, 40);
  u8[r + 24]! ^= 1;
  assert.throws(() => c.deallocate(r, 24), isError(InvalidPointerError, /not a live canaried block/));
  assert.equal(c.corruptionEvents(), 8, "neither refusal was counted as a corruption");
  // The alignment a block was allocated with, both ways.
  const a8 = c.allocate(24);
  assert.throws(
    () => c.deallocate(a8, 24, 16),
    isError(LayoutError, /allocated with alignment <= 8, not 16/),
  );
  c.deallocate(a8, 24);
  const a32 = c.allocate(24, 32);
  assert.throws(
    () => c.deallocate(a32, 24, 8),
    isError(LayoutError, /allocated with alignment 32, not <= 8/),
  );
  c.deallocate(a32, 24, 32);
  // Not a number.
  assert.throws(() => c.deallocate("16" as never, 24), isError(InvalidPointerError, /a pointer is a number/));
});

test("Canary: a size that reaches past the memory's end is refused as not live, never read out of bounds", () => {
  const c = new Canary(slab(), { seed: SEED });
  const p = c.allocate(24);
  const end = c.memory.byteLength;
  for (const size of [
    end - p - 8 + 1,
    end - p - 8 + 7,
    end - p - 8 + 13,
    end - p + 1,
    end - p,
    1 << 24,
    (1 << 24) + 3,
  ]) {
    assert.throws(() => c.deallocate(p, size), InvalidPointerError, `size ${size}`);
  }
  c.deallocate(p, 24);
});

test("Canary: a forged pair of words around a pointer that is not 8-aligned is not a block", () => {
  const c = new Canary(slab(128), { seed: SEED });
  const p = c.allocate(64);
  const dv = c.memory.dataView;
  const f = p + 20; // 4-aligned, not 8-aligned
  dv.setUint32(f - 8, (W0 ^ 8) >>> 0, true);
  dv.setUint32(f - 4, W1, true);
  dv.setUint32(f + 8, W0, true);
  dv.setUint32(f + 12, W1, true);
  assert.throws(() => c.deallocate(f, 8), InvalidPointerError);
  assert.equal(c.corruptionEvents(), 0);
});

test("Canary.toJSON is exactly the wrapper's name and a redacted secret", () => {
  assert.equal(
    JSON.stringify(new Canary(slab(), { seed: SEED })),
    JSON.stringify({ wrapper: "Canary", secret: "[redacted]" }),
  );
});

test("Canary over a Canary: the inner's refusal keeps its own reason, its count adds up, a query counts nothing", () => {
  const inner = new Canary(slab(), { seed: SEED });
  const outer = new Canary(inner);
  const p = outer.allocate(24);
  // The inner canary's post word sits right after the outer's: an overflow past the outer's word reaches it.
  outer.memory.u8[p + 24 + 8]! ^= 0x10;
  assert.throws(() => outer.usableSize(p, 24), InvalidPointerError);
  assert.equal(outer.corruptionEvents(), 0, "usableSize is a query: nothing counted");
  assert.throws(
    () => outer.deallocate(p, 24),
    (e: unknown) =>
      e instanceof CorruptionError &&
      /guard word after block/.test(e.message) &&
      !/does not hold/.test(e.message),
  );
  assert.equal(inner.corruptionEvents(), 1);
  assert.equal(outer.corruptionEvents(), 1, "the outer's 0 plus the inner's 1");
});

test("Canary: NULL when the inner is full, on both paths (a multiple of 8 and any other size)", () => {
  for (const size of [16, 13]) {
    const c = new Canary(new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 64, capacity: 1 }));
    const p = c.allocate(size);
    assert.notEqual(p, NULL);
    assert.equal(c.allocate(size), NULL, `size ${size}`);
    c.deallocate(p, size);
  }
});
