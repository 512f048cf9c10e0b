// The page engine: the survivors of its first complete mutation run that page-engine.mutation2 does not reach (the
// class table's ends, allocRaw's alignment bound, sized frees that move a page between lists, interior pointers,
// the regions of a page, settling a full page). A file of its own so that the next run retests only those.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ArrayBufferBacked,
  CONCURRENT_CLASSES,
  ConcurrentHeap,
  InvalidPointerError,
  SharedArrayBufferBacked,
} from "../index.js";
import { Heap } from "./heap.js";
import { HEAP_CLASSES, RECORD, classOf } from "./page-engine.js";

const { START, CAP, BLK, BLK_BYTES, LIST, LIST_NONE, LIST_PARTIAL } = RECORD;
const PARTIAL = HEAP_CLASSES.length;

interface Engine {
  meta: Int32Array;
  records: Int32Array;
  owners: Uint16Array;
  slotsOf: Int32Array;
  base: number;
}
const pageOf = (E: Engine, p: number): number => E.records[E.owners[(p - E.base) >>> 4]!]!;

describe("the page engine: the survivors of its first run", () => {
  test("the classes end at 16 KiB, and a request of 16 KiB gets the 16 KiB class", () => {
    assert.equal(HEAP_CLASSES.length, 8 + 4 * 7);
    assert.equal(HEAP_CLASSES.at(-1), 16384);
    assert.deepEqual(CONCURRENT_CLASSES, HEAP_CLASSES);
    assert.equal(classOf(16384), HEAP_CLASSES.length - 1);
    assert.equal(classOf(16369), HEAP_CLASSES.length - 1);
    const h = new Heap(new ArrayBufferBacked(1 << 20));
    const p = h.allocate(16384);
    assert.equal(h.usableSize(p, 16384), 16384);
    assert.equal(h.stats().classUsage[HEAP_CLASSES.length - 1], 1);
  });

  test("allocRaw with an alignment above 16 does not take a 16-aligned slot", () => {
    const h = new Heap(new ArrayBufferBacked(1 << 20));
    h.malloc(48); // class 48 has a current page with free slots
    for (let i = 0; i < 8; i++) {
      const p = h.allocRaw(48, 64);
      assert.equal(p % 64, 0, String(p));
    }
    h.validate();
  });

  test("sized frees move pages between lists as frees do: a full page becomes partial, an empty one goes", () => {
    const h = new Heap(new ArrayBufferBacked(1 << 20));
    const E = h as unknown as Engine;
    const cap = E.slotsOf[HEAP_CLASSES.indexOf(1024)]!;
    const blocks = Array.from({ length: 2 * cap + 1 }, () => h.allocate(1024)); // two full pages, a current one
    const r = pageOf(E, blocks[0]!);
    h.deallocate(blocks[0]!, 1024);
    assert.equal(E.meta[r + LIST], LIST_PARTIAL);
    assert.equal(E.meta[PARTIAL + HEAP_CLASSES.indexOf(1024)], r);
    h.validate();
    for (let i = 1; i < cap; i++) h.deallocate(blocks[i]!, 1000);
    h.validate();
    assert.notEqual(E.meta[r + LIST], LIST_PARTIAL, "empty: kept or given back");
    assert.equal(E.meta[PARTIAL + HEAP_CLASSES.indexOf(1024)], 0);
    for (let i = cap; i < 2 * cap + 1; i++) h.deallocate(blocks[i]!, 1024, 16);
    h.validate();
    assert.equal(h.stats().smallBlocks, 0);
  });

  test("an interior pointer of a live slot is no block: sizeOf, and ConcurrentHeap's free, refuse it", () => {
    const h = new Heap(new ArrayBufferBacked(1 << 18));
    const p = h.malloc(64);
    assert.equal(h.sizeOf(p + 8), -1);
    assert.equal(h.sizeOf(p), 64);
    const c = new ConcurrentHeap(new SharedArrayBufferBacked(4 << 16));
    const q = c.allocate(64);
    for (const bad of [q + 8, q + 4]) assert.throws(() => c.free(bad), InvalidPointerError);
    assert.equal(c.sizeOf(q), 64);
    c.free(q);
    c.validate();
  });

  test("regions: each page exactly, slot by slot, with metadata only where its memory is not slots", () => {
    const h = new Heap(new ArrayBufferBacked(1 << 20));
    const E = h as unknown as Engine;
    for (const size of [64, 48, 1024, 3072]) {
      const p = h.malloc(size);
      const r = pageOf(E, p);
      const start = E.meta[r + START]!;
      const blk = E.meta[r + BLK]!;
      const blkEnd = blk + E.meta[r + BLK_BYTES]!;
      const cls = HEAP_CLASSES[classOf(size)]!;
      const end = start + E.meta[r + CAP]! * cls;
      const expected = [
        ...(start > blk ? [{ offset: blk, size: start - blk, kind: "metadata" }] : []),
        ...Array.from({ length: E.meta[r + CAP]! }, (_, i) => ({
          offset: start + i * cls,
          size: cls,
          kind: start + i * cls === p ? "used" : "free",
        })),
        ...(blkEnd > end ? [{ offset: end, size: blkEnd - end, kind: "metadata" }] : []),
      ];
      const got = h.regions().filter((x) => x.offset >= blk && x.offset < blkEnd);
      assert.deepEqual(got, expected, `class ${cls}`);
      const all = h.regions();
      for (let i = 1; i < all.length; i++)
        assert.ok(all[i]!.offset >= all[i - 1]!.offset, "sorted by offset");
    }
  });

  test("an adopted page with every slot live stays on no list", () => {
    const c = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const cap = Math.floor(65536 / 16384);
    const blocks = Array.from({ length: cap }, () => c.allocate(16384)); // one full page
    const more = c.allocate(1024); // a page of another class, so the adopter's refill scans
    c.release();
    const d = ConcurrentHeap.attach(c.share());
    d.allocate(16384); // adopts the full page (no free slot: on no list), then takes a new page
    d.validate();
    const E = d as unknown as Engine;
    const r = pageOf(E, blocks[0]!);
    assert.equal(E.meta[r + LIST], LIST_NONE);
    for (const p of [...blocks, more]) d.free(p);
    d.validate();
  });
});
