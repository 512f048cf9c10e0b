// The scribble fuzz at a size CI affords (bench/scribble.ts runs the full 10,000 runs): writes after free and
// overflows into headers never make Tlsf, Heap or ConcurrentHeap hand out memory outside their range or over a live
// block.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SCRIBBLE_TARGETS, scribbleFuzz } from "./helpers/scribble.js";

const RUNS = 300;
const OPS = 300;

for (const { name, make, range, maxSize, inBand } of SCRIBBLE_TARGETS) {
  test(`scribble fuzz: ${name} never hands out memory it does not own (${RUNS} seeded runs)`, () => {
    const r = scribbleFuzz(make, range, { runs: RUNS, ops: OPS, seed: 1, maxSize });
    assert.deepEqual(r.wrongErrors.slice(0, 5), []);
    assert.equal(r.outOfRange, 0, "blocks outside the range");
    assert.equal(r.overlaps, 0, "blocks over a live block");
    assert.ok(r.scribbles > RUNS * OPS * 0.08, `scribbles happened (${r.scribbles})`);
    if (inBand) assert.ok(r.detected > 0, "some scribbles were detected");
    else assert.equal(r.detected, 0, "nothing the scribbles reach is read, so there is nothing to detect");
  });
}
