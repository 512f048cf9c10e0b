// Canary reaches the first inner class it is built over directly, and gives an instance over any other inner class
// the general methods as its own. Whatever the path, the behaviour is the same, and a subclass's overrides run for
// every instance: its `super` calls reach the path the instance needs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isError } from "../../test/helpers/assertions.js";
import { Counting } from "../../test/helpers/counting.js";
import {
  ArrayBufferBacked,
  CorruptionError,
  InvalidPointerError,
  LayoutError,
  Slab,
  Tlsf,
} from "../index.js";
import { type Allocator, type RawLayer } from "../core/index.js";
import { Canary, PoisonOnFree } from "./index.js";

const Counted = Counting(Canary);

const seed = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
// the first inner class built in this file is the one the call sites reach directly: Slab, then Tlsf
const slab = (): Slab => new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 8, align: 16 });
const tlsf = (): Tlsf => new Tlsf(new ArrayBufferBacked(1 << 16));

/** The same calls through either path: a round trip, a double free, a bad layout, an overflow, the raw protocol. */
function exercise(pool: Canary<Allocator>): void {
  const u8 = pool.memory.u8;
  const p = pool.allocate(24);
  const q = pool.allocate(24);
  assert.deepEqual(
    [...u8.subarray(p - 8, p)],
    [1 ^ 8, 2, 3, 4, 5, 6, 7, 8],
    "the pre word records the padding (8)",
  );
  assert.deepEqual([...u8.subarray(p + 24, p + 32)], [1, 2, 3, 4, 5, 6, 7, 8], "the post word");
  pool.deallocate(p, 24);
  assert.deepEqual([...u8.subarray(p - 8, p)], new Array(8).fill(0), "the words are zeroed on free");
  assert.throws(() => pool.deallocate(p, 24), InvalidPointerError, "a double free is refused");
  assert.throws(
    () => pool.deallocate(q, 24, 3),
    isError(LayoutError, /^Canary\.deallocate: /),
    "a bad alignment",
  );
  assert.deepEqual([...u8.subarray(q + 24, q + 32)], [1, 2, 3, 4, 5, 6, 7, 8], "and changes nothing");
  u8[q + 24] = u8[q + 24]! ^ 1;
  assert.throws(() => pool.deallocate(q, 24), CorruptionError, "one byte too far is caught");
  assert.equal(pool.corruptionEvents(), 1);
  assert.throws(() => pool.allocate(0), isError(LayoutError, /^Canary\.allocate: /));
  const a = pool.allocate(8, 16);
  assert.ok(a !== 0 && a % 16 === 0, "an aligned block");
  assert.deepEqual(
    [...u8.subarray(a - 8, a)],
    [1 ^ 16, 2, 3, 4, 5, 6, 7, 8],
    "the pre word records the padding (16)",
  );
  pool.deallocate(a, 8, 16);
  const raw = pool as unknown as RawLayer;
  const r = raw.allocRaw(16, 8);
  assert.notEqual(r, 0);
  assert.deepEqual([...u8.subarray(r + 16, r + 24)], [1, 2, 3, 4, 5, 6, 7, 8], "allocRaw writes the words");
  assert.equal(raw.tryFree(r, 16, 8), 0);
  assert.ok(raw.tryFree(r, 16, 8) < 0, "a raw double free returns a fault code");
}

test("instances over the direct class and over another class, side by side, each behave as alone", () => {
  for (let round = 0; round < 3; round++) {
    exercise(new Canary(slab(), { seed }));
    exercise(new Canary(tlsf(), { seed }));
  }
});

test("a subclass's overrides run over every inner, and super reaches the path the instance needs", () => {
  for (const pool of [new Counted(slab(), { seed }), new Counted(tlsf(), { seed })]) {
    exercise(pool);
    assert.equal(pool.allocations, 4);
    assert.equal(pool.frees, 5);
  }
});

test("the methods an instance gets as its own are not enumerable (a spread or Object.keys shows its fields only)", () => {
  const methods = ["allocate", "allocRaw", "deallocate", "tryFree", "freeRaw"];
  const direct = new Canary(slab()); // built first in any order of the tests: the direct class is Slab
  for (const pool of [new Canary(tlsf()), new PoisonOnFree(slab(), { checkOnReuse: true })]) {
    assert.ok(Object.hasOwn(pool, "allocate"), "the general path is the instance's own");
    assert.deepEqual(
      Object.keys(pool).filter((key) => methods.includes(key)),
      [],
    );
  }
  assert.equal(Object.hasOwn(direct, "allocate"), false, "the direct path is the class's");
});

test("allocate and deallocate reach a subclass's allocRaw and tryFree on either path", () => {
  class RawCounted extends Canary<Allocator> {
    raws = 0;
    tries = 0;
    override allocRaw(size: number, align: number): number {
      this.raws++;
      return super.allocRaw(size, align);
    }
    override tryFree(ptr: unknown, size: number, align: number): number {
      this.tries++;
      return super.tryFree(ptr, size, align);
    }
  }
  for (const pool of [new RawCounted(slab(), { seed }), new RawCounted(tlsf(), { seed })]) {
    const p = pool.allocate(24);
    pool.deallocate(p, 24);
    assert.throws(() => pool.deallocate(p, 24), InvalidPointerError);
    assert.deepEqual([pool.raws, pool.tries], [1, 2]);
  }
});
