// Heap, second file of mutation tests (issue #15), written from the code before the heap's first run: the slots per
// page of each class, which requests become page slots and which Tlsf blocks, a block that fits where its page does
// not, frees by view and of things that are no block, and the page map over units that two pages share.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayBufferBacked, InvalidPointerError, NULL } from "../index.js";
import { Heap } from "./heap.js";
import { isError } from "../../test/helpers/assertions.js";

test("Heap: the slots of one page of each class (at least 16 up to 4 KiB, 64 KiB pages above, at least 4)", () => {
  const slots: [number, number][] = [
    [16, 1024],
    [48, 342],
    [896, 19],
    [1024, 16],
    [1280, 16],
    [2048, 16],
    [4096, 16],
    [5120, 12],
    [6144, 10],
    [7168, 9],
    [10240, 6],
    [14336, 4],
    [16384, 4],
  ];
  for (const [cls, n] of slots) {
    const h = new Heap(new ArrayBufferBacked(1 << 20));
    const p = h.malloc(cls);
    assert.equal(h.sizeOf(p), cls);
    const s = h.stats();
    assert.deepEqual([s.pages, s.smallBlocks, s.freeSlots], [1, 1, n - 1], `class ${cls}`);
  }
});

test("Heap: a request is a page slot up to 16 KiB and alignment 16, else a Tlsf block", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 20));
  const small = h.allocate(16, 16);
  const top = h.allocate(16384, 8);
  assert.deepEqual([h.stats().pages, h.stats().smallBlocks], [2, 2]);
  const aligned = h.allocate(100, 32);
  const large = h.allocate(16385, 8);
  assert.equal(aligned % 32, 0);
  assert.deepEqual(
    [h.stats().pages, h.stats().smallBlocks],
    [2, 2],
    "alignment 32 and 16 KiB + 1 are Tlsf blocks",
  );
  assert.ok(h.sizeOf(aligned) >= 100);
  assert.ok(h.sizeOf(large) >= 16385);
  for (const p of [small, top, aligned, large]) h.free(p);
  h.validate();
});

test("Heap: when no page of a class fits, its block is still served as a Tlsf block, 16-aligned", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 16));
  // leave about 20 KiB: a page of the 16 KiB class needs 64 KiB
  const fill: number[] = [];
  for (;;) {
    const p = h.allocate(4000, 8);
    if (p === NULL) break;
    fill.push(p);
  }
  for (const p of fill.slice(-5)) h.free(p);
  const p = h.allocate(16384, 8);
  assert.notEqual(p, NULL);
  assert.equal(p % 16, 0);
  assert.equal(h.stats().pages, 0);
  assert.ok(h.sizeOf(p) >= 16384);
  h.free(p);
  h.validate();
});

test("Heap.free: by any view over its memory (a slot or a large block); anything that is no block is refused", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 18));
  const p = h.malloc(64);
  const q = h.malloc(20000);
  h.free(new DataView(h.memory.buffer, p, 64));
  h.free(new Float64Array(h.memory.buffer, q, 10));
  assert.deepEqual([h.sizeOf(p), h.sizeOf(q)], [-1, -1]);
  for (const bad of [null, {}, "64", undefined])
    assert.throws(() => h.free(bad as never), isError(InvalidPointerError, /^Heap\.free: /), String(bad));
  const r = h.malloc(64);
  assert.throws(() => h.free(new Uint8Array(h.memory.buffer, r + 16, 8)), InvalidPointerError);
  h.free(r);
  h.validate();
});

test("Heap: pages that share 4 KiB units are returned and carved again, the map kept exact", () => {
  const h = new Heap(new ArrayBufferBacked(1 << 20));
  for (let round = 0; round < 3; round++) {
    const blocks: number[] = [];
    for (const cls of [1024, 1280, 896, 3072, 1024, 5120])
      for (let i = 0; i < 40; i++) blocks.push(h.malloc(cls));
    h.validate();
    for (let i = 0; i < blocks.length; i += 2) h.free(blocks[i]!);
    h.validate();
    for (let i = 1; i < blocks.length; i += 2) h.free(blocks[i]!);
    h.validate();
    // large blocks now land where pages were: none may be taken for a page's block
    const large = Array.from({ length: 8 }, () => h.malloc(20000 + round * 8));
    for (const p of large) assert.equal(h.sizeOf(p), 20000 + round * 8);
    for (const p of large) h.free(p);
    h.validate();
  }
});
