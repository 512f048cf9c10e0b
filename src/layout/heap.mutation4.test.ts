// Heap, fourth file of mutation tests (issue #15): the survivors of the confirming run (29 November) that change
// behaviour. A page whose Tlsf block ends exactly at a 4 KiB unit of the page map is in the map at the units its
// block meets and at no other (an entry at the next unit would outlive the page and take a slot a later page needs:
// validate() now checks the map that way round too), and its last slot works.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayBufferBacked } from "../index.js";
import { Heap } from "./heap.js";
import { RECORD } from "./page-engine.js";

/** What these tests read of a page: its record (by a slot's owner id) and that record's words. */
interface Pages {
  meta: Int32Array;
  records: Int32Array;
  owners: Uint16Array;
  map: Int32Array;
  base: number;
}
const pages = (h: Heap): Pages => h as unknown as Pages;

test("Heap: a page whose block ends at a unit of the page map is in the map only at the units its block meets", () => {
  let aligned = 0;
  for (let lead = 0; lead < 512; lead++) {
    // a large block first (straight from the Tlsf), then a 16-byte slot: its page is carved right after the large block
    const h = new Heap(new ArrayBufferBacked(1 << 19));
    const big = h.malloc(20000 + lead * 8);
    const p = h.malloc(16);
    const I = pages(h);
    const r = I.records[I.owners[(p - I.base) >>> 4]!]!;
    const end = I.meta[r + RECORD.BLK]! + I.meta[r + RECORD.BLK_BYTES]!;
    if (((end - I.base) & 4095) !== 0) continue;
    aligned++;
    const next = (end - I.base) >>> 12;
    assert.notEqual(I.map[2 * next], r, "the unit that starts where the page ends does not name it");
    assert.notEqual(I.map[2 * next + 1], r);
    h.validate();
    // the page goes back to the Tlsf when its one slot is freed (a Heap keeps at most one empty page: this one is
    // kept), and the heap stays whole whatever comes next
    h.free(p);
    h.free(big);
    for (let i = 0; i < 16; i++) h.malloc(16 + (i % 4) * 4096);
    h.validate();
  }
  assert.ok(aligned >= 1, `${aligned} pages ended at a unit boundary`);
});
