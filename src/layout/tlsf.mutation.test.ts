// Tlsf: the invariant check fails on each broken invariant it names, and the paths the rest of the suite leaves
// unasserted. Written to kill the mutants that survived the Tlsf group (docs/TESTING.md, `npm run mutate -- tlsf`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  CorruptionError,
  InvalidPointerError,
  LayoutError,
  NULL,
  WasmMemoryBacked,
} from "../index.js";
import { Tlsf } from "./tlsf.js";
import { isError, validateFails } from "../../test/helpers/assertions.js";

/** The out-of-band state the invariant check reads (see the module documentation of tlsf.ts). */
interface Internals {
  rec: Int32Array;
  heads: Int32Array;
  slMap: Int32Array;
  flMap: number;
  quickPtr: Int32Array;
  quickRec: Int32Array;
  quickCount: Int32Array;
  quickBytes: number;
  recTop: number;
  spare: number;
  last: number;
  heapEnd: number;
  starts: Int32Array;
  heapBase: number;
}
const OFF = 0;
const SIZE = 1;
const PREV = 2;
const NEXT = 3;
const FNEXT = 4;
const FPREV = 5;
const BIN = 6;

/**
 * A heap of 64 KiB holding, in order: used `a` (64 bytes), free `b` (5000 bytes, in a list), used `c`, `d` (32
 * bytes, in the quick cache), used `e`, then the free rest; and one spare record (from two blocks that merged).
 */
function fixture() {
  const t = new Tlsf(new ArrayBufferBacked(1 << 16));
  const x = t.allocate(6000);
  const y = t.allocate(6000);
  const a = t.allocate(64);
  const b = t.allocate(5000);
  const c = t.allocate(64);
  const d = t.allocate(32);
  const e = t.allocate(64);
  t.free(b);
  t.free(d);
  t.free(x);
  t.free(y); // merges with x: one record becomes spare
  const I = t as unknown as Internals;
  const recordOf = (p: number): number => {
    for (let r = 8; r < I.recTop; r += 8) {
      const off = I.rec[r + OFF]!;
      if (off === p || off === -p || off === p + 1) return r;
    }
    throw new Error(`no record for ${p}`);
  };
  t.validate();
  assert.notEqual(I.spare, 0, "the fixture has a spare record");
  return { t, I, a, b, c, d, e, ra: recordOf(a), rb: recordOf(b), rc: recordOf(c), rd: recordOf(d) };
}

const broken = (t: Tlsf, message: RegExp): void => validateFails(t, "Tlsf", message);

describe("Tlsf.validate names each broken invariant", () => {
  test("a record whose offset is neither its block's, nor free, nor cached", () => {
    const { t, I, a, ra } = fixture();
    I.rec[ra + OFF] = a + 3;
    broken(t, new RegExp(`record ${ra} has offset ${a + 3}$`));
  });

  test("a block that does not start where the blocks before it end", () => {
    const { t, I, c, rc } = fixture();
    I.rec[rc + OFF] = c + 8;
    broken(t, new RegExp(`record ${rc} says its block is at ${c + 8}, the blocks before end at ${c - 8}$`));
  });

  test("a record naming the wrong block before it", () => {
    const { t, I, rc, rb } = fixture();
    I.rec[rc + PREV] = 0;
    broken(t, new RegExp(`record ${rc} names 0 as the block before, not ${rb}$`));
  });

  test("a block smaller than the smallest payload, or not a multiple of 8", () => {
    const f1 = fixture();
    f1.I.rec[f1.ra + SIZE] = 8;
    broken(f1.t, new RegExp(`block ${f1.a} has size 8$`));
    const f2 = fixture();
    f2.I.rec[f2.ra + SIZE] = 68;
    broken(f2.t, new RegExp(`block ${f2.a} has size 68$`));
  });

  test("two adjacent free blocks", () => {
    const { t, I, b, c, rc } = fixture();
    I.rec[rc + OFF] = -c;
    broken(t, new RegExp(`blocks before ${c} and ${c} are both free`));
    void b;
  });

  test("a used block whose header does not hold its record", () => {
    const { t, a, ra } = fixture();
    t.memory.i32[(a - 8) >>> 2] = ra + 8;
    broken(t, new RegExp(`the header of used block ${a} does not hold its record ${ra}$`));
  });

  test("a start bit missing for a used block, or set for a free one", () => {
    const f1 = fixture();
    const i = (f1.a - f1.I.heapBase) >>> 3;
    f1.I.starts[i >>> 5]! &= ~(1 << (i & 31));
    broken(f1.t, new RegExp(`the start bitmap says free for block ${f1.a}$`));
    const f2 = fixture();
    const j = (f2.b - f2.I.heapBase) >>> 3;
    f2.I.starts[j >>> 5]! |= 1 << (j & 31);
    broken(f2.t, new RegExp(`the start bitmap says used for block ${f2.b}$`));
  });

  test("blocks that end before the heap does, and a wrong last block", () => {
    const f1 = fixture();
    const end = f1.I.heapEnd;
    f1.I.heapEnd = end + 8;
    broken(f1.t, new RegExp(`the blocks end at ${end}, the heap at ${end + 8}$`));
    const f2 = fixture();
    const last = f2.I.last;
    f2.I.last = f2.ra;
    broken(f2.t, new RegExp(`the last block is record ${last}, not ${f2.ra}$`));
  });

  test("a spare record in use, and a cycle of spare records", () => {
    const f1 = fixture();
    f1.I.spare = f1.ra;
    f1.I.rec[f1.ra + FNEXT] = 0;
    broken(f1.t, new RegExp(`spare record ${f1.ra} is in use$`));
    const f2 = fixture();
    f2.I.rec[f2.I.spare + FNEXT] = f2.I.spare;
    broken(f2.t, /the spare records have a cycle$/);
  });

  test("a quick list deeper than its depth, or naming a block that is not cached", () => {
    const f1 = fixture();
    f1.I.quickCount[4] = 65;
    broken(f1.t, /quick list 32 holds more than 64 blocks$/);
    const f2 = fixture();
    const i = f2.I.quickRec.indexOf(f2.rd);
    f2.I.quickRec[i] = f2.ra;
    broken(f2.t, new RegExp(`quick list 32 holds record ${f2.ra}, which is not a cached block$`));
  });

  test("a cached block on the stack of another size, or with another offset", () => {
    const f1 = fixture();
    const i = f1.I.quickRec.indexOf(f1.rd);
    const j = f1.I.quickRec.length - 4; // the bottom of the last stack (4096 bytes, 4 deep)
    f1.I.quickCount[4] = 0;
    f1.I.quickCount[512] = 1;
    f1.I.quickRec[j] = f1.rd;
    f1.I.quickPtr[j] = f1.I.quickPtr[i]!;
    broken(f1.t, /quick list 4096 holds a block of 32 bytes$/);
    const f2 = fixture();
    const k = f2.I.quickRec.indexOf(f2.rd);
    f2.I.quickPtr[k] = f2.d + 8;
    broken(f2.t, new RegExp(`quick list 32 names ${f2.d + 8} for record ${f2.rd}$`));
  });

  test("a cached block on no stack, and a wrong count of cached bytes", () => {
    const f1 = fixture();
    f1.I.quickCount[4] = 0;
    broken(f1.t, /1 cached blocks are on no quick list$/);
    const f2 = fixture();
    f2.I.quickBytes += 8;
    broken(f2.t, /the quick cache holds 32 bytes, counted 40$/);
  });

  test("a record handed out that is neither a block nor spare", () => {
    const { t, I } = fixture();
    const blocks = t.regions().length / 2;
    I.recTop += 8;
    broken(t, new RegExp(`${blocks} blocks and 1 spare records, ${blocks + 2} records handed out$`));
  });

  test("a second-level bit without its list, and a first-level bit without its second level", () => {
    const f1 = fixture();
    f1.I.slMap[0]! |= 1;
    broken(f1.t, /slMap\[0\] bit 0 disagrees with its list$/);
    const f2 = fixture();
    f2.I.flMap |= 1 << 20; // a 64 KiB heap has no block of 1 MiB
    broken(f2.t, /flMap bit 20 disagrees with slMap\[20\]$/);
  });

  test("a list holding a block that is not free", () => {
    const { t, I, ra, rb } = fixture();
    const k = I.rec[rb + BIN]!;
    I.heads[k] = ra;
    broken(t, new RegExp(`list \\(${k >>> 4}, ${k & 15}\\) holds record ${ra}, which is not a free block$`));
  });

  test("a free block in the list of another size, or naming another list", () => {
    // moved to the next list with its BIN: the size disagrees
    const f1 = fixture();
    const k = f1.I.rec[f1.rb + BIN]!;
    assert.ok((k & 15) < 15 && f1.I.heads[k + 1] === 0);
    f1.I.heads[k] = 0;
    f1.I.heads[k + 1] = f1.rb;
    f1.I.slMap[k >>> 4] = (f1.I.slMap[k >>> 4]! & ~(1 << (k & 15))) | (1 << ((k + 1) & 15));
    f1.I.rec[f1.rb + BIN] = k + 1;
    broken(
      f1.t,
      new RegExp(`free block ${f1.b} \\(size 5000\\) is in list \\(${k >>> 4}, ${(k + 1) & 15}\\)$`),
    );
    // in its list, naming another
    const f2 = fixture();
    const k2 = f2.I.rec[f2.rb + BIN]!;
    f2.I.rec[f2.rb + BIN] = k2 + 1;
    broken(f2.t, new RegExp(`free block ${f2.b} \\(size 5000\\) is in list \\(${k2 >>> 4}, ${k2 & 15}\\)$`));
  });

  test("a free block with a wrong previous link, and a free block in no list", () => {
    const f1 = fixture();
    f1.I.rec[f1.rb + FPREV] = f1.ra;
    broken(f1.t, new RegExp(`free record ${f1.rb} has a wrong prev link$`));
    const f2 = fixture();
    const k = f2.I.rec[f2.rb + BIN]!;
    assert.equal(f2.I.rec[f2.rb + FNEXT], 0, "b is alone in its list");
    f2.I.heads[k] = 0;
    f2.I.slMap[k >>> 4]! &= ~(1 << (k & 15));
    if (f2.I.slMap[k >>> 4] === 0) f2.I.flMap &= ~(1 << (k >>> 4));
    broken(f2.t, /3 free blocks, 2 listed$/);
  });

  test("the fixture itself is valid after each check (the checks read, never write)", () => {
    const { t } = fixture();
    t.validate();
    t.validate();
    void NEXT;
  });
});

/** A FixedRange of our own over a WebAssembly memory of 1 page (growable to 2): `size` bytes from `base`. */
const customRange = (base: number, size: number, commits = true) => {
  const backing = new WasmMemoryBacked({ initial: 1, maximum: 2 });
  return {
    memory: backing.memory,
    base: () => base,
    size: () => size,
    commit: (p: number, n: number) => commits && backing.commit(p, n),
    contains: (p: number) => p >= base && p < base + size,
  };
};

describe("Tlsf: construction", () => {
  test("the heap starts at the range's first 8-aligned offset and ends at its last", () => {
    const t = new Tlsf(customRange(61, 300) as never);
    assert.equal(t.base(), 64);
    assert.equal(t.size(), 360 - 64);
    assert.equal(t.capacityBytes(), 360 - 64);
    assert.equal(t.allocate(16), 72, "the first payload follows the first header");
    t.validate();
  });

  test("a range of exactly a header, the smallest payload and a header is enough; 8 bytes less is refused", () => {
    const t = new Tlsf(customRange(64, 32) as never);
    assert.equal(t.allocate(16), 72);
    assert.equal(t.allocate(16), NULL);
    assert.throws(
      () => new Tlsf(customRange(64, 31) as never),
      isError(AllocError, /Tlsf: the range \[64, 88\) is too small for a heap$/),
    );
  });

  test("a range past the committed memory commits its first bytes, or is refused when it cannot", () => {
    const r = customRange(65520, 64);
    const t = new Tlsf(r as never);
    assert.equal(r.memory.byteLength, 2 << 16, "the second page was committed");
    assert.equal(t.allocate(16), 65528);
    t.validate();
    assert.throws(
      () => new Tlsf(customRange(65520, 64, false) as never),
      isError(AllocError, /^Tlsf: the backing cannot commit the first bytes of the heap$/),
    );
  });

  test("refuses what is not a FixedRange with an AllocError that says what it needs", () => {
    assert.throws(
      () => new Tlsf({} as never),
      isError(AllocError, /^Tlsf: the backing must be a FixedRange/),
    );
  });
});

describe("Tlsf: the raw protocol and the block queries", () => {
  test("sizeOf is the payload size of a live block and -1 for anything else, freed blocks included", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const a = t.allocate(40);
    const b = t.allocate(5000);
    const c = t.allocate(24);
    assert.equal(t.sizeOf(a), 40);
    assert.equal(t.sizeOf(b), 5000);
    for (const bad of [a + 8, a - 8, a + 4, t.base(), t.base() + t.size(), 0, -8, 1.5, "24", undefined])
      assert.equal(t.sizeOf(bad), -1, String(bad));
    t.free(c); // into the quick cache
    t.free(b); // into the lists
    assert.equal(t.sizeOf(c), -1, "a cached block");
    assert.equal(t.sizeOf(b), -1, "a free block");
    t.memory.i32[(a - 8) >>> 2] = 12345; // the header destroyed
    assert.throws(() => t.sizeOf(a), CorruptionError);
    assert.equal(t.corruptionEvents(), 1);
  });

  test("sizeOf finds a live block whose header holds a record of another block (an overflow wrote one)", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const a = t.allocate(40);
    const b = t.allocate(40);
    t.memory.i32[(b - 8) >>> 2] = t.memory.i32[(a - 8) >>> 2]!; // b's header names a's record
    assert.throws(() => t.sizeOf(b), CorruptionError);
    assert.throws(() => t.free(b), CorruptionError);
    assert.equal(t.corruptionEvents(), 2);
    assert.equal(t.sizeOf(a), 40, "a is untouched");
  });

  test("freeRaw frees a block sizeOf reported live", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const a = t.allocate(5000);
    t.freeRaw(a);
    assert.equal(t.sizeOf(a), -1);
    assert.deepEqual([t.stats().usedBlocks, t.stats().freeBlocks], [0, 1]);
    t.validate();
  });

  test("usableSize is the block's rounded size; a larger size or a bad one is a LayoutError", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const p = t.allocate(41);
    assert.equal(t.usableSize(p, 41), 48);
    assert.equal(t.usableSize(p, 48), 48);
    assert.throws(
      () => t.usableSize(p, 49),
      isError(LayoutError, /^Tlsf\.usableSize: block .* holds 48 bytes, not 49$/),
    );
    assert.throws(() => t.usableSize(p, 0), isError(LayoutError, /^Tlsf\.usableSize/));
    assert.throws(
      () => t.usableSize(p + 8, 8),
      isError(InvalidPointerError, /^Tlsf\.usableSize: .* is not a live block/),
    );
    assert.equal(t.usableSize(t.allocate(3), 3), 16, "at least 16");
  });

  test("contains is true exactly inside the range, committed or not", () => {
    const t = new Tlsf(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 16 }));
    const end = t.base() + t.size();
    assert.equal(t.size(), (1 << 16) - 16);
    assert.deepEqual(
      [t.base() - 1, t.base(), end - 1, end, 1.5, Number.NaN].map((p) => t.contains(p)),
      [false, true, true, false, false, false],
    );
  });

  test("commit is forwarded to the backing", () => {
    const b = new ArrayBufferBacked({ size: 4096, maxSize: 1 << 16 });
    const t = new Tlsf(b);
    assert.equal(t.commit(4096, 4096), true);
    assert.equal(b.memory.byteLength >= 8192, true);
    assert.equal(t.commit(1 << 16, 4096), false);
  });

  test("allocateZeroed zeroes the block it returns and writes nothing when it returns NULL", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const a = t.allocate(64);
    t.memory.u8.fill(0xee, a, a + 64);
    t.free(a);
    const z = t.allocateZeroed(60);
    assert.equal(z, a, "the same block, from the quick cache");
    assert.ok(t.memory.u8.subarray(z, z + 60).every((x) => x === 0));
    t.memory.u8.fill(0xee, 0, t.base());
    const live = t.allocate(100);
    t.memory.u8.fill(0xdd, live, live + 100);
    assert.equal(t.allocateZeroed(1 << 20), NULL);
    assert.ok(
      t.memory.u8.subarray(0, t.base()).every((x) => x === 0xee),
      "the bytes below the heap",
    );
    assert.ok(
      t.memory.u8.subarray(live, live + 100).every((x) => x === 0xdd),
      "the live block",
    );
  });
});

describe("Tlsf: freeing", () => {
  test("deallocate accepts any size up to the block's and its alignment, and refuses the rest changing nothing", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const p = t.allocate(40, 16);
    assert.equal(p % 16, 0);
    const q = t.allocate(32);
    const q2 = t.allocate(32); // 40 bytes further: one of the two is at 8 mod 16
    const q8 = q % 16 === 8 ? q : q2;
    assert.equal(q8 % 16, 8);
    const usable = t.sizeOf(p);
    assert.throws(
      () => t.deallocate(p, usable + 1, 16),
      isError(LayoutError, new RegExp(`holds ${usable} bytes.*size ${usable + 1} and align 16$`)),
    );
    assert.throws(() => t.deallocate(q8, 40, 16), isError(LayoutError, /size 40 and align 16$/));
    assert.throws(() => t.deallocate(p, 0), isError(LayoutError, /^Tlsf\.deallocate/));
    assert.throws(() => t.deallocate(p, 16, 3), isError(LayoutError, /^Tlsf\.deallocate/));
    assert.throws(() => t.deallocate(p + 16, 16), isError(InvalidPointerError, /^Tlsf\.deallocate: /));
    assert.equal(t.stats().usedBlocks, 3, "nothing was freed");
    t.deallocate(p, usable, 16);
    t.deallocate(q8, 1);
    assert.equal(t.sizeOf(p), -1);
    assert.equal(t.sizeOf(q8), -1);
    t.validate();
  });

  test("free refuses a block in the lists and one in the quick cache, naming free", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const big = t.allocate(5000);
    const small = t.allocate(16);
    t.allocate(16);
    t.free(big);
    t.free(small);
    for (const p of [big, small])
      assert.throws(() => t.free(p), isError(InvalidPointerError, /^Tlsf\.free: .* is not a live block/));
    assert.equal(t.corruptionEvents(), 0, "a double free is not a corruption");
    t.validate();
  });

  test("a block freed between two free blocks merges with both; freed after a used one, with the next", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 16));
    const [a, b, c, d] = [t.allocate(5000), t.allocate(5000), t.allocate(5000), t.allocate(5000)];
    t.free(a);
    t.free(c);
    t.validate();
    const before = t.stats().freeBlocks;
    t.free(b); // a, b and c become one
    t.validate();
    assert.equal(t.stats().freeBlocks, before - 1);
    assert.deepEqual(
      t.regions().find((r) => r.offset === a),
      { offset: a, size: 3 * 5000 + 16, kind: "free" },
    );
    t.free(d); // everything merges with the rest
    t.validate();
    assert.deepEqual([t.stats().freeBlocks, t.stats().usedBlocks], [1, 0]);
  });

  test("a block freed after a free one grows it into a larger list; the heap can then serve that size", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 16));
    const a = t.allocate(4200);
    const b = t.allocate(8000);
    t.allocate(16);
    t.free(a);
    t.free(b); // a grows from 4200 to 12208 bytes: another first level
    t.validate();
    assert.equal(t.allocate(11_000), a, "found in the list of its new size");
    t.validate();
  });

  test("reset frees every block at once; an old pointer is no longer live", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const ptrs = [t.allocate(100), t.allocate(5000), t.allocate(16)];
    t.free(ptrs[2]!);
    t.reset();
    t.validate();
    assert.deepEqual([t.stats().usedBlocks, t.stats().freeBlocks], [0, 1]);
    assert.throws(() => t.free(ptrs[0]!), InvalidPointerError);
    assert.equal(t.allocate(100), ptrs[0]);
  });
});

describe("Tlsf: statistics and regions", () => {
  test("stats count cached blocks as free, and fragmentation is 1 - largest / free bytes", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const a = t.allocate(64);
    t.allocate(64);
    const rest = t.stats().freeBytes;
    t.free(a); // cached
    const s = t.stats();
    assert.deepEqual(
      [
        s.usedBytes,
        s.usedBlocks,
        s.freeBytes,
        s.freeBlocks,
        s.largestFreeBlock,
        s.overheadBytes,
        s.heapBytes,
      ],
      [64, 1, rest + 64, 2, rest, 3 * 8, t.size()],
    );
    assert.equal(s.fragmentation, 1 - rest / (rest + 64));
  });

  test("a full heap has no fragmentation and no largest free block", () => {
    const t = new Tlsf(new ArrayBufferBacked(128)); // one free block of 104 bytes: below 128, lists are exact
    assert.notEqual(t.allocate(t.stats().largestFreeBlock), NULL);
    const s = t.stats();
    assert.deepEqual([s.freeBytes, s.freeBlocks, s.largestFreeBlock, s.fragmentation], [0, 0, 0, 0]);
  });

  test("regions list each header and payload, used or free (cached is free)", () => {
    const t = new Tlsf(new ArrayBufferBacked(256));
    const a = t.allocate(16);
    const b = t.allocate(16);
    t.free(a);
    const end = t.base() + t.size();
    assert.deepEqual(t.regions(), [
      { offset: a - 8, size: 8, kind: "metadata" },
      { offset: a, size: 16, kind: "free" },
      { offset: b - 8, size: 8, kind: "metadata" },
      { offset: b, size: 16, kind: "used" },
      { offset: b + 16, size: 8, kind: "metadata" },
      { offset: b + 24, size: end - b - 24, kind: "free" },
    ]);
  });
});

describe("Tlsf: realloc, grow and shrink", () => {
  /** Used `a` (64 bytes, filled with 7), free `b` (5000 bytes, in a list), used `c` (64 bytes). */
  const neighbours = (bytes = 1 << 14) => {
    const t = new Tlsf(new ArrayBufferBacked(bytes));
    const a = t.allocate(64);
    const b = t.allocate(5000);
    const c = t.allocate(64);
    t.memory.u8.fill(7, a, a + 64);
    t.free(b);
    return { t, a, b, c };
  };
  const sevens = (t: Tlsf, p: number, n: number): boolean =>
    t.memory.u8.subarray(p, p + n).every((x) => x === 7);

  test("realloc into a free neighbour that fits exactly stays in place and keeps the bytes", () => {
    const { t, a } = neighbours();
    assert.equal(t.realloc(a, 64 + 8 + 5000), a);
    assert.equal(t.sizeOf(a), 5072);
    assert.ok(sevens(t, a, 64));
    t.validate();
  });

  test("realloc one byte past what the neighbour gives moves the block, copies it and frees the old one", () => {
    const { t, a, b } = neighbours();
    const q = t.realloc(a, 5073);
    assert.notEqual(q, a);
    assert.notEqual(q, b);
    assert.equal(t.sizeOf(q), 5080);
    assert.ok(sevens(t, q, 64), "all 64 bytes copied");
    assert.equal(t.sizeOf(a), -1, "the old block is free");
    assert.deepEqual(
      t.regions().find((r) => r.offset === a),
      { offset: a, size: 64 + 8 + 5000, kind: "free" },
      "and merged with its free neighbour at once (not cached)",
    );
    t.validate();
  });

  test("realloc that cannot be served returns NULL and leaves the block as it was", () => {
    const { t, a } = neighbours();
    const before = t.stats();
    assert.equal(t.realloc(a, 1 << 15), NULL);
    assert.equal(t.sizeOf(a), 64);
    assert.ok(sevens(t, a, 64));
    assert.deepEqual(t.stats(), before);
    t.validate();
  });

  test("realloc to a smaller size gives the tail back when it holds a header and 16 bytes, else keeps it", () => {
    const { t, a, b } = neighbours();
    assert.equal(t.realloc(a, 48), a);
    assert.equal(t.sizeOf(a), 64, "16 bytes left over: not a block");
    assert.equal(t.realloc(a, 40), a);
    assert.equal(t.sizeOf(a), 40, "24 bytes left over: a block");
    assert.deepEqual(
      t.regions().find((r) => r.offset === a + 48),
      { offset: a + 48, size: 16 + 8 + 5000, kind: "free" },
      "the tail merged with the free block after it",
    );
    assert.ok(sevens(t, a, 40));
    assert.equal(t.realloc(a, 1), a);
    assert.equal(t.sizeOf(a), 16, "at least 16 bytes");
    t.validate();
    void b;
  });

  test("realloc of the last block grows the heap behind it and stays in place", () => {
    const t = new Tlsf(new ArrayBufferBacked({ size: 128, maxSize: 1 << 16 }));
    const p = t.allocate(104); // the whole heap
    assert.equal(t.stats().freeBlocks, 0);
    t.memory.u8.fill(7, p, p + 104);
    assert.equal(t.realloc(p, 1000), p);
    assert.equal(t.sizeOf(p), 1000);
    assert.ok(sevens(t, p, 104));
    t.validate();
  });

  test("realloc refuses a bad size and a pointer that is not live, naming realloc", () => {
    const { t, a, b } = neighbours();
    assert.throws(() => t.realloc(a, 0), isError(LayoutError, /^Tlsf\.realloc/));
    assert.throws(
      () => t.realloc(b, 8),
      isError(InvalidPointerError, /^Tlsf\.realloc: .* is not a live block/),
    );
    assert.equal(t.sizeOf(a), 64);
  });

  test("grow with an alignment above 8 moves an aligned copy when the block is too small, else stays", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 15));
    const p = t.allocate(100, 64);
    const usable = t.sizeOf(p);
    t.memory.u8.fill(7, p, p + 100);
    assert.equal(t.grow(p, 100, usable, 64), p, "it fits: no move");
    const q = t.grow(p, 100, 5000, 64);
    assert.notEqual(q, p);
    assert.equal(q % 64, 0);
    assert.ok(sevens(t, q, 100));
    assert.equal(t.sizeOf(p), -1, "the old block is freed");
    assert.equal(t.grow(q, 5000, 1 << 16, 64), NULL, "no room: NULL");
    assert.equal(t.sizeOf(q) >= 5000, true, "and the block is kept");
    t.validate();
  });

  test("grow with alignment 8 grows in place into a free neighbour", () => {
    const { t, a } = neighbours();
    assert.equal(t.grow(a, 64, 100), a);
    assert.equal(t.grow(a, 100, 200, 8), a);
    assert.ok(sevens(t, a, 64));
    t.validate();
  });

  test("grow and shrink refuse a size or an alignment the block does not have, naming themselves", () => {
    const { t, a } = neighbours();
    assert.throws(
      () => t.grow(a, 72, 100),
      isError(LayoutError, /^Tlsf\.grow: block .* holds 64 bytes; not a block of size 72 and align 8$/),
    );
    assert.throws(() => t.grow(a, 100, 64), isError(LayoutError, /^Tlsf\.grow/));
    assert.throws(
      () => t.shrink(a, 72, 16),
      isError(LayoutError, /^Tlsf\.shrink: block .* holds 64 bytes; not a block of size 72 and align 8$/),
    );
    assert.throws(() => t.shrink(a, 16, 64), isError(LayoutError, /^Tlsf\.shrink/));
    assert.throws(() => t.grow(a + 8, 16, 32), isError(InvalidPointerError, /^Tlsf\.grow/));
    assert.equal(t.sizeOf(a), 64);
    t.validate();
  });

  test("grow and shrink refuse a block not aligned as they are told", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const q = t.allocate(32);
    const q2 = t.allocate(32);
    const q8 = q % 16 === 8 ? q : q2;
    assert.throws(() => t.grow(q8, 32, 64, 16), isError(LayoutError, /^Tlsf\.grow: .* align 16$/));
    assert.throws(() => t.shrink(q8, 32, 16, 16), isError(LayoutError, /^Tlsf\.shrink: .* align 16$/));
    assert.equal(t.sizeOf(q8), 32);
  });

  test("shrink keeps the block in place and gives a large enough tail back", () => {
    const { t, a } = neighbours();
    assert.equal(t.shrink(a, 64, 24), a);
    assert.equal(t.sizeOf(a), 24);
    assert.ok(sevens(t, a, 24));
    t.validate();
  });
});

describe("Tlsf: a retired memory", () => {
  test("after the memory is retired nothing is allocated, the quick cache included, even after reset", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const a = t.allocate(16);
    t.allocate(16);
    t.free(a); // cached
    t.memory.retire();
    t.memoryRetired();
    const refused = isError(AllocError, /^Tlsf\.allocate: its memory was disposed/);
    assert.throws(() => t.allocate(16), refused);
    assert.throws(() => t.allocate(5000), refused);
    assert.throws(() => t.allocate(9000), refused); // a size whose first level holds the free rest
    t.reset();
    assert.throws(() => t.allocate(16), refused);
  });
});

describe("Tlsf: the quick cache's bounds", () => {
  /** The quick cache's per-size counts and its byte count. */
  const quick = (t: Tlsf) => t as unknown as { quickCount: Int32Array; quickBytes: number };

  test("a heap of 64 KiB caches exactly 1/32 of its bytes: 32 blocks of 64 bytes, not 33", () => {
    const t = new Tlsf(new ArrayBufferBacked((1 << 16) + 16)); // a heap of exactly 65,536 bytes
    assert.equal(t.size(), 1 << 16);
    const blocks = Array.from({ length: 40 }, () => t.allocate(64));
    for (const p of blocks) t.free(p);
    assert.equal(quick(t).quickCount[8], 32);
    assert.equal(quick(t).quickBytes, 2048);
    t.validate();
  });

  test("each size's stack holds at most its depth: four blocks of 4 KiB", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 20));
    const blocks = Array.from({ length: 6 }, () => t.allocate(4096));
    for (const p of blocks) t.free(p);
    assert.equal(quick(t).quickCount[512], 4);
    t.validate();
    assert.equal(t.allocate(4096), blocks[3], "a freed 4 KiB block is handed out again from the cache");
  });

  test("a heap of exactly 4 MiB caches up to 1/8 of its bytes, one 8 bytes smaller up to 1/32", () => {
    const cached = (heapBytes: number): number => {
      const t = new Tlsf(new ArrayBufferBacked(heapBytes + 16));
      assert.equal(t.size(), heapBytes);
      // 16 KiB worth of blocks in each of 12 sizes from 1 KiB: 192 KiB offered to the cache
      const blocks = [];
      for (let k = 0; k < 12; k++) for (let i = 0; i < 16; i++) blocks.push(t.allocate(1024 + 8 * k));
      for (const p of blocks) t.free(p);
      t.validate();
      return quick(t).quickBytes;
    };
    assert.ok(cached(1 << 22) > (1 << 22) >>> 5, "4 MiB: more than 1/32 (1/8)");
    assert.ok(cached((1 << 22) - 8) <= ((1 << 22) - 8) >>> 5, "8 bytes less: at most 1/32");
  });
});

describe("Tlsf: splitting and aligning", () => {
  test("a block is split when the rest holds a header and 16 bytes, and kept whole when it does not", () => {
    const t = new Tlsf(new ArrayBufferBacked(128)); // one free block of 104 bytes
    const p = t.allocate(80);
    assert.equal(t.sizeOf(p), 80, "the rest (24 bytes) is a block");
    assert.equal(t.stats().freeBytes, 16);
    t.free(p);
    t.flushCache();
    const q = t.allocate(88);
    assert.equal(t.sizeOf(q), 104, "the rest (16 bytes) is not");
    t.validate();
  });

  test("an aligned block starts at the first aligned offset that leaves room for a free block before it", () => {
    const t = new Tlsf(new ArrayBufferBacked(4096));
    assert.equal(t.allocate(16), 24);
    assert.equal(t.allocate(16, 16), 48, "aligned already: no front to give back");
    // the next block would start at 72; 96 is aligned to 32 and leaves 24 bytes before it, enough for a free block
    assert.equal(t.allocate(16, 32), 96);
    assert.deepEqual(
      t.regions().find((r) => r.offset === 72),
      { offset: 72, size: 16, kind: "free" },
    );
    t.validate();
  });
});

describe("Tlsf over a WebAssembly memory grown by someone else", () => {
  test("allocations, sizes and frees keep working after another user of the memory grew it", () => {
    const b = new WasmMemoryBacked({ initial: 1, maximum: 4 });
    const t = new Tlsf(b);
    const a = t.allocate(64);
    (t.memory.source as WebAssembly.Memory).grow(1); // detaches the buffer the Tlsf's view is over
    assert.equal(t.sizeOf(a), 64);
    const c = t.allocate(5000); // from the free lists: its header is written into the new buffer
    (t.memory.source as WebAssembly.Memory).grow(1);
    assert.equal(t.sizeOf(c), 5000);
    t.free(c);
    t.free(a);
    assert.equal(t.corruptionEvents(), 0);
    t.validate();
  });
});

describe("Tlsf: growing the heap", () => {
  test("the heap grows geometrically: to twice its size when that is more than the request needs", () => {
    const t = new Tlsf(new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 20 }));
    assert.notEqual(t.allocate(60_000), NULL);
    assert.equal(t.memory.byteLength, 1 << 16, "60,000 bytes fit without growing");
    assert.notEqual(t.allocate(5500), NULL); // the rest (5,456 bytes) is too small: the heap grows
    assert.equal(t.memory.byteLength, 2 << 16, "twice the heap, not the 6 KiB the request needs");
    assert.equal(t.stats().heapBytes, (2 << 16) - 16);
    t.validate();
  });

  test("a backing that refuses to double the heap is asked for what the request needs", () => {
    const backing = new WasmMemoryBacked({ initial: 1, maximum: 8 });
    const range = {
      memory: backing.memory,
      base: () => 64,
      size: () => 1 << 18,
      commit: (p: number, n: number) => n <= 10_000 && backing.commit(p, n),
      contains: (p: number) => p >= 64 && p < 64 + (1 << 18),
    };
    const t = new Tlsf(range as never);
    assert.notEqual(t.allocate(60_000), NULL); // leaves 5,456 bytes free
    const p = t.allocate(5500); // twice the heap is refused; one more page is not
    assert.notEqual(p, NULL);
    assert.equal(t.memory.byteLength, 2 << 16);
    t.validate();
  });

  test("a backing that says it committed but did not grow the memory: NULL, and the heap unchanged", () => {
    const memory = new ArrayBufferBacked(128).memory;
    const range = {
      memory,
      base: () => 16,
      size: () => 4096,
      commit: () => true,
      contains: (p: number) => p >= 16 && p < 16 + 4096,
    };
    const t = new Tlsf(range as never);
    assert.equal(t.allocate(104), 24, "the whole heap: the last block is used");
    assert.equal(t.allocate(16), NULL);
    assert.equal(t.stats().heapBytes, 128 - 16);
    t.validate();
  });

  test("a backing that commits nothing: NULL, and the heap unchanged", () => {
    const t = new Tlsf(customRange(64, 1 << 17, false) as never);
    const before = t.stats();
    assert.equal(t.allocate(100_000), NULL);
    assert.deepEqual(t.stats(), before);
    t.validate();
  });
});
