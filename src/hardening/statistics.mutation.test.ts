// Statistics: the counters after resizes, failed resizes, evictions through the raw protocol and a drop in live
// bytes. Written to kill the mutants that survived the rest of the suite (docs/TESTING.md, `npm run mutate --
// statistics`): each test pins one counter that a one-token change to src/hardening/statistics.ts would move.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ArrayBufferBacked,
  BumpArena,
  CorruptionError,
  InvalidPointerError,
  LayoutError,
  NULL,
  Slab,
  Tlsf,
} from "../index.js";
import { Canary, Quarantine, Statistics } from "./index.js";

const arena = (bytes = 256): Statistics<BumpArena> =>
  new Statistics(new BumpArena(new ArrayBufferBacked(bytes)));

test("Statistics: peakBytes keeps the highest live total when the live bytes drop and rise again below it", () => {
  const s = arena();
  const big = s.allocate(100);
  s.deallocate(big, 100);
  s.allocate(10);
  assert.deepEqual(
    { currentBytes: s.stats().currentBytes, peakBytes: s.stats().peakBytes },
    { currentBytes: 10, peakBytes: 100 },
  );
});

test("Statistics: a grow in place changes the bytes only; a shrink keeps the peak", () => {
  const s = arena();
  s.allocate(16);
  const last = s.allocate(16);
  assert.equal(s.grow(last, 16, 48), last, "the arena grows its last block in place");
  assert.deepEqual(s.stats(), {
    totalAllocations: 2,
    totalDeallocations: 0,
    currentBytes: 64,
    peakBytes: 64,
    failures: 0,
    liveCount: 2,
    corruptionEvents: 0,
  });
  assert.equal(s.shrink(last, 48, 8), last);
  assert.equal(s.stats().currentBytes, 24);
  assert.equal(s.stats().peakBytes, 64);
  assert.equal(s.stats().totalAllocations, 2);
  assert.equal(s.stats().totalDeallocations, 0);
});

test("Statistics: a grow that moves the block counts one allocation and one free", () => {
  const s = arena();
  const first = s.allocate(16);
  s.allocate(16);
  const moved = s.grow(first, 16, 32);
  assert.notEqual(moved, NULL);
  assert.notEqual(moved, first, "the arena moves a block that is not its last");
  assert.deepEqual(s.stats(), {
    totalAllocations: 3,
    totalDeallocations: 1,
    currentBytes: 48,
    peakBytes: 48,
    failures: 0,
    liveCount: 2,
    corruptionEvents: 0,
  });
});

test("Statistics: a grow that fails counts a failure and changes nothing else", () => {
  const s = arena();
  const p = s.allocate(16);
  assert.equal(s.grow(p, 16, 4096), NULL);
  assert.deepEqual(s.stats(), {
    totalAllocations: 1,
    totalDeallocations: 0,
    currentBytes: 16,
    peakBytes: 16,
    failures: 1,
    liveCount: 1,
    corruptionEvents: 0,
  });
});

test("Statistics: a block that a Quarantine outside it evicts is counted as freed (the raw freeRaw path)", () => {
  const stats = new Statistics(new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 32, capacity: 8 }));
  const q = new Quarantine(stats, 1);
  const a = q.allocate(24);
  const b = q.allocate(20);
  q.deallocate(a, 24);
  assert.equal(stats.stats().totalDeallocations, 0, "the first free waits in quarantine");
  q.deallocate(b, 20);
  assert.equal(stats.stats().totalDeallocations, 1);
  assert.equal(stats.stats().currentBytes, 20);
  assert.equal(stats.stats().liveCount, 1);
  q.flush();
  assert.equal(stats.stats().totalDeallocations, 2);
  assert.equal(stats.stats().currentBytes, 0);
  assert.equal(stats.stats().peakBytes, 44);
});

test("Statistics: a refused allocation or free counts only a failure (allocation) or nothing (free)", () => {
  const s = new Statistics(new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 32, capacity: 2 }));
  assert.throws(
    () => s.allocate(0),
    (e: unknown) => e instanceof LayoutError && e.message.startsWith("Statistics.allocate"),
  );
  const a = s.allocate(24);
  const b = s.allocate(8);
  assert.equal(s.allocate(8), NULL, "the slab is full");
  assert.equal(s.allocate(8), NULL);
  assert.throws(
    () => s.deallocate(a, 24, 3),
    (e: unknown) => e instanceof LayoutError && e.message.startsWith("Statistics.deallocate"),
  );
  assert.throws(
    () => s.deallocate(a + 8, 24),
    (e: unknown) => e instanceof InvalidPointerError && e.message.startsWith("Statistics.deallocate"),
  );
  assert.ok(s.tryFree(a + 8, 24, 8) < 0, "the raw free refuses too");
  assert.deepEqual(s.stats(), {
    totalAllocations: 2,
    totalDeallocations: 0,
    currentBytes: 32,
    peakBytes: 32,
    failures: 2,
    liveCount: 2,
    corruptionEvents: 0,
  });
  assert.equal(s.tryFree(b, 8, 8), 0);
  s.deallocate(a, 24);
  assert.deepEqual(s.stats(), {
    totalAllocations: 2,
    totalDeallocations: 2,
    currentBytes: 0,
    peakBytes: 32,
    failures: 2,
    liveCount: 0,
    corruptionEvents: 0,
  });
});

test("Statistics.reset: live blocks and bytes drop to 0, the totals and the peak stay, counting goes on", () => {
  const s = arena(1024);
  s.allocate(16);
  const b = s.allocate(32);
  s.deallocate(b, 32);
  s.allocate(8);
  s.reset();
  assert.deepEqual(s.stats(), {
    totalAllocations: 3,
    totalDeallocations: 1,
    currentBytes: 0,
    peakBytes: 48,
    failures: 0,
    liveCount: 0,
    corruptionEvents: 0,
  });
  assert.equal(s.inner.allocated(), 0, "the inner was reset");
  const c = s.allocate(24);
  s.allocate(8);
  s.deallocate(c, 24);
  assert.equal(s.stats().liveCount, 1);
  assert.equal(s.stats().currentBytes, 8);
  assert.equal(s.stats().totalAllocations, 5);
});

test("Statistics over a Tlsf: a shrink in place, then a grow: the bytes follow the size, the peak the highest", () => {
  const s = new Statistics(new Tlsf(new ArrayBufferBacked(1 << 14)));
  const p = s.allocate(64);
  const q = s.shrink(p, 64, 32);
  assert.equal(q, p, "a Tlsf shrinks in place");
  assert.equal(s.stats().currentBytes, 32);
  assert.equal(s.stats().peakBytes, 64);
  const r = s.grow(q, 32, 4000);
  assert.notEqual(r, NULL);
  assert.equal(s.stats().currentBytes, 4000);
  assert.equal(s.stats().peakBytes, 4000);
  assert.equal(
    s.stats().totalAllocations - s.stats().totalDeallocations,
    1,
    "a move counts one of each, in place none",
  );
});

test("Statistics mirrors the inner's corruption count", () => {
  const inner = new Canary(new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 64, capacity: 4 }));
  const s = new Statistics(inner);
  const p = s.allocate(24);
  s.memory.u8[p + 24]! ^= 1;
  assert.throws(() => s.deallocate(p, 24), CorruptionError);
  assert.equal(s.stats().corruptionEvents, 1);
  assert.equal(s.corruptionEvents(), 1);
  assert.equal(s.stats().totalDeallocations, 0);
});
