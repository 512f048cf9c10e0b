// Canary: mutation tests in a process of their own. Canary's call sites reach the first inner class a process wraps
// directly (`directInner` in core), every other class through a forwarder. Here that first class is a StackAlloc,
// which refuses a free whose size is not exactly the block's, so the sizes Canary's direct path hands to its inner
// are checked exactly (src/hardening/canary.mutation.test.ts has Tlsf as its direct class, which accepts any size
// up to the block's); a Canary over a Canary checks the forwarded path the same way. The rest pins what the
// survivors of `npm run mutate -- canary` changed: requests past MAX_SIZE never reach the inner, the padding of a
// MAX_ALIGN block, a pre word that reads as an impossible padding, a block that ends at the memory's last byte,
// pointers that are not 8-aligned integers, sizeOf inside a too-small inner block, and whole words zeroed on a free
// when the block's own bytes repeat the secret. Written to kill mutants of src/hardening/canary.ts (docs/TESTING.md).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ArrayBufferBacked,
  BumpArena,
  Canary,
  CorruptionError,
  InvalidPointerError,
  MAX_ALIGN,
  NULL,
  Slab,
  StackAlloc,
  Tlsf,
} from "../../src/index.js";
import { isError } from "../helpers/assertions.js";

const SEED = Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x08]);
const W0 = 0x44332211;
const W1 = 0x08776655;
/** A slab whose slots are aligned to 64, so blocks of every alignment up to 32 fit in a slot of 64 bytes or more. */
const slab = (blockSize = 64, capacity = 16): Slab =>
  new Slab(new ArrayBufferBacked(1 << 16), { blockSize, capacity, align: 64 });
test("Canary over its direct inner (a StackAlloc): allocations and frees name the inner block's exact size", () => {
  const stack = new StackAlloc(new ArrayBufferBacked(1 << 12));
  const c = new Canary(stack);
  const a = c.allocate(24);
  const b = c.allocate(16);
  const d = c.allocate(13, 16);
  assert.ok([a, b, d].every((p) => p !== NULL));
  assert.equal(stack.sizeOf(a - 8), 24 + 16, "the inner block holds both words");
  assert.equal(c.usableSize(b, 16), 16);
  c.check("check", b, 16);
  c.deallocate(d, 13, 16);
  // an out-of-order free: the stack refuses, Canary puts the words back
  assert.throws(() => c.deallocate(a, 24), InvalidPointerError);
  assert.equal(c.usableSize(a, 24), 24, "a is intact");
  c.deallocate(b, 16);
  c.deallocate(a, 24);
  assert.equal(stack.liveCount(), 0);
  assert.equal(stack.allocated(), 0);
  assert.equal(c.corruptionEvents(), 0);
});

test("Canary over a Canary (a forwarded inner that checks sizes exactly): the free names the inner block's size", () => {
  const inner = new Canary(slab(), { seed: SEED });
  const outer = new Canary(inner);
  const a = outer.allocate(24);
  const b = outer.allocate(13, 16);
  outer.deallocate(a, 24);
  outer.deallocate(b, 13, 16);
  assert.equal(inner.corruptionEvents(), 0);
  assert.equal((inner.inner as Slab).liveCount(), 0);
});

test("Canary: a pair of words forged around a pointer that is not 8-aligned is not a block", () => {
  const c = new Canary(slab(128), { seed: SEED });
  const p = c.allocate(64);
  const dv = c.memory.dataView;
  const f = p + 20; // 4-aligned, not 8-aligned
  dv.setUint32(f - 8, (W0 ^ 8) >>> 0, true);
  dv.setUint32(f - 4, W1, true);
  dv.setUint32(f + 8, W0, true);
  dv.setUint32(f + 12, W1, true);
  assert.throws(
    () => c.deallocate(f, 8),
    isError(InvalidPointerError, /not a live canaried block of size 8/),
  );
  assert.equal(c.corruptionEvents(), 0);
});

/** An allocator that records what it is asked and checks layouts as every public allocate does (not a raw layer). */
const recording = (bytes = 1 << 16) => {
  const tlsf = new Tlsf(new ArrayBufferBacked(bytes));
  const asked: [number, number][] = [];
  const inner = {
    memory: tlsf.memory,
    allocate: (size: number, align = 8) => {
      asked.push([size, align]);
      return tlsf.allocate(size, align);
    },
    deallocate: (p: number, size: number, align = 8) => tlsf.deallocate(p, size, align),
    grow: (p: number, o: number, n: number, align = 8) => tlsf.grow(p, o, n, align),
    shrink: (p: number, o: number, n: number, align = 8) => tlsf.shrink(p, o, n, align),
    reset: () => tlsf.reset(),
    usableSize: (p: number, size: number) => tlsf.usableSize(p, size),
    capacityBytes: () => tlsf.capacityBytes(),
    corruptionEvents: () => 0,
  };
  return { inner, asked };
};

test("Canary asks the inner for at most MAX_SIZE bytes: larger canaried requests are NULL without asking", () => {
  const { inner, asked } = recording();
  const c = new Canary(inner as never, { seed: SEED });
  const LARGEST = 0x40000000;
  for (const [size, align] of [
    [LARGEST, 8],
    [LARGEST - 8, 8],
    [LARGEST - 8, 1],
    [LARGEST - 15, 8],
    [LARGEST - 16, 16],
    [LARGEST - 20, 16],
  ] as const) {
    assert.equal(c.allocate(size, align), NULL, `${size} ${align}`);
  }
  assert.deepEqual(asked, [], "no request past MAX_SIZE reached the inner");
  // up to MAX_SIZE canaried reaches the inner (which cannot serve it)
  assert.equal(c.allocate(LARGEST - 16, 8), NULL);
  assert.equal(c.allocate(LARGEST - 24, 16), NULL);
  assert.equal(c.allocate(LARGEST - 17, 1), NULL);
  assert.deepEqual(asked, [
    [LARGEST, 8],
    [LARGEST, 16],
    [LARGEST - 1, 8],
  ]);
});

test("Canary over an inner that checks sizes exactly (a stack): every call names the inner block's own size", () => {
  const stack = new StackAlloc(new ArrayBufferBacked(1 << 12));
  const c = new Canary(stack, { seed: SEED });
  const a = c.allocate(24);
  const b = c.allocate(13, 16);
  assert.equal(c.usableSize(b, 13), 13);
  assert.equal(c.usableSize(a, 24), 24);
  c.check("check", a, 24);
  assert.equal(stack.liveCount(), 2);
  c.deallocate(b, 13, 16);
  c.deallocate(a, 24);
  assert.equal(stack.liveCount(), 0, "both inner blocks freed with their own sizes");
  assert.equal(stack.allocated(), 0);
});

test("Canary: a block aligned to MAX_ALIGN keeps its padding in its pre word", () => {
  const tlsf = new Tlsf(new ArrayBufferBacked(8 << 20));
  const c = new Canary(tlsf, { seed: SEED });
  const p = c.allocate(24, MAX_ALIGN);
  assert.notEqual(p, NULL);
  assert.equal(p % MAX_ALIGN, 0);
  assert.equal(c.usableSize(p, 24), 24);
  assert.ok(c.sizeOf(p) >= 24);
  c.deallocate(p, 24, MAX_ALIGN);
  assert.equal(tlsf.stats().usedBlocks, 0);
});

test("Canary: a pre word overwritten with a value that reads as a padding above MAX_ALIGN is an underflow", () => {
  const c = new Canary(slab(), { seed: SEED });
  const p = c.allocate(24);
  c.memory.dataView.setUint32(p - 8, (W0 ^ (MAX_ALIGN * 2)) >>> 0, true);
  assert.throws(
    () => c.deallocate(p, 24),
    isError(CorruptionError, /guard word before block/, /a buffer underflow/),
  );
  assert.equal(c.corruptionEvents(), 1);
});

test("Canary: a block whose post word ends at the memory's last byte is checked like any other", () => {
  const arena = new BumpArena(new ArrayBufferBacked(256));
  const c = new Canary(arena, { seed: SEED });
  arena.allocate(224 - arena.base(), 8); // what is left: 32 bytes, the canaried size of a 16-byte block
  const p = c.allocate(16);
  assert.equal(p + 16 + 8, c.memory.byteLength);
  c.memory.u8[p + 18]! ^= 1;
  assert.throws(() => c.deallocate(p, 16), isError(CorruptionError, /guard word after block/, /overflow/));
  assert.equal(c.corruptionEvents(), 1);
  c.memory.u8[p + 18]! ^= 1;
  c.deallocate(p, 16);
});

test("Canary: a pointer that is not an 8-aligned integer is never a block, whatever the words around it", () => {
  const c = new Canary(slab(128), { seed: SEED });
  const p = c.allocate(24);
  for (const q of [p + 0.5, p + 4, p - 0.5]) {
    assert.throws(
      () => c.deallocate(q, 24),
      isError(InvalidPointerError, /not a live canaried block of size 24/),
      `ptr ${q}`,
    );
  }
  c.deallocate(p, 24);
});

test("Canary.sizeOf: words forged inside an inner block too small for a canaried byte are not a block", () => {
  // a Tlsf block of 8 usable bytes... rounded to 16: 16 < 8 + 8 + 1, so no canaried byte fits
  const tlsf = new Tlsf(new ArrayBufferBacked(1 << 12));
  const c = new Canary(tlsf, { seed: SEED });
  const q = tlsf.allocate(8);
  assert.equal(tlsf.usableSize(q, 8), 16);
  const dv = c.memory.dataView;
  dv.setUint32(q, (W0 ^ 8) >>> 0, true);
  dv.setUint32(q + 4, W1, true);
  assert.equal(c.sizeOf(q + 8), -1);
  // a slab slot of exactly 17 bytes holds one canaried byte
  const s = new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 17, capacity: 16, align: 1 });
  const d = new Canary(s, { seed: SEED });
  let slot = s.allocate(17, 1);
  while (slot % 8 !== 0) slot = s.allocate(17, 1);
  d.memory.dataView.setUint32(slot, (W0 ^ 8) >>> 0, true);
  d.memory.dataView.setUint32(slot + 4, W1, true);
  assert.equal(d.sizeOf(slot + 8), 1);
});

test("Canary: a free zeroes both whole words even when the block's own bytes repeat the secret next to them", () => {
  // both secret words the same (0x40404040), and the block's last bytes hold it too: the 8 bytes just before the
  // post word's second half then look like a whole post word to a check that rounds the block's end down
  const twin = Uint8Array.from([0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40]);
  const c = new Canary(slab(64), { seed: twin });
  assert.equal(c.canaryValue(), 0x4040404040404040n);
  const u8 = c.memory.u8;
  const dv = c.memory.dataView;
  const p = c.allocate(12);
  dv.setUint32(p + 8, 0x40404040, true);
  c.deallocate(p, 12);
  assert.deepEqual([...u8.subarray(p + 12, p + 20)], [0, 0, 0, 0, 0, 0, 0, 0], "the post word");
  // and the block's second word repeating the pre word: the pre word itself is the one zeroed
  const arena = new BumpArena(new ArrayBufferBacked(1024));
  const d = new Canary(arena, { seed: SEED });
  const q = d.allocate(16);
  d.memory.dataView.setUint32(q + 8, (W0 ^ 8) >>> 0, true);
  d.memory.dataView.setUint32(q + 12, W1, true);
  d.deallocate(q, 16);
  assert.deepEqual([...d.memory.u8.subarray(q - 8, q)], [0, 0, 0, 0, 0, 0, 0, 0], "the pre word");
  assert.deepEqual([...d.memory.u8.subarray(q + 16, q + 24)], [0, 0, 0, 0, 0, 0, 0, 0], "the post word");
});
