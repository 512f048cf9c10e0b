// Canary, second round of mutation tests: the survivors of the run of 28 November with canary.mutation and
// test/mutation/canary (docs/TESTING.md). They pin the edges of the pointer range Canary reads: the lowest pointer a
// block can have (8, its pre word at offset 0), a post word whose last byte is the memory's last byte when it is not
// 4-aligned (a memory whose length is not a multiple of 4), and a pointer that is not an integer freed with another
// alignment than the block's. A new file, so that an incremental run tests again only what it reaches.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ArrayBufferBacked,
  CorruptionError,
  InvalidPointerError,
  LayoutError,
  StackAlloc,
} from "../index.js";
import { Canary } from "./index.js";
import { isError } from "../../test/helpers/assertions.js";

const SEED = Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x08]);
const W0 = 0x44332211;
const W1 = 0x08776655;

/** A Canary over a stack (which keeps its frames outside the memory, so forged words there overwrite nothing). */
const overStack = (bytes = 1024): Canary<StackAlloc> =>
  new Canary(new StackAlloc(new ArrayBufferBacked(bytes)), { seed: SEED });

/** Writes a pre word recording `pad` at `ptr - 8` and a post word at `ptr + size`, as Canary would. */
function forge(c: Canary<StackAlloc>, ptr: number, size: number, pad: number): void {
  const dv = c.memory.dataView;
  dv.setUint32(ptr - 8, (W0 ^ pad) >>> 0, true);
  dv.setUint32(ptr - 4, W1, true);
  dv.setUint32(ptr + size, W0, true);
  dv.setUint32(ptr + size + 4, W1, true);
}

test("Canary: a block whose unaligned post word ends at the last byte of a memory of odd length is a block", () => {
  // 1003 bytes: a block at 24 of 971 bytes has its post word at 995..1002, not 4-aligned, ending at the last byte
  const c = overStack(1003);
  assert.equal(c.memory.byteLength, 1003);
  const first = c.allocate(1);
  c.deallocate(first, 1);
  const p = c.allocate(1003 - 8 - first);
  const size = 1003 - 8 - p;
  assert.equal(p + size + 8, c.memory.byteLength);
  assert.equal(c.usableSize(p, size), size);
  c.check("check", p, size);
  // an overflow into its last byte is a corruption of that block, counted, and the block stays live
  c.memory.u8[1002]! ^= 1;
  assert.throws(() => c.deallocate(p, size), isError(CorruptionError, /guard word after block/, /overflow/));
  assert.equal(c.corruptionEvents(), 1);
  c.memory.u8[1002]! ^= 1;
  c.deallocate(p, size);
  assert.equal(c.inner.liveCount(), 0);
  assert.equal(c.corruptionEvents(), 1);
});

test("Canary: at pointer 8 (its pre word at offset 0) forged words are read like any other block's", () => {
  // Intact words the inner does not hold: the canaries pass, the inner refuses (not "not a canaried block").
  const c = overStack();
  forge(c, 8, 12, 8);
  const innerRefuses = isError(
    InvalidPointerError,
    /canaries are intact but the inner allocator does not hold/,
  );
  assert.throws(() => c.check("check", 8, 12), innerRefuses);
  assert.throws(() => c.deallocate(8, 12), innerRefuses);
  assert.equal(c.memory.dataView.getUint32(0, true), (W0 ^ 8) >>> 0, "a refused free puts the words back");
  assert.equal(c.memory.dataView.getUint32(20, true), W0, "a refused free puts the words back");
  assert.equal(c.corruptionEvents(), 0);
  // Words recording a padding of 16, freed with alignment 8: the pre word is intact for the padding it records, so
  // the free names the wrong alignment (a LayoutError), as for a block at any other offset.
  const d = overStack();
  forge(d, 8, 16, 16);
  const wrongAlign = isError(LayoutError, /allocated with alignment 16, not <= 8/);
  assert.throws(() => d.deallocate(8, 16), wrongAlign);
  assert.throws(() => d.check("check", 8, 16), wrongAlign);
  assert.equal(d.corruptionEvents(), 0);
});

test("Canary: a pointer that is not an integer is not a block, whatever alignment the free names", () => {
  const c = overStack();
  const p = c.allocate(24);
  for (const align of [8, 16, 32]) {
    for (const q of [p + 0.5, p + 0.25]) {
      assert.throws(
        () => c.deallocate(q, 24, align),
        isError(InvalidPointerError, /not a live canaried block of size 24/),
        `ptr ${q}, align ${align}`,
      );
      assert.throws(
        () => c.check("check", q, 24, align),
        isError(InvalidPointerError, /not a live canaried block of size 24/),
        `ptr ${q}, align ${align}`,
      );
    }
  }
  assert.equal(c.corruptionEvents(), 0);
  c.deallocate(p, 24);
  assert.equal(c.inner.liveCount(), 0);
});
