// ConcurrentHeap: what its mutation runs of 29 November left unasserted (lines 801-895 run for the first time, the
// rest run again with concurrent-heap.mutation3 and test/concurrent-heap.race in the group): the remote frees a
// worker collects from a page of a class that is no power of two, and a REMOTE entry forged for a slot already on a
// full stack. Written for the mutants of the concurrent heap's group (docs/TESTING.md,
// `npm run mutate -- concurrent-heap`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, InvalidPointerError, SharedArrayBufferBacked } from "../index.js";
import { ConcurrentHeap } from "./concurrent-heap.js";
import { REMOTE } from "./page-engine.js";
import { isError } from "../../test/helpers/assertions.js";

/** Where a heap's shared words are, as absolute indices into its memory's `i32` and `u16` views. */
function where(h: ConcurrentHeap) {
  const i32 = h.memory.i32;
  const c = h.share().control >>> 2;
  // control words: 5 worker slots, 6 page headers, 7 owners, 8 remote bits, 9 the first page (byte offsets)
  const granule = (p: number): number => (p - i32[c + 9]!) >>> 4;
  return {
    i32,
    u16: h.memory.u16,
    /** Word `field` of page `page`'s header (0 owner, 1 class, 2 remote-free count). */
    header: (page: number, field: number): number => (i32[c + 6]! >>> 2) + (page - 1) * 16 + field,
    /** Word `field` of worker `id`'s slot (2: the pending flag another worker sets after a remote free). */
    slot: (id: number, field: number): number => (i32[c + 5]! >>> 2) + id * 32 + field,
    /** The owners entry of block `p`, and its bit in the remote bitmap (word index, mask). */
    owner: (p: number): number => (i32[c + 7]! >>> 1) + granule(p),
    bit: (p: number): [number, number] => [(i32[c + 8]! >>> 2) + (granule(p) >>> 5), 1 << (granule(p) & 31)],
    pageOf: (p: number): number => ((p - i32[c + 9]!) >>> 16) + 1,
    start: (page: number): number => i32[c + 9]! + (page - 1) * 65536,
    /** Writes worker `id`'s intent: it is taking pages `[first, first + n)` (slot words 6 and 7). */
    intend: (id: number, first: number, n: number): void => {
      Atomics.store(i32, (i32[c + 5]! >>> 2) + id * 32 + 7, n);
      Atomics.store(i32, (i32[c + 5]! >>> 2) + id * 32 + 6, first);
    },
    /** The page cursor (control word 2). */
    setCursor: (pages: number): void => void Atomics.store(i32, c + 2, pages),
  };
}

const NEVER_USED = -2;

describe("ConcurrentHeap.collect: remote frees the owner takes back", () => {
  test("a block of a class that is no power of two, freed by another worker, comes back to its page", () => {
    // 12,288 bytes: five slots a page. The first page starts at 64 KiB, so twice its address is no multiple of the
    // class: a slot's offset must be taken from the page's start, not added to it
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const b = ConcurrentHeap.attach(a.share());
    const t = where(a);
    const blocks = Array.from({ length: 5 }, () => a.allocate(12288));
    assert.ok(blocks.every((p) => t.pageOf(p) === 1));
    for (const i of [3, 1]) b.free(blocks[i]!);
    assert.equal(t.u16[t.owner(blocks[1]!)], REMOTE);
    const again = [a.allocate(12288), a.allocate(12288)].sort((x, y) => x - y);
    assert.deepEqual(again, [blocks[1], blocks[3]], "both collected and handed out again");
    assert.equal(a.corruptionEvents(), 0);
    assert.equal(t.pageOf(a.allocate(12288)), 2, "page 1 is full again");
    a.validate();
  });

  test("a REMOTE entry for a slot already on a full stack is a corruption: the slot is not pushed twice", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const t = where(a);
    const p = a.allocate(16384); // page 1, class 16384: four slots
    a.free(p); // all four on the stack again (the page stays current)
    t.u16[t.owner(p)] = REMOTE;
    const [word, mask] = t.bit(p);
    t.i32[word]! |= mask;
    t.i32[t.header(1, 2)] = 1;
    t.i32[t.slot(a.workerId, 2)] = 1;
    a.allocate(64); // a refill of another class: collects page 1 first
    assert.equal(a.corruptionEvents(), 1);
    const got = Array.from({ length: 5 }, () => a.allocate(16384));
    assert.equal(new Set(got).size, 5, "no block is handed out twice");
    assert.deepEqual(
      got.map((q) => t.pageOf(q)),
      [1, 1, 1, 1, 3],
      "four slots in page 1, the fifth from a new page",
    );
  });
});

describe("ConcurrentHeap.reclaim: a worker stopped while taking pages", () => {
  test("a large block it was making over the heap's last pages goes back to the pool", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const b = ConcurrentHeap.attach(a.share());
    const t = where(a);
    a.allocate(64); // page 1
    const last = a.stats().pages;
    // b took the last two pages from the cursor, marked them, wrote the head's class and made the head live, then
    // stopped before it cleared its intent (allocate had not returned the block); the pages between are free
    t.intend(b.workerId, last - 1, 2);
    t.setCursor(last);
    for (let page = 2; page < last - 1; page++) t.i32[t.header(page, 0)] = 0;
    for (const page of [last - 1, last]) t.i32[t.header(page, 0)] = b.workerId + 1;
    t.i32[t.header(last - 1, 1)] = -2;
    const block = t.start(last - 1);
    t.u16[t.owner(block)] = last - 1;
    assert.equal(a.sizeOf(block), 2 * 65536, "live for everyone");
    assert.equal(a.reclaim(b.workerId), 2);
    assert.deepEqual(
      [last - 1, last].map((page) => [t.i32[t.header(page, 0)], t.i32[t.header(page, 1)]]),
      [
        [0, 0],
        [0, 0],
      ],
    );
    assert.equal(a.sizeOf(block), -1);
    a.validate();
    assert.equal(
      a.allocate((last - 1) * 65536),
      t.start(2),
      "every page after page 1 serves one block again",
    );
  });

  test("a worker of the second bitmap word (id 40) taking pages keeps them: another worker's reclaim leaves them", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(1 << 20));
    const workers = Array.from({ length: 40 }, () => ConcurrentHeap.attach(a.share()));
    const [b, c] = [workers[0]!, workers[39]!];
    assert.equal(c.workerId, 40);
    const t = where(a);
    a.allocate(64); // page 1
    // b named pages 2 and 3 and lost the cursor to c, which moved it and is about to mark them; b then stopped
    for (const w of [b, c]) t.intend(w.workerId, 2, 2);
    t.setCursor(3);
    assert.equal(a.reclaim(b.workerId), 0);
    assert.deepEqual([t.i32[t.header(2, 0)], t.i32[t.header(3, 0)]], [NEVER_USED, NEVER_USED], "c's to mark");
  });
});

test("disposing of a worker (`using`) releases it: its slot is free, its pages are left for the others", () => {
  const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
  const t = where(a);
  let p = 0;
  let worker: ConcurrentHeap | undefined;
  {
    using b = ConcurrentHeap.attach(a.share());
    worker = b;
    p = b.allocate(64);
    assert.equal(a.stats().workers, 2);
  }
  assert.equal(a.stats().workers, 1);
  assert.equal(t.i32[t.header(t.pageOf(p), 0)], -1, "its page, with a live block, is abandoned");
  assert.throws(() => worker.allocate(64), isError(AllocError, /this worker released the heap$/));
});

describe("ConcurrentHeap.adopt: how a worker scans for abandoned pages", () => {
  test("one page of the class wanted per refill; the scan resumes there, and scans again for pages abandoned meanwhile", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const [b, e] = [ConcurrentHeap.attach(a.share()), ConcurrentHeap.attach(a.share())];
    const t = where(a);
    const owner = (page: number): number => t.i32[t.header(page, 0)]!;
    e.allocate(1024); // page 1: e's
    const full = Array.from({ length: 1025 }, () => b.allocate(64)); // pages 2 (full) and 3 (one block): b's
    assert.deepEqual([t.pageOf(full[0]!), t.pageOf(full[1024]!)], [2, 3]);
    b.release(); // pages 2 and 3 abandoned
    const x = a.allocate(64); // adopts page 2 (no free slot), stops there: a new page serves the block
    assert.deepEqual([owner(2), owner(3), t.pageOf(x)], [a.workerId + 1, -1, 4]);
    e.release(); // page 1 abandoned, behind where a's scan stopped
    a.allocate(48); // the scan resumes: page 3 adopted (a class a did not ask for), the scan ends
    assert.deepEqual([owner(1), owner(3)], [-1, a.workerId + 1]);
    a.allocate(32); // page 1 was abandoned after that scan started: the next refill scans again
    assert.equal(owner(1), a.workerId + 1);
    a.validate();
  });

  test("a scan that adopts the wanted class on the last page below the cursor is complete", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const [b, e] = [ConcurrentHeap.attach(a.share()), ConcurrentHeap.attach(a.share())];
    const t = where(a);
    e.allocate(1024); // page 1
    b.allocate(64); // page 2, the cursor's
    b.release();
    a.allocate(64); // adopts page 2, the last one: the scan ends
    e.release(); // page 1 abandoned: a new generation
    a.allocate(48); // a new scan from page 1
    assert.equal(t.i32[t.header(1, 0)], a.workerId + 1);
  });

  test("adopting a page clears its remote bits only: the neighbours' pending frees and live blocks stay", () => {
    // four pages: d's pages 1 and 3 (16 KiB blocks, one freed remotely each) and 4 (64-byte blocks, full), and b's
    // page 2, which a adopts
    const d = new ConcurrentHeap(new SharedArrayBufferBacked(5 << 16));
    const [b, a, c] = [0, 1, 2].map(() => ConcurrentHeap.attach(d.share())) as [
      ConcurrentHeap,
      ConcurrentHeap,
      ConcurrentHeap,
    ];
    const t = where(d);
    const first = Array.from({ length: 4 }, () => d.allocate(16384));
    b.allocate(64);
    const third = Array.from({ length: 4 }, () => d.allocate(16384));
    const last = Array.from({ length: 1024 }, () => d.allocate(64));
    assert.deepEqual(
      [first, third, last].map((q) => t.pageOf(q.at(-1)!)),
      [1, 3, 4],
    );
    // freed by c: page 1's second slot (its remote bit in the page's second bitmap word), page 3's first
    const freed = [t.start(1) + 16384, t.start(3)];
    for (const p of [...freed, last[0]!]) c.free(p);
    b.release();
    a.allocate(64); // adopts page 2
    assert.equal(t.i32[t.header(2, 0)], a.workerId + 1);
    const back = [d.allocate(16384), d.allocate(16384)].sort((x, y) => x - y);
    assert.deepEqual(back, freed, "d collects both frees");
    assert.equal(d.allocate(64), last[0], "and page 4's");
    assert.ok(
      last.every((p) => d.sizeOf(p) === 64),
      "page 4's blocks (their owners entries end where the bitmap starts) stay live",
    );
    d.validate();
  });

  test("an adopted page's REMOTE slots are free entries on its stack until handed out", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const b = ConcurrentHeap.attach(a.share());
    const t = where(a);
    const blocks = Array.from({ length: 3 }, () => b.allocate(16384));
    a.free(blocks[1]!); // remote: REMOTE until b collects, which it never does
    b.release();
    a.allocate(64); // adopts b's page (its class is not the one asked for)
    assert.equal(t.u16[t.owner(blocks[1]!)], 0);
    assert.throws(() => a.free(blocks[1]!), isError(InvalidPointerError, /is not a live block/));
    a.validate();
    for (const i of [0, 2]) a.free(blocks[i]!); // the page empties: back to the pool, no entry left in it
    assert.equal(t.i32[t.header(t.pageOf(blocks[0]!), 0)], 0);
    a.validate();
  });
});

test("a run of free pages cut by a page in use: the pages claimed before it go back", () => {
  const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
  const t = where(a);
  const n = a.stats().pages;
  const x = a.allocate(2 * 65536); // pages 1, 2
  const y = a.allocate(65536); // page 3
  const z = a.allocate((n - 3) * 65536); // the rest: the cursor is at the end
  assert.deepEqual([x, y, z], [t.start(1), t.start(3), t.start(4)]);
  a.free(x);
  a.free(z);
  // three pages: the scan claims pages 1 and 2, fails on 3, gives 1 and 2 back, and finds pages 4 to 6
  assert.equal(a.allocate(3 * 65536), t.start(4));
  assert.equal(a.allocate(2 * 65536), t.start(1), "pages 1 and 2 are free again");
  a.validate();
});
