import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ArrayBufferBacked, SharedArrayBufferBacked, WasmMemoryBacked } from "../backing/index.js";
import { AllocError, InvalidPointerError, LayoutError } from "../core/index.js";
import { BumpArena } from "./bump-arena.js";
import { Heap } from "./heap.js";
import { allocArray, allocDataView, allocUtf8, readUtf8 } from "./typed.js";

describe("typed helpers", () => {
  test("Heap.allocArray after a free returns zeros, not the freed block's numbers", () => {
    const heap = new Heap(new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 20 }));
    const first = heap.allocArray(Float64Array, 8);
    first.fill(Math.PI);
    heap.deallocate(first.byteOffset, first.byteLength);
    const again = heap.allocArray(Float64Array, 8);
    assert.equal(again.byteOffset, first.byteOffset, "the same block is reused");
    assert.deepEqual([...again], new Array(8).fill(0));
  });

  test("BumpArena.allocArray and allocDataView after reset() return zeros", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    arena.allocArray(Int32Array, 16).fill(-1);
    arena.reset();
    assert.deepEqual([...arena.allocArray(Int32Array, 16)], new Array(16).fill(0));
    arena.reset();
    const dv = arena.allocDataView(64);
    for (let i = 0; i < 64; i++) assert.equal(dv.getUint8(i), 0);
  });

  test("{ zeroed: false } skips the zeroing and shows what the block held", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    allocArray(arena, "t", Uint8Array, 32).fill(7);
    arena.reset();
    assert.deepEqual([...allocArray(arena, "t", Uint8Array, 32, { zeroed: false })], new Array(32).fill(7));
    arena.reset();
    assert.equal(allocDataView(arena, "t", 32, 8, { zeroed: false }).getUint8(5), 7);
    assert.equal(allocDataView(arena, "t", 32, 8, { zeroed: true }).getUint8(5), 0);
  });

  test("bad options are a LayoutError that changes nothing", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    const before = arena.allocated();
    for (const bad of [null, 1, "no", { zeroed: "yes" }, { zeroed: 0 }]) {
      assert.throws(
        () => allocArray(arena, "where", Uint8Array, 4, bad as never),
        (e: unknown) => e instanceof LayoutError && /^where: options/.test(e.message),
      );
      assert.throws(() => allocDataView(arena, "where", 8, 8, bad as never), LayoutError);
    }
    assert.equal(arena.allocated(), before);
  });

  test("readUtf8 decodes a view and a range of memory, including multi-byte text", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    const text = "forge · ≠ 🦀";
    const bytes = allocUtf8(arena, "t", text);
    assert.equal(bytes.length, new TextEncoder().encode(text).length);
    assert.equal(readUtf8(bytes), text);
    assert.equal(readUtf8(arena.memory, bytes.byteOffset, bytes.length), text);
    assert.equal(readUtf8(arena.memory, bytes.byteOffset, 0), "");
  });

  test("readUtf8 works over shared and WebAssembly memories", () => {
    for (const backing of [new SharedArrayBufferBacked(1 << 12), new WasmMemoryBacked({ initial: 1 })]) {
      const arena = new BumpArena(backing);
      const bytes = allocUtf8(arena, "t", "shared ✓");
      assert.equal(readUtf8(bytes), "shared ✓");
      assert.equal(readUtf8(arena.memory, bytes.byteOffset, bytes.length), "shared ✓");
    }
  });

  test("readUtf8 refuses ranges outside the memory and bad lengths", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    for (const [ptr, len] of [
      [-1, 4],
      [4090, 10],
      [1.5, 2],
      [Number.NaN, 1],
    ] as const) {
      assert.throws(() => readUtf8(arena.memory, ptr, len), InvalidPointerError);
    }
    for (const len of [-1, 1.5, Number.NaN])
      assert.throws(() => readUtf8(arena.memory, 16, len), LayoutError);
  });

  test("out of memory is an AllocError and allocates nothing", () => {
    const arena = new BumpArena(new ArrayBufferBacked(256));
    assert.throws(() => allocArray(arena, "big", Float64Array, 1000), AllocError);
    assert.equal(arena.allocated(), 0);
  });
});
