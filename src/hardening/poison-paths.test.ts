// PoisonOnFree and ZeroizeOnFree choose, per instance, between the direct path (the inner's method called
// directly, nothing after it) and the general one (a forwarder, the reuse check, tracking), and give an instance
// that needs the general path the general methods as its own. Whatever the path, the behaviour is the same, and a
// subclass's overrides run for every instance: its `super` calls reach the path the instance needs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Counting } from "../../test/helpers/counting.js";
import { ArrayBufferBacked, InvalidPointerError, Slab, Tlsf, WithFallback } from "../index.js";
import { PoisonOnFree, ZeroizeOnFree } from "./index.js";

const Counted = Counting(PoisonOnFree);

const slab = (): Slab => new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 8 });
const tlsf = (): Tlsf => new Tlsf(new ArrayBufferBacked(1 << 16));

test("a subclass's overrides run over every inner and with checkOnReuse, and super reaches the path the instance needs", () => {
  // the first inner class built in this file is the one the call sites reach directly: slab first, then Tlsf
  const built = [
    new Counted(slab()),
    new Counted(tlsf()),
    new Counted(slab(), { checkOnReuse: true }),
    new Counted(tlsf(), { checkOnReuse: true }),
  ];
  for (const pool of built) {
    const p = pool.allocate(64);
    pool.memory.u8.fill(7, p, p + 64);
    pool.deallocate(p, 64);
    assert.deepEqual([...pool.memory.u8.subarray(p, p + 64)], new Array(64).fill(0xde), "scrubbed");
    assert.throws(() => pool.deallocate(p, 64), InvalidPointerError, "a double free is refused");
    assert.equal(pool.allocations, 1);
    assert.equal(pool.frees, 2);
    if (pool.checkOnReuse) {
      assert.equal(pool.verifyFreed(), 1, "the general path recorded the free");
      pool.memory.u8[p + 5] = 1;
      assert.throws(() => pool.allocate(64), /byte 5 of the freed block/);
    }
  }
});

test("instances over the direct class, over another class and with tracking, side by side, each behave as alone", () => {
  const direct = new ZeroizeOnFree(slab());
  const other = new ZeroizeOnFree(tlsf());
  const b = new ArrayBufferBacked(1 << 16);
  const tracked = new ZeroizeOnFree(
    new WithFallback(
      new Slab(b, { blockSize: 64, capacity: 2 }),
      new Slab(b, { blockSize: 64, capacity: 2 }),
    ),
  );
  for (let round = 0; round < 3; round++) {
    for (const z of [direct, other, tracked]) {
      const p = z.allocate(64);
      const q = z.allocate(64);
      z.memory.u8.fill(9, p, p + 64);
      z.memory.u8.fill(9, q, q + 64);
      z.deallocate(p, 64);
      assert.ok(
        z.memory.u8.subarray(p, p + 64).every((x) => x === 0),
        "zeroed on free",
      );
      z.reset();
      assert.ok(
        z.memory.u8.subarray(q, q + 64).every((x) => x === 0),
        "a live block is zeroed by reset",
      );
    }
  }
});

test("only instances on the general path own their methods; the direct path is the class's", () => {
  const direct = new PoisonOnFree(slab()); // built first in any order of the tests: the direct class is Slab
  assert.equal(Object.hasOwn(direct, "deallocate"), false);
  for (const pool of [new PoisonOnFree(tlsf()), new PoisonOnFree(slab(), { checkOnReuse: true })]) {
    for (const name of ["allocate", "allocRaw", "deallocate", "tryFree", "freeRaw"]) {
      assert.ok(Object.hasOwn(pool, name), name);
    }
  }
});
