// ConcurrentHeap: what its first run over lines 481 to 626 (validate, release, reclaim; 28 November) left
// unasserted: a record whose start or block disagrees with its page while the engine's own checks pass, the last
// page of the heap, a free first page holding an entry at granule 0, and reclaim of worker 0 and of a worker of
// the second bitmap word. Written for the mutants of the concurrent heap's group (docs/TESTING.md,
// `npm run mutate -- concurrent-heap`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  InvalidPointerError,
  Memory,
  NULL,
  type ProcessSharing,
  SharedArrayBufferBacked,
  StaticBacked,
} from "../index.js";
import { ConcurrentHeap } from "./concurrent-heap.js";
import { RECORD } from "./page-engine.js";
import { isError, validateFails } from "../../test/helpers/assertions.js";
import { everySchedule } from "../../test/helpers/interleave.js";
import {
  type ConcurrentHeapInternals,
  H_WORDS,
  H_OWNER,
  C_NEXT_PAGE,
  PAGE,
  PAGE_GRANULES,
} from "../../test/helpers/concurrent-heap-layout.js";

type Internals = ConcurrentHeapInternals;
const { START, BLK, BLK_BYTES } = RECORD;

const internals = (h: ConcurrentHeap): Internals => h as unknown as Internals;
const pageOf = (h: ConcurrentHeap, p: number): number => ((p - internals(h).base) >>> 16) + 1;
const broken = (h: ConcurrentHeap, message: RegExp): void => validateFails(h, "ConcurrentHeap", message);

describe("ConcurrentHeap.validate: a record that disagrees with its page, the last page, page 1", () => {
  test("a record whose block starts before its slots, or whose slots start a slot into the page, is named", () => {
    // the block 16 bytes lower and 16 bytes longer: the engine's fit checks pass, the face's does not
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const page = pageOf(a, a.allocate(64));
    const I = internals(a);
    const r = I.records[page]!;
    a.validate();
    I.meta[r + BLK]! -= 16;
    I.meta[r + BLK_BYTES]! += 16;
    broken(a, new RegExp(`^ConcurrentHeap\\.validate: page ${page}: its record's start is not the page's$`));
    // slots and block one slot (16 KiB) up in a full page of 16 KiB blocks: the slots then read are the page's last
    // three and the next page's first granule, which names this page (so the engine counts four live slots)
    const b = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const blocks = Array.from({ length: 4 }, () => b.allocate(16384));
    const full = pageOf(b, blocks[0]!);
    const J = internals(b);
    const q = J.records[full]!;
    b.validate();
    J.meta[q + START]! += 16384;
    J.meta[q + BLK]! += 16384;
    J.owners[full * PAGE_GRANULES] = full;
    broken(b, new RegExp(`^ConcurrentHeap\\.validate: page ${full}: its record's start is not the page's$`));
  });

  test("the heap's last page is checked too", () => {
    const h = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    h.allocate(64);
    const I = internals(h);
    const last = I.pageCount;
    assert.ok(last > Atomics.load(I.words, C_NEXT_PAGE) + 1);
    h.validate();
    I.words[I.headers + (last - 1) * H_WORDS + H_OWNER] = 0;
    broken(h, new RegExp(`page ${last} is past the cursor \\d+ but has owner 0$`));
  });

  test("a free page 1 holding an entry at its first granule is named", () => {
    const h = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const blocks = Array.from({ length: 65 }, () => h.allocate(1024)); // page 1 full, page 2 current
    assert.equal(pageOf(h, blocks[0]!), 1);
    for (const p of blocks.slice(0, 64)) h.free(p); // page 1 empties: back to the pool
    h.validate();
    const I = internals(h);
    assert.equal(I.words[I.headers + H_OWNER], 0, "page 1 is free");
    I.owners[0] = 1;
    broken(h, /free page 1 holds a live block$/);
  });
});

describe("ConcurrentHeap.reclaim: the ids at the ends of the bitmap", () => {
  test("worker 0 can be reclaimed, and a worker of the second bitmap word; an id far past 63 is refused", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(1 << 20));
    const workers = Array.from({ length: 33 }, () => ConcurrentHeap.attach(a.share()));
    const w32 = workers[31]!;
    assert.equal(w32.workerId, 32);
    a.allocate(64);
    w32.allocate(64);
    const b = workers[0]!;
    assert.equal(b.reclaim(0), 1, "worker 0's page");
    assert.equal(b.reclaim(32), 1, "worker 32's page");
    assert.equal(b.stats().workers, 32);
    for (const bad of [0, 32, 2 ** 30, 2 ** 31 - 1]) {
      assert.throws(
        () => b.reclaim(bad),
        isError(
          AllocError,
          /^ConcurrentHeap\.reclaim: .* is not the id of another worker attached to this heap/,
        ),
        String(bad),
      );
    }
  });
});

/** The words of the control block, the page headers and the worker slots, as another worker reads them. */
function shared(h: ConcurrentHeap) {
  const i32 = h.memory.i32;
  const c = h.share().control >>> 2;
  const headers = i32[c + 6]! >>> 2;
  const slots = i32[c + 5]! >>> 2;
  const owners = i32[c + 7]! >>> 1;
  return {
    i32,
    cursor: (): number => Atomics.load(i32, c + C_NEXT_PAGE),
    setCursor: (n: number): void => void Atomics.store(i32, c + C_NEXT_PAGE, n),
    owner: (page: number): number => i32[headers + (page - 1) * H_WORDS + H_OWNER]!,
    setOwner: (page: number, v: number): void => void (i32[headers + (page - 1) * H_WORDS + H_OWNER] = v),
    cls: (page: number): number => i32[headers + (page - 1) * H_WORDS + 1]!,
    setClass: (page: number, v: number): void => void (i32[headers + (page - 1) * H_WORDS + 1] = v),
    /** The intent in a worker's slot: the first page it is taking (0: none) and how many. */
    intent: (worker: number): [number, number] => [
      i32[slots + worker * 32 + 6]!,
      i32[slots + worker * 32 + 7]!,
    ],
    setIntent: (worker: number, first: number, n: number): void => {
      i32[slots + worker * 32 + 7] = n;
      i32[slots + worker * 32 + 6] = first;
    },
    /** The first owners entry of a page (a large block's head: live when it names the page). */
    head: (page: number): number => h.memory.u16[owners + (page - 1) * PAGE_GRANULES]!,
    setHead: (page: number, v: number): void => void (h.memory.u16[owners + (page - 1) * PAGE_GRANULES] = v),
  };
}

const NEVER_USED = -2;

describe("ConcurrentHeap.reclaim: a worker stopped while taking pages (its intent)", () => {
  /** Worker a (id 0) with a page of its own, and b (id 1), which is stopped in the states each test writes. */
  function stopped() {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(10 << 16));
    const b = ConcurrentHeap.attach(a.share());
    a.allocate(64);
    const s = shared(a);
    assert.equal(s.cursor(), 1);
    assert.ok(a.stats().pages >= 6);
    return { a, b, s };
  }

  test("stopped after moving the cursor, before marking: the pages its intent names go back to the pool", () => {
    const { a, b, s } = stopped();
    const c = ConcurrentHeap.attach(a.share());
    s.setIntent(c.workerId, 0, 5); // no intent now (its count from an earlier large block stays)
    s.setIntent(b.workerId, 2, 2);
    s.setCursor(3);
    assert.deepEqual([s.owner(2), s.owner(3)], [NEVER_USED, NEVER_USED]);
    assert.equal(a.reclaim(b.workerId), 2);
    assert.deepEqual([s.owner(2), s.owner(3), s.cls(2), s.cls(3)], [0, 0, 0, 0]);
    assert.deepEqual(s.intent(b.workerId), [0, 2], "the intent is cleared");
    assert.equal(s.owner(4), NEVER_USED, "past the cursor: untouched");
    a.validate();
    // both pages serve a block of two pages (a run of free pages below the cursor; the cursor has room for it too)
    s.setCursor(a.stats().pages - 1);
    for (let page = 4; page < a.stats().pages; page++) s.setOwner(page, 0);
    const large = a.allocate(2 * PAGE);
    assert.notEqual(large, NULL);
    assert.equal(pageOf(a, large), 2);
  });

  test("the heap's last page, named by the intent and just below the cursor, goes back too", () => {
    const { a, b, s } = stopped();
    const last = a.stats().pages;
    s.setIntent(b.workerId, last, 1);
    s.setCursor(last);
    for (let page = 2; page < last; page++) s.setOwner(page, 0); // the pages between: free
    assert.equal(a.reclaim(b.workerId), 1);
    assert.equal(s.owner(last), 0);
    a.validate();
  });

  test("a page of its intent that another attached worker's intent covers is left to that worker", () => {
    const { a, b, s } = stopped();
    const c = ConcurrentHeap.attach(a.share()); // id 2: won page 3 from the cursor, about to mark it
    s.setIntent(b.workerId, 2, 2);
    s.setIntent(c.workerId, 3, 1);
    s.setCursor(3);
    assert.equal(a.reclaim(b.workerId), 1);
    assert.deepEqual([s.owner(2), s.owner(3)], [0, NEVER_USED]);
    assert.deepEqual(s.intent(c.workerId), [3, 1], "c's intent is c's");
    s.setOwner(3, c.workerId + 1); // c goes on: marks its page, clears its intent
    s.setIntent(c.workerId, 0, 0);
    a.validate();
    // the page right after another worker's intent is not covered by it
    const { a: a2, b: b2, s: s2 } = stopped();
    const c2 = ConcurrentHeap.attach(a2.share());
    s2.setIntent(b2.workerId, 2, 3);
    s2.setIntent(c2.workerId, 3, 1);
    s2.setCursor(4);
    assert.equal(a2.reclaim(b2.workerId), 2);
    assert.deepEqual([s2.owner(2), s2.owner(3), s2.owner(4)], [0, NEVER_USED, 0]);
  });

  test("only pages still never used below the cursor: a page it had marked is its own and abandoned or freed as such", () => {
    const { a, b, s } = stopped();
    s.setIntent(b.workerId, 2, 3);
    s.setCursor(3); // it named three pages, but the cursor moved by two (its CAS lost, or the heap is smaller)
    s.setOwner(2, b.workerId + 1); // marked, not formatted: class 0
    assert.equal(a.reclaim(b.workerId), 2, "page 3 from the intent, page 2 as its own");
    assert.deepEqual([s.owner(2), s.owner(3), s.owner(4)], [0, 0, NEVER_USED]);
    a.validate();
  });

  test("a large block it was making (head -count, its id on the pages) goes back; another worker's block stays", () => {
    const { a, b, s } = stopped();
    // b took pages 2 and 3 from the cursor and marked them, wrote the head's class and made the head live, then
    // stopped before it cleared its intent: allocate had not returned the block
    s.setIntent(b.workerId, 2, 2);
    s.setCursor(3);
    for (const page of [2, 3]) s.setOwner(page, b.workerId + 1);
    s.setClass(2, -2);
    s.setHead(2, 2);
    const block = internals(a).base + PAGE; // page 2
    assert.equal(a.sizeOf(block), 2 * PAGE, "live for everyone");
    assert.equal(a.reclaim(b.workerId), 2);
    assert.deepEqual([s.owner(2), s.owner(3), s.cls(2), s.head(2)], [0, 0, 0, 0]);
    assert.equal(a.sizeOf(block), -1);
    a.validate();
    // c's large block at pages 2 and 3, while b (stopped) still names them: b had lost the cursor to c
    const { a: a2, b: b2, s: s2 } = stopped();
    const c = ConcurrentHeap.attach(a2.share());
    const large = c.allocate(2 * PAGE);
    assert.equal(pageOf(a2, large), 2);
    s2.setIntent(b2.workerId, 2, 2);
    assert.equal(a2.reclaim(b2.workerId), 0);
    assert.equal(a2.sizeOf(large), 2 * PAGE, "c's block stays live");
    assert.deepEqual([s2.owner(2), s2.owner(3), s2.cls(2)], [c.workerId + 1, c.workerId + 1, -2]);
    a2.validate();
    c.free(large);
    // the head says another count than the intent: not the block it was making
    const { a: a3, b: b3, s: s3 } = stopped();
    s3.setIntent(b3.workerId, 2, 2);
    s3.setCursor(4);
    for (const page of [2, 3, 4]) s3.setOwner(page, b3.workerId + 1);
    s3.setClass(2, -3);
    s3.setHead(2, 2);
    assert.equal(a3.reclaim(b3.workerId), 0, "a live span of three pages stays (any worker frees it)");
    assert.equal(a3.sizeOf(internals(a3).base + PAGE), 3 * PAGE);
    a3.validate();
  });

  test("a large block it was making from freed pages goes back; its page of a class right after it is abandoned", () => {
    const { a, b, s } = stopped();
    const freed = b.allocate(2 * PAGE); // pages 2 and 3
    const p = b.allocate(64); // page 4: b's page of class 64, a live block
    assert.deepEqual([pageOf(a, freed), pageOf(a, p)], [2, 4]);
    b.free(freed); // pages 2 and 3 free below the cursor
    // b claims them again for a block of two pages, marks it live, and stops before it clears its intent
    s.setIntent(b.workerId, 2, 2);
    for (const page of [2, 3]) s.setOwner(page, b.workerId + 1);
    s.setClass(2, -2);
    s.setHead(2, 2);
    assert.equal(a.reclaim(b.workerId), 3, "two pages freed, one abandoned");
    assert.deepEqual([s.owner(2), s.owner(3), s.owner(4)], [0, 0, -1]);
    assert.equal(s.cls(4), 64);
    assert.equal(a.sizeOf(p), 64, "its block stays live");
    assert.equal(a.sizeOf(freed), -1);
    a.validate();
  });
});

describe("ConcurrentHeap's compare-and-swaps on pages, one schedule at a time (lean forms of the race tests)", () => {
  /** Every schedule of x preempted by y and of y preempted by x over a fresh state; `check` after each. */
  function bothOrders<T>(
    setup: () => T,
    x: (s: T) => void,
    y: (s: T) => void,
    check: (s: T) => void,
  ): number {
    const order = (first: (s: T) => void, second: (s: T) => void): number =>
      everySchedule(setup, first, second, (s, _k, preempted) => {
        if (!preempted) second(s);
        check(s);
      });
    return order(x, y) + order(y, x);
  }

  /** Four pages, workers a and b; what each allocation returned. */
  function two() {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(5 << 16));
    const b = ConcurrentHeap.attach(a.share());
    assert.equal(a.stats().pages, 4);
    return { a, b, got: [] as number[] };
  }

  const distinctPages = (s: ReturnType<typeof two>): void => {
    const live = s.got.filter((p) => p !== NULL);
    const pages = live.map((p) => pageOf(s.a, p));
    assert.equal(new Set(pages).size, pages.length, `blocks ${live} on pages ${pages}`);
    s.a.validate();
    s.b.validate();
  };

  test("two workers taking their first page from the cursor at once get different pages", () => {
    const runs = bothOrders(
      two,
      (s) => void s.got.push(s.a.allocate(4000)),
      (s) => void s.got.push(s.b.allocate(4000)),
      (s) => {
        assert.ok(s.got.every((p) => p !== NULL));
        distinctPages(s);
        assert.equal(Atomics.load(internals(s.a).words, C_NEXT_PAGE), 2);
      },
    );
    assert.ok(runs >= 6, `${runs} schedules`);
  });

  test("a large block and a class page taken from the cursor at once share no page", () => {
    bothOrders(
      two,
      (s) => void s.got.push(s.a.allocate(100_000)),
      (s) => void s.got.push(s.b.allocate(64)),
      (s) => {
        assert.ok(s.got.every((p) => p !== NULL));
        const large = s.got.find((p) => s.a.sizeOf(p) > 64)!;
        const small = s.got.find((p) => s.a.sizeOf(p) === 64)!;
        const first = pageOf(s.a, large);
        assert.ok(![first, first + 1].includes(pageOf(s.a, small)), `${large} and ${small}`);
        s.a.validate();
        s.b.validate();
      },
    );
  });

  test("two workers claiming the one free page below the cursor: exactly one gets it", () => {
    bothOrders(
      () => {
        const s = two();
        s.b.free(s.a.allocate(200_000)); // all four pages from the cursor, then freed
        assert.notEqual(s.a.allocate(3 * PAGE), NULL, "pages 1-3 again: page 4 is the only free one");
        return s;
      },
      (s) => void s.got.push(s.a.allocate(1000)),
      (s) => void s.got.push(s.b.allocate(1000)),
      (s) => {
        assert.equal(s.got.filter((p) => p !== NULL).length, 1, `got ${s.got}`);
        distinctPages(s);
      },
    );
  });

  test("two workers adopting the pages a third abandoned never adopt the same page", () => {
    bothOrders(
      () => {
        const s = two();
        const c = ConcurrentHeap.attach(s.a.share());
        for (let i = 0; i < 65; i++) c.allocate(1024); // a full page and one with a block
        c.release(); // both abandoned
        return s;
      },
      (s) => void s.got.push(s.a.allocate(1024)),
      (s) => void s.got.push(s.b.allocate(1024)),
      (s) => {
        assert.ok(s.got.every((p) => p !== NULL));
        distinctPages(s);
        assert.notEqual(s.got[0], s.got[1]);
      },
    );
  });
});

/** A fake process table: `alive` answers from `dead` and records whom it was asked about. */
function fakeSharing(pid: number, stamp: number, dead: Set<number>) {
  const asked: number[] = [];
  const sharing: ProcessSharing & { asked: number[] } = {
    pid,
    stamp,
    asked,
    alive: (p) => {
      asked.push(p);
      return !dead.has(p);
    },
  };
  return sharing;
}

describe("ConcurrentHeap: what lines 627 to 800 left unasserted (reclaimDead, takeOver, the slow paths)", () => {
  test("reclaimDead: a worker that left properly, and a thread's slot (pid 0), are never asked about or taken over", () => {
    const memory = Memory.of(new SharedArrayBuffer(1 << 20));
    const dead = new Set<number>();
    const mapped = (pid: number, stamp: number) =>
      Object.assign(new StaticBacked(memory), { processSharing: fakeSharing(pid, stamp, dead) });
    const first = mapped(100, 11);
    const a = new ConcurrentHeap(first);
    const b = ConcurrentHeap.join(mapped(200, 22));
    const thread = new ConcurrentHeap(new StaticBacked(memory), true); // attached, pid 0
    b.allocate(64);
    b.release(); // left: its slot still names pid 200
    dead.add(200);
    assert.deepEqual(a.reclaimDead(), []);
    assert.deepEqual(
      first.processSharing.asked,
      [],
      "nobody to ask about: b left, the thread has no process",
    );
    assert.equal(a.stats().workers, 2);
    void thread;
  });

  test("reclaimDead takes over a dead process's worker of the second bitmap word (id 32 and up)", () => {
    const memory = Memory.of(new SharedArrayBuffer(1 << 21));
    const dead = new Set<number>();
    const mapped = (pid: number) =>
      Object.assign(new StaticBacked(memory), { processSharing: fakeSharing(pid, pid, dead) });
    const a = new ConcurrentHeap(mapped(100));
    const others = Array.from({ length: 31 }, () => ConcurrentHeap.join(mapped(100)));
    const late = ConcurrentHeap.join(mapped(300));
    assert.equal(late.workerId, 32);
    late.allocate(64);
    dead.add(300);
    assert.deepEqual(a.reclaimDead(), [32]);
    assert.equal(a.stats().workers, 32);
    void others;
  });

  test("reclaim abandons the dead worker's page right after its large block, and leaves the block live", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(10 << 16));
    const b = ConcurrentHeap.attach(a.share());
    a.allocate(64); // page 1
    const large = b.allocate(2 * PAGE); // pages 2 and 3
    const p = b.allocate(64); // page 4
    assert.deepEqual([pageOf(a, large), pageOf(a, p)], [2, 4]);
    const s = shared(a);
    assert.equal(a.reclaim(b.workerId), 1);
    assert.equal(s.owner(4), -1, "abandoned");
    assert.equal(a.sizeOf(large), 2 * PAGE);
    assert.equal(a.sizeOf(p), 64);
    a.validate();
  });

  test("allocating after release is refused, naming why", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(4 << 16));
    a.release();
    assert.throws(() => a.malloc(64), isError(AllocError, /this worker released the heap/));
  });

  test("the largest class and alignment 16 take a class slot; above the largest class, whole pages", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const blocks = Array.from({ length: 4 }, () => a.allocate(16384));
    assert.ok(blocks.every((p) => a.sizeOf(p) === 16384));
    assert.equal(new Set(blocks.map((p) => pageOf(a, p))).size, 1, "four slots of one page");
    const q = a.allocate(64, 16);
    assert.equal(a.sizeOf(q), 64);
    assert.equal(q % 16, 0);
    const big = a.allocate(100_000, 16);
    assert.equal(a.sizeOf(big), 2 * PAGE);
    assert.equal(big % PAGE, 0);
    a.validate();
  });

  test("the slow free refuses the first address past the pages and an address inside a slot, changing nothing", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(4 << 16));
    const I = internals(a);
    const p = a.allocate(64);
    assert.equal(p, I.base, "the first slot of page 1");
    const notLive = isError(
      InvalidPointerError,
      /^ConcurrentHeap\.free: .* is not a live block of this heap/,
    );
    assert.throws(() => a.free(I.base + a.stats().pages * PAGE), notLive);
    assert.throws(() => a.free(p + 8), notLive);
    assert.equal(a.sizeOf(p), 64);
    assert.equal(a.corruptionEvents(), 0);
    assert.equal(a.stats().frees, 0);
    a.validate();
  });

  test("owners entries that name a free page or a large block's inner granule free nothing (the free fails closed)", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(10 << 16));
    const b = ConcurrentHeap.attach(a.share());
    const I = internals(a);
    const freed = a.allocate(PAGE + 1); // pages 1 and 2, then freed: two free pages
    a.free(freed);
    const large = a.allocate(3 * PAGE); // from the cursor: pages 3 to 5
    assert.equal(pageOf(a, large), 3);
    I.owners[0] = 1; // page 1 is free, class 0
    I.owners[2 * PAGE_GRANULES + 1] = 3; // the second granule of the large block's head page
    const before = a.stats();
    for (const h of [a, b]) {
      assert.throws(() => h.free(I.base), InvalidPointerError);
      assert.throws(() => h.free(large + 16), InvalidPointerError);
    }
    assert.deepEqual(a.stats(), before);
    assert.equal(a.sizeOf(large), 3 * PAGE);
    assert.equal(I.owners[0], 1, "the entry is left as it was");
  });

  test("a remote free flags its page's owner in the owner's slot, whatever its id", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const b = ConcurrentHeap.attach(a.share());
    const c = ConcurrentHeap.attach(a.share());
    const p = c.allocate(64); // c's page (owner id 3)
    const i32 = a.memory.i32;
    const slots = i32[(a.share().control >>> 2) + 5]! >>> 2;
    const pending = (worker: number): number => i32[slots + worker * 32 + 2]!;
    a.free(p);
    assert.deepEqual([pending(0), pending(1), pending(2)], [0, 0, 1]);
    void b;
    // c's next refill collects it: the slot comes back to c
    const blocks = Array.from({ length: 1024 }, () => c.allocate(64));
    assert.ok(blocks.includes(p));
    assert.equal(pending(2), 0);
  });
});
