// Quarantine: the ring after it wraps (evictions and `flush` hand the inner the pointer, size and alignment each
// block was freed with), double frees of blocks anywhere in a wrapped ring, stale ring slots, `reset`, and the
// option check. Written to kill the mutants that survived the rest of the suite (docs/TESTING.md,
// `npm run mutate -- quarantine`).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  BumpArena,
  CorruptionError,
  InvalidPointerError,
  Slab,
} from "../index.js";
import { Canary, Quarantine, Statistics } from "./index.js";

const slab = (capacity = 8): Slab =>
  new Slab(new ArrayBufferBacked(1 << 14), { blockSize: 64, capacity, align: 16 });

test("Quarantine: evictions and flush free each block with its own size and alignment, after the ring wrapped", () => {
  // Canary inside reads the alignment (its padding) and Statistics under it the size: a wrong ring slot shows.
  const stats = new Statistics(slab());
  const q = new Quarantine(new Canary(stats), 3);
  const sizes = [8, 16, 24, 32, 40];
  const aligns = [8, 16, 8, 16, 8];
  const blocks = sizes.map((s, i) => q.allocate(s, aligns[i]));
  const inner = (i: number): number => (aligns[i] === 16 ? 16 : 8) + sizes[i]! + 8; // what Canary asks of Statistics
  const total = sizes.reduce((sum, _, i) => sum + inner(i), 0);
  assert.equal(stats.stats().currentBytes, total);
  for (let i = 0; i < 5; i++) q.deallocate(blocks[i]!, sizes[i]!, aligns[i]);
  // Two evictions (blocks 0 and 1, oldest first); three wait, the ring's head is no longer at slot 0.
  assert.equal(q.pending(), 3);
  assert.equal(stats.stats().totalDeallocations, 2);
  assert.equal(stats.stats().currentBytes, total - inner(0) - inner(1));
  q.flush();
  assert.equal(q.pending(), 0);
  assert.equal(stats.stats().totalDeallocations, 5);
  assert.equal(stats.stats().currentBytes, 0);
  assert.equal(stats.stats().liveCount, 0);
  assert.equal(q.corruptionEvents(), 0);
  stats.inner.validate();
  // Every block went back to the slab: all eight slots can be had again, none twice.
  const again = Array.from({ length: 8 }, () => q.allocate(8));
  assert.equal(new Set(again).size, 8);
});

test("Quarantine: a double free of any block waiting in a wrapped ring is refused, and changes nothing", () => {
  for (const epochs of [1, 2, 3, 4]) {
    const q = new Quarantine(slab(), epochs);
    const blocks = Array.from({ length: epochs + 2 }, () => q.allocate(32));
    for (const p of blocks) q.deallocate(p, 32);
    const waiting = blocks.slice(2);
    assert.equal(q.pending(), epochs);
    for (const p of waiting) {
      assert.ok(q.holds(p), `epochs ${epochs}: ${p} is waiting`);
      assert.equal(q.sizeOf(p), -1, "a block in quarantine is not live");
      assert.throws(() => q.deallocate(p, 32), InvalidPointerError, `epochs ${epochs}: double free of ${p}`);
    }
    assert.equal(q.pending(), epochs);
    assert.equal(q.deallocateCount(), epochs + 2);
  }
});

test("Quarantine: slots left by flushed blocks are not taken for waiting ones", () => {
  const q = new Quarantine(slab(), 3);
  const blocks = Array.from({ length: 3 }, () => q.allocate(32));
  for (const p of blocks) q.deallocate(p, 32);
  q.flush(); // the ring's slots still hold the three offsets, but none is waiting
  for (const p of blocks) assert.ok(!q.holds(p));
  const again = Array.from({ length: 3 }, () => q.allocate(32));
  assert.deepEqual(new Set(again), new Set(blocks), "the slab hands the flushed blocks out again");
  assert.deepEqual(
    q.regions().filter((r) => r.kind === "quarantined"),
    [],
    "no live block is shown as quarantined",
  );
  for (const p of again) {
    assert.ok(q.sizeOf(p) > 0, "a block handed out again is live");
    q.deallocate(p, 32); // not a double free
  }
  assert.equal(q.pending(), 3);
});

test("Quarantine: a free refused as corruption by the inner is counted there (the check is a free, not a probe)", () => {
  const canary = new Canary(slab());
  const q = new Quarantine(canary);
  const p = q.allocate(16);
  canary.memory.u8[p + 16]! ^= 0xff; // overflow into the post canary
  assert.throws(() => q.deallocate(p, 16), CorruptionError);
  assert.equal(q.corruptionEvents(), 1);
  assert.equal(q.pending(), 0, "a refused free puts nothing in quarantine");
});

test("Quarantine.reset empties the ring and resets the inner", () => {
  const q = new Quarantine(slab(4), 2);
  const first = q.allocate(32);
  const second = q.allocate(32);
  q.deallocate(first, 32);
  q.deallocate(second, 32);
  q.reset();
  assert.equal(q.pending(), 0);
  assert.ok(!q.holds(first) && !q.holds(second));
  assert.equal(q.inner.liveCount(), 0, "the inner was reset");
  const again = Array.from({ length: 4 }, () => q.allocate(32));
  assert.equal(new Set(again).size, 4, "every slot can be had again");
  q.deallocate(again[0]!, 32);
  assert.equal(q.pending(), 1);
});

test("Quarantine: a bad epochs option is an AllocError that names it", () => {
  for (const epochs of [0, 65537, 1.5, Number.NaN, null, { epochs: 0 }]) {
    assert.throws(
      () => new Quarantine(slab(), epochs as number),
      (e: unknown) => e instanceof AllocError && /^Quarantine\b/.test(e.message) && /epochs/.test(e.message),
      `epochs ${JSON.stringify(epochs)}`,
    );
  }
  assert.equal(new Quarantine(slab(), { epochs: 2 }).pending(), 0);
});

test("Quarantine.regions marks exactly the blocks waiting in a wrapped ring as quarantined", () => {
  for (const epochs of [1, 2, 3]) {
    const q = new Quarantine(slab(), epochs);
    const blocks = Array.from({ length: epochs + 2 }, () => q.allocate(32));
    for (const p of blocks) q.deallocate(p, 32);
    const quarantined = q
      .regions()
      .filter((r) => r.kind === "quarantined")
      .map((r) => r.offset)
      .sort((a, b) => a - b);
    assert.deepEqual(
      quarantined,
      blocks.slice(2).sort((a, b) => a - b),
      `epochs ${epochs}`,
    );
  }
});

test("Quarantine: the first block evicted from the ring (slot 0) goes to the inner with its own alignment", () => {
  // Slot 0's entry is evicted first; a 16-aligned block freed as 8-aligned (or unaligned) gets Canary's padding
  // wrong, which Statistics under it sees as a wrong size.
  const stats = new Statistics(slab());
  const q = new Quarantine(new Canary(stats), 2);
  const a = q.allocate(24, 16);
  const b = q.allocate(24, 16);
  const c = q.allocate(24, 16);
  const live = stats.stats().currentBytes;
  q.deallocate(a, 24, 16);
  q.deallocate(b, 24, 16);
  q.deallocate(c, 24, 16); // evicts a, from slot 0
  assert.equal(stats.stats().totalDeallocations, 1);
  assert.equal(
    stats.stats().currentBytes,
    live - live / 3,
    "a left with the size and padding it was allocated with",
  );
  assert.equal(q.corruptionEvents(), 0);
  q.flush();
  assert.equal(stats.stats().currentBytes, 0);
  stats.inner.validate();
});

test("Quarantine acts on allocate and deallocate: a carving layout refuses it as its range", () => {
  // BumpArena carves its range without calling the range's allocate, so a Quarantine there would quarantine nothing.
  assert.throws(
    () => new BumpArena(new Quarantine(slab()) as never),
    (e: unknown) =>
      e instanceof AllocError && /Quarantine as the range under BumpArena would do nothing/.test(e.message),
  );
});
