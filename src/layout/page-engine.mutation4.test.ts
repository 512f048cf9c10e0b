// The page engine's contract in the states its second re-run (28 November, with page-engine.mutation2/mutation3)
// left unasserted, through a minimal face of its own: a face whose `owners` ends exactly at its span (as
// ConcurrentHeap's does), pages that go back to a pool the face carves from again, slots laid out inside a larger
// block with metadata before and after them, pages carved from the top down, a page bound to the largest id, and
// the free of ConcurrentHeap losing its compare-and-swap to another worker's free. Written for the mutants of the
// page engine's group (docs/TESTING.md, `npm run mutate -- page-engine`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConcurrentHeap,
  InvalidPointerError,
  LayoutError,
  Memory,
  NULL,
  SharedArrayBufferBacked,
} from "../index.js";
import { HEAP_CLASSES, MAX_PAGES, PageEngine, RECORD, classOf } from "./page-engine.js";
import { isError } from "../../test/helpers/assertions.js";
import { preemptAt } from "../../test/helpers/interleave.js";

const { START, CAP, LIST, BLK, BLK_BYTES, LIST_CURRENT, LIST_PARTIAL, LIST_KEPT } = RECORD;
const PARTIAL = HEAP_CLASSES.length;
const K = HEAP_CLASSES.indexOf(1024);
const SLOTS = 4; // every class: four slots a page
const PAGE_BYTES = 16384 * SLOTS;
const BASE = 4096;

interface FaceOptions {
  /** The budget for kept pages (the engine's keepShare; -1: keep none). */
  keepShare?: number;
  /** Bytes of the page's block before its slots, and after them. */
  pad?: number;
  tail?: number;
  /** Carve the highest page first. */
  descending?: boolean;
  /** The id of the first page carved (then +1 for each). */
  firstId?: number;
}

/**
 * Pages from a pool of `pages` 64 KiB blocks over a plain buffer (a page given back returns to the pool); `owners`
 * covers the span exactly, with no entry past it.
 */
class Face extends PageEngine {
  readonly pool: number[];
  readonly returned: number[] = [];
  readonly pad: number;
  readonly tail: number;
  nextId: number;
  constructor(pages: number, options: FaceOptions = {}) {
    const memory = Memory.of(new ArrayBuffer(PAGE_BYTES * pages + BASE));
    super(
      memory,
      BASE,
      "Face",
      Int32Array.from(HEAP_CLASSES, () => SLOTS),
    );
    this.span = PAGE_BYTES * pages;
    this.owners = new Uint16Array(this.span >>> 4);
    this.keepShare = options.keepShare ?? 0;
    this.pad = options.pad ?? 0;
    this.tail = options.tail ?? 0;
    this.nextId = options.firstId ?? 1;
    const blocks = Array.from({ length: pages }, (_, i) => BASE + i * PAGE_BYTES);
    this.pool = options.descending === true ? blocks : blocks.reverse(); // pop() takes the next to carve
  }
  protected allocateSlow(size: number, align: number): number {
    return size <= 16384 && align <= 16 ? this.refill(classOf(size)) : NULL;
  }
  protected freeSlow(block: unknown, what: string): void {
    throw this.notLive(what, block);
  }
  protected deallocateSlow(ptr: number): void {
    throw this.notLive("deallocate", ptr);
  }
  protected carvePage(r: number, bytes: number): boolean {
    const blk = this.pool.pop();
    if (blk === undefined) return false;
    this.meta[r + START] = blk + this.pad;
    this.meta[r + BLK] = blk;
    this.meta[r + BLK_BYTES] = this.pad + bytes + this.tail;
    this.bindId(r, this.nextId++);
    return true;
  }
  protected returnPage(r: number): void {
    const blk = this.meta[r + BLK]!;
    this.returned.push(blk);
    this.pool.push(blk);
    this.records[this.meta[r + RECORD.ID]!] = 0;
  }
  // what the tests look at
  rec(p: number): number {
    return this.records[this.owners[(p - this.base) >>> 4]!]!;
  }
  size(p: number): number {
    return this.slotSize(p);
  }
  regions() {
    return this.pageSlotRegions();
  }
  stats() {
    return this.pageStats();
  }
  settle(r: number): void {
    this.settlePage(r);
  }
  adopt(k: number, start: number): number {
    return this.adoptRecord(k, start, start, PAGE_BYTES);
  }
  /** Gives the live slots of page `r` back other than by free (as a collect does). */
  giveBack(r: number, slots: number[]): void {
    for (const p of slots) {
      this.owners[(p - this.base) >>> 4] = 0;
      this.pushSlot(r, p);
    }
  }
  check(): void {
    this.validatePages(
      () => {},
      () => 0,
    );
  }
  get meta32(): Int32Array {
    return this.meta;
  }
  get keptBytesNow(): number {
    return (this as unknown as { keptBytes: number }).keptBytes;
  }
}

const notLive = (what: string) =>
  isError(InvalidPointerError, new RegExp(`^Face\\.${what}: .* is not a live block`));

describe("the page engine's checked paths at the edges of the span", () => {
  test("the first address past a span whose owners table ends there is no slot: free, deallocate and slotSize refuse it", () => {
    const f = new Face(2);
    const p = f.allocate(64);
    const past = BASE + 2 * PAGE_BYTES;
    assert.throws(() => f.free(past), notLive("free"));
    assert.throws(() => f.deallocate(past, 64), notLive("deallocate"));
    assert.equal(f.size(past), 0);
    assert.equal(f.size(p), 64);
    f.check();
  });

  test("below the base, and inside a live slot: deallocate refuses, the slot stays live and is not handed out twice", () => {
    const f = new Face(2);
    const p = f.allocate(64);
    assert.throws(() => f.deallocate(BASE - 16, 64), notLive("deallocate"));
    assert.throws(() => f.deallocate(BASE - 16 * 1024, 16, 1), notLive("deallocate"));
    // p + 8 is inside the slot at p (its granule is p's): with alignment 1 no layout check would refuse it
    assert.throws(() => f.deallocate(p + 8, 8, 1), notLive("deallocate"));
    assert.throws(() => f.deallocate(p + 8, 8), notLive("deallocate"));
    assert.equal(f.size(p), 64);
    const q = f.allocate(64);
    assert.notEqual(q, p + 8);
    assert.equal(q, p + 64);
    f.check();
    f.deallocate(p, 64);
    assert.throws(() => f.deallocate(p, 64), notLive("deallocate"));
    assert.throws(() => f.deallocate(q, 128), LayoutError);
  });
});

describe("the page engine's pages: reuse, layout, lists", () => {
  test("with no page left, the kept pages of other classes are given back and the refill takes one", () => {
    const f = new Face(2);
    const a = Array.from({ length: SLOTS }, () => f.allocate(1024)); // page A full
    const b = f.allocate(1024); // page B current: the pool is empty
    assert.notEqual(b, NULL);
    for (const p of a) f.free(p); // A empties: kept for class 1024
    assert.equal(f.keptBytesNow, SLOTS * 1024);
    assert.deepEqual(f.returned, []);
    const c = f.allocate(64);
    assert.equal(c, a[0], "the kept page's memory serves class 64");
    assert.deepEqual(f.returned, [a[0]]);
    assert.equal(f.keptBytesNow, 0);
    assert.equal(f.size(c), 64);
    f.check();
  });

  test("pageSlotRegions: each page's slots with the metadata before and after them, in address order", () => {
    const f = new Face(3, { pad: 16, tail: 32, descending: true });
    const a = Array.from({ length: SLOTS }, () => f.allocate(1024)); // the highest page, full
    const b = f.allocate(1024); // the next one down, current: 1 live, 3 free
    const hi = BASE + 2 * PAGE_BYTES;
    const lo = BASE + PAGE_BYTES;
    assert.deepEqual(
      a,
      [0, 1, 2, 3].map((i) => hi + 16 + i * 1024),
    );
    assert.equal(b, lo + 16);
    const page = (blk: number, live: number) => [
      { offset: blk, size: 16, kind: "metadata" },
      ...[0, 1, 2, 3].map((i) => ({
        offset: blk + 16 + i * 1024,
        size: 1024,
        kind: i < live ? "used" : "free",
      })),
      { offset: blk + 16 + 4096, size: 32, kind: "metadata" },
    ];
    assert.deepEqual(f.regions(), [...page(lo, 1), ...page(hi, 4)]);
    f.check();
  });

  test("a page whose block holds its slots at 8 past a 16-byte boundary does not validate", () => {
    const f = new Face(2, { pad: 16, tail: 32 });
    const a = Array.from({ length: SLOTS }, () => f.allocate(1024)); // full, top 0
    const r = f.rec(a[0]!);
    f.check();
    f.meta32[r + START]! += 8;
    assert.throws(
      () => f.check(),
      /^Error: Face\.validate: page \d+: slots \[\d+, \d+\) do not fit its memory$/,
    );
  });

  test("a free entry below its page's first slot does not validate, even at a multiple of the class below it", () => {
    const f = new Face(3);
    Array.from({ length: SLOTS + 1 }, () => f.allocate(1024)); // page 1 full, page 2 current with 3 free
    const r = f.meta32[K]!;
    const start = f.meta32[r + START]!;
    f.check();
    f.meta32[r + RECORD.WORDS] = start - 1024; // nothing is there: its owners entry is 0
    assert.throws(
      () => f.check(),
      /^Error: Face\.validate: page \d+: free entry \d+ is not one of its slots$/,
    );
  });

  test("partial pages of the smallest class and of the class whose tail word lies below the first record validate", () => {
    for (const size of [16, 7168, 6144]) {
      const f = new Face(3);
      const blocks = Array.from({ length: SLOTS + 1 }, () => f.allocate(size)); // page 1 full, page 2 current
      f.free(blocks[1]!); // page 1 partial
      const k = classOf(size);
      assert.equal(f.meta32[PARTIAL + k], f.rec(blocks[0]!));
      f.check();
      const s = f.stats();
      assert.equal(s.pages, 2);
      assert.equal(s.pageBytes, 2 * SLOTS * size);
      assert.equal(s.smallBlocks, SLOTS);
      assert.equal(s.freeSlots, SLOTS);
    }
  });

  test("a page bound to the largest page id validates and frees", () => {
    const f = new Face(2, { firstId: MAX_PAGES });
    const p = f.allocate(64);
    assert.equal(f.meta32[f.rec(p) + RECORD.ID], MAX_PAGES);
    f.check();
    f.free(p);
    f.check();
    assert.throws(() => f.free(p), notLive("free"));
  });

  test("a record adopted after a page of few slots leaves that page's record whole", () => {
    const f = new Face(4, { keepShare: -1 });
    const blocks = Array.from({ length: SLOTS + 1 }, () => f.allocate(1024)); // page 1 full, page 2 current
    const current = f.rec(blocks[SLOTS]!);
    const before = f.stats();
    const r = f.adopt(HEAP_CLASSES.indexOf(64), BASE + 3 * PAGE_BYTES);
    assert.equal(f.meta32[current + CAP], SLOTS);
    assert.equal(f.meta32[r + CAP], SLOTS);
    const after = f.stats();
    assert.equal(after.pages, before.pages + 1);
    assert.equal(after.pageBytes, before.pageBytes + PAGE_BYTES);
    assert.equal(
      after.smallBlocks,
      before.smallBlocks + SLOTS,
      "an adopted page's slots are all live until pushed",
    );
    assert.equal(after.freeSlots, before.freeSlots);
    assert.equal(f.allocate(1024), blocks[SLOTS]! + 1024, "the current page serves its next slot");
  });

  test("a page refused by the face leaves the partial list before it whole", () => {
    const f = new Face(3);
    const a = Array.from({ length: SLOTS }, () => f.allocate(1024)); // P0
    const b = Array.from({ length: SLOTS }, () => f.allocate(1024)); // P1
    const c = Array.from({ length: SLOTS }, () => f.allocate(1024)); // P2, current: the pool is empty
    f.free(a[0]!); // P0 partial
    assert.equal(f.allocate(1024), a[0], "P0 becomes current");
    f.free(b[0]!);
    f.free(c[0]!); // P1 then P2 on the partial list; P2 is the last record made
    const [p1, p2] = [f.rec(b[1]!), f.rec(c[1]!)];
    assert.deepEqual([f.meta32[PARTIAL + K], f.meta32[2 * PARTIAL + K]], [p1, p2]);
    assert.equal(f.allocate(64), NULL, "no page for class 64");
    f.check();
    assert.equal(f.allocate(1024), b[0], "the oldest partial page serves next");
    assert.equal(f.allocate(1024), c[0]);
    f.check();
  });

  test("settling the current page after every slot came back: it stays current, kept nowhere", () => {
    const f = new Face(3);
    const a = Array.from({ length: SLOTS }, () => f.allocate(1024)); // current, full
    const r = f.rec(a[0]!);
    f.giveBack(r, a);
    f.settle(r);
    assert.equal(f.meta32[r + LIST], LIST_CURRENT);
    assert.equal(f.meta32[K], r);
    assert.equal(f.keptBytesNow, 0);
    assert.deepEqual(f.returned, []);
    f.check();
    assert.equal(f.allocate(1024), a[3], "the last slot given back is the first taken");
  });

  test("a page on no list that empties by settling leaves the partial list of its class alone, kept or given back", () => {
    for (const keepShare of [0, -1]) {
      const f = new Face(4, { keepShare });
      const a = Array.from({ length: SLOTS }, () => f.allocate(1024)); // P1
      const b = Array.from({ length: SLOTS }, () => f.allocate(1024)); // P2
      const c = f.allocate(1024); // P3 current; P2 full on no list
      f.free(a[0]!); // P1 partial
      const [p1, p2] = [f.rec(a[1]!), f.rec(b[0]!)];
      f.giveBack(p2, b);
      f.settle(p2);
      assert.equal(f.meta32[p2 + LIST], keepShare === 0 ? LIST_KEPT : 0);
      assert.deepEqual(f.returned, keepShare === 0 ? [] : [b[0]]);
      assert.deepEqual(
        [f.meta32[PARTIAL + K], f.meta32[2 * PARTIAL + K]],
        [p1, p1],
        `keepShare ${keepShare}`,
      );
      assert.equal(f.meta32[p1 + LIST], LIST_PARTIAL);
      f.check();
      for (let i = 1; i < SLOTS; i++) assert.notEqual(f.allocate(1024), NULL); // P3's last slots
      assert.notEqual(c, NULL);
      assert.equal(f.allocate(1024), a[0], "then the partial page");
    }
  });
});

describe("ConcurrentHeap's atomic free through the engine", () => {
  test("a free that loses the owners entry's compare-and-swap to another worker's free is refused, naming free", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(5 << 16));
    const b = ConcurrentHeap.attach(a.share());
    const p = a.allocate(1024);
    let refused: unknown;
    const s = preemptAt(
      0,
      () => {
        try {
          a.free(p); // reads the entry, then b frees the block before a's compare-and-swap
        } catch (e) {
          refused = e;
        }
      },
      () => b.free(p),
    );
    assert.ok(s.preempted);
    assert.ok(
      isError(InvalidPointerError, /^ConcurrentHeap\.free: .* is not a live block of this heap/)(refused),
      String(refused),
    );
    assert.equal(a.sizeOf(p), -1);
    a.validate();
    b.release();
    a.release();
  });
});
