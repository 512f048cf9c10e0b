// Canary.allocate and Canary.deallocate let the fast path's shape (alignment 8, a size that is a multiple of 8
// below 2^30) through without the full layout check. These are the values at the edges of that shortcut: each must
// still be refused with a LayoutError, and change nothing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayBufferBacked, Canary, LayoutError, Slab } from "../index.js";

const EDGES: unknown[] = [
  0,
  -0,
  -8,
  8.5,
  2 ** 30 + 8,
  2 ** 32 + 8,
  NaN,
  Infinity,
  -Infinity,
  8n,
  "8",
  null,
];

function canary(): Canary<Slab> {
  return new Canary(new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 16 }));
}

test("Canary.allocate refuses every size at the edges of its fast shape with a LayoutError", () => {
  const c = canary();
  for (const size of EDGES) {
    assert.throws(
      () => c.allocate(size as number, 8),
      (e: unknown) => e instanceof LayoutError && /Canary\.allocate/.test(e.message),
      `size ${String(size)}`,
    );
  }
  assert.equal(c.inner.liveCount(), 0);
  // The largest sizes of and past the fast shape are valid layouts (the slab has no block for them: NULL).
  assert.equal(c.allocate(2 ** 30 - 8, 8), 0);
  assert.equal(c.allocate(2 ** 30, 8), 0);
  assert.notEqual(c.allocate(48, 8), 0);
});

test("Canary.deallocate refuses every size at the edges of its fast shape with a LayoutError, and the block stays live", () => {
  const c = canary();
  const p = c.allocate(48, 8);
  c.memory.u8.fill(0x5a, p, p + 48);
  for (const size of EDGES) {
    assert.throws(
      () => c.deallocate(p, size as number, 8),
      (e: unknown) => e instanceof LayoutError && /Canary\.deallocate/.test(e.message),
      `size ${String(size)}`,
    );
  }
  assert.equal(c.inner.liveCount(), 1);
  assert.equal(c.corruptionEvents(), 0);
  c.deallocate(p, 48, 8);
  assert.equal(c.inner.liveCount(), 0);
});
