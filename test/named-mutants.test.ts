// Tests for deliberate one-line bugs that once passed the whole suite (issue 15, "Why"): each fails with its bug, every
// run (no randomness, no timing). The other bugs of that list are killed where their subject is tested: the
// ConcurrentHeap and SharedBumpArena CAS steps in test/concurrent-heap.race.test.ts and test/races.test.ts, the
// conformance kit's byte check in test/conformance-kit.test.ts, LockedMmapBacked's MADV_DONTDUMP in
// src/os/guarded.test.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { OffsetAllocator } from "../src/index.js";

describe("OffsetAllocator past its first 64 nodes (its node arrays grow)", () => {
  test("blocks on grown nodes free and coalesce: the range comes back whole", () => {
    const size = 1 << 16;
    const a = new OffsetAllocator(size);
    const blocks: number[] = [];
    for (let i = 0; i < 300; i++) blocks.push(a.allocate(200)); // 300 used nodes and the free tail: past 64, 128, 256
    assert.ok(blocks.every((b) => b >= 0));
    a.validate();
    // every other block first (no neighbour free: each stays a free block of its own), then the rest (coalescing)
    for (let i = 0; i < blocks.length; i += 2) a.free(blocks[i]!);
    const holes = a.stats();
    assert.equal(holes.freeBlocks, 151, "150 holes and the tail, each on a free node");
    assert.equal(holes.usedBlocks, 150);
    a.validate();
    for (let i = 1; i < blocks.length; i += 2) a.free(blocks[i]!);
    a.validate();
    const empty = a.stats();
    assert.deepEqual(
      [empty.freeBlocks, empty.freeBytes, empty.usedBlocks],
      [1, size, 0],
      "one free block again",
    );
    assert.equal(a.allocate(size), 0, "the whole range fits in one block again");
  });
});
