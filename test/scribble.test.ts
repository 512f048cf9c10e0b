// The scribble fuzz at a size CI affords (bench/scribble.ts runs the full 10,000 runs): writes after free and
// overflows into headers never make Tlsf, Heap or ConcurrentHeap hand out memory outside their range or over a live block.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayBufferBacked, ConcurrentHeap, Heap, SharedArrayBufferBacked, Tlsf } from "../src/index.js";
import { scribbleFuzz, type ScribbleSubject } from "./helpers/scribble.js";

const RUNS = 300;
const OPS = 300;

const subjects: [string, () => ScribbleSubject, (a: ScribbleSubject) => [number, number], number][] = [
  [
    "Tlsf",
    () => new Tlsf(new ArrayBufferBacked({ size: 1 << 14, maxSize: 1 << 18 })),
    (a) => [(a as Tlsf).base(), (a as Tlsf).base() + (a as Tlsf).size()],
    2048,
  ],
  [
    "Heap",
    () => new Heap(new ArrayBufferBacked({ size: 1 << 14, maxSize: 1 << 20 })),
    (a) => [(a as Heap).tlsf.base(), (a as Heap).tlsf.base() + (a as Heap).tlsf.size()],
    40000,
  ],
  [
    "ConcurrentHeap",
    () => new ConcurrentHeap(new SharedArrayBufferBacked(1 << 20)),
    (a) => [(a as ConcurrentHeap).memory.byteLength - (1 << 20), (a as ConcurrentHeap).memory.byteLength],
    40000,
  ],
];

for (const [name, make, range, maxSize] of subjects) {
  test(`scribble fuzz: ${name} never hands out memory it does not own (${RUNS} seeded runs)`, () => {
    const r = scribbleFuzz(make, range, { runs: RUNS, ops: OPS, seed: 1, maxSize });
    assert.deepEqual(r.wrongErrors.slice(0, 5), []);
    assert.equal(r.outOfRange, 0, "blocks outside the range");
    assert.equal(r.overlaps, 0, "blocks over a live block");
    assert.ok(r.scribbles > RUNS * OPS * 0.08, `scribbles happened (${r.scribbles})`);
    assert.ok(r.detected > 0, "some scribbles were detected");
  });
}
