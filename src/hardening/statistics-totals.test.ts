// Statistics keeps the live bytes as two totals (bytes allocated, bytes freed) so that each is written once per
// allocate+free pair. These tests run a program long enough for those totals to pass 2^53 bytes, where a double
// stops counting every byte, and check that the counters stay exact: the totals are rebased as they pass 2^52.
import assert from "node:assert/strict";
import { test } from "node:test";
import { NULL } from "../index.js";
import { Statistics } from "./index.js";
import { Addresses } from "../../test/helpers/addresses.js";

const GiB = 2 ** 30;

test("Statistics: the live bytes stay exact after 2^53 bytes have been allocated and freed", () => {
  const s = new Statistics(new Addresses());
  s.allocate(3); // an odd size: past 2^53 a double holds only even numbers, so a lost byte would show
  const pairs = 2 ** 23 + 2 ** 20; // 2^53 + 2^50 bytes requested in all
  for (let i = 0; i < pairs; i++) s.deallocate(s.allocate(GiB), GiB);
  assert.deepEqual(s.stats(), {
    totalAllocations: pairs + 1,
    totalDeallocations: pairs,
    currentBytes: 3,
    peakBytes: GiB + 3,
    failures: 0,
    liveCount: 1,
    corruptionEvents: 0,
  });
});

test("Statistics: resizes past 2^53 bytes keep the live bytes and the peak exact", () => {
  const s = new Statistics(new Addresses());
  const p = s.allocate(5);
  const steps = 2 ** 23 + 2 ** 20;
  // each step: allocate 2^30 bytes, shrink the block in place to 1 byte, free it: both totals grow by 2^30 + 1
  for (let i = 0; i < steps; i++) {
    const q = s.allocate(GiB);
    if (s.shrink(q, GiB, 1) !== q) assert.fail("Addresses shrinks in place");
    s.deallocate(q, 1);
  }
  assert.equal(s.grow(p, 5, 6), NULL, "Addresses refuses every grow");
  const stats = s.stats();
  assert.equal(stats.currentBytes, 5);
  assert.equal(stats.peakBytes, GiB + 5);
  assert.equal(stats.totalAllocations, steps + 1);
  assert.equal(stats.totalDeallocations, steps);
  assert.equal(stats.failures, 1);
});
