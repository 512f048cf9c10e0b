// Slab, the third round of mutation tests (issue #15): the survivors of the complete run of 28 November that change
// behaviour. The rest of that run's open mutants are listed in stryker/equivalent.json with the reason each is
// equivalent (fast-path guards that only send a request to a slow path giving the same answer, fills that write the
// same bytes another way, checkFree's unused `_freeing` argument; allocateSlow's unchecked pop, which no request
// reached, is gone since 29 November).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayBufferBacked, LayoutError } from "../index.js";
import { isError } from "../../test/helpers/assertions.js";
import { Slab } from "./slab.js";

test("Slab.grow and Slab.shrink: a resize the wrong way is refused with a message that names the method", () => {
  const slab = new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 32, capacity: 4 });
  const p = slab.allocate(16);
  assert.throws(
    () => slab.grow(p, 16, 8),
    isError(LayoutError, /^Slab\.grow: new size 8 is smaller than the old size 16; use shrink instead$/),
  );
  assert.throws(
    () => slab.shrink(p, 16, 24),
    isError(LayoutError, /^Slab\.shrink: new size 24 is larger than the old size 16; use grow instead$/),
  );
  assert.equal(slab.sizeOf(p), 32); // refused: still live, nothing changed
});

test("Slab.contains: a value that is not a number is outside the region, even one that arithmetic would throw on", () => {
  const slab = new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 32, capacity: 4 });
  const base = slab.base();
  for (const v of [BigInt(base), Symbol("ptr"), { valueOf: () => base }, null, undefined, [base]]) {
    assert.equal(slab.contains(v as unknown as number), false, String(typeof v));
  }
  assert.equal(slab.contains(base), true);
});
