// Statistics rebases its byte totals (bytes allocated, bytes freed) as they pass 2^52, from allocations and from
// resizes alike: a program that only grows and shrinks its blocks must keep exact counters too.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Statistics } from "./index.js";
import { Addresses } from "../../test/helpers/addresses.js";

test("Statistics: grows and shrinks in place past 2^53 bytes keep the live bytes and the peak exact", () => {
  const GiB = 2 ** 30;
  const s = new Statistics(new Addresses(true));
  const p = s.allocate(3); // odd: past 2^53 a double holds only even numbers
  const steps = 2 ** 23 + 2 ** 20; // both totals grow by 2^30 + 3 a step
  for (let i = 0; i < steps; i++) {
    if (s.grow(p, 3, GiB) !== p || s.shrink(p, GiB, 3) !== p) assert.fail("Addresses(true) resizes in place");
  }
  assert.deepEqual(s.stats(), {
    totalAllocations: 1,
    totalDeallocations: 0,
    currentBytes: 3,
    peakBytes: GiB,
    failures: 0,
    liveCount: 1,
    corruptionEvents: 0,
  });
});
