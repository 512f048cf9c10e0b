// PoisonOnFree and ZeroizeOnFree (src/hardening/poison-on-free.ts), second round: what survived the first complete
// mutation run (docs/TESTING.md). A header that Tlsf writes on the first bytes of a freed block, a reused block
// larger than the freed one, a layout that writes into the blocks it frees, a PoisonOnFree as the range of a
// carving layout, the words of the messages, and what ZeroizeOnFree.reset zeroes (the live blocks of its own range
// or regions, nothing beyond them).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  BumpArena,
  CorruptionError,
  Heap,
  NULL,
  SharedArrayBufferBacked,
  SharedBumpArena,
  Slab,
  StaticBacked,
  Tlsf,
} from "../index.js";
import { PoisonOnFree, ZeroizeOnFree } from "./index.js";
import { isError } from "../../test/helpers/assertions.js";
import { LinkedBlocks } from "../../test/helpers/linked-blocks.js";

test("PoisonOnFree over a Tlsf: a block whose header lands on the first bytes of a freed block forgets that block", () => {
  // two freed neighbours merge; an allocation that ends exactly at the second one's start leaves a remainder whose
  // header, written when the remainder is handed out, is the second block's first 8 bytes: not a use after free
  const pool = new PoisonOnFree(new Tlsf(new ArrayBufferBacked(1 << 16)), { checkOnReuse: true });
  const a = pool.allocate(5000);
  const b = pool.allocate(5000);
  while (pool.allocate(8) !== NULL); // the rest is used: the merged block is the only fit
  pool.deallocate(a, 5000);
  pool.deallocate(b, 5000);
  assert.equal(pool.verifyFreed(), 2);
  assert.equal(pool.allocate(b - a), a, "the merged block, up to b's start");
  assert.equal(pool.verifyFreed(), 1, "b is still recorded");
  assert.equal(pool.allocate(4864), b + 8, "the remainder, its header on b's first 8 bytes");
  assert.equal(pool.verifyFreed(), 0, "b is forgotten, not reported");
  assert.equal(pool.corruptionEvents(), 0);
});

test("PoisonOnFree over a Tlsf: a reused block larger than the freed one is checked over the freed block's bytes only", () => {
  const pool = new PoisonOnFree(new Tlsf(new ArrayBufferBacked(1 << 16)), { checkOnReuse: true });
  const a = pool.allocate(5000);
  const b = pool.allocate(5000);
  while (pool.allocate(8) !== NULL);
  pool.deallocate(b, 5000); // b is recorded first, then a merges with it
  pool.deallocate(a, 5000);
  const big = 9000; // more than a held: the merged block is the only fit
  assert.equal(pool.allocate(big), a, "a, b's old header and part of b, as one block");
  assert.equal(pool.corruptionEvents(), 0, "b's old header (not the pattern) is not part of a's freed block");
  pool.deallocate(a, big);
  pool.memory.u8[a + big - 1] = 1;
  assert.throws(() => pool.allocate(big), isError(CorruptionError, new RegExp(`byte ${big - 1} of`)));
});

test("PoisonOnFree over a layout that writes into the blocks it frees: those blocks are not checked (no false report)", () => {
  const pool = new PoisonOnFree(new LinkedBlocks(), { checkOnReuse: true });
  const a = pool.allocate(64);
  const b = pool.allocate(64);
  pool.deallocate(a, 64);
  assert.equal(pool.memory.u8[a + 4], 0xde, "the pattern, after the link");
  pool.deallocate(b, 64); // b's link names a: its first bytes differ from the pattern
  assert.equal(pool.verifyFreed(), 0, "a's link is NULL (0), b's names a: neither holds one byte throughout");
  assert.equal(pool.allocate(64), b);
  assert.equal(pool.allocate(64), a);
  assert.equal(pool.corruptionEvents(), 0);
});

test("a PoisonOnFree is refused as the range of a carving layout: its checks happen in allocate, which it never calls", () => {
  assert.throws(
    () => new BumpArena(new PoisonOnFree(new ArrayBufferBacked(1 << 16) as never) as never),
    isError(AllocError, /^BumpArena: PoisonOnFree as the range under BumpArena would do nothing/),
  );
});

test("PoisonOnFree: a use after free found by the check says so and that the block is withheld", () => {
  const pool = new PoisonOnFree(new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 4 }), {
    checkOnReuse: true,
  });
  const a = pool.allocate(64);
  pool.deallocate(a, 64);
  pool.memory.u8[a + 9] = 0;
  assert.throws(
    () => pool.verifyFreed(),
    isError(
      CorruptionError,
      /^PoisonOnFree: byte 9 of the freed block .* was written while the block was free \(a use after free\); the block is withheld from reuse$/,
    ),
  );
});

test("ZeroizeOnFree over a shared-memory layout it cannot scrub: the refusal says why and what to do instead", () => {
  assert.throws(
    () => new ZeroizeOnFree(new SharedBumpArena(new SharedArrayBufferBacked(1 << 16))),
    isError(
      AllocError,
      /^ZeroizeOnFree: cannot scrub the live blocks of SharedBumpArena on reset\(\): it is neither a FixedRange nor lists its regions, and other workers may hold blocks of its shared memory; zero secrets before freeing them, or put ZeroizeOnFree over a layout of your own worker's memory$/,
    ),
  );
});

test("ZeroizeOnFree over a slab at the front of a shared backing: reset zeroes its own range, not the layout after it", () => {
  const backing = new ArrayBufferBacked(1 << 16);
  const secrets = new ZeroizeOnFree(new Slab(backing, { blockSize: 32, capacity: 16 }));
  const other = new Slab(backing, { blockSize: 64, capacity: 16 });
  const k = secrets.allocate(32);
  const o = other.allocate(64);
  assert.ok(o > k, "the other slab lies after the secrets");
  secrets.memory.u8.fill(7, k, k + 32);
  other.memory.u8.fill(9, o, o + 64);
  secrets.reset();
  assert.deepEqual([...secrets.memory.u8.subarray(k, k + 32)], new Array(32).fill(0));
  assert.deepEqual(
    [...other.memory.u8.subarray(o, o + 64)],
    new Array(64).fill(9),
    "another layout's live block",
  );
});

test("ZeroizeOnFree over a Heap: reset zeroes the live blocks and leaves the heap's free space as it was", () => {
  const bytes = new Uint8Array(1 << 18).fill(0xaa);
  const secrets = new ZeroizeOnFree(new Heap(new StaticBacked(bytes)));
  const small = secrets.allocate(40);
  const large = secrets.allocate(20000);
  secrets.memory.u8.fill(7, small, small + 40);
  secrets.memory.u8.fill(7, large, large + 20000);
  const untouched = bytes.length - 64; // far past every block: free space the heap never handed out
  assert.equal(secrets.memory.u8[untouched], 0xaa);
  secrets.reset();
  assert.ok(secrets.memory.u8.subarray(small, small + 40).every((b) => b === 0));
  assert.ok(secrets.memory.u8.subarray(large, large + 20000).every((b) => b === 0));
  assert.equal(secrets.memory.u8[untouched], 0xaa, "free space is not written (reset costs the live bytes)");
});
