// ConcurrentHeap: its invariant check fails on each broken invariant of the shared page table it names. Written
// for the mutants of the concurrent heap's group (docs/TESTING.md, `npm run mutate -- concurrent-heap`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SharedArrayBufferBacked } from "../index.js";
import { ConcurrentHeap } from "./concurrent-heap.js";
import { RECORD, REMOTE } from "./page-engine.js";
import { validateFails } from "../../test/helpers/assertions.js";
import {
  type ConcurrentHeapInternals,
  H_WORDS,
  H_OWNER,
  H_CLASS,
  C_NEXT_PAGE,
  PAGE,
  PAGE_GRANULES,
} from "../../test/helpers/concurrent-heap-layout.js";

type Internals = ConcurrentHeapInternals;
const { BLK } = RECORD;

/**
 * A heap of 16 pages with, from page 1: a page of 64-byte blocks (this worker's), a large block of two pages, a
 * free page (a page of 1024-byte blocks emptied), the current page of that class, and the pages past the cursor
 * never used.
 */
function fixture() {
  const h = new ConcurrentHeap(new SharedArrayBufferBacked(17 << 16));
  const I = h as unknown as Internals;
  const small = h.allocate(64);
  const large = h.allocate(PAGE + 1000);
  const others = Array.from({ length: 65 }, () => h.allocate(1000)); // a page of 64 slots of 1024 bytes, and one more
  for (const p of others.slice(0, 64)) h.free(p); // the first page empties (not current): free
  h.validate();
  const header = (page: number): number => I.headers + (page - 1) * H_WORDS;
  const pageOf = (p: number): number => ((p - I.base) >>> 16) + 1;
  return {
    h,
    I,
    small,
    large,
    free: pageOf(others[0]!),
    header,
    pageOf,
    cursor: Atomics.load(I.words, C_NEXT_PAGE),
  };
}

const broken = (h: ConcurrentHeap, message: RegExp): void => validateFails(h, "ConcurrentHeap", message);

describe("ConcurrentHeap.validate names each broken invariant of the page table", () => {
  test("a page of this worker's records owned by another, of another class, or not where its record says", () => {
    const f1 = fixture();
    const page = f1.pageOf(f1.small);
    f1.I.words[f1.header(page) + H_OWNER] = f1.I.owner + 1;
    broken(f1.h, new RegExp(`page ${page} is in this worker's records but owned by ${f1.I.owner + 1}$`));
    const f2 = fixture();
    f2.I.words[f2.header(page) + H_CLASS] = 80;
    broken(f2.h, new RegExp(`page ${page}: header class 80 != 64$`));
  });

  test("a page past the cursor that has an owner, and one below it marked never used", () => {
    const f1 = fixture();
    f1.I.words[f1.header(f1.cursor + 1) + H_OWNER] = 0;
    broken(f1.h, new RegExp(`page ${f1.cursor + 1} is past the cursor ${f1.cursor} but has owner 0$`));
    const f2 = fixture();
    const free = f2.free;
    assert.equal(f2.I.words[f2.header(free) + H_OWNER], 0);
    f2.I.words[f2.header(free) + H_OWNER] = -2;
    broken(f2.h, new RegExp(`page ${free} is below the cursor but marked never used$`));
  });

  test("a large span: its tail naming a class or another owner, holding an entry; its head not live or with a second entry", () => {
    const head = (f: ReturnType<typeof fixture>): number => f.pageOf(f.large);
    const f1 = fixture();
    f1.I.words[f1.header(head(f1) + 1) + H_CLASS] = 64;
    broken(f1.h, new RegExp(`page ${head(f1) + 1} belongs to a large span but says class 64$`));
    const f2 = fixture();
    f2.I.words[f2.header(head(f2) + 1) + H_OWNER] = f2.I.owner + 1;
    broken(f2.h, new RegExp(`page ${head(f2) + 1} belongs to a large span but says class 0$`));
    const f3 = fixture();
    f3.I.owners[head(f3) * PAGE_GRANULES + 5] = 1;
    broken(f3.h, new RegExp(`page ${head(f3) + 1}, a large span's tail, has an owners entry$`));
    const f4 = fixture();
    f4.I.owners[(head(f4) - 1) * PAGE_GRANULES] = 0;
    broken(f4.h, new RegExp(`large span at page ${head(f4)} is not live$`));
    const f5 = fixture();
    f5.I.owners[(head(f5) - 1) * PAGE_GRANULES + 1] = head(f5);
    broken(f5.h, new RegExp(`large span at page ${head(f5)} has an owners entry past its head$`));
  });

  test("a free page holding a block, a page of no class size, an entry of another page or off a slot start", () => {
    const f1 = fixture();
    const free = f1.free;
    f1.I.owners[(free - 1) * PAGE_GRANULES + 3] = free;
    broken(f1.h, new RegExp(`free page ${free} holds a live block$`));
    // a page of another worker (attached in this thread): only the page table speaks for it in this one's check
    const f3 = fixture();
    const b = ConcurrentHeap.attach(f3.h.share());
    const page = f3.pageOf(b.allocate(64));
    const g0 = (page - 1) * PAGE_GRANULES;
    const f2 = fixture();
    f2.I.words[f2.header(f2.free) + H_CLASS] = 72; // a free page of no owner, saying class 72
    f2.I.words[f2.header(f2.free) + H_OWNER] = f2.I.owner + 1;
    broken(f2.h, new RegExp(`page ${f2.free} has class 72, not a class size$`));
    f3.I.owners[g0] = page + 1;
    broken(f3.h, new RegExp(`page ${page}: owners says page ${page + 1} at granule 0$`));
    f3.I.owners[g0] = page;
    f3.h.validate();
    f3.I.owners[g0 + 5] = REMOTE; // 80 bytes into a page of 64-byte slots
    broken(f3.h, new RegExp(`page ${page}: an owners entry at granule 5 is not a slot start of class 64$`));
    // a slot start of class 80 whose slot would run past the page (65,520 = 819 x 80; 16 bytes are left)
    const f5 = fixture();
    const c = ConcurrentHeap.attach(f5.h.share());
    const page80 = f5.pageOf(c.allocate(80));
    f5.I.owners[page80 * PAGE_GRANULES - 1] = REMOTE;
    broken(
      f5.h,
      new RegExp(`page ${page80}: an owners entry at granule 4095 is not a slot start of class 80$`),
    );
  });

  test("a page this worker owns with no record", () => {
    const f = fixture();
    const page = f.pageOf(f.small);
    const r = f.I.records[page]!;
    const E = f.h as unknown as { pagesHeld: number; pageBytesHeld: number };
    // the record forgotten, and the engine's counts with it: only the page table still says the page is ours
    f.I.records[page] = 0;
    f.I.meta[r + BLK] = 0;
    E.pagesHeld -= 1;
    E.pageBytesHeld -= PAGE;
    broken(f.h, new RegExp(`page ${page} is this worker's but has no record$`));
  });
});
