import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ArrayBufferBacked, WasmMemoryBacked } from "../backing/index.js";
import { AllocError, InvalidPointerError, LayoutError } from "../core/index.js";
import { BumpArena } from "./bump-arena.js";
import { Heap } from "./heap.js";
import { StructArray, defineStruct } from "./struct.js";

describe("StructLayout", () => {
  test("lays fields out as C does: natural alignment, size rounded to the largest", () => {
    const s = defineStruct({ id: "u32", x: "f64", flags: "u8" });
    assert.deepEqual(s.offsets, { id: 0, x: 8, flags: 16 });
    assert.equal(s.size, 24);
    assert.equal(s.align, 8);
    const packed = defineStruct({ a: "u8", b: "u8", c: "u16" });
    assert.deepEqual([packed.size, packed.align, packed.offsets.c], [4, 2, 2]);
    const all = defineStruct({ a: "i8", b: "i16", c: "i32", d: "f32", e: "u64", f: "i64" });
    assert.deepEqual(all.offsets, { a: 0, b: 2, c: 4, d: 8, e: 16, f: 24 });
    assert.equal(all.size, 32);
  });

  test("a record reads and writes each field at its offset, with the field's type and range", () => {
    const s = defineStruct({ a: "u8", b: "i16", c: "u32", d: "f32", e: "f64", f: "i64", g: "u64", h: "i8" });
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    const r = s.alloc(arena);
    assert.equal(r.ptr % s.align, 0);
    Object.assign(r, { a: 300, b: -2, c: 2 ** 32 + 5, d: 0.1, e: 0.1, f: -3n, g: 2n ** 64n - 1n, h: 200 });
    assert.deepEqual(
      [r.a, r.b, r.c, r.d, r.e, r.f, r.g, r.h],
      [44, -2, 5, Math.fround(0.1), 0.1, -3n, 2n ** 64n - 1n, -56],
    );
    const dv = arena.memory.dataView;
    assert.equal(dv.getInt16(r.ptr + s.offsets.b, true), -2);
    assert.equal(dv.getFloat64(r.ptr + s.offsets.e, true), 0.1);
    assert.deepEqual(Object.keys(r).sort(), ["memory", "ptr"]); // fields live on the prototype: no copies
    assert.deepEqual(Object.keys(Object.getPrototypeOf(r)), ["a", "b", "c", "d", "e", "f", "g", "h"]);
  });

  test("records come back zeroed from reused memory unless { zeroed: false }", () => {
    const s = defineStruct({ x: "f64", n: "u32" });
    const heap = new Heap(new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 20 }));
    const r = s.alloc(heap);
    r.x = 9;
    r.n = 9;
    s.free(heap, r);
    const again = s.alloc(heap);
    assert.equal(again.ptr, r.ptr);
    assert.deepEqual([again.x, again.n], [0, 0]);
    again.n = 5;
    s.free(heap, again);
    assert.equal(s.alloc(heap, { zeroed: false }).n, 5);
  });

  test("an array of records: at(i), get/set, iteration, frees as one block", () => {
    const s = defineStruct({ id: "u32", score: "f32" });
    const heap = new Heap(new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 20 }));
    const xs = s.allocArray(heap, 10);
    assert.ok(xs instanceof StructArray);
    assert.equal(xs.length, 10);
    for (let i = 0; i < xs.length; i++) xs.set(i, "id", i * 10);
    xs.at(4).score = 1.5;
    assert.equal(xs.get(4, "score"), 1.5);
    assert.deepEqual(
      [...xs].map((r) => r.id),
      [0, 10, 20, 30, 40, 50, 60, 70, 80, 90],
    );
    assert.equal(xs.at(1).ptr - xs.at(0).ptr, s.size);
    for (const bad of [-1, 10, 1.5, Number.NaN]) assert.throws(() => xs.at(bad), LayoutError);
    s.free(heap, xs);
    assert.equal(s.allocArray(heap, 10).ptr, xs.ptr, "the freed block is reused");
  });

  test("records over a WebAssembly memory stay valid when it grows", () => {
    const s = defineStruct({ v: "u32" });
    const arena = new BumpArena(new WasmMemoryBacked({ initial: 1, maximum: 8 }));
    const r = s.alloc(arena);
    r.v = 0xc0ffee;
    arena.allocate(3 * 65536); // grows the memory, detaching the old buffer
    assert.equal(r.v, 0xc0ffee);
    const again = s.view(arena.memory, r.ptr);
    assert.equal(again.v, 0xc0ffee);
  });

  test("bad definitions are an AllocError; bad pointers, lengths and options are refused and allocate nothing", () => {
    for (const bad of [{}, null, { x: "f128" }, { x: "u32", ptr: "u8" }, { memory: "u8" }]) {
      assert.throws(() => defineStruct(bad as never), AllocError);
    }
    const s = defineStruct({ x: "f64" });
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    for (const ptr of [0, -8, 12, 1.5, 4096, 4090])
      assert.throws(() => s.view(arena.memory, ptr), InvalidPointerError);
    for (const len of [0, -1, 1.5, 2 ** 30]) assert.throws(() => s.allocArray(arena, len), LayoutError);
    assert.throws(() => s.alloc(arena, 3 as never), LayoutError);
    assert.equal(arena.allocated(), 0);
    assert.throws(() => s.allocArray(arena, 1000), AllocError);
    assert.equal(arena.allocated(), 0);
  });
});
