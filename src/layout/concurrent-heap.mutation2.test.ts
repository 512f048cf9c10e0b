// ConcurrentHeap: the paths its step-by-step and shadow-model tests leave unasserted, each checked for what it
// returns, refuses (with the message) or leaves in the shared tables. Written for the mutants of the concurrent
// heap's group (docs/TESTING.md, `npm run mutate -- concurrent-heap`), so that the slow OS tests (processes sharing
// a mapping, NUMA placement), the trace replays and the real workers can stay out of that group: a fake
// `ProcessSharing` and a counting `PagePlacement` stand in for the addon's here.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  CorruptionError,
  InvalidPointerError,
  LayoutError,
  Memory,
  NULL,
  type PagePlacement,
  type PlacementStats,
  type ProcessSharing,
  SharedArrayBufferBacked,
  StaticBacked,
  Statistics,
  UnsupportedError,
} from "../index.js";
import { ConcurrentHeap, LAYOUT } from "./concurrent-heap.js";
import { REMOTE } from "./page-engine.js";
import { isError } from "../../test/helpers/assertions.js";

const { PAGE, PAGE_GRANULES, H_WORDS, H_OWNER, H_CLASS, H_REMOTE, SLOT_WORDS } = LAYOUT;
const { C_PAGES, C_NEXT_PAGE, C_SLOTS, C_HEADERS, C_OWNERS, C_BITS, C_PAGES_AT } = LAYOUT;
const { S_PENDING, S_RECLAIM, S_PID, S_STAMP } = LAYOUT;

/** The shared tables of a heap, read from its memory as another process would (control block at `control`). */
function tables(h: ConcurrentHeap) {
  const control = h.share().control;
  const i32 = h.memory.i32;
  const c = control >>> 2;
  const word = (k: number): number => i32[c + k]!;
  const header = (page: number, field: number): number =>
    (word(C_HEADERS) >>> 2) + (page - 1) * H_WORDS + field;
  const slot = (worker: number, field: number): number => (word(C_SLOTS) >>> 2) + worker * SLOT_WORDS + field;
  const owner = (p: number): number => (word(C_OWNERS) >>> 1) + ((p - word(C_PAGES_AT)) >>> 4);
  const pageOf = (p: number): number => ((p - word(C_PAGES_AT)) >>> 16) + 1;
  return { control, i32, u16: h.memory.u16, word, header, slot, owner, pageOf };
}

/** Two workers of one heap in this thread. */
function pair(bytes = 1 << 20): [ConcurrentHeap, ConcurrentHeap] {
  const a = new ConcurrentHeap(new SharedArrayBufferBacked(bytes));
  return [a, ConcurrentHeap.attach(a.share())];
}

/** A placement that records every call. */
function recording(): PagePlacement & { calls: [number, number][] } {
  const calls: [number, number][] = [];
  const stats = (): PlacementStats => ({
    policy: "record",
    node: -1,
    nodes: [],
    pagesPlaced: calls.length,
    pagesVerified: 0,
    mismatches: 0,
    enforced: false,
  });
  return { calls, place: (offset, length) => void calls.push([offset, length]), stats };
}

describe("ConcurrentHeap refuses what it cannot serve, naming what was wrong", () => {
  test("a backing that is no range, not shared, too small; an attach to no heap or with no descriptor", () => {
    assert.throws(
      () => new ConcurrentHeap({} as never),
      isError(AllocError, /^ConcurrentHeap: the backing must be a FixedRange$/),
    );
    assert.throws(
      () => new ConcurrentHeap(new ArrayBufferBacked(1 << 20)),
      isError(AllocError, /^ConcurrentHeap: the memory must be shared \(SharedArrayBufferBacked/),
    );
    assert.throws(
      () => new ConcurrentHeap(new SharedArrayBufferBacked(1 << 16)),
      isError(AllocError, /^ConcurrentHeap: the range is too small for one 64 KiB page$/),
    );
    const notHeap = isError(AllocError, /^ConcurrentHeap\.attach: not a ConcurrentHeap descriptor$/);
    assert.throws(() => ConcurrentHeap.attach(undefined as never), notHeap);
    assert.throws(() => ConcurrentHeap.attach({ kind: "Heap" } as never), notHeap);
    const empty = new SharedArrayBuffer(1 << 20);
    assert.throws(
      () => ConcurrentHeap.attach({ kind: "ConcurrentHeap", source: empty, control: 256 }),
      isError(AllocError, /^ConcurrentHeap\.attach: no heap is formatted at that offset$/),
    );
  });

  test("the heap takes as many 64 KiB pages as the range holds with their tables, and no more", () => {
    // 2 << 16 holds one page; at 159,744 bytes the first estimate (range / bytes per page) says two, the tables' 64 KiB
    // alignment leaves room for one
    for (const bytes of [2 << 16, 159744, 3 << 16, 5 << 16, (17 << 16) + 4096, 40 << 16]) {
      const backing = new SharedArrayBufferBacked(bytes);
      const h = new ConcurrentHeap(backing);
      const t = tables(h);
      const n = t.word(C_PAGES);
      const end = backing.base() + backing.size();
      assert.equal(h.stats().pages, n);
      assert.equal(h.capacityBytes(), n * PAGE);
      assert.equal(t.word(C_PAGES_AT) % PAGE, 0, "pages are 64 KiB-aligned");
      assert.ok(t.word(C_PAGES_AT) + n * PAGE <= end, `${bytes}: the pages fit`);
      // the tables for one more page, and the pages after them: past the range
      const headers = t.control + 256 + 64 * 128;
      const bits = headers + (n + 1) * 64 + (n + 1) * PAGE_GRANULES * 2;
      const pagesAt = (bits + (n + 1) * (PAGE_GRANULES / 32) * 4 + PAGE - 1) & ~(PAGE - 1);
      assert.ok(pagesAt + (n + 1) * PAGE > end, `${bytes}: ${n + 1} pages would not fit`);
      assert.equal(t.word(C_HEADERS), headers);
      assert.equal(t.word(C_OWNERS), headers + n * 64);
      assert.equal(t.word(C_BITS), headers + n * 64 + n * PAGE_GRANULES * 2);
      const bitsEnd = t.word(C_BITS) + n * (PAGE_GRANULES / 8);
      assert.ok(
        t.word(C_PAGES_AT) >= bitsEnd && t.word(C_PAGES_AT) < bitsEnd + PAGE,
        "pages right after the bits",
      );
      // every page is never used, and every page can be had
      for (let page = 1; page <= n; page++) assert.equal(t.i32[t.header(page, H_OWNER)], -2);
      const all = Array.from({ length: n }, () => h.allocate(PAGE));
      assert.ok(all.every((p) => p !== NULL));
      assert.equal(h.allocate(PAGE), NULL);
      h.validate();
    }
  });

  test("tables that end exactly at a 64 KiB boundary: the pages start there", () => {
    // control at 22,016: the tables of 4 pages end at 65,536, and 4 pages fill the memory to its end
    const h = new ConcurrentHeap(
      new StaticBacked(Memory.of(new SharedArrayBuffer(5 * PAGE)), { offset: 22016 }),
    );
    assert.equal(h.share().control, 22016);
    assert.equal(tables(h).word(C_PAGES_AT), PAGE);
    assert.equal(h.stats().pages, 4);
  });

  test("a growable memory not grown to the range yet: no heap is read past its end; formatting grows it", () => {
    const sab = new SharedArrayBuffer(PAGE, { maxByteLength: 4 << 20 });
    const h = new ConcurrentHeap(new StaticBacked(Memory.of(sab), { offset: PAGE })); // control at the end
    assert.equal(h.share().control, PAGE);
    assert.equal(sab.byteLength, 4 << 20);
    const b = ConcurrentHeap.attach(h.share());
    b.free(h.allocate(64));
    h.validate();
  });

  test("formatting clears the tables of an earlier heap in the range (once its workers left)", () => {
    const backing = new SharedArrayBufferBacked(6 << 16);
    const a = new ConcurrentHeap(backing);
    const b = ConcurrentHeap.attach(a.share());
    b.free(a.allocate(64)); // a remote free: a REMOTE entry, a bit, a header count
    a.allocate(PAGE * 2);
    a.release(); // abandons the page of class 64, keeps the large block live
    b.release();
    const c = new ConcurrentHeap(backing);
    const t = tables(c);
    assert.equal(t.word(C_NEXT_PAGE), 0);
    for (let i = t.word(C_OWNERS) >>> 1; i < (t.word(C_OWNERS) >>> 1) + t.word(C_PAGES) * PAGE_GRANULES; i++)
      assert.equal(t.u16[i], 0);
    for (let i = t.word(C_BITS) >>> 2; i < t.word(C_PAGES_AT) >>> 2; i++) assert.equal(t.i32[i], 0);
    assert.equal(c.stats().frees, 0);
    assert.equal(c.stats().pagesInUse, 0);
    assert.equal(c.stats().workers, 1);
    c.validate();
  });

  test("a wrapper as the range, a backing that cannot commit the heap, a heap whose only worker has an id above 31", () => {
    assert.throws(
      () => new ConcurrentHeap(new Statistics(new SharedArrayBufferBacked(1 << 20)) as never),
      isError(AllocError, /^ConcurrentHeap: Statistics as the range under ConcurrentHeap would do nothing/),
    );
    const stuck = Object.assign(new SharedArrayBufferBacked(1 << 20), { commit: () => false });
    assert.throws(
      () => new ConcurrentHeap(stuck),
      isError(AllocError, /^ConcurrentHeap: the backing cannot commit the heap \(a growable memory/),
    );
    const backing = new SharedArrayBufferBacked(1 << 20);
    const a = new ConcurrentHeap(backing);
    const workers = Array.from({ length: 32 }, () => ConcurrentHeap.attach(a.share()));
    const last = workers.pop()!;
    assert.equal(last.workerId, 32);
    for (const w of [a, ...workers]) w.release();
    assert.equal(last.stats().workers, 1);
    assert.throws(() => new ConcurrentHeap(backing), isError(AllocError, /workers are attached to/));
    last.release();
    assert.doesNotThrow(() => new ConcurrentHeap(backing));
  });

  test("a heap over the upper part of a memory: its tables and pages are found from its control block", () => {
    const memory = Memory.of(new SharedArrayBuffer(4 << 20));
    const a = new ConcurrentHeap(new StaticBacked(memory, { offset: 2 << 20 }));
    const d = a.share();
    assert.equal(d.control, 2 << 20);
    const b = ConcurrentHeap.attach(d);
    const p = a.allocate(64);
    const q = b.allocate(PAGE + 1);
    assert.ok(p > 2 << 20 && q > 2 << 20);
    b.free(p);
    a.free(q);
    a.validate();
    b.validate();
    assert.equal(a.stats().pages, b.stats().pages);
  });

  test("owners entries that contradict the page table make no block live for sizeOf (it fails closed)", () => {
    const [a] = pair(12 << 16);
    const t = tables(a);
    const large = a.allocate(2 * PAGE);
    const page = t.pageOf(large);
    t.u16[t.owner(large) + 1] = page; // an entry past a large span's head
    assert.equal(a.sizeOf(large + 16), -1);
    t.u16[t.owner(large + PAGE)] = page + 1; // an entry in its tail page (class 0)
    assert.equal(a.sizeOf(large + PAGE), -1);
    const free = t.word(C_NEXT_PAGE) + 1; // a never-used page: class 0
    const at = t.word(C_PAGES_AT) + (free - 1) * PAGE;
    t.u16[t.owner(at)] = free;
    assert.equal(a.sizeOf(at), -1);
    assert.equal(a.sizeOf(large), 2 * PAGE);
  });

  test("freeRaw frees a block sizeOf reported live", () => {
    const [a, b] = pair();
    const p = a.allocate(64);
    assert.equal(b.sizeOf(p), 64);
    b.freeRaw(p);
    assert.equal(a.sizeOf(p), -1);
    assert.equal(a.stats().remoteFrees, 1);
  });

  test("64 workers at most; a worker that leaves frees its slot, and leaving twice frees nobody else's", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(1 << 20));
    const workers = [a];
    for (let i = 1; i < 64; i++) workers.push(ConcurrentHeap.attach(a.share()));
    assert.deepEqual(
      workers.map((w) => w.workerId),
      Array.from({ length: 64 }, (_, i) => i),
    );
    assert.equal(a.stats().workers, 64);
    assert.throws(
      () => ConcurrentHeap.attach(a.share()),
      isError(AllocError, /^ConcurrentHeap: 64 workers are attached already$/),
    );
    workers[40]!.release();
    assert.equal(a.stats().workers, 63);
    const again = ConcurrentHeap.attach(a.share());
    assert.equal(again.workerId, 40);
    workers[40]!.release(); // idempotent: the slot is the new worker's now
    assert.equal(a.stats().workers, 64);
    workers[3]!.release();
    assert.equal(a.stats().workers, 63);
  });

  test("a worker that takes a freed slot starts from a clean slot: no counts, no flags, no intent of the last one", () => {
    const [a, b] = pair(8 << 16);
    const t = tables(a);
    const d = ConcurrentHeap.attach(a.share()); // the slot after b's
    d.free(d.allocate(64));
    const p = b.allocate(64);
    a.free(p); // a remote free: a's free count, b's pending flag
    b.free(b.allocate(64));
    assert.equal(a.reclaim(b.workerId), 1);
    const id = b.workerId;
    const at = t.slot(id, 0);
    for (let k = 0; k < SLOT_WORDS; k++) t.i32[at + k] = k === S_PID || k === S_STAMP ? 0 : 5; // stale words
    t.i32[at + 6] = 0; // no intent (a stale one names pages)
    const c = ConcurrentHeap.attach(a.share());
    assert.equal(c.workerId, id);
    for (let k = 0; k < SLOT_WORDS; k++) assert.equal(t.i32[at + k], 0, `word ${k} of the slot`);
    assert.equal(a.stats().frees, 2, "only a's and d's: the slot after c's is left alone");
    c.allocate(64);
    assert.equal(a.reclaim(c.workerId), 1, "the new worker can be reclaimed: its flag was cleared");
  });

  test("malloc out of memory, reset, share over a mapping processes share", () => {
    const [a] = pair();
    assert.throws(
      () => a.malloc(1 << 24),
      isError(AllocError, /^ConcurrentHeap\.malloc: out of memory: 16777216 bytes requested$/),
    );
    assert.throws(
      () => a.reset(),
      isError(UnsupportedError, /^ConcurrentHeap\.reset: not supported: other workers may hold blocks/),
    );
    const mapped = Object.assign(new ArrayBufferBacked(1 << 20), { processSharing: fakeSharing(7, 1) });
    const m = new ConcurrentHeap(mapped);
    assert.throws(
      () => m.share(),
      isError(UnsupportedError, /^ConcurrentHeap\.share: this heap is in a mapping processes share/),
    );
    assert.notEqual(m.malloc(64), NULL);
    const d = a.share();
    assert.equal(d.kind, "ConcurrentHeap");
    assert.equal(d.source, a.memory.source);
  });

  test("deallocate, grow, shrink and usableSize check the block and the layout before they touch it", () => {
    const [a, b] = pair();
    const p = a.allocate(64);
    const q = a.allocate(64);
    const odd = p % 128 === 64 ? p : q; // slots of 64 bytes: one of two neighbours is at 64 mod 128
    assert.equal(odd % 128, 64);
    const free = a.allocate(64);
    a.free(free);
    for (const [name, call] of [
      ["deallocate", (x: number) => a.deallocate(x, 64)],
      ["grow", (x: number) => a.grow(x, 64, 100)],
      ["shrink", (x: number) => a.shrink(x, 64, 32)],
      ["usableSize", (x: number) => a.usableSize(x, 64)],
    ] as const) {
      for (const bad of [free, p + 16, 1.5]) {
        assert.throws(
          () => call(bad),
          isError(
            InvalidPointerError,
            new RegExp(`^ConcurrentHeap\\.${name}: .* is not a live block of this heap`),
          ),
          `${name}(${bad})`,
        );
      }
    }
    const wrong = (name: string, size: number, align: number): ((e: unknown) => boolean) =>
      isError(
        LayoutError,
        new RegExp(
          `^ConcurrentHeap\\.${name}: block .* holds 64 bytes, aligned to its address; it cannot have been allocated with size ${size} and align ${align}$`,
        ),
      );
    assert.throws(() => a.deallocate(p, 65), wrong("deallocate", 65, 8));
    assert.throws(() => a.deallocate(odd, 64, 128), wrong("deallocate", 64, 128));
    assert.throws(() => a.grow(p, 65, 100), wrong("grow", 65, 8));
    assert.throws(() => a.grow(odd, 64, 100, 128), wrong("grow", 64, 128));
    assert.throws(() => a.shrink(p, 65, 32), wrong("shrink", 65, 8));
    assert.throws(() => a.shrink(odd, 64, 32, 128), wrong("shrink", 64, 128));
    assert.throws(() => a.usableSize(p, 65), wrong("usableSize", 65, 1));
    assert.throws(() => a.deallocate(p, 0), isError(LayoutError, /^ConcurrentHeap\.deallocate/));
    assert.throws(() => a.deallocate(p, 8, 3), isError(LayoutError, /^ConcurrentHeap\.deallocate/));
    assert.throws(() => a.usableSize(p, 0), isError(LayoutError, /^ConcurrentHeap\.usableSize/));
    assert.throws(() => a.grow(p, 64, 32), isError(LayoutError, /^ConcurrentHeap\.grow/));
    assert.throws(() => a.shrink(p, 32, 64), isError(LayoutError, /^ConcurrentHeap\.shrink/));
    assert.equal(a.stats().frees, 1, "nothing was freed by the refused calls");
    assert.equal(a.usableSize(p, 64), 64);
    assert.equal(a.usableSize(p, 1), 64);
    assert.equal(a.shrink(p, 64, 8), p);
    assert.equal(a.grow(p, 60, 64), p, "a grow within the class stays");
    a.memory.u8.fill(0xab, p, p + 64);
    const moved = a.grow(p, 64, 200);
    assert.notEqual(moved, p);
    assert.equal(a.usableSize(moved, 200), 224);
    assert.ok(
      a.memory.u8.subarray(moved, moved + 64).every((x) => x === 0xab),
      "the bytes moved",
    );
    assert.equal(a.sizeOf(p), -1, "the old block was freed");
    b.deallocate(q, 64, 16); // a remote sized free
    assert.equal(a.sizeOf(q), -1);
    a.deallocate(moved, 200);
    assert.deepEqual([a.stats().frees, a.stats().remoteFrees], [4, 1]);
    a.validate();
  });

  test("reclaim refuses anything but the id of another attached worker, and a worker another is reclaiming", () => {
    const [a, b] = pair();
    const c = ConcurrentHeap.attach(a.share());
    c.release(); // id 2: not attached
    for (const bad of [1.5, -1, 64, a.workerId, 2, Number.NaN]) {
      assert.throws(
        () => a.reclaim(bad),
        isError(
          AllocError,
          new RegExp(
            `^ConcurrentHeap\\.reclaim: .* is not the id of another worker attached to this heap \\(0 to 63, not ${a.workerId}, its own\\)$`,
          ),
        ),
        String(bad),
      );
    }
    const t = tables(a);
    t.i32[t.slot(b.workerId, S_RECLAIM)] = 1;
    assert.throws(
      () => a.reclaim(b.workerId),
      isError(AllocError, /^ConcurrentHeap\.reclaim: worker 1 is being reclaimed by another worker$/),
    );
    assert.equal(a.stats().workers, 2, "b is still attached");
    t.i32[t.slot(b.workerId, S_RECLAIM)] = 0;
    b.allocate(64);
    assert.equal(a.reclaim(b.workerId), 1);
    assert.equal(a.stats().workers, 1);
  });
});

describe("ConcurrentHeap's blocks: sizes, alignment, zeroing, frees of every kind", () => {
  test("sizeOf: a class for a small block, the pages for a large one, -1 for anything else", () => {
    const [a, b] = pair(12 << 16);
    const t = tables(a);
    const small = a.allocate(100);
    const large = a.allocate(2 * PAGE + 1);
    assert.equal(a.sizeOf(small), 112);
    assert.equal(b.sizeOf(small), 112, "any worker may ask");
    assert.equal(a.sizeOf(large), 3 * PAGE);
    for (const bad of [large + PAGE, large + 16, small + 16, small + 8, 1.5, "x", t.word(C_PAGES_AT) - 16])
      assert.equal(a.sizeOf(bad), -1, String(bad));
    assert.equal(a.sizeOf(t.word(C_PAGES_AT) + t.word(C_PAGES) * PAGE), -1, "past the pages");
    b.free(small); // REMOTE until collected
    assert.equal(t.u16[t.owner(small)], REMOTE);
    assert.equal(a.sizeOf(small), -1);
    b.free(large);
    assert.equal(a.sizeOf(large), -1);
    assert.throws(() => a.free(large), InvalidPointerError, "a large block is freed once");
  });

  test("a large block freed by any worker gives its pages back; its inner pages are no blocks", () => {
    const [a, b] = pair(12 << 16);
    const t = tables(a);
    const large = a.allocate(3 * PAGE);
    const page = t.pageOf(large);
    const rest = t.word(C_PAGES) - 3;
    assert.notEqual(a.allocate(rest * PAGE), NULL, "the cursor is at the end now");
    assert.deepEqual(
      [0, 1, 2].map((j) => [t.i32[t.header(page + j, H_OWNER)], t.i32[t.header(page + j, H_CLASS)]]),
      [
        [1, -3],
        [1, 0],
        [1, 0],
      ],
    );
    for (const inner of [large + PAGE, large + 2 * PAGE, large + 64])
      assert.throws(
        () => b.free(inner),
        isError(InvalidPointerError, /^ConcurrentHeap\.free: .* is not a live block/),
      );
    const before = a.stats();
    b.free(large);
    const after = a.stats();
    assert.equal(after.pagesInUse, before.pagesInUse - 3);
    assert.equal(after.frees, before.frees + 1);
    assert.equal(after.remoteFrees, before.remoteFrees, "a large block's free is no remote free");
    for (let j = 0; j < 3; j++) {
      assert.equal(t.i32[t.header(page + j, H_OWNER)], 0);
      assert.equal(t.i32[t.header(page + j, H_CLASS)], 0);
    }
    assert.equal(t.u16[t.owner(large)], 0);
    // the freed run serves the next large block
    const used = t.word(C_NEXT_PAGE);
    const again = b.allocate(3 * PAGE);
    assert.equal(again, large);
    assert.equal(t.word(C_NEXT_PAGE), used, "taken from the freed pages, not the cursor");
    a.validate();
    b.validate();
  });

  test("alignments above 16 take a power-of-two class aligned to it; above 64 KiB nothing", () => {
    const [a] = pair(24 << 16);
    for (const [size, align, usable] of [
      [10, 32, 32],
      [33, 32, 64],
      [100, 64, 128],
      [10, 4096, 4096],
      [5000, 1024, 8192],
      [16384, 16384, 16384],
      [100, 16384, 16384],
    ] as const) {
      const p = a.allocate(size, align);
      assert.equal(p % align, 0, `${size}/${align}`);
      assert.equal(a.sizeOf(p), usable, `${size}/${align}`);
    }
    const big = a.allocate(PAGE + 1, PAGE);
    assert.equal((big - tables(a).word(C_PAGES_AT)) % PAGE, 0);
    assert.equal(a.sizeOf(big), 2 * PAGE);
    const wide = a.allocate(20000, 32);
    assert.equal(a.sizeOf(wide), PAGE, "above 16 KiB with an alignment above 16: a large block");
    assert.equal(a.allocate(64, 2 * PAGE), NULL);
    assert.equal(a.allocate(2 * PAGE, 2 * PAGE), NULL);
    a.validate();
  });

  test("allocateZeroed zeroes the block a freed one's bytes are in; out of memory it returns NULL", () => {
    const [a] = pair(3 << 16);
    const p = a.allocate(256);
    a.memory.u8.fill(0xcd, p - 16, p + 272);
    a.free(p);
    const z = a.allocateZeroed(250, 16);
    assert.equal(z, p);
    assert.ok(a.memory.u8.subarray(z, z + 250).every((x) => x === 0));
    assert.equal(a.memory.u8[z + 250], 0xcd, "only the bytes asked for");
    assert.equal(a.memory.u8[z - 1], 0xcd);
    assert.equal(a.allocateZeroed(1 << 22), NULL);
    assert.equal(a.memory.u8[z + 250], 0xcd, "a refused request writes nothing");
    a.validate();
  });

  test("stats: allocations, frees, remote frees and pages in use across workers", () => {
    const [a, b] = pair();
    const mine = Array.from({ length: 5 }, () => a.allocate(64));
    const large = b.allocate(PAGE + 1);
    a.free(mine[0]!);
    b.free(mine[1]!);
    b.free(mine[2]!);
    const s = a.stats();
    assert.deepEqual(
      { ...s },
      { allocations: 6, frees: 3, remoteFrees: 2, pagesInUse: 3, pages: s.pages, workers: 2 },
    );
    assert.equal(s.placement, undefined);
    b.free(large);
    assert.equal(b.stats().pagesInUse, 1);
    assert.equal(b.stats().allocations, 6);
  });

  test("a remote free marks the block REMOTE, sets its bit and flags the owner; the owner collects it once", () => {
    const [a, b] = pair();
    const t = tables(a);
    const blocks = Array.from({ length: 1024 }, () => a.allocate(64)); // page 1 full
    const p = blocks[100]!;
    const g = (p - t.word(C_PAGES_AT)) >>> 4;
    b.free(p);
    assert.equal(t.u16[t.owner(p)], REMOTE);
    assert.equal(t.i32[(t.word(C_BITS) >>> 2) + (g >>> 5)]!, 1 << (g & 31));
    assert.equal(t.i32[t.header(1, H_REMOTE)], 1);
    assert.equal(t.i32[t.slot(a.workerId, S_PENDING)], 1);
    assert.equal(t.i32[t.slot(b.workerId, S_PENDING)], 0);
    assert.throws(() => b.free(p), InvalidPointerError);
    assert.throws(() => a.free(p), InvalidPointerError);
    assert.equal(a.allocate(64), p, "the refill collects it and hands it out first");
    assert.equal(t.i32[t.slot(a.workerId, S_PENDING)], 0);
    assert.equal(t.i32[t.header(1, H_REMOTE)], 0);
    assert.equal(t.i32[(t.word(C_BITS) >>> 2) + (g >>> 5)], 0);
    assert.equal(a.corruptionEvents(), 0);
    a.validate();
  });

  test("an owners entry naming another page is a corruption for every free; a REMOTE one is only not live", () => {
    const [a, b] = pair();
    const t = tables(a);
    const p = a.allocate(64);
    const q = a.allocate(64);
    b.free(q);
    assert.throws(() => b.free(q), isError(InvalidPointerError, /^ConcurrentHeap\.free: /));
    assert.equal(b.corruptionEvents(), 0);
    t.u16[t.owner(p)] = 3;
    assert.throws(
      () => a.free(p),
      isError(
        CorruptionError,
        /^ConcurrentHeap\.free: the owners entry of .* names page 3, not its page 1 \(the heap's tables were overwritten\)$/,
      ),
    );
    assert.equal(a.corruptionEvents(), 1);
  });
});

describe("ConcurrentHeap.release: what a leaving worker leaves in the shared tables", () => {
  test("pages with live blocks abandoned (once each), empty ones free, remote frees collected first, lists emptied", () => {
    const [a, b] = pair(16 << 16);
    const t = tables(a);
    const live = a.allocate(64); // page of class 64: one live block (current)
    const remote = a.allocate(1024); // page of class 1024: its only block freed by b (current)
    const local = a.allocate(48);
    a.free(local); // page of class 48: empty, current
    const cap256 = 256;
    const full = Array.from({ length: cap256 + 1 }, () => a.allocate(256)); // a full page of class 256, then one
    a.free(full[0]!); // the full page becomes partial: on its class's list
    b.free(remote);
    const pages = [live, remote, local, full[0]!, full.at(-1)!].map((p) => t.pageOf(p));
    assert.equal(new Set(pages).size, 5);
    const generation = t.i32[(t.control >>> 2) + 4]!;
    a.release();
    assert.deepEqual(
      pages.map((page) => t.i32[t.header(page, H_OWNER)]),
      [-1, 0, 0, -1, -1],
    );
    assert.deepEqual(
      pages.map((page) => t.i32[t.header(page, H_CLASS)]),
      [64, 0, 0, 256, 256],
    );
    assert.equal(
      t.i32[(t.control >>> 2) + 4],
      generation + 3,
      "the generation moves on for each abandoned page",
    );
    assert.equal(t.u16[t.owner(remote)], 0, "collected, not left REMOTE");
    assert.equal(a.stats().workers, 1);
    a.validate(); // its records and lists are empty: no page is left on a list
    b.validate();
    a.release();
    assert.equal(t.i32[(t.control >>> 2) + 4], generation + 3);
    // b adopts the abandoned pages: every block a left live is still live, and b serves the rest
    assert.equal(b.sizeOf(live), 64);
    b.free(live);
    for (const p of full.slice(1)) b.free(p);
    b.validate();
  });
});

describe("ConcurrentHeap: collected and adopted pages whose shared tables were overwritten", () => {
  test("a REMOTE entry that is no slot of the page is counted as a corruption and not pushed", () => {
    const [a] = pair();
    const t = tables(a);
    const blocks = Array.from({ length: 1365 }, () => a.allocate(48)); // page 1: 1365 slots of 48 bytes, full
    assert.equal(t.pageOf(blocks.at(-1)!), 1);
    const base = t.word(C_PAGES_AT);
    // granule 1 (16 bytes into slot 0) and granule 4095 (past the last slot, 65,520 bytes in)
    for (const g of [1, 4095]) {
      t.u16[(t.word(C_OWNERS) >>> 1) + g] = REMOTE;
      t.i32[(t.word(C_BITS) >>> 2) + (g >>> 5)]! |= 1 << (g & 31);
    }
    t.i32[t.header(1, H_REMOTE)] = 2;
    t.i32[t.slot(a.workerId, S_PENDING)] = 1;
    const next = a.allocate(48);
    assert.equal(t.pageOf(next), 2, "nothing came back to page 1");
    assert.equal(a.corruptionEvents(), 2);
    assert.ok(next !== base + 16 && next !== base + 4095 * 16);
  });

  test("an abandoned page whose header names no class is kept out of use, counted", () => {
    const [a, b] = pair();
    const t = tables(a);
    const kept = b.allocate(64);
    b.release();
    const page = t.pageOf(kept);
    assert.equal(t.i32[t.header(page, H_OWNER)], -1);
    t.i32[t.header(page, H_CLASS)] = 72;
    const got = a.allocate(64);
    assert.equal(a.corruptionEvents(), 1);
    assert.equal(t.i32[t.header(page, H_OWNER)], a.workerId + 1, "taken (by its CAS) but not used");
    assert.notEqual(t.pageOf(got), page);
    assert.equal(t.u16[t.owner(kept)], page, "its block is left as it was");
  });

  test("an adopted page: its free and REMOTE slots are on the stack; its live blocks stay live", () => {
    const [a, b] = pair();
    const t = tables(a);
    const blocks = Array.from({ length: 10 }, () => b.allocate(1024));
    b.free(blocks[1]!);
    a.free(blocks[2]!); // remote: REMOTE in owners, collected by nobody before b leaves
    b.release();
    const page = t.pageOf(blocks[0]!);
    const got = new Set(Array.from({ length: 64 - 8 }, () => a.allocate(1024)));
    assert.equal(t.i32[t.header(page, H_OWNER)], a.workerId + 1);
    assert.ok(got.has(blocks[1]!) && got.has(blocks[2]!));
    assert.ok(
      blocks.every((p, i) => i === 1 || i === 2 || !got.has(p)),
      "no live block is handed out",
    );
    assert.ok(
      [...got].every((p) => t.pageOf(p) === page),
      "all from the adopted page",
    );
    for (const p of [0, 3, 4].map((i) => blocks[i]!)) assert.equal(a.sizeOf(p), 1024);
    assert.equal(t.u16[t.owner(blocks[2]!)], page, "the REMOTE entry became the block handed out");
    a.validate();
  });
});

/** A fake `ProcessSharing`: `dead` pids are ended; `onAlive` runs inside each `alive` call. */
function fakeSharing(pid: number, stamp: number, dead = new Set<number>(), onAlive?: (pid: number) => void) {
  const asked: [number, number][] = [];
  const sharing: ProcessSharing & { asked: [number, number][] } = {
    pid,
    stamp,
    asked,
    alive: (p, s) => {
      asked.push([p, s]);
      onAlive?.(p);
      return !dead.has(p);
    },
  };
  return sharing;
}

/** Two "processes" over one shared memory (backings whose `processSharing` a test controls). */
function processes(dead = new Set<number>(), onAlive?: (pid: number) => void) {
  const memory = Memory.of(new SharedArrayBuffer(1 << 20));
  const mapped = (pid: number, stamp: number) =>
    Object.assign(new StaticBacked(memory), { processSharing: fakeSharing(pid, stamp, dead, onAlive) });
  const first = mapped(100, 11);
  const a = new ConcurrentHeap(first);
  const b = ConcurrentHeap.join(mapped(200, 22));
  return { memory, a, b, sharing: first.processSharing, dead };
}

describe("ConcurrentHeap over a memory processes share: reclaimDead", () => {
  test("each worker slot records its process's pid and start stamp; a thread's slot records none", () => {
    const { a, b } = processes();
    const t = tables(a);
    assert.deepEqual([t.i32[t.slot(a.workerId, S_PID)], t.i32[t.slot(a.workerId, S_STAMP)]], [100, 11]);
    assert.deepEqual([t.i32[t.slot(b.workerId, S_PID)], t.i32[t.slot(b.workerId, S_STAMP)]], [200, 22]);
    const [c] = pair();
    const d = ConcurrentHeap.attach(c.share());
    const u = tables(c);
    assert.deepEqual([u.i32[u.slot(d.workerId, S_PID)], u.i32[u.slot(d.workerId, S_STAMP)]], [0, 0]);
    assert.deepEqual(c.reclaimDead(), [], "no processes: nothing to reclaim");
  });

  test("a worker of a process that ended is taken over: its pages abandoned for adoption, its slot freed", () => {
    const { a, b, sharing, dead } = processes();
    const t = tables(a);
    const p = b.allocate(64);
    const large = b.allocate(PAGE + 1);
    assert.deepEqual(a.reclaimDead(), [], "b's process runs");
    assert.deepEqual(sharing.asked, [[200, 22]], "asked about b's process with its stamp, not its own");
    dead.add(200);
    assert.deepEqual(a.reclaimDead(), [b.workerId]);
    assert.equal(a.stats().workers, 1);
    assert.equal(t.i32[t.header(t.pageOf(p), H_OWNER)], -1, "abandoned");
    assert.equal(t.i32[t.slot(b.workerId, S_PID)], 0);
    assert.equal(t.i32[t.slot(b.workerId, S_RECLAIM)], 1, "its flag stays until a new worker takes the slot");
    assert.equal(a.sizeOf(p), 64, "its blocks stay live");
    assert.equal(a.sizeOf(large), 2 * PAGE);
    a.free(p);
    a.free(large);
    assert.deepEqual(a.reclaimDead(), [], "only once");
    a.validate();
  });

  test("a dead process's worker whose slot is taken meanwhile, or flagged by another reclaimer, is left alone", () => {
    const { a, b, dead } = processes();
    const t = tables(a);
    b.allocate(64);
    dead.add(200);
    t.i32[t.slot(b.workerId, S_RECLAIM)] = 1; // another reclaimer holds the flag
    assert.deepEqual(a.reclaimDead(), []);
    assert.equal(a.stats().workers, 2);
    t.i32[t.slot(b.workerId, S_RECLAIM)] = 0;
    // a new process claims the slot while this one asks whether the old one is alive
    const memory = b.memory;
    const racing = processesOver(memory, dead, (pid) => {
      if (pid === 200) Atomics.store(t.i32, t.slot(b.workerId, S_PID), 300);
    });
    assert.deepEqual(racing.reclaimDead(), []);
    assert.equal(t.i32[t.slot(b.workerId, S_RECLAIM)], 0, "the flag is given back");
    assert.equal(a.stats().workers, 3);
    // the same when only the stamp changed (a later process with the same pid)
    t.i32[t.slot(b.workerId, S_PID)] = 200;
    const stamped = processesOver(memory, dead, (pid) => {
      if (pid === 200) Atomics.store(t.i32, t.slot(b.workerId, S_STAMP), 23);
    });
    assert.deepEqual(stamped.reclaimDead(), []);
    assert.equal(t.i32[t.slot(b.workerId, S_RECLAIM)], 0);
    t.i32[t.slot(b.workerId, S_STAMP)] = 22;
    assert.deepEqual(a.reclaimDead(), [b.workerId]);
  });

  test("workers of its own process and slots with no pid are never reclaimed", () => {
    const { a, memory } = processes(new Set([100, 200]));
    const sibling = ConcurrentHeap.join(
      Object.assign(new StaticBacked(memory), { processSharing: fakeSharing(100, 11) }),
    );
    const thread = new ConcurrentHeap(new StaticBacked(memory), true); // no processSharing: pid 0
    assert.deepEqual(
      a.reclaimDead().sort((x, y) => x - y),
      [1],
      "only b (pid 200): not the sibling of pid 100, not the thread",
    );
    assert.equal(a.stats().workers, 3);
    void sibling;
    void thread;
  });
});

/** Another process joining the heap in `memory` (pid 400), whose `alive` runs `onAlive`. */
function processesOver(memory: Memory, dead: Set<number>, onAlive: (pid: number) => void): ConcurrentHeap {
  return ConcurrentHeap.join(
    Object.assign(new StaticBacked(memory), { processSharing: fakeSharing(400, 44, dead, onAlive) }),
  );
}

describe("ConcurrentHeap's page placement: every page a worker takes, before a block of it is handed out", () => {
  test("new pages, freed pages and large blocks are placed; join passes the option", () => {
    const placement = recording();
    const backing = new SharedArrayBufferBacked(8 << 16);
    const a = new ConcurrentHeap(backing, { placement });
    const t = tables(a);
    const base = t.word(C_PAGES_AT);
    const n = t.word(C_PAGES);
    assert.ok(n >= 5);
    a.allocate(64);
    assert.deepEqual(placement.calls, [[base, PAGE]]);
    const large = a.allocate(2 * PAGE);
    assert.deepEqual(placement.calls[1], [base + PAGE, 2 * PAGE]);
    const other = recording();
    const b = ConcurrentHeap.join(backing, { placement: other });
    b.allocate(64);
    assert.deepEqual(other.calls, [[base + 3 * PAGE, PAGE]]);
    assert.deepEqual(b.stats().placement, other.stats());
    const filler = a.allocate((n - 4) * PAGE);
    assert.deepEqual(placement.calls[2], [filler, (n - 4) * PAGE]);
    a.free(large);
    assert.equal(a.allocate(PAGE + 5), large, "from the freed run");
    assert.deepEqual(placement.calls[3], [large, 2 * PAGE]);
    assert.equal(a.stats().placement?.pagesPlaced, 4);
    assert.equal(ConcurrentHeap.attach(a.share()).stats().placement, undefined);
  });

  test("an adopted page is placed before its blocks are handed out", () => {
    const backing = new SharedArrayBufferBacked(8 << 16);
    const a = new ConcurrentHeap(backing);
    const kept = [a.allocate(1024), a.allocate(1024)];
    a.release(); // its page of class 1024 is abandoned with two live blocks
    const mine = recording();
    const d = ConcurrentHeap.join(backing, { placement: mine });
    const p = d.allocate(1024);
    const start = kept[0]!;
    assert.deepEqual(mine.calls, [[start, PAGE]], "the adopted page, and no other");
    assert.ok(p > start && p < start + PAGE);
    d.validate();
  });
});
