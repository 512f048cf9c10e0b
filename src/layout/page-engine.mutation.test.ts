// The page engine (through Heap, its single-agent face): the invariant check fails on each broken invariant it
// names, and the engine's paths the rest of the suite leaves unasserted. Written to kill the mutants that survived
// the page engine's group (docs/TESTING.md, `npm run mutate -- page-engine`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, ArrayBufferBacked, InvalidPointerError, LayoutError } from "../index.js";
import { Heap } from "./heap.js";
import { HEAP_CLASSES, RECORD, REMOTE } from "./page-engine.js";
import { isError, validateFails } from "../../test/helpers/assertions.js";

/** The engine's out-of-band state (see the module documentation of page-engine.ts). */
interface Engine {
  meta: Int32Array;
  records: Int32Array;
  owners: Uint16Array;
  kept: Int32Array;
  keptBytes: number;
  pagesHeld: number;
  pageBytesHeld: number;
  slotsOf: Int32Array;
  base: number;
}
const { TOP, START, BYTES, CLS, CAP, BLK_BYTES, LIST, ID, WORDS } = RECORD;
const TRIGGER = 1;
const NEXT = 9;
const PREV = 10;
const CLASSES = HEAP_CLASSES.length;
const PARTIAL = CLASSES;
const PARTIAL_TAIL = 2 * CLASSES;
const [K0, K1, K2] = [1024, 896, 768].map((size) => HEAP_CLASSES.indexOf(size)) as [number, number, number];
const S0 = 1024;

/**
 * A heap with, in class K0 (1024 bytes, 16 slots a page): page `A` partial (two slots freed) and page `B` current;
 * in class K1 (896 bytes): page `C` kept (emptied) and `D` current; in class K2 (768 bytes): page `E` full (on no
 * list) and `F` current. Classes with few slots a page keep the fixture cheap.
 */
function fixture() {
  const h = new Heap(new ArrayBufferBacked(1 << 18));
  const E = h as unknown as Engine;
  const fill = (size: number, n: number): number[] => Array.from({ length: n }, () => h.malloc(size));
  const recordOf = (p: number): number => E.records[E.owners[(p - E.base) >>> 4]!]!;
  const c0 = fill(1024, E.slotsOf[K0]! + 10);
  const c1 = fill(896, E.slotsOf[K1]! + 1);
  const c2 = fill(768, E.slotsOf[K2]! + 1);
  const A = recordOf(c0[0]!);
  const B = recordOf(c0.at(-1)!);
  const C = recordOf(c1[0]!);
  const D = recordOf(c1.at(-1)!);
  const Ep = recordOf(c2[0]!);
  const F = recordOf(c2.at(-1)!);
  h.free(c0[3]!);
  h.free(c0[5]!);
  for (const p of c1.slice(0, -1)) h.free(p);
  h.validate();
  assert.deepEqual(
    [A, B, C, D, Ep, F].map((r) => E.meta[r + LIST]),
    [2, 1, 3, 1, 0, 1],
    "partial, current, kept, current, full, current",
  );
  /** A live slot of page `r`. */
  const live = (r: number): number => {
    const start = E.meta[r + START]!;
    for (let i = 0; i < E.meta[r + CAP]!; i++) {
      const p = start + i * E.meta[r + CLS]!;
      if (E.owners[(p - E.base) >>> 4] === E.meta[r + ID]) return p;
    }
    throw new Error("no live slot");
  };
  const owner = (p: number): number => (p - E.base) >>> 4;
  return { h, E, A, B, C, D, Ep, F, live, owner };
}

const broken = (h: Heap, message: RegExp): void => validateFails(h, "Heap", message);

describe("the page engine's invariant check names each broken invariant", () => {
  test("a record whose slot size, slot count or bytes disagree with its class", () => {
    const f1 = fixture();
    f1.E.meta[f1.A + CLS] = 32;
    broken(f1.h, new RegExp(`page ${f1.A}: its record disagrees with class ${K0}$`));
    const f2 = fixture();
    f2.E.meta[f2.A + BYTES]! -= 16;
    broken(f2.h, new RegExp(`page ${f2.A}: its record disagrees with class ${K0}$`));
    const f3 = fixture();
    f3.E.slotsOf[K2]! += 1; // the face's table (shared by every Heap: restored below)
    try {
      broken(f3.h, new RegExp(`page ${f3.Ep}: its record disagrees with class ${K2}$`));
    } finally {
      f3.E.slotsOf[K2]! -= 1;
    }
  });

  test("slots not 16-aligned, before the page's memory, or past its end", () => {
    for (const [field, delta] of [
      [START, 8],
      [START, -16],
      [BLK_BYTES, -16],
    ] as const) {
      const f = fixture();
      const start = f.E.meta[f.A + START]!;
      f.E.meta[f.A + field]! += delta;
      const from = start + (field === START ? delta : 0);
      broken(
        f.h,
        new RegExp(
          `page ${f.A}: slots \\[${from}, ${from + S0 * f.E.slotsOf[K0]!}\\) do not fit its memory$`,
        ),
      );
    }
  });

  test("a count of free slots below 0 or above the page's slots", () => {
    const cap = (f: ReturnType<typeof fixture>): number => f.E.meta[f.A + CAP]!;
    const f1 = fixture();
    f1.E.meta[f1.A + TOP] = -1;
    broken(f1.h, new RegExp(`page ${f1.A}: -1 free slots of ${cap(f1)}$`));
    const f2 = fixture();
    f2.E.meta[f2.A + TOP] = cap(f2) + 1;
    broken(f2.h, new RegExp(`page ${f2.A}: ${cap(f2) + 1} free slots of ${cap(f2)}$`));
  });

  test("a page id that is 0, above the largest, or bound to another record", () => {
    const f1 = fixture();
    f1.E.meta[f1.A + ID] = 0;
    broken(f1.h, new RegExp(`page ${f1.A}: its id 0 names record 0$`));
    const f2 = fixture();
    f2.E.meta[f2.A + ID] = 0xffff;
    broken(f2.h, new RegExp(`page ${f2.A}: its id 65535 names record`));
    const f3 = fixture();
    f3.E.records[f3.E.meta[f3.A + ID]!] = f3.B;
    broken(f3.h, new RegExp(`page ${f3.A}: its id \\d+ names record ${f3.B}$`));
  });

  test("a free entry that is not a slot of the page, or is on the stack twice", () => {
    for (const entry of [-16, 8, S0 * 16]) {
      const f = fixture();
      const p = f.E.meta[f.A + START]! + entry;
      f.E.meta[f.A + WORDS] = p;
      broken(f.h, new RegExp(`page ${f.A}: free entry ${p} is not one of its slots$`));
    }
    const f = fixture();
    const p = f.E.meta[f.A + WORDS]!;
    f.E.meta[f.A + WORDS + 1] = p;
    broken(f.h, new RegExp(`page ${f.A}: slot ${p} is free twice$`));
  });

  test("a free slot marked live, a live slot marked as another page's, or as freed by another worker", () => {
    const f1 = fixture();
    const p = f1.E.meta[f1.A + WORDS]!;
    f1.E.owners[f1.owner(p)] = f1.E.meta[f1.A + ID]!;
    broken(f1.h, new RegExp(`page ${f1.A}: free slot ${p} is marked live$`));
    const f2 = fixture();
    const q = f2.live(f2.A);
    const i = (q - f2.E.meta[f2.A + START]!) / S0;
    f2.E.owners[f2.owner(q)] = f2.E.meta[f2.B + ID]!;
    broken(f2.h, new RegExp(`page ${f2.A}: slot ${i} is marked live in page ${f2.E.meta[f2.B + ID]}$`));
    const f3 = fixture();
    f3.E.owners[f3.owner(f3.live(f3.A))] = REMOTE;
    broken(f3.h, new RegExp(`page ${f3.A}: 1 slots freed by others, 0 expected$`));
  });

  test("live + free slots that do not add up to the page's", () => {
    const f = fixture();
    const cap = f.E.meta[f.A + CAP]!;
    f.E.owners[f.owner(f.live(f.A))] = 0;
    broken(f.h, new RegExp(`page ${f.A}: ${cap - 3} live \\+ 2 free \\+ 0 remote != ${cap}$`));
  });

  test("a page listed current that is not, and a trigger that does not fit its list", () => {
    const f1 = fixture();
    f1.E.meta[f1.A + LIST] = 1;
    broken(f1.h, new RegExp(`page ${f1.A}: its list \\(1\\) disagrees with class ${K0}'s current$`));
    const f2 = fixture();
    f2.E.meta[f2.B + LIST] = 2;
    broken(f2.h, new RegExp(`page ${f2.B}: its list \\(2\\) disagrees with class ${K0}'s current$`));
    for (const [page, trigger] of [
      ["A", 1],
      ["B", 0],
      ["C", 1],
      ["Ep", 2],
    ] as const) {
      const f = fixture();
      const r = f[page];
      f.E.meta[r + TRIGGER] = trigger;
      broken(f.h, new RegExp(`page ${r}: its trigger is ${trigger}$`));
    }
  });

  test("a kept page with live slots, a full page with free ones, a partial page empty or full", () => {
    const f1 = fixture();
    const cap = f1.E.meta[f1.C + CAP]!;
    const p = f1.E.meta[f1.C + WORDS + cap - 1]!;
    f1.E.meta[f1.C + TOP] = cap - 1;
    f1.E.owners[f1.owner(p)] = f1.E.meta[f1.C + ID]!;
    broken(f1.h, new RegExp(`page ${f1.C} is kept with 1 live slots$`));
    const f2 = fixture();
    const q = f2.live(f2.Ep);
    f2.E.owners[f2.owner(q)] = 0;
    f2.E.meta[f2.Ep + WORDS] = q;
    f2.E.meta[f2.Ep + TOP] = 1;
    broken(f2.h, new RegExp(`page ${f2.Ep} has free slots but is on no list$`));
    const f3 = fixture();
    for (let i = 0; i < 2; i++) f3.E.owners[f3.owner(f3.E.meta[f3.A + WORDS + i]!)] = f3.E.meta[f3.A + ID]!;
    f3.E.meta[f3.A + TOP] = 0;
    broken(f3.h, new RegExp(`page ${f3.A} is listed partial with 0 free$`));
    const f4 = fixture();
    const start = f4.E.meta[f4.A + START]!;
    const capA = f4.E.meta[f4.A + CAP]!;
    for (let i = 0; i < capA; i++) {
      f4.E.meta[f4.A + WORDS + i] = start + S0 * i;
      f4.E.owners[f4.owner(start + S0 * i)] = 0;
    }
    f4.E.meta[f4.A + TOP] = capA;
    broken(f4.h, new RegExp(`page ${f4.A} is listed partial with ${capA} free$`));
  });

  test("counts of pages, their bytes and the kept pages' bytes that disagree with the pages", () => {
    const f1 = fixture();
    const held = f1.E.pagesHeld;
    f1.E.pagesHeld += 1;
    broken(f1.h, new RegExp(`${held} pages found, ${held + 1} counted$`));
    const f2 = fixture();
    const bytes = f2.E.pageBytesHeld;
    f2.E.pageBytesHeld += 16;
    broken(f2.h, new RegExp(`pages of ${bytes} bytes found, ${bytes + 16} counted$`));
    const f3 = fixture();
    const kept = f3.E.keptBytes;
    assert.equal(kept, f3.E.meta[f3.C + BLK_BYTES]);
    f3.E.keptBytes += 16;
    broken(f3.h, new RegExp(`kept pages of ${kept} bytes found, ${kept + 16} counted$`));
  });

  test("a kept list that holds a page not kept, of another class, twice, or misses one", () => {
    const f1 = fixture();
    f1.E.kept[K0] = f1.A; // partial
    broken(f1.h, new RegExp(`class ${K0}: page ${f1.A} on its kept list is not a kept page of the class$`));
    const f2 = fixture();
    f2.E.kept[K0] = f2.C; // kept, of class K1
    broken(f2.h, new RegExp(`class ${K0}: page ${f2.C} on its kept list is not a kept page of the class$`));
    const f3 = fixture();
    f3.E.meta[f3.C + NEXT] = f3.C;
    broken(f3.h, new RegExp(`class ${K1}: the kept list has a cycle or a page twice$`));
    const f4 = fixture();
    f4.E.kept[K1] = 0;
    broken(f4.h, /1 kept pages, 0 on the kept lists$/);
  });

  test("a partial list that holds a page not partial or of another class, a wrong link, a wrong tail", () => {
    const f1 = fixture();
    f1.E.meta[PARTIAL + K0] = f1.B; // current
    broken(f1.h, new RegExp(`class ${K0}: page ${f1.B} on its partial list$`));
    const f2 = fixture();
    f2.E.meta[PARTIAL + K1] = f2.A; // partial, of class K0
    broken(f2.h, new RegExp(`class ${K1}: page ${f2.A} on its partial list$`));
    const f3 = fixture();
    f3.E.meta[f3.A + PREV] = f3.B;
    broken(f3.h, new RegExp(`class ${K0}: page ${f3.A} has a wrong prev link$`));
    const f4 = fixture();
    f4.E.meta[PARTIAL_TAIL + K0] = 0;
    broken(f4.h, new RegExp(`class ${K0}: the partial list's tail is not its last page$`));
    const f5 = fixture();
    f5.E.meta[PARTIAL_TAIL + K2] = f5.Ep;
    broken(f5.h, new RegExp(`class ${K2}: the partial list's tail is not its last page$`));
  });
});

/** A heap of `bytes` and its engine state. */
const heap = (bytes = 1 << 18) => {
  const h = new Heap(new ArrayBufferBacked(bytes));
  return { h, E: h as unknown as Engine };
};
const pageOf = (E: Engine, p: number): number => E.records[E.owners[(p - E.base) >>> 4]!]!;

describe("the page engine's paths", () => {
  test("requests up to 16 KiB aligned up to 16 are slots; one byte or one alignment step more are not", () => {
    const { h } = heap(1 << 20);
    const small = [h.allocate(16384), h.allocate(64, 16), h.allocRaw(16384, 16), h.malloc(16384)];
    assert.equal(h.stats().smallBlocks, 4);
    const large = [h.allocate(16385), h.allocate(64, 32), h.allocRaw(16385, 8), h.malloc(16385)];
    assert.equal(h.stats().smallBlocks, 4, "none of these is a slot");
    assert.equal(large[1]! % 32, 0);
    for (const p of [...small, ...large]) h.free(p);
    h.validate();
  });

  test("allocate and deallocate refuse a bad layout naming the face; deallocate checks the slot's size and alignment", () => {
    const { h } = heap();
    assert.throws(() => h.allocate(0), isError(LayoutError, /^Heap\.allocate/));
    assert.throws(() => h.allocate(16, 3), isError(LayoutError, /^Heap\.allocate/));
    const a = h.allocate(48);
    const b = h.allocate(48);
    const odd = a % 32 === 16 ? a : b; // slots of 48 bytes: one of two neighbours is at 16 mod 32
    assert.equal(odd % 32, 16);
    assert.throws(() => h.deallocate(a, 0), isError(LayoutError, /^Heap\.deallocate/));
    assert.throws(
      () => h.deallocate(a, 49),
      isError(
        LayoutError,
        /^Heap\.deallocate: block .* holds 48 bytes, aligned to its address; it cannot have been allocated with size 49 and align 8$/,
      ),
    );
    assert.throws(() => h.deallocate(odd, 48, 32), isError(LayoutError, /size 48 and align 32$/));
    assert.equal(h.stats().smallBlocks, 2, "nothing was freed");
    h.deallocate(a, 48);
    h.deallocate(b, 1, 16);
    assert.equal(h.stats().smallBlocks, 0);
    assert.throws(
      () => h.deallocate(a, 48),
      isError(InvalidPointerError, /^Heap\.deallocate: .* is not a live block of this heap/),
    );
    h.validate();
  });

  test("free refuses an interior, a misaligned, an out-of-range and a non-number pointer, naming free", () => {
    const { h, E } = heap();
    const a = h.malloc(64);
    for (const bad of [a + 16, a + 8, E.base - 16, E.base + (1 << 20), 1.5, -16]) {
      assert.throws(
        () => h.free(bad),
        isError(
          InvalidPointerError,
          /^Heap\.free: .* is not a live block of this heap \(never issued, freed already, an interior or foreign pointer\)$/,
        ),
        String(bad),
      );
    }
    assert.equal(h.sizeOf(a), 64);
  });

  test("a refill takes the partial page that waited longest, oldest first", () => {
    const { h, E } = heap(1 << 20);
    const cap = E.slotsOf[HEAP_CLASSES.indexOf(1024)]!;
    const blocks = Array.from({ length: 3 * cap }, () => h.malloc(1024)); // pages P1, P2 full, P3 current and full
    const [p1, p2] = [blocks[0]!, blocks[cap]!];
    assert.notEqual(pageOf(E, p1), pageOf(E, p2));
    h.free(p1); // P1 partial first
    h.free(p2); // then P2
    assert.equal(h.malloc(1024), p1, "P1 becomes current");
    assert.equal(h.malloc(1024), p2, "then P2");
    h.validate();
  });

  test("a page emptied from the middle or the end of the partial list leaves the list linked", () => {
    const { h, E } = heap(1 << 20);
    const cap = E.slotsOf[HEAP_CLASSES.indexOf(1024)]!;
    const blocks = Array.from({ length: 4 * cap }, () => h.malloc(1024)); // P1..P3 full, P4 current and full
    for (let i = 0; i < 3; i++) h.free(blocks[i * cap]!); // P1, P2, P3 partial, in that order
    for (let j = 1; j < cap; j++) h.free(blocks[cap + j]!); // P2 empties: out of the middle of the list
    h.validate();
    for (let j = 1; j < cap; j++) h.free(blocks[2 * cap + j]!); // P3 empties: the list's tail
    h.validate();
    assert.equal(h.malloc(1024), blocks[0], "P1 is still the partial page a refill takes");
    h.validate();
  });

  test("an emptied page is kept for its class within 1/32 of the pages' bytes, or one page; others go back", () => {
    const { h, E } = heap(1 << 22);
    const cap = E.slotsOf[HEAP_CLASSES.indexOf(1024)]!;
    const blocks = Array.from({ length: 40 * cap }, () => h.malloc(1024)); // 40 pages of about 16 KiB
    const pages = h.stats().pages;
    for (let i = 0; i < 3 * cap; i++) h.free(blocks[i]!); // three pages empty: one kept (1/32 of 40 pages is 1.25)
    let s = h.stats();
    assert.deepEqual([s.keptPages, s.pages], [1, pages - 2]);
    h.validate();
    // a class that allocates again reuses its kept page instead of carving one
    for (let i = 0; i < cap; i++) h.malloc(1024);
    h.malloc(1024);
    s = h.stats();
    assert.equal(s.keptPages, 0);
    h.validate();
  });

  test("stats count pages, their bytes, live and free slots and the usage per class", () => {
    const { h, E } = heap();
    const k = HEAP_CLASSES.indexOf(1024);
    const cap = E.slotsOf[k]!;
    const a = h.malloc(1024);
    h.malloc(1024);
    const b = h.malloc(20); // class 32
    const s = h.stats();
    assert.equal(s.pages, 2);
    assert.equal(s.smallBlocks, 3);
    assert.equal(s.smallBytes, 2 * 1024 + 32);
    assert.equal(s.freeSlots, cap - 2 + E.slotsOf[1]! - 1);
    assert.equal(s.keptPages, 0);
    assert.equal(s.classUsage[k], 2);
    assert.equal(s.classUsage[1], 1);
    assert.equal(
      s.classUsage.reduce((x, y) => x + y),
      3,
    );
    assert.equal(s.pageBytes, E.meta[pageOf(E, a) + BLK_BYTES]! + E.meta[pageOf(E, b) + BLK_BYTES]!);
  });

  test("regions show a page slot by slot, with the page's memory around its slots as metadata", () => {
    const { h, E } = heap();
    const a = h.malloc(1024);
    const r = pageOf(E, a);
    const start = E.meta[r + START]!;
    const blk = E.meta[r + 7]!;
    const end = start + E.meta[r + BYTES]!;
    const blkEnd = blk + E.meta[r + BLK_BYTES]!;
    const inPage = h.regions().filter((x) => x.offset >= blk && x.offset < blkEnd);
    const slots = inPage.filter((x) => x.kind !== "metadata");
    assert.equal(slots.length, E.meta[r + CAP]);
    assert.deepEqual(slots[0], { offset: start, size: 1024, kind: "used" });
    assert.ok(
      slots
        .slice(1)
        .every((x, i) => x.kind === "free" && x.offset === start + 1024 * (i + 1) && x.size === 1024),
    );
    const meta = inPage.filter((x) => x.kind === "metadata");
    const expected = [
      ...(start > blk ? [{ offset: blk, size: start - blk, kind: "metadata" }] : []),
      ...(blkEnd > end ? [{ offset: end, size: blkEnd - end, kind: "metadata" }] : []),
    ];
    assert.deepEqual(meta, expected);
    assert.ok(start > blk || blkEnd > end, "a page's block has 8 spare bytes: some metadata shows");
  });

  test("more than 255 pages: the page ids and records grow, and every page stays valid", () => {
    const { h, E } = heap(1 << 23);
    const cap = E.slotsOf[HEAP_CLASSES.indexOf(1024)]!;
    const blocks = Array.from({ length: 300 * cap }, () => h.malloc(1024));
    assert.equal(h.stats().pages, 300);
    assert.ok(E.records.length > 256);
    h.validate();
    for (const p of blocks) h.free(p);
    h.validate();
  });

  test("a retired memory: nothing is allocated, not even from a current page with free slots", () => {
    const { h } = heap();
    h.free(h.malloc(64)); // the current page of class 64 has free slots
    h.memory.retire();
    h.memoryRetired();
    const refused = isError(AllocError, /^Heap\.allocate: its memory was disposed/);
    assert.throws(() => h.malloc(64), refused);
    assert.throws(() => h.allocate(64), refused);
    assert.throws(() => h.allocate(1 << 15), refused);
  });
});
