// Heap (the page engine's single-agent face over a Tlsf): its invariant check, its errors, its realloc and resize
// paths, views, pages that cannot be had, and page headers an overflow destroyed. Written to kill the mutants that
// survived the heap's group (docs/TESTING.md, `npm run mutate -- heap`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  CorruptionError,
  InvalidPointerError,
  LayoutError,
  NULL,
  SharedArrayBufferBacked,
} from "../index.js";
import { Heap } from "./heap.js";
import { RECORD } from "./page-engine.js";
import { isError, validateFails } from "../../test/helpers/assertions.js";

/** The state Heap.validate reads beyond the Tlsf's. */
interface Internals {
  meta: Int32Array;
  records: Int32Array;
  owners: Uint16Array;
  map: Int32Array;
  base: number;
  nextId: number;
}
const { BLK } = RECORD;

const heap = (bytes = 1 << 18) => {
  const h = new Heap(new ArrayBufferBacked(bytes));
  return { h, I: h as unknown as Internals };
};
const pageOf = (I: Internals, p: number): number => I.records[I.owners[(p - I.base) >>> 4]!]!;
const broken = (h: Heap, message: RegExp): void => validateFails(h, "Heap", message);

describe("Heap.validate names each broken invariant of the face", () => {
  test("a page whose Tlsf block is not live", () => {
    const { h, I } = heap();
    const r = pageOf(I, h.malloc(1024));
    const blk = I.meta[r + BLK]!;
    h.tlsf.freeRaw(blk); // behind the engine's back
    broken(h, new RegExp(`page ${r}: its Tlsf block ${blk} is not live$`));
  });

  test("a page missing from the map of 4 KiB units", () => {
    const { h, I } = heap();
    const r = pageOf(I, h.malloc(1024));
    const u = (I.meta[r + BLK]! - I.base) >>> 12;
    I.map[2 * u] = I.map[2 * u + 1] = 0;
    broken(h, new RegExp(`page ${r} is missing from the map at unit ${u}$`));
  });

  test("a granule marked live outside every page", () => {
    const { h, I } = heap();
    h.malloc(16);
    I.owners[I.owners.length - 1] = 1;
    broken(h, /^Heap\.validate: 2 live granules in owners, 1 live slots in pages$/);
  });
});

describe("Heap: construction and errors", () => {
  test("refuses a backing that is not a FixedRange, and options that are not an object", () => {
    assert.throws(
      () => new Heap({} as never),
      isError(AllocError, /^Heap: the backing must be a FixedRange/),
    );
    for (const bad of [null, 7, "x"])
      assert.throws(
        () => new Heap(new ArrayBufferBacked(1 << 16), bad as never),
        isError(AllocError, new RegExp(`^Heap: options must be an object, got ${String(bad)}$`)),
      );
    assert.doesNotThrow(() => new Heap(new ArrayBufferBacked(1 << 16), {}));
  });

  test("malloc, calloc and realloc name themselves when out of memory, with the heap's size and range", () => {
    const { h } = heap(1 << 16);
    const oom = (what: string, size: number) =>
      isError(
        AllocError,
        new RegExp(
          `^Heap\\.${what}: out of memory: ${size} bytes requested; the heap spans \\d+ of at most ${h.capacityBytes()} bytes$`,
        ),
      );
    assert.throws(() => h.malloc(1 << 17), oom("malloc", 1 << 17));
    assert.throws(() => h.calloc(1 << 10, 1 << 7), oom("calloc", 1 << 17));
    const p = h.malloc(20000); // a Tlsf block
    assert.throws(() => h.realloc(p, 1 << 17), oom("realloc", 1 << 17));
    const q = h.malloc(100); // a slot
    assert.throws(() => h.realloc(q, 1 << 17), oom("realloc", 1 << 17));
    assert.equal(h.sizeOf(p), 20000);
    assert.equal(h.sizeOf(q), 112);
    h.validate();
  });

  test("malloc, calloc and realloc refuse bad sizes; realloc a pointer that is not live", () => {
    const { h } = heap();
    assert.throws(() => h.malloc(0), isError(LayoutError, /^Heap\.malloc/));
    for (const [n, size] of [
      [0, 8],
      [8, 0],
      [1.5, 8],
      [1 << 16, 1 << 16],
    ])
      assert.throws(
        () => h.calloc(n!, size!),
        isError(
          LayoutError,
          /^Heap\.calloc: .* bytes is not a valid request; expected positive integers whose product is at most 2\^30$/,
        ),
      );
    const p = h.malloc(64);
    assert.throws(() => h.realloc(p, 0), isError(LayoutError, /^Heap\.realloc/));
    assert.throws(() => h.realloc(p + 16, 8), isError(InvalidPointerError, /^Heap\.realloc: /));
    const q = h.realloc(NULL, 40); // malloc
    assert.equal(h.sizeOf(q), 48);
  });
});

describe("Heap: blocks", () => {
  test("calloc zeroes count * size bytes; allocateZeroed zeroes its block and writes nothing when it fails", () => {
    const { h } = heap(1 << 16);
    const p = h.malloc(100);
    h.memory.u8.fill(0xee, p, p + 112);
    h.free(p);
    const c = h.calloc(10, 10);
    assert.equal(c, p, "the same slot");
    assert.ok(h.memory.u8.subarray(c, c + 100).every((x) => x === 0));
    h.free(c);
    const z = h.allocateZeroed(100);
    assert.equal(z, p);
    assert.ok(h.memory.u8.subarray(z, z + 100).every((x) => x === 0));
    h.memory.u8.fill(0xee, 0, 16);
    assert.equal(h.allocateZeroed(1 << 17), NULL);
    assert.ok(h.memory.u8.subarray(0, 16).every((x) => x === 0xee));
  });

  test("realloc of a slot: in place up to its class; past it, a copy of the whole slot, and the old slot freed", () => {
    const { h } = heap();
    for (const [size, grown] of [
      [40, 60], // 48 bytes: copied word by word
      [60, 100], // 64 bytes: copied by copyWithin
      [16000, 20000], // into a Tlsf block
    ] as const) {
      const p = h.malloc(size);
      const cls = h.sizeOf(p);
      for (let i = 0; i < cls; i++) h.memory.u8[p + i] = (i * 7 + 1) & 255;
      assert.equal(h.realloc(p, cls), p, "its class still fits");
      const q = h.realloc(p, grown);
      assert.notEqual(q, p);
      for (let i = 0; i < cls; i++) assert.equal(h.memory.u8[q + i], (i * 7 + 1) & 255, `${size}: byte ${i}`);
      assert.equal(h.sizeOf(p), -1, "the old slot is free");
      h.free(q);
    }
    h.validate();
  });

  test("realloc of a large block resizes it in the Tlsf, in place when it can", () => {
    const { h } = heap();
    const p = h.malloc(20000);
    h.memory.u8.fill(7, p, p + 20000);
    assert.equal(h.realloc(p, 30000), p, "the Tlsf's free rest follows it");
    assert.equal(h.realloc(p, 17000), p);
    assert.equal(h.sizeOf(p), 17000);
    assert.ok(h.memory.u8.subarray(p, p + 17000).every((x) => x === 7));
    h.validate();
  });

  test("usableSize: the class or the payload; a larger size, a bad one, or a dead pointer is refused", () => {
    const { h } = heap();
    const p = h.malloc(100);
    const q = h.malloc(20000);
    assert.equal(h.usableSize(p, 100), 112);
    assert.equal(h.usableSize(p, 112), 112);
    assert.equal(h.usableSize(q, 20000), 20000);
    assert.throws(
      () => h.usableSize(p, 113),
      isError(LayoutError, /^Heap\.usableSize: block .* holds 112 bytes, not 113$/),
    );
    assert.throws(() => h.usableSize(p, 0), isError(LayoutError, /^Heap\.usableSize/));
    assert.throws(() => h.usableSize(p + 16, 8), isError(InvalidPointerError, /^Heap\.usableSize: /));
  });

  test("sizeOf is -1 for a page's Tlsf block and for anything not live", () => {
    const { h, I } = heap();
    const p = h.malloc(64);
    const blk = I.meta[pageOf(I, p) + BLK]!;
    assert.equal(h.sizeOf(blk), -1);
    assert.throws(() => h.free(blk), isError(InvalidPointerError, /^Heap\.free: /));
    assert.throws(() => h.deallocate(blk, 16), isError(InvalidPointerError, /^Heap\.deallocate: /));
    for (const bad of [1.5, -16, "64", h.tlsf.base() + (1 << 24)])
      assert.equal(h.sizeOf(bad), -1, String(bad));
    h.freeRaw(p);
    assert.equal(h.sizeOf(p), -1);
    h.validate();
  });

  test("deallocate of a large block checks its size and alignment", () => {
    const { h } = heap();
    const p = h.malloc(20000);
    assert.throws(
      () => h.deallocate(p, 20001),
      isError(LayoutError, /^Heap\.deallocate: block .* holds 20000 bytes.*size 20001 and align 8$/),
    );
    const align = p % 16 === 0 ? 32 : 16;
    assert.throws(() => h.deallocate(p, 20000, (p & (align - 1)) === 0 ? align * 2 : align), LayoutError);
    h.deallocate(p, 20000);
    assert.equal(h.sizeOf(p), -1);
  });

  test("grow and shrink: a slot grows within its class in place, moves past it with the bytes asked for", () => {
    const { h } = heap();
    const p = h.malloc(40); // class 48
    h.memory.u8.fill(7, p, p + 48);
    assert.equal(h.grow(p, 40, 48), p);
    assert.equal(h.shrink(p, 48, 8), p);
    const q = h.grow(p, 40, 100, 16);
    assert.notEqual(q, p);
    assert.ok(h.memory.u8.subarray(q, q + 40).every((x) => x === 7));
    assert.equal(h.sizeOf(p), -1);
    const big = h.grow(q, 100, 20000, 16);
    assert.equal(big % 16, 0);
    assert.ok(h.memory.u8.subarray(big, big + 40).every((x) => x === 7));
    assert.equal(h.grow(big, 20000, 1 << 20), NULL, "no room: NULL, the block kept");
    assert.equal(h.sizeOf(big) >= 20000, true);
    h.validate();
  });

  test("grow of a large block: in the Tlsf when the alignment is 8 or it fits, else a move", () => {
    const { h } = heap();
    const p = h.allocate(20000, 16);
    assert.equal(p % 16, 0);
    assert.equal(h.grow(p, 20000, 24000), p, "alignment 8: grown in place in the Tlsf");
    assert.equal(h.grow(p, 24000, 24000, 16), p, "it fits: in place whatever the alignment");
    const q = h.grow(p, 24000, 30000, 16);
    assert.notEqual(q, p, "alignment 16 and larger: moved");
    assert.equal(q % 16, 0);
    h.validate();
  });

  test("grow and shrink refuse a dead pointer and a layout the block does not have, naming themselves", () => {
    const { h } = heap();
    const p = h.malloc(40);
    assert.throws(() => h.grow(p + 16, 16, 32), isError(InvalidPointerError, /^Heap\.grow: /));
    assert.throws(() => h.shrink(p + 16, 32, 16), isError(InvalidPointerError, /^Heap\.shrink: /));
    assert.throws(
      () => h.grow(p, 49, 64),
      isError(LayoutError, /^Heap\.grow: block .* holds 48 bytes.*size 49 and align 8$/),
    );
    assert.throws(() => h.shrink(p, 49, 16), isError(LayoutError, /^Heap\.shrink: /));
    const odd = p % 32 === 16 ? p : h.malloc(40);
    assert.equal(odd % 32, 16);
    assert.throws(() => h.grow(odd, 40, 44, 32), isError(LayoutError, /size 40 and align 32$/));
  });

  test("views: freed by view, a view of a large block too; a view of another memory is refused", () => {
    const { h } = heap();
    const small = h.allocBytes(100);
    const large = h.allocArray(Float64Array, 3000);
    assert.equal(h.stats().smallBlocks, 1);
    h.free(small);
    h.free(large);
    assert.equal(h.stats().smallBlocks, 0);
    assert.equal(h.stats().usedBlocks, 1, "only the page remains a used Tlsf block");
    assert.throws(
      () => h.free(new Uint8Array(16)),
      isError(InvalidPointerError, /^Heap\.free: the view is not over this heap's memory$/),
    );
    h.validate();
  });

  test("reset forgets every page and block; the heap serves again from its start", () => {
    const { h } = heap();
    const first = h.malloc(64);
    h.malloc(20000);
    h.reset();
    h.validate();
    assert.deepEqual([h.stats().pages, h.stats().usedBlocks], [0, 0]);
    assert.throws(() => h.free(first), InvalidPointerError);
    assert.equal(h.malloc(64), first);
    h.validate();
  });

  test("when every page id is taken, small blocks are Tlsf blocks, 16-aligned, freed like any", () => {
    const { h, I } = heap();
    I.nextId = 0xffff;
    const p = h.malloc(40);
    assert.equal(p % 16, 0);
    assert.equal(h.stats().pages, 0);
    assert.ok(h.sizeOf(p) >= 48);
    h.free(p);
    assert.equal(h.sizeOf(p), -1);
    h.validate();
  });

  test("an overflow into a page's Tlsf header keeps the page when it empties, and is counted", () => {
    const { h, I } = heap();
    const cap = 16;
    // an empty page of class 896 is kept first: the next page to empty goes back to the Tlsf (one kept page at most)
    const other = Array.from({ length: 20 }, () => h.malloc(896));
    for (const p of other.slice(0, 19)) h.free(p);
    assert.equal(h.stats().keptPages, 1);
    const blocks = Array.from({ length: 2 * cap }, () => h.malloc(1024)); // the first page full, the second current
    const r = pageOf(I, blocks[0]!);
    const blk = I.meta[r + BLK]!;
    h.memory.i32[(blk - 8) >>> 2] = 0x7777; // its header
    for (let i = 1; i < cap; i++) h.free(blocks[i]!);
    assert.throws(() => h.free(blocks[0]!), isError(CorruptionError, /was overwritten/));
    assert.equal(h.corruptionEvents(), 1);
    assert.equal(h.stats().pages, 4, "the page is kept");
    assert.equal(h.stats().freeSlots, 19 + 18 + 16, "896: kept 19, current 18; 1024: its 16 stay free");
  });

  test("capacityBytes is the Tlsf's; a shared memory works the same", () => {
    const h = new Heap(new SharedArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 20 }));
    assert.equal(h.capacityBytes(), h.tlsf.capacityBytes());
    const p = h.malloc(200_000); // grows the memory
    assert.notEqual(p, NULL);
    h.free(p);
    h.validate();
  });
});
