import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, ArrayBufferBacked, InvalidPointerError, LayoutError, NULL } from "../index.js";
import { Slab } from "./index.js";

const make = (capacity = 4, blockSize = 48): Slab =>
  new Slab(new ArrayBufferBacked(1 << 16), { blockSize, capacity });

describe("Slab", () => {
  test("hands out slots of one stride, then NULL when full", () => {
    const slab = make(3);
    const ptrs = [slab.allocate(48), slab.allocate(1), slab.allocate(40)];
    assert.deepEqual(ptrs, [16, 64, 112]);
    assert.equal(slab.allocate(8), NULL);
    assert.equal(slab.liveCount(), 3);
  });

  test("reuses the most recently freed slot first (LIFO)", () => {
    const slab = make();
    const a = slab.allocate(48);
    const b = slab.allocate(48);
    slab.deallocate(a, 48);
    slab.deallocate(b, 48);
    assert.equal(slab.allocate(48), b);
    assert.equal(slab.allocate(48), a);
  });

  test("refuses a request larger than a block or more aligned than the slab with NULL, so a fallback can take it", () => {
    const slab = make();
    assert.equal(slab.allocate(49), NULL);
    assert.equal(slab.allocate(8, 16), NULL);
    assert.equal(slab.liveCount(), 0);
  });

  test("detects a double free, and says so", () => {
    const slab = make();
    const p = slab.allocate(48);
    slab.deallocate(p, 48);
    assert.throws(
      () => slab.deallocate(p, 48),
      (e: unknown) => e instanceof InvalidPointerError && /double free/.test((e as Error).message),
    );
    assert.equal(slab.liveCount(), 0);
  });

  test("rejects a pointer that is not a slot start, naming the stride", () => {
    const slab = make();
    const p = slab.allocate(48);
    for (const bad of [p + 8, p - 48, p + 48 * 4, 0, -1]) {
      assert.throws(
        () => slab.deallocate(bad, 48),
        (e: unknown) => e instanceof InvalidPointerError && /48-byte stride/.test((e as Error).message),
      );
    }
    assert.equal(slab.liveCount(), 1);
  });

  test("rejects a free whose layout the slab could not have served", () => {
    const slab = make();
    const p = slab.allocate(48);
    assert.throws(
      () => slab.deallocate(p, 49),
      (e: unknown) => e instanceof LayoutError && /serves size <= 48/.test((e as Error).message),
    );
    assert.throws(() => slab.deallocate(p, 48, 16), LayoutError);
    slab.deallocate(p, 48);
  });

  test("blocks issued before reset() are no longer live", () => {
    const slab = make();
    const p = slab.allocate(8);
    slab.reset();
    assert.throws(() => slab.deallocate(p, 8), InvalidPointerError);
    assert.equal(slab.allocate(8), p);
  });

  test("rounds the stride up to the alignment and aligns every block", () => {
    const slab = new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 20, capacity: 8, align: 32 });
    assert.equal(slab.stride, 32);
    for (let i = 0; i < 8; i++) assert.equal(slab.allocate(20, 32) % 32, 0);
  });

  test("takes its region from the backing, so several slabs share one backing", () => {
    const backing = new ArrayBufferBacked(1 << 12);
    const a = new Slab(backing, { blockSize: 16, capacity: 4 });
    const b = new Slab(backing, { blockSize: 16, capacity: 4 });
    assert.equal(b.base(), a.base() + 64);
    assert.equal(a.memory, b.memory);
  });

  test("grows in place within the block, refuses beyond it with the block intact", () => {
    const slab = make();
    const p = slab.allocate(10);
    slab.memory.u8.fill(3, p, p + 10);
    assert.equal(slab.grow(p, 10, 48), p);
    assert.equal(slab.grow(p, 48, 49), NULL);
    assert.equal(slab.memory.u8[p + 9], 3);
    assert.equal(slab.shrink(p, 48, 4), p);
    assert.equal(slab.usableSize(p, 4), 48);
  });

  test("construction rejects bad options and a backing that is too small", () => {
    const backing = new ArrayBufferBacked(1 << 10);
    for (const options of [
      { blockSize: 0, capacity: 1 },
      { blockSize: 8, capacity: 0 },
      { blockSize: 8, capacity: -1 },
      { blockSize: 8.5, capacity: 1 },
      { blockSize: NaN, capacity: 1 },
      { blockSize: 8, capacity: 2 ** 40 },
    ]) {
      assert.throws(() => new Slab(backing, options), AllocError, JSON.stringify(options));
    }
    assert.throws(() => new Slab(backing, { blockSize: 8, capacity: 1, align: 3 }), LayoutError);
    assert.throws(() => new Slab(backing, { blockSize: 64, capacity: 1000 }), /cannot provide 64000 bytes/);
  });
});
