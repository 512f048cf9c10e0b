// The page engine's hooks for the faces, through a minimal face written here: pages carved one after another from a
// plain buffer, and kept when they empty (as Heap keeps them). Neither face reaches every hook in every state (Heap
// never drops a page; ConcurrentHeap keeps no empty page and drops pages only as it leaves), so the engine's
// contract for those states is asserted here: dropping a kept, partial or current page, settling pages after slots
// came back, adopting a record. Written for the mutants of the page engine's group (docs/TESTING.md,
// `npm run mutate -- page-engine`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ArrayBufferBacked,
  ConcurrentHeap,
  InvalidPointerError,
  Memory,
  NULL,
  SharedArrayBufferBacked,
} from "../index.js";
import { Heap } from "./heap.js";
import { HEAP_CLASSES, PageEngine, RECORD, classOf } from "./page-engine.js";
import { isError } from "../../test/helpers/assertions.js";

const {
  TOP,
  START,
  CAP,
  LIST,
  ID,
  BLK,
  BLK_BYTES,
  SENTINEL,
  LIST_NONE,
  LIST_CURRENT,
  LIST_PARTIAL,
  LIST_KEPT,
} = RECORD;
const NEXT = 9;
const CLASSES = HEAP_CLASSES.length;
const PARTIAL = CLASSES;
const K = HEAP_CLASSES.indexOf(1024);
const SLOTS = 4; // every class: four slots a page
const PAGE_BYTES = 16384 * SLOTS;

/** Pages carved from a buffer in order (never reused), `pages` of them at most; empty pages kept while `keep`. */
class Face extends PageEngine {
  next: number;
  readonly limit: number;
  nextId = 1;
  returned: number[] = [];
  constructor(pages: number, keepShare = 0) {
    const memory = Memory.of(new ArrayBuffer(PAGE_BYTES * pages + 4096));
    super(
      memory,
      4096,
      "Face",
      Int32Array.from(HEAP_CLASSES, () => SLOTS),
    );
    this.span = PAGE_BYTES * pages;
    this.owners = new Uint16Array(this.span >>> 4);
    this.next = 4096;
    this.limit = 4096 + PAGE_BYTES * pages;
    this.keepShare = keepShare;
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
    if (this.next + bytes > this.limit) return false;
    this.meta[r + START] = this.next;
    this.meta[r + BLK] = this.next;
    this.meta[r + BLK_BYTES] = bytes;
    this.bindId(r, this.nextId++);
    this.next += PAGE_BYTES;
    return true;
  }
  protected returnPage(r: number): void {
    this.returned.push(this.meta[r + START]!);
    this.records[this.meta[r + ID]!] = 0;
  }
  // the hooks under test, and the state they act on
  rec(p: number): number {
    return this.records[this.owners[(p - this.base) >>> 4]!]!;
  }
  drop(r: number): void {
    this.dropPage(r);
  }
  settle(r: number): void {
    this.settlePage(r);
  }
  push(r: number, p: number): void {
    this.pushSlot(r, p);
  }
  adopt(k: number, start: number): number {
    return this.adoptRecord(k, start, start, PAGE_BYTES);
  }
  bind(r: number, id: number): void {
    this.bindId(r, id);
  }
  check(): void {
    this.validatePages(
      () => {},
      () => 0,
    );
  }
  get state() {
    return {
      meta: this.meta,
      kept: (this as unknown as { kept: Int32Array }).kept,
      keptBytes: (this as unknown as { keptBytes: number }).keptBytes,
      pages: this.pagesHeld,
      stats: this.pageStats(),
    };
  }
  keptList(k: number): number[] {
    const out: number[] = [];
    for (let r = this.state.kept[k]!; r !== 0; r = this.meta[r + NEXT]!) out.push(r);
    return out;
  }
}

/** A face with `n` pages of class K filled, then emptied in the order given (kept, first emptied last on the list). */
function keptPages(n: number, keepShare = 0) {
  const f = new Face(n + 2, keepShare);
  const blocks = Array.from({ length: n * SLOTS + 1 }, () => f.allocate(1024)); // n full pages, then a current one
  const pages = Array.from({ length: n }, (_, i) => f.rec(blocks[i * SLOTS]!));
  for (let i = 0; i < n * SLOTS; i++) f.free(blocks[i]!);
  f.check();
  return { f, pages, current: f.rec(blocks.at(-1)!) };
}

describe("the page engine's hooks, through a minimal face", () => {
  test("dropping a kept page takes it off its class's kept list wherever it is, and out of the kept bytes", () => {
    for (const which of [0, 1, 2]) {
      const { f, pages } = keptPages(3);
      const list = f.keptList(K);
      assert.deepEqual(list, [...pages].reverse(), "each emptied page goes first on the list");
      const r = list[which]!;
      const before = f.state;
      f.drop(r);
      assert.deepEqual(
        f.keptList(K),
        list.filter((x) => x !== r),
      );
      assert.equal(
        f.state.keptBytes,
        before.keptBytes - SLOTS * 1024,
        "a page of class 1024 was given 4 KiB",
      );
      assert.equal(f.state.pages, before.pages - 1);
      assert.equal(f.state.meta[r + BLK], 0);
      assert.equal(f.state.meta[r + NEXT], 0);
      assert.deepEqual(f.returned, [], "a dropped page is not given back");
      f.check();
    }
  });

  test("dropping the current page: the next allocation takes another page; dropping a partial page unlinks it", () => {
    const f = new Face(6);
    const a = Array.from({ length: SLOTS }, () => f.allocate(1024)); // page 1 full
    const b = Array.from({ length: SLOTS }, () => f.allocate(1024)); // page 2 full
    const c = f.allocate(1024); // page 3 current
    f.free(a[0]!);
    f.free(b[0]!); // pages 1 and 2 partial, in that order
    const [p1, p2, p3] = [a[1]!, b[1]!, c].map((p) => f.rec(p)) as [number, number, number];
    assert.deepEqual(
      [p1, p2].map((r) => f.state.meta[r + LIST]),
      [LIST_PARTIAL, LIST_PARTIAL],
    );
    f.drop(p1);
    assert.equal(f.state.meta[PARTIAL + K], p2, "page 2 heads the list");
    f.check();
    f.drop(p3);
    assert.equal(f.state.meta[K], SENTINEL);
    f.check();
    assert.equal(f.allocate(1024), b[0], "the refill takes page 2, not the dropped current page");
    f.check();
  });

  test("settling: a current or kept page stays; an empty page is kept; a page with room on no list becomes partial", () => {
    const { f, pages, current } = keptPages(2);
    const kept = f.state.keptBytes;
    f.settle(pages[0]!); // kept: nothing happens
    assert.equal(f.state.keptBytes, kept);
    assert.deepEqual(f.keptList(K), [pages[1], pages[0]]);
    const full = Array.from({ length: SLOTS - 1 }, () => f.allocate(1024)); // fills the current page
    assert.equal(f.state.meta[current + TOP], 0);
    // slots come back to the current page other than by free (as a collect does): it stays current
    for (const p of full) {
      (f as unknown as { owners: Uint16Array }).owners[(p - 4096) >>> 4] = 0;
      f.push(current, p);
    }
    f.settle(current);
    assert.equal(f.state.meta[current + LIST], LIST_CURRENT);
    f.check(); // 1 live + 3 free
    const g = new Face(4);
    const blocks = Array.from({ length: SLOTS + 1 }, () => g.allocate(1024));
    const r = g.rec(blocks[0]!); // full, on no list
    const owners = (g as unknown as { owners: Uint16Array }).owners;
    owners[(blocks[0]! - 4096) >>> 4] = 0;
    g.push(r, blocks[0]!);
    g.settle(r);
    assert.equal(g.state.meta[r + LIST], LIST_PARTIAL);
    g.check();
    for (const p of blocks.slice(1, SLOTS)) {
      owners[(p - 4096) >>> 4] = 0;
      g.push(r, p);
    }
    g.settle(r); // empty: kept for its class (the budget allows one page)
    assert.equal(g.state.meta[r + LIST], LIST_KEPT);
    assert.deepEqual(g.keptList(K), [r]);
    assert.equal(g.state.meta[PARTIAL + K], 0, "off the partial list");
    g.check();
  });

  test("an empty page past the budget goes back to the face, and its record serves the next page of its class", () => {
    const f = new Face(4, -1); // keeps nothing
    const blocks = Array.from({ length: SLOTS + 1 }, () => f.allocate(1024));
    const r = f.rec(blocks[0]!);
    const start = f.state.meta[r + START]!;
    for (const p of blocks.slice(0, SLOTS)) f.free(p);
    assert.deepEqual(f.returned, [start]);
    assert.equal(f.state.pages, 1);
    assert.equal(f.state.meta[r + BLK], 0);
    f.check();
    for (let i = 0; i < SLOTS; i++) f.allocate(1024); // the current page fills; the next takes r's record again
    assert.equal(f.state.meta[r + BLK], 4096 + 2 * PAGE_BYTES, "a new page in the spare record");
    assert.equal(f.state.meta[r + LIST], LIST_CURRENT);
    f.check();
  });

  test("adoptRecord: a record of the class (a spare one first) with every field set, top 0, on no list", () => {
    const f = new Face(6, -1);
    const blocks = Array.from({ length: SLOTS + 1 }, () => f.allocate(1024));
    const spare = f.rec(blocks[0]!);
    for (const p of blocks.slice(0, SLOTS)) f.free(p); // given back: its record is spare for class K
    const pagesBefore = f.state.pages;
    const bytesBefore = f.state.stats.pageBytes;
    const start = 4096 + 4 * PAGE_BYTES;
    const r = f.adopt(K, start);
    assert.equal(r, spare, "the spare record of the class");
    const m = f.state.meta;
    assert.deepEqual(
      [m[r + TOP], m[r + START], m[r + BLK], m[r + BLK_BYTES], m[r + LIST], m[r + 1], m[r + CAP]],
      [0, start, start, PAGE_BYTES, LIST_NONE, 1, SLOTS],
    );
    assert.equal(f.state.pages, pagesBefore + 1);
    assert.equal(f.state.stats.pageBytes, bytesBefore + PAGE_BYTES);
    f.bind(r, 77);
    const fresh = f.adopt(HEAP_CLASSES.indexOf(64), start + PAGE_BYTES);
    assert.notEqual(fresh, r, "another class: a new record");
    assert.equal(f.state.meta[fresh + CAP], SLOTS);
  });

  test("a free of anything but a live slot goes to the face's slow path, naming the face", () => {
    const f = new Face(2);
    const p = f.allocate(64);
    f.free(p);
    assert.throws(() => f.free(p), isError(InvalidPointerError, /^Face\.free: .* is not a live block/));
    assert.equal(f.allocate(20000), NULL);
  });

  test("the checked paths take only an int32 inside the span: not the first address past it, not a numeric string", () => {
    const h = new Heap(new ArrayBufferBacked(1 << 18));
    const E = h as unknown as { base: number; span: number };
    const p = h.malloc(64);
    const past = E.base + E.span;
    const notLive = isError(InvalidPointerError, /is not a live block/);
    assert.throws(() => h.free(past), notLive);
    assert.throws(() => h.deallocate(past, 64), InvalidPointerError);
    assert.equal(h.sizeOf(past), -1);
    // a string that names a live slot's address is no pointer: refused, and the slot stays live
    const named = String(p) as unknown as number;
    assert.throws(() => h.free(named), InvalidPointerError);
    assert.throws(() => h.deallocate(named, 64));
    assert.equal(h.sizeOf(named), -1);
    assert.equal(h.sizeOf(p), 64);
    h.free(p);
    h.validate();
    // ConcurrentHeap's atomic free: its first block is at its base (granule 0)
    const c = new ConcurrentHeap(new SharedArrayBufferBacked(4 << 16));
    const C = c as unknown as { base: number; span: number };
    const q = c.allocate(64);
    assert.equal(q, C.base);
    for (const bad of [C.base + C.span, String(q), undefined, { valueOf: () => q }])
      assert.throws(() => c.free(bad as number), InvalidPointerError, String(bad));
    assert.equal(c.sizeOf(q), 64);
    c.free(q);
    c.validate();
  });
});
