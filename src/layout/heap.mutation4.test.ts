// Heap, fourth file of mutation tests (issue #15): the survivors of the confirming run (29 November) that change
// behaviour. A page whose Tlsf block ends exactly at a 4 KiB unit of the page map is in the map at the units its
// block meets and at no other (an entry at the next unit would outlive the page and take a slot a later page needs);
// validate() now checks the map that way round too (an entry for a page not held, or at a unit its block does not
// meet, at both edges); and a pointer in the last granule of the span that is no block is refused.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayBufferBacked } from "../index.js";
import { Heap } from "./heap.js";
import { RECORD } from "./page-engine.js";
import { validateFails } from "../../test/helpers/assertions.js";
import { pages } from "../../test/helpers/heap-internals.js";

const UNIT = 4096;
const stale = /^Heap\.validate: the map names page \d+ at unit \d+, which no block of a held page meets$/;

/** `h.validate()` fails naming a map entry, with `map[i]` set to `r`; then the entry is put back. */
function refusesEntry(h: Heap, i: number, r: number): void {
  const map = pages(h).map;
  const was = map[i]!;
  map[i] = r;
  validateFails(h, "Heap", stale);
  map[i] = was;
  h.validate();
}

test("Heap: the page map names a page only at the units its block meets, and validate() checks each entry", () => {
  let endAligned = 0;
  let startAligned = 0;
  for (let lead = 0; lead < 512; lead++) {
    // a large block first (straight from the Tlsf), then a 16-byte slot: its page is carved right after the large block
    const h = new Heap(new ArrayBufferBacked(1 << 19));
    const big = h.malloc(20000 + lead * 8);
    const p = h.malloc(16);
    const I = pages(h);
    const r = I.records[I.owners[(p - I.base) >>> 4]!]!;
    const blk = I.meta[r + RECORD.BLK]!;
    const end = blk + I.meta[r + RECORD.BLK_BYTES]!;
    const first = (blk - I.base) >>> 12;
    const after = (end - I.base) >>> 12; // the unit after the page's last byte's
    h.validate();
    if (((end - I.base) & (UNIT - 1)) === 0) {
      endAligned++;
      assert.notEqual(I.map[2 * after], r, "the unit that starts where the page ends does not name it");
      assert.notEqual(I.map[2 * after + 1], r);
      refusesEntry(h, 2 * after + 1, r); // an entry there would be stale
    }
    if (((blk - I.base) & (UNIT - 1)) === 0) {
      startAligned++;
      refusesEntry(h, 2 * (first - 1) + 1, r); // the unit that ends where the page begins
    }
    if (lead === 0) {
      // an entry past the page, and one naming a record no page holds (a copy of the page's record, elsewhere)
      refusesEntry(h, 2 * (after + 2) + 1, r);
      const copy = I.meta.length - 2 * 13;
      I.meta.copyWithin(copy, r, r + 13);
      refusesEntry(h, 2 * first + 1, copy);
    }
    // the page goes back to the Tlsf when its one slot is freed (or stays kept), and the heap stays whole
    h.free(p);
    h.free(big);
    for (let i = 0; i < 16; i++) h.malloc(16 + (i % 4) * 4096);
    h.validate();
  }
  assert.ok(
    endAligned >= 1 && startAligned >= 1,
    `${endAligned} pages ended, ${startAligned} began at a unit`,
  );
});

test("Heap: a pointer in the last granule of the heap's span that is no live block is refused, changing nothing", () => {
  for (const size of [1 << 16, (1 << 16) + 8, 100_008]) {
    const h = new Heap(new ArrayBufferBacked(size));
    const live = Array.from({ length: 8 }, (_, i) => h.malloc(16 + i * 100));
    const I = pages(h);
    const span = h.stats().heapBytes;
    const last = I.base + (((span - 1) >>> 4) << 4); // the last 16-aligned offset below the span's end
    for (const ptr of [last, last - 16]) {
      assert.throws(
        () => h.free(ptr),
        /is not a live block of this heap/,
        `free(${ptr}) of a ${size}-byte heap`,
      );
      assert.equal(h.sizeOf(ptr), -1);
    }
    h.validate();
    for (const p of live) h.free(p);
    h.validate();
  }
});
