// PoisonOnFree and ZeroizeOnFree (src/hardening/poison-on-free.ts): the paths the rest of the suite reaches without
// asserting them. The raw protocol under another wrapper (allocRaw and tryFree under Statistics, freeRaw when a
// Quarantine outside evicts), the pattern's bounds, what `checkOnReuse` checks at reuse and in `verifyFreed()` (every
// byte the request covers over a slab, every byte but Tlsf's own words over a Tlsf, also through a wrapper), what it
// must not forget (on a NULL, on an aligned allocation over a slab) and what it forgets on `reset()`, and how
// ZeroizeOnFree finds the live blocks of a shared-memory inner. Written to kill the mutants of `npm run mutate --
// poison` (docs/TESTING.md).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  CorruptionError,
  Heap,
  InvalidPointerError,
  LayoutError,
  NULL,
  SharedArrayBufferBacked,
  Slab,
  Tlsf,
} from "../index.js";
import { Canary, PoisonOnFree, Quarantine, Statistics, ZeroizeOnFree } from "./index.js";
import { isError } from "../../test/helpers/assertions.js";

const slab = (blockSize = 64, capacity = 16): Slab =>
  new Slab(new ArrayBufferBacked(1 << 16), { blockSize, capacity, align: 64 });

test("PoisonOnFree: the pattern is any byte 0 to 255; anything else is refused naming the wrapper", () => {
  for (const pattern of [0, 1, 0x7f, 255]) {
    const pool = new PoisonOnFree(slab(), { pattern });
    assert.equal(pool.pattern, pattern);
    const p = pool.allocate(64);
    pool.memory.u8.fill(pattern ^ 0xa5, p, p + 64);
    pool.deallocate(p, 64);
    assert.deepEqual([...pool.memory.u8.subarray(p, p + 64)], new Array(64).fill(pattern));
  }
  for (const pattern of [-1, 256, 1.5, Number.NaN]) {
    assert.throws(
      () => new PoisonOnFree(slab(), { pattern }),
      isError(AllocError, /^PoisonOnFree: pattern .* is not a byte \(0 to 255\)$/),
      String(pattern),
    );
  }
  assert.equal(new PoisonOnFree(slab()).pattern, 0xde);
});

test("PoisonOnFree: checkOnReuse is on only for `true`", () => {
  const off = new PoisonOnFree(slab(), { checkOnReuse: 1 as unknown as boolean });
  assert.equal(off.checkOnReuse, false);
  assert.throws(
    () => off.verifyFreed(),
    isError(AllocError, /^PoisonOnFree\.verifyFreed: needs \{ checkOnReuse: true \}$/),
  );
  assert.equal(new PoisonOnFree(slab(), { checkOnReuse: true }).checkOnReuse, true);
});

test("PoisonOnFree under Statistics (allocRaw, tryFree): frees are recorded and checked at reuse; a refusal records nothing", () => {
  const pool = new PoisonOnFree(slab(), { checkOnReuse: true });
  const stats = new Statistics(pool);
  const a = stats.allocate(64);
  const b = stats.allocate(64);
  stats.deallocate(a, 64);
  assert.equal(pool.verifyFreed(), 1);
  assert.throws(() => stats.deallocate(b + 1, 64), InvalidPointerError);
  assert.throws(() => stats.deallocate(a, 64), InvalidPointerError, "a double free");
  assert.equal(pool.verifyFreed(), 1, "the refused frees recorded nothing");
  pool.memory.u8[a + 3] = 1;
  assert.throws(() => stats.allocate(64), isError(CorruptionError, /byte 3 of the freed block/));
  assert.equal(pool.corruptionEvents(), 1);
  stats.deallocate(b, 64);
  assert.equal(pool.verifyFreed(), 1);
});

test("PoisonOnFree under a Quarantine: the block evicted to it (freeRaw) is poisoned and recorded", () => {
  const pool = new PoisonOnFree(slab(), { checkOnReuse: true });
  const q = new Quarantine(pool, 1);
  const a = q.allocate(64);
  const b = q.allocate(64);
  pool.memory.u8.fill(0x11, a, a + 64);
  q.deallocate(a, 64);
  assert.equal(pool.verifyFreed(), 0, "a is in quarantine, not freed yet");
  q.deallocate(b, 64); // evicts a
  assert.equal(pool.verifyFreed(), 1);
  assert.deepEqual([...pool.memory.u8.subarray(a, a + 64)], new Array(64).fill(0xde));
  pool.memory.u8[a + 63] = 0;
  assert.throws(() => pool.verifyFreed(), isError(CorruptionError, /byte 63 of the freed block/));
});

test("PoisonOnFree over a slab: at reuse, every byte the request covers is checked, from byte 0; none beyond it", () => {
  for (const at of [0, 1, 7, 8, 31, 63]) {
    const pool = new PoisonOnFree(slab(), { checkOnReuse: true });
    const a = pool.allocate(64);
    pool.deallocate(a, 64);
    pool.memory.u8[a + at] = 0;
    assert.throws(
      () => pool.allocate(64),
      isError(CorruptionError, new RegExp(`byte ${at} of`)),
      `byte ${at}`,
    );
    assert.equal(pool.corruptionEvents(), 1);
  }
  // a write past the part the new request covers is not checked at reuse (verifyFreed checks whole free blocks)
  const pool = new PoisonOnFree(slab(), { checkOnReuse: true });
  const a = pool.allocate(64);
  pool.deallocate(a, 64);
  pool.memory.u8[a + 40] = 0;
  assert.equal(pool.allocate(32), a);
  assert.equal(pool.corruptionEvents(), 0);
});

test("PoisonOnFree: a block never freed through it is not checked when handed out, whatever it holds", () => {
  const inner = slab();
  inner.memory.u8.fill(0x77, inner.base(), inner.base() + inner.size());
  const pool = new PoisonOnFree(inner, { checkOnReuse: true });
  const p = pool.allocate(64);
  assert.notEqual(p, NULL);
  assert.equal(pool.memory.u8[p], 0x77);
  assert.equal(pool.corruptionEvents(), 0);
});

test("PoisonOnFree over a slab: an allocation aligned above 8 forgets no other freed block", () => {
  const pool = new PoisonOnFree(slab(), { checkOnReuse: true });
  const blocks = [0, 1, 2].map(() => pool.allocate(64));
  for (const p of blocks) pool.deallocate(p, 64);
  assert.equal(pool.verifyFreed(), 3);
  const p = pool.allocate(64, 32);
  assert.ok(blocks.includes(p));
  assert.equal(pool.verifyFreed(), 2);
  const other = blocks.find((b) => b !== p)!;
  pool.memory.u8[other + 20] = 0;
  assert.throws(() => pool.verifyFreed(), CorruptionError);
});

test("PoisonOnFree over a Tlsf: an allocation that fails (NULL) forgets no freed block", () => {
  const pool = new PoisonOnFree(new Tlsf(new ArrayBufferBacked(1 << 16)), { checkOnReuse: true });
  const a = pool.allocate(64);
  const guard = pool.allocate(64);
  pool.deallocate(a, 64);
  assert.equal(pool.verifyFreed(), 1);
  assert.equal(pool.allocate(1 << 20), NULL);
  assert.equal(pool.allocate(1 << 20, 64), NULL);
  assert.equal(pool.verifyFreed(), 1);
  pool.memory.u8[a + 20] = 1;
  assert.throws(() => pool.verifyFreed(), isError(CorruptionError, /byte 20 of/));
  pool.deallocate(guard, 64);
});

test("PoisonOnFree over a Tlsf: verifyFreed checks every byte of a freed block", () => {
  const probe = new Tlsf(new ArrayBufferBacked(1 << 16));
  const usable = probe.usableSize(probe.allocate(64), 64);
  for (let at = 0; at < usable; at++) {
    const pool = new PoisonOnFree(new Tlsf(new ArrayBufferBacked(1 << 16)), { checkOnReuse: true });
    const a = pool.allocate(64);
    const guard = pool.allocate(64);
    pool.deallocate(a, 64);
    pool.memory.u8[a + at]! ^= 0xff;
    assert.throws(
      () => pool.verifyFreed(),
      isError(CorruptionError, new RegExp(`byte ${at} of`)),
      `byte ${at}`,
    );
    pool.deallocate(guard, 64);
  }
});

test("PoisonOnFree over a wrapper over a Tlsf: freed blocks a larger allocation covers are forgotten, not reported", () => {
  // the Tlsf is found under the Statistics: blocks merged by a free and handed out again as one are forgotten, so
  // the owner's writes into the part that was another freed block are not a use after free
  const pool = new PoisonOnFree(new Statistics(new Tlsf(new ArrayBufferBacked(4096))), {
    checkOnReuse: true,
  });
  const a = pool.allocate(64);
  const b = pool.allocate(64);
  while (pool.allocate(8) !== NULL); // the rest is used: the merged block is the only fit
  pool.deallocate(a, 64);
  pool.deallocate(b, 64);
  assert.equal(pool.verifyFreed(), 2);
  const c = pool.allocate(128);
  assert.equal(c, a, "the merged block comes back");
  assert.equal(pool.verifyFreed(), 0, "b lies inside it: forgotten");
  pool.memory.u8.fill(0x11, c, c + 128);
  assert.equal(pool.verifyFreed(), 0);
  pool.deallocate(c, 128);
  assert.equal(pool.verifyFreed(), 1);
  pool.memory.u8[c + 100] = 1;
  assert.throws(() => pool.allocate(128), isError(CorruptionError, /byte 100 of/));
  assert.equal(pool.corruptionEvents(), 1);
});

test("PoisonOnFree.reset forgets the freed blocks: nothing is checked against the old pattern afterwards", () => {
  const pool = new PoisonOnFree(slab(), { checkOnReuse: true });
  const a = pool.allocate(64);
  const b = pool.allocate(64);
  pool.deallocate(a, 64);
  pool.deallocate(b, 64);
  assert.equal(pool.verifyFreed(), 2);
  pool.reset();
  assert.equal(pool.verifyFreed(), 0);
  assert.equal(pool.inner.liveCount(), 0);
  pool.memory.u8.fill(0x33, a, a + 64);
  pool.memory.u8.fill(0x33, b, b + 64);
  pool.allocate(64);
  pool.allocate(64);
  assert.equal(pool.corruptionEvents(), 0);
});

test("PoisonOnFree.deallocate: a bad layout is refused before anything is written, and the block stays live", () => {
  for (const name of ["PoisonOnFree", "ZeroizeOnFree"]) {
    const pool = name === "PoisonOnFree" ? new PoisonOnFree(slab()) : new ZeroizeOnFree(slab());
    const p = pool.allocate(64);
    pool.memory.u8.fill(9, p, p + 64);
    for (const [size, align] of [
      [64, 3],
      [0, 8],
      [64, 0],
    ] as const) {
      assert.throws(
        () => pool.deallocate(p, size, align),
        isError(LayoutError, new RegExp(`^${name}\\.deallocate: `)),
        `${size}, ${align}`,
      );
    }
    assert.deepEqual([...pool.memory.u8.subarray(p, p + 64)], new Array(64).fill(9));
    assert.equal(pool.inner.liveCount(), 1);
    pool.deallocate(p, 64);
    assert.equal(pool.inner.liveCount(), 0);
  }
});

test("ZeroizeOnFree over a Heap in shared memory: built (the Heap lists its regions), and reset zeroes live blocks", () => {
  const z = new ZeroizeOnFree(new Heap(new SharedArrayBufferBacked(1 << 18)));
  const blocks = [24, 100, 5000].map((n) => [z.allocate(n), n] as const);
  for (const [p, n] of blocks) z.memory.u8.fill(0x5a, p, p + n);
  z.reset();
  for (const [p, n] of blocks)
    assert.ok(
      z.memory.u8.subarray(p, p + n).every((b) => b === 0),
      `block of ${n}`,
    );
  assert.notEqual(z.allocate(24), NULL);
});

test("PoisonOnFree and ZeroizeOnFree.allocate: a bad layout is a LayoutError naming the wrapper", () => {
  for (const pool of [new PoisonOnFree(slab()), new ZeroizeOnFree(slab())]) {
    const name = pool instanceof ZeroizeOnFree ? "ZeroizeOnFree" : "PoisonOnFree";
    for (const [size, align] of [
      [0, 8],
      [8, 3],
    ] as const) {
      assert.throws(
        () => pool.allocate(size, align),
        isError(LayoutError, new RegExp(`^${name}\\.allocate: `)),
        `${name} ${size}, ${align}`,
      );
    }
    assert.equal(pool.inner.liveCount(), 0);
  }
});

test("PoisonOnFree over a Tlsf: an allocation of alignment 8 elsewhere forgets no freed block", () => {
  const pool = new PoisonOnFree(new Tlsf(new ArrayBufferBacked(1 << 16)), { checkOnReuse: true });
  const a = pool.allocate(64);
  const guard = pool.allocate(64);
  pool.deallocate(a, 64);
  const big = pool.allocate(4096, 8); // larger than a: taken from the rest after guard
  assert.ok(big > guard);
  assert.equal(pool.verifyFreed(), 1);
  pool.memory.u8[a + 30] = 1;
  assert.throws(() => pool.verifyFreed(), isError(CorruptionError, /byte 30 of/));
});

test("ZeroizeOnFree over a Quarantine: reset zeroes a block in quarantine that was written after its free", () => {
  const z = new ZeroizeOnFree(new Quarantine(new Heap(new ArrayBufferBacked(1 << 18)), 4));
  const a = z.allocate(64);
  const b = z.allocate(64);
  z.memory.u8.fill(0x5a, b, b + 64);
  z.deallocate(a, 64);
  assert.ok(
    z.memory.u8.subarray(a, a + 64).every((x) => x === 0),
    "zeroed at the free",
  );
  z.memory.u8.fill(0x5a, a, a + 64); // a use after free, while a waits in quarantine
  z.reset();
  assert.ok(
    z.memory.u8.subarray(a, a + 64).every((x) => x === 0),
    "the quarantined block",
  );
  assert.ok(
    z.memory.u8.subarray(b, b + 64).every((x) => x === 0),
    "the live block",
  );
});

test("PoisonOnFree.grow and shrink move the block: its bytes come along, the old block is poisoned and recorded", () => {
  const pool = new PoisonOnFree(new Tlsf(new ArrayBufferBacked(1 << 16)), { checkOnReuse: true });
  const p = pool.allocate(32);
  pool.memory.u8.fill(0x11, p, p + 32);
  const q = pool.grow(p, 32, 512);
  assert.notEqual(q, NULL);
  assert.notEqual(q, p);
  assert.deepEqual([...pool.memory.u8.subarray(q, q + 32)], new Array(32).fill(0x11));
  assert.deepEqual([...pool.memory.u8.subarray(p, p + 32)], new Array(32).fill(0xde), "the old block");
  assert.equal(pool.verifyFreed(), 1);
  const r = pool.shrink(q, 512, 16);
  assert.notEqual(r, NULL);
  assert.deepEqual([...pool.memory.u8.subarray(r, r + 16)], new Array(16).fill(0x11));
  pool.deallocate(r, 16);
  assert.equal(pool.corruptionEvents(), 0);
});

test("PoisonOnFree.corruptionEvents adds the inner's count to its own", () => {
  const pool = new PoisonOnFree(new Canary(slab()));
  const p = pool.allocate(32);
  pool.memory.u8[p + 32]! ^= 1; // an overflow into the canary after the block
  assert.throws(() => pool.deallocate(p, 32), CorruptionError);
  assert.equal(pool.inner.corruptionEvents(), 1);
  assert.equal(pool.corruptionEvents(), 1);
});

test("ZeroizeOnFree over a fixed range (a slab) zeroes its whole range on reset, not only the live blocks", () => {
  const inner = slab();
  inner.memory.u8.fill(0x5a, inner.base(), inner.base() + inner.size()); // left there before the slab was used
  const z = new ZeroizeOnFree(inner);
  const p = z.allocate(64);
  z.memory.u8.fill(0x5a, p, p + 64);
  z.reset();
  assert.ok(
    z.memory.u8.subarray(inner.base(), inner.base() + inner.size()).every((b) => b === 0),
    "every byte of the range",
  );
});

// forgetInside forgets the recorded blocks starting in (p, p + usable): a block starting at p + usable is the next
// slot over a Heap (it used to be forgotten too, so a write into that freed slot went unreported).
test("PoisonOnFree over a Heap: reusing a slot keeps checking the freed slot right after it", () => {
  const pool = new PoisonOnFree(new Heap(new ArrayBufferBacked(1 << 20)), { checkOnReuse: true });
  const a = pool.allocate(32);
  const b = pool.allocate(32);
  pool.allocate(32);
  assert.equal(b, a + 32, "neighbouring slots");
  pool.deallocate(b, 32);
  pool.deallocate(a, 32);
  assert.equal(pool.allocate(32), a);
  assert.equal(pool.verifyFreed(), 1, "b is still recorded");
  pool.memory.u8[b + 16] = 1; // a use after free of b
  assert.throws(() => pool.allocate(32), CorruptionError);
  assert.equal(pool.corruptionEvents(), 1);
});
