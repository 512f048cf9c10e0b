// Heap, third file of mutation tests (issue #15): the survivors of the heap's first complete run (29 November) that
// change behaviour. The typed helpers' and the resizes' names in their messages, a zeroed block that held other
// bytes, a page whose Tlsf block the Tlsf no longer holds (the heap's own check, not the Tlsf's), validate over a
// heap whose base is far from 0, kept empty pages given back only when a large request needs their memory, a 16 KiB
// slot resized, a page block that is the second page of its 4 KiB unit, values that are not numbers, a large block
// past the heap's first span, pages carved, returned and carved again over a heap with a large base, and page ids.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  CorruptionError,
  InvalidPointerError,
  LayoutError,
  Memory,
  NULL,
  SharedArrayBufferBacked,
  StaticBacked,
} from "../index.js";
import { Heap } from "./heap.js";
import { MAX_PAGES, RECORD } from "./page-engine.js";
import { isError } from "../../test/helpers/assertions.js";
import { pages } from "../../test/helpers/heap-internals.js";

/** The Tlsf block of the page that holds the live slot `p`. */
const pageBlock = (h: Heap, p: number): number => {
  const I = pages(h);
  return I.meta[I.records[I.owners[(p - I.base) >>> 4]!]! + RECORD.BLK]!;
};

test("Heap's typed helpers and resizes name themselves in their refusals", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 16));
  assert.throws(
    () => h.allocArray(Float64Array, 1.5),
    isError(LayoutError, /^Heap\.allocArray: length 1\.5/),
  );
  assert.throws(() => h.allocBytes(0), isError(LayoutError, /^Heap\.allocBytes: length 0/));
  assert.throws(() => h.allocUtf8(7 as never), isError(LayoutError, /^Heap\.allocUtf8: expected a string/));
  assert.throws(() => h.allocDataView(1 << 20), isError(AllocError, /^Heap\.allocDataView: out of memory/));
  const p = h.malloc(100);
  assert.throws(
    () => h.grow(p, 100, 50),
    isError(LayoutError, /^Heap\.grow: new size 50 is smaller than the old size 100; use shrink instead$/),
  );
  assert.throws(
    () => h.shrink(p, 50, 100),
    isError(LayoutError, /^Heap\.shrink: new size 100 is larger than the old size 50; use grow instead$/),
  );
  assert.equal(h.sizeOf(p), 112);
});

test("Heap.allocateZeroed zeroes a reused slot that holds other bytes", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 16));
  const p = h.malloc(100);
  h.memory.u8.fill(0xee, p, p + 112);
  h.free(p);
  assert.equal(h.allocateZeroed(100), p);
  assert.ok(h.memory.u8.subarray(p, p + 100).every((x) => x === 0));
});

/** A heap with one kept empty page of class 896 (19 slots, about 17 KiB) and one live slot in its current page. */
function withKeptPage(bytes: number): Heap {
  const h = new Heap(new ArrayBufferBacked(bytes));
  const slots = Array.from({ length: 20 }, () => h.malloc(896));
  for (const p of slots.slice(0, 19)) h.free(p);
  assert.equal(h.stats().keptPages, 1);
  return h;
}

test("Heap: a page whose Tlsf block the Tlsf no longer holds is kept when it empties, and counted by the heap", () => {
  const h = withKeptPage(1 << 18); // so the next page to empty goes back to the Tlsf
  const blocks = Array.from({ length: 17 }, () => h.malloc(1024)); // one page full, the next current
  h.tlsf.freeRaw(pageBlock(h, blocks[0]!)); // behind the engine's back: the Tlsf's records stay consistent
  for (let i = 1; i < 16; i++) h.free(blocks[i]!);
  assert.throws(
    () => h.free(blocks[0]!),
    isError(
      CorruptionError,
      /^Heap\.free: the Tlsf header of page 0x[0-9a-f]+ \(\d+\) was overwritten .*; the page is kept$/,
    ),
  );
  assert.equal(h.tlsf.corruptionEvents(), 0);
  assert.equal(h.corruptionEvents(), 1);
  assert.equal(h.stats().pages, 4, "the page is kept");
});

test("Heap.validate: a page whose slots were moved within its Tlsf block", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 18));
  const I = pages(h);
  const p = h.malloc(16);
  const r = I.records[I.owners[(p - I.base) >>> 4]!]!;
  h.free(p); // the current page of class 16, every slot free
  const blk = I.meta[r + RECORD.BLK]!;
  // a consistent page whose slots start 16 bytes into its block: the Tlsf block grown by 16 bytes in place, the
  // record and its free stack moved with the slots
  const grown = I.meta[r + RECORD.BLK_BYTES]! + 16;
  assert.equal(h.tlsf.realloc(blk, grown), blk);
  assert.equal(h.tlsf.sizeOf(blk), grown);
  I.meta[r + RECORD.BLK_BYTES] = grown;
  I.meta[r + RECORD.START] = I.meta[r + RECORD.START]! + 16;
  for (let i = 0; i < I.meta[r + RECORD.TOP]!; i++)
    I.meta[r + RECORD.WORDS + i] = I.meta[r + RECORD.WORDS + i]! + 16;
  assert.throws(
    () => h.validate(),
    isError(Error, new RegExp(`^Heap\\.validate: page ${r}: its slots do not start at its block$`)),
  );
});

test("Heap far from address 0: a page's block is refused, and validate finds a page missing from its last unit", () => {
  const h = new Heap(new StaticBacked(Memory.of(new ArrayBuffer(2 << 20)), { offset: 1 << 20 }));
  const I = pages(h);
  const p = h.malloc(1024);
  const r = I.records[I.owners[(p - I.base) >>> 4]!]!;
  h.validate();
  const blk = I.meta[r + RECORD.BLK]!;
  const last = (blk + I.meta[r + RECORD.BLK_BYTES]! - 1 - I.base) >>> 12;
  assert.ok(last > (blk - I.base) >>> 12);
  assert.equal(h.sizeOf(blk), -1, "a page's block is no block of the heap's");
  assert.throws(() => h.free(blk), isError(InvalidPointerError, /^Heap\.free: /));
  I.map[2 * last] = I.map[2 * last + 1] = RECORD.SENTINEL;
  assert.throws(
    () => h.validate(),
    isError(Error, new RegExp(`^Heap\\.validate: page ${r} is missing from the map at unit ${last}$`)),
  );
});

test("Heap: a large request or resize that fits gives no kept page back, and moves a block only once", () => {
  const h = withKeptPage(1 << 18);
  const p = h.malloc(20000);
  assert.deepEqual([h.stats().keptPages, h.stats().usedBlocks], [1, 3], "two pages and one large block");
  h.malloc(20000); // p cannot grow in place
  h.memory.u8.fill(5, p, p + 20000);
  const q = h.realloc(p, 30000);
  assert.notEqual(q, p);
  assert.equal(h.sizeOf(p), -1);
  assert.equal(h.sizeOf(q), 30000);
  assert.ok(h.memory.u8.subarray(q, q + 20000).every((x) => x === 5));
  h.malloc(20000); // nor can q
  const g = h.grow(q, 30000, 40000);
  assert.notEqual(g, q);
  assert.equal(h.sizeOf(q), -1);
  assert.equal(h.sizeOf(g), 40000);
  assert.ok(h.memory.u8.subarray(g, g + 20000).every((x) => x === 5));
  assert.deepEqual([h.stats().keptPages, h.stats().usedBlocks], [1, 5], "two pages and three large blocks");
  h.validate();
});

/**
 * A fixed heap filled with large blocks of 16400 bytes (the first of them returned) around one kept empty page of the
 * 16 KiB class (64 KiB): the kept page's memory is the only room for a block of 20000 bytes. The page is emptied
 * after the fill, so the fill's last failing request found no kept page to give back.
 */
function fullWithKeptPage(): { h: Heap; first: number } {
  const h = new Heap(new ArrayBufferBacked(1 << 18));
  const slots = Array.from({ length: 5 }, () => h.malloc(16384)); // one page full, the next current
  const fill: number[] = [];
  for (let p = h.allocate(16400, 8); p !== NULL; p = h.allocate(16400, 8)) fill.push(p);
  for (const p of slots.slice(0, 4)) h.free(p);
  assert.equal(h.stats().keptPages, 1);
  assert.ok(fill.length > 4);
  assert.equal(h.stats().smallBlocks, 1, "the fill is large blocks");
  return { h, first: fill[0]! };
}

test("Heap: a large request or resize that needs a kept page's memory gets it", () => {
  const a = fullWithKeptPage().h;
  assert.notEqual(a.allocate(20000, 8), NULL, "the kept page goes back to the Tlsf first");
  assert.equal(a.stats().keptPages, 0);
  a.validate();

  const b = fullWithKeptPage();
  const moved = b.h.realloc(b.first, 20000);
  assert.equal(b.h.sizeOf(moved), 20000);
  assert.equal(b.h.sizeOf(b.first), -1);
  assert.equal(b.h.stats().keptPages, 0);
  b.h.validate();

  const c = fullWithKeptPage();
  const grown = c.h.grow(c.first, 16400, 20000);
  assert.notEqual(grown, NULL);
  assert.equal(c.h.sizeOf(grown), 20000);
  assert.equal(c.h.stats().keptPages, 0);
  c.h.validate();
});

test("Heap: a 16 KiB slot resizes in place within its class; an aligned large block shrinks in the Tlsf", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 19));
  const p = h.malloc(16384);
  assert.equal(h.stats().smallBlocks, 1, "a slot");
  assert.equal(h.shrink(p, 16384, 100), p);
  assert.equal(h.grow(p, 100, 16384, 16), p);
  assert.equal(h.sizeOf(p), 16384);
  const q = h.allocate(20000, 16);
  assert.equal(h.shrink(q, 20000, 17000, 16), q);
  assert.equal(h.sizeOf(q), 17000, "the Tlsf took the tail back");
  h.validate();
});

test("Heap.grow of a slot with no room left returns NULL and keeps the slot live with its bytes", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 16));
  const p = h.malloc(40);
  h.memory.u8.fill(9, p, p + 48);
  while (h.allocate(4000, 8) !== NULL);
  assert.equal(h.grow(p, 40, 30000), NULL);
  assert.equal(h.sizeOf(p), 48);
  assert.ok(h.memory.u8.subarray(p, p + 48).every((x) => x === 9));
  h.validate();
});

test("Heap: the page whose block starts in a 4 KiB unit another page ends in is still no block to free", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 18));
  const I = pages(h);
  const blks = [1024, 1280, 1536, 2048].map((cls) => pageBlock(h, h.malloc(cls)));
  // a page after the first is the second page of the unit its block starts in (the one before it ends there)
  let seen = 0;
  for (const blk of blks) {
    const u = (blk - I.base) >>> 12;
    if (I.meta[I.map[2 * u + 1]! + RECORD.BLK] === blk) seen++;
    assert.equal(h.sizeOf(blk), -1);
    assert.throws(() => h.free(blk), isError(InvalidPointerError, /^Heap\.free: /));
  }
  assert.ok(seen > 0, "at least one page block is the second entry of its unit");
  h.validate();
});

test("Heap: values that are not numbers are no block, even ones that arithmetic would throw on", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 16));
  h.malloc(64);
  for (const v of [BigInt(h.tlsf.base()), Symbol("p")]) {
    assert.equal(h.sizeOf(v), -1);
    assert.throws(() => h.free(v as never), isError(InvalidPointerError, /^Heap\.free: /));
  }
});

test("Heap over a growable memory: large blocks past the span its tables first covered are blocks like any", () => {
  const h = new Heap(new SharedArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 22 }));
  const blocks = [h.malloc(1 << 20), h.malloc(1 << 20)]; // the Tlsf grows the memory for each
  assert.ok(blocks[1]! > 1 << 20);
  for (const p of blocks) assert.equal(h.sizeOf(p), 1 << 20);
  for (const p of blocks) h.free(p);
  for (const p of blocks) assert.equal(h.sizeOf(p), -1);
  h.validate();
});

test("Heap far from address 0: pages carved, returned and carved again keep the map exact", () => {
  const h = new Heap(new StaticBacked(Memory.of(new ArrayBuffer(3 << 20)), { offset: 1 << 20 }));
  const classes = [1024, 1280, 1536, 2048, 3072]; // pages of 16 to 48 KiB, so they end anywhere in a unit
  let seed = 12345;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  // each round fills pages in a different order of classes, then empties them in a random order: most pages go
  // back to the Tlsf, and the next round carves pages of other sizes over the same units
  for (let round = 0, frees = 0; round < 12; round++) {
    const live: number[] = [];
    const n = 40 + next(80);
    for (let i = 0; i < n; i++) live.push(h.malloc(classes[next(classes.length)]!));
    h.validate();
    while (live.length > 0) {
      h.free(live.splice(next(live.length), 1)[0]!);
      if (++frees % 3 === 0) h.validate();
    }
    h.validate();
  }
});

test("Heap: the last page id is given out, and a page record carved again keeps its id", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 20));
  const kept = Array.from({ length: 20 }, () => h.malloc(896)); // a kept page of class 896 takes the keep budget
  for (const p of kept.slice(0, 19)) h.free(p);
  // five blocks of the 16 KiB class (four per page): the current page fills and the next is carved; freeing the
  // five returns the full page to the Tlsf, and the other stays current: each round carves a page with a record
  // that held one before
  const round = (live: number): void => {
    const batch = [h.malloc(16384), h.malloc(16384), h.malloc(16384), h.malloc(16384), h.malloc(16384)];
    assert.equal(h.stats().smallBlocks, live + 5, "the five are slots of pages, not Tlsf blocks");
    for (const p of batch) h.free(p);
  };
  round(1);
  // as if every id below MAX_PAGES had been given out: a page of a new class takes the last id
  (h as unknown as { nextId: number }).nextId = MAX_PAGES;
  const q = h.malloc(2048);
  assert.equal(h.stats().smallBlocks, 2, "a slot of a page with id MAX_PAGES");
  for (let i = 0; i < 4; i++) round(2); // records carved again need no new id
  h.free(q);
  h.validate();
});
