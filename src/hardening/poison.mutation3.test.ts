// PoisonOnFree and ZeroizeOnFree (src/hardening/poison-on-free.ts), third round: the survivors of the run after the
// direct and general paths were split (docs/TESTING.md). Refusals named by each path, the raw protocol of a direct
// instance under an outer wrapper (tryFree under Statistics, freeRaw when a Quarantine evicts), and ZeroizeOnFree over
// a wrapper whose inner cannot list its regions (it tracks the live blocks instead).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayBufferBacked, InvalidPointerError, LayoutError, Slab, Tlsf } from "../index.js";
import { PoisonOnFree, Quarantine, Statistics, ZeroizeOnFree } from "./index.js";
import { isError } from "../../test/helpers/assertions.js";
import { LinkedBlocks } from "../../test/helpers/linked-blocks.js";

const slab = (): Slab => new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 8 });

// The first inner class built in this file is the one the call sites reach directly: a slab.
const direct = new PoisonOnFree(slab());

test("the general path (another inner class, or checkOnReuse) refuses a bad layout or a bad free naming the wrapper", () => {
  const general = [
    new PoisonOnFree(new Tlsf(new ArrayBufferBacked(1 << 16))),
    new PoisonOnFree(slab(), { checkOnReuse: true }),
  ];
  for (const pool of [direct, ...general]) {
    assert.throws(() => pool.allocate(0), isError(LayoutError, /^PoisonOnFree\.allocate: /));
    const p = pool.allocate(64);
    assert.throws(() => pool.deallocate(p, 0), isError(LayoutError, /^PoisonOnFree\.deallocate: /));
    assert.throws(
      () => pool.deallocate(p + 8, 64),
      isError(InvalidPointerError, /^PoisonOnFree\.deallocate: /),
    );
    pool.deallocate(p, 64);
  }
});

test("a direct instance under Statistics (tryFree): a refused free writes nothing and reports the inner's reason", () => {
  const pool = new PoisonOnFree(slab());
  const stats = new Statistics(pool);
  const p = stats.allocate(64);
  pool.memory.u8.fill(5, p, p + 64);
  assert.throws(() => stats.deallocate(p + 8, 64), InvalidPointerError);
  assert.equal(pool.memory.u8[p], 5, "a refused free scrubs nothing");
  stats.deallocate(p, 64);
  assert.equal(pool.memory.u8[p], 0xde);
  assert.throws(() => stats.deallocate(p, 64), isError(InvalidPointerError, /not a live block|double free/));
  assert.equal(stats.stats().totalDeallocations, 1);
});

test("a direct instance under a Quarantine (freeRaw): the evicted block is poisoned and freed", () => {
  const pool = new PoisonOnFree(slab());
  const q = new Quarantine(pool, 1);
  const a = q.allocate(64);
  const b = q.allocate(64);
  pool.memory.u8.fill(5, a, a + 64);
  q.deallocate(a, 64);
  assert.equal(pool.memory.u8[a], 5, "still in quarantine");
  q.deallocate(b, 64); // evicts a
  assert.deepEqual([...pool.memory.u8.subarray(a, a + 64)], new Array(64).fill(0xde));
  assert.throws(() => pool.deallocate(a, 64), InvalidPointerError, "a was freed by the eviction");
});

test("ZeroizeOnFree over a wrapper whose inner lists no regions: it tracks the live blocks, and reset zeroes them", () => {
  const z = new ZeroizeOnFree(new Statistics(new LinkedBlocks()));
  const p = z.allocate(64);
  z.memory.u8.fill(7, p, p + 64);
  z.reset();
  assert.ok(z.memory.u8.subarray(p, p + 64).every((x) => x === 0));
});
