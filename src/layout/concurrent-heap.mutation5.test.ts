// ConcurrentHeap: what the confirming run of 29 November left open that changes behaviour: adoption of a page of
// the 16-byte class (class index 0), of a page whose class word was overwritten, and at a full heap (the scan stops
// at the cursor: past it is the owners table); the scan for free pages (a large block of more than half the heap
// made again from its own freed pages, the start at the hint, a run that would end past the last page); and the
// shared words that steer those scans, checked (a cursor outside the heap is corruption, a hint outside it is
// ignored). Written for the mutants of the concurrent heap's group (docs/TESTING.md,
// `npm run mutate -- concurrent-heap`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CorruptionError, NULL, SharedArrayBufferBacked } from "../index.js";
import { ConcurrentHeap } from "./concurrent-heap.js";
import { REMOTE } from "./page-engine.js";
import { isError, validateFails } from "../../test/helpers/assertions.js";
import {
  type ConcurrentHeapInternals,
  C_FREE_HINT,
  C_NEXT_PAGE,
  H_CLASS,
  H_OWNER,
  H_WORDS,
  PAGE,
} from "../../test/helpers/concurrent-heap-layout.js";

const internals = (h: ConcurrentHeap): ConcurrentHeapInternals => h as unknown as ConcurrentHeapInternals;
const pageOf = (h: ConcurrentHeap, p: number): number => ((p - internals(h).base) >>> 16) + 1;
const startOf = (h: ConcurrentHeap, page: number): number => internals(h).base + (page - 1) * PAGE;
/** Two workers over one fresh heap of `pages` 64 KiB pages (and its tables). */
function pair(pages: number): [ConcurrentHeap, ConcurrentHeap] {
  const a = new ConcurrentHeap(new SharedArrayBufferBacked((pages + 1) * PAGE));
  assert.equal(internals(a).pageCount, pages);
  return [a, ConcurrentHeap.attach(a.share())];
}

describe("ConcurrentHeap: adoption", () => {
  test("a page of the 16-byte class that its worker abandoned is adopted by the next worker that needs one", () => {
    const [a, b] = pair(4);
    const blocks = Array.from({ length: 3 }, () => a.allocate(16));
    a.release(); // the page holds live blocks: abandoned
    const p = b.allocate(16);
    assert.equal(pageOf(b, p), pageOf(a, blocks[0]!), "the abandoned page's free slot, not a new page");
    assert.equal(b.corruptionEvents(), 0);
    for (const q of blocks) b.free(q); // b owns the page now: its own frees
    b.free(p);
    b.validate();
  });

  test("an abandoned page whose class word was overwritten is counted and kept out of use", () => {
    for (const scribble of [0, 40, -3, 1 << 20]) {
      const [a, b] = pair(4);
      const x = a.allocate(16);
      a.release();
      const I = internals(b);
      Atomics.store(I.words, I.headers + (pageOf(a, x) - 1) * H_WORDS + H_CLASS, scribble);
      const p = b.allocate(16);
      assert.notEqual(pageOf(b, p), pageOf(a, x), `class ${scribble}: no slot of that page is handed out`);
      assert.equal(b.corruptionEvents(), 1, `class ${scribble}`);
    }
  });

  test("a scan for abandoned pages at a full heap reads no page past the cursor (the owners table follows)", () => {
    const [a, b] = pair(4);
    const small = Array.from({ length: 4 }, () => a.allocate(16)); // page 1, slots at granules 0 to 3
    const start = startOf(a, 1);
    assert.deepEqual(small, [start, start + 16, start + 32, start + 48]);
    assert.notEqual(a.allocate(3 * PAGE), NULL); // pages 2 to 4: the cursor is at the last page
    b.free(small[0]!); // remote frees: granules 0 and 1 say REMOTE, so the word after the page table is -1 ...
    b.free(small[1]!);
    const I = internals(a);
    assert.equal(I.owners[0], REMOTE);
    assert.equal(I.words[I.headers + I.pageCount * H_WORDS], -1, "... the value that marks a page abandoned");
    const c = ConcurrentHeap.attach(a.share()); // its first refill scans for abandoned pages
    assert.equal(c.allocate(16), NULL, "no page is free");
    assert.equal(c.corruptionEvents(), 0);
    assert.equal(I.owners[0], REMOTE, "the owners table is not taken for a page header");
    a.validate();
  });
});

describe("ConcurrentHeap: the scan for free pages", () => {
  test("a large block of more than half the heap is made again from its own pages once freed", () => {
    const [a] = pair(5);
    const p = a.allocate(3 * PAGE); // pages 1 to 3: the cursor at 3, and 3 more do not fit past it
    a.free(p);
    assert.equal(a.allocate(3 * PAGE), p);
    a.validate();
  });

  test("the scan starts where the last one ended (the hint), and ignores a hint outside the pages taken", () => {
    for (const [hint, page] of [
      [2, 3],
      [0, 1],
      [-6, 1],
      [99, 1],
    ] as const) {
      const [a] = pair(6);
      const large = Array.from({ length: 4 }, () => a.allocate(PAGE)); // pages 1 to 4
      a.free(large[0]!);
      a.free(large[2]!); // pages 1 and 3 free
      const I = internals(a);
      Atomics.store(I.words, C_FREE_HINT, hint);
      const q = a.allocate(16); // a new page for the class: a free one before the cursor
      assert.equal(pageOf(a, q), page, `hint ${hint}`);
      a.validate();
    }
  });

  test("a run of free pages never ends past the heap's last page", () => {
    const [a] = pair(4);
    const small = Array.from({ length: 3 }, () => a.allocate(16)); // page 1
    assert.notEqual(a.allocate(2 * PAGE), NULL); // pages 2 and 3
    const last = a.allocate(PAGE); // page 4
    assert.equal(pageOf(a, last), 4);
    a.free(small[0]!);
    a.free(small[1]!); // page 1's granules 0 and 1 are free: the word after the page table is 0
    a.free(last); // page 4 free, at the end of the heap
    const I = internals(a);
    assert.equal(I.words[I.headers + I.pageCount * H_WORDS + H_OWNER], 0);
    assert.equal(a.allocate(2 * PAGE), NULL, "one free page at the end is no run of two");
    assert.equal(I.owners[0], 0, "the owners table is not claimed as a page");
    a.validate();
  });

  test("a page cursor outside 0..pageCount is corruption: nothing is read or taken past the tables", () => {
    for (const cursor of [5, 1 << 20, -1]) {
      const [a] = pair(4);
      a.allocate(16); // page 1
      const I = internals(a);
      Atomics.store(I.words, C_NEXT_PAGE, cursor);
      const message = new RegExp(
        `^ConcurrentHeap\\.allocate: the page cursor says ${cursor}, outside 0\\.\\.4`,
      );
      assert.throws(() => a.allocate(100), isError(CorruptionError, message)); // a new page for its class
      assert.throws(() => a.allocate(2 * PAGE), isError(CorruptionError, message));
      assert.equal(a.corruptionEvents(), 2);
      assert.throws(
        () => a.stats(),
        isError(CorruptionError, /^ConcurrentHeap\.stats: the page cursor says/),
      );
      validateFails(a, "ConcurrentHeap", new RegExp(`the page cursor ${cursor} is outside 0\\.\\.4$`));
    }
  });

  test("a bad cursor is named by the call that met it: a first scan for abandoned pages, a reclaim", () => {
    const [a, b] = pair(4);
    a.allocate(16);
    const I = internals(a);
    Atomics.store(I.words, C_NEXT_PAGE, -2);
    // b has not scanned for abandoned pages yet: its first refill does, before it looks for a page
    assert.throws(
      () => b.allocate(16),
      isError(CorruptionError, /^ConcurrentHeap\.allocate: the page cursor says -2, outside 0\.\.4/),
    );
    assert.throws(
      () => a.reclaim(b.workerId),
      isError(CorruptionError, /^ConcurrentHeap\.reclaim: the page cursor says -2, outside 0\.\.4/),
    );
    assert.equal(a.corruptionEvents() + b.corruptionEvents(), 2);
  });
});
