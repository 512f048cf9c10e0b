// OffsetAllocator past its first 64 nodes: the node arrays double, and a node numbered 64 or above must still be
// marked free and merged with its neighbours. A growNodes that forgot to grow the free marks passed every other test
// (issue #15); this fails with it every time.
import assert from "node:assert/strict";
import { test } from "node:test";
import { OFFSET_NONE, OffsetAllocator } from "./offset-allocator.js";

test("OffsetAllocator with more than 64 nodes: blocks freed in any order merge back into the whole range", () => {
  const blocks = 300; // nodes beyond the first 64, 128 and 256
  const a = new OffsetAllocator(blocks * 16);
  const offsets = Array.from({ length: blocks }, () => a.allocate(16));
  assert.ok(!offsets.includes(OFFSET_NONE));
  assert.equal(a.allocate(8), OFFSET_NONE, "the range is full");
  // Free every other block first (no merges), then the rest (each merges with both neighbours).
  for (let i = 1; i < blocks; i += 2) a.free(offsets[i]!);
  a.validate();
  for (let i = 0; i < blocks; i += 2) a.free(offsets[i]!);
  a.validate();
  assert.equal(a.liveCount(), 0);
  const whole = a.allocate(blocks * 16);
  assert.equal(whole, 0, "the free blocks merged back into one block covering the range");
  a.free(whole);
  a.validate();
});
