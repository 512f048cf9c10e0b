import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, MAX_MEMORY_BYTES, Memory, WASM_PAGE_SIZE } from "./index.js";

describe("Memory", () => {
  test("Memory.of returns one Memory per source", () => {
    const buffer = new ArrayBuffer(64);
    assert.equal(Memory.of(buffer), Memory.of(buffer));
    assert.notEqual(Memory.of(buffer), Memory.of(new ArrayBuffer(64)));
  });

  test("reports its kind, sharing and growth limits", () => {
    const fixed = Memory.of(new ArrayBuffer(64));
    assert.deepEqual(
      [fixed.kind, fixed.shared, fixed.growable, fixed.maxByteLength],
      ["array-buffer", false, false, 64],
    );
    const sab = Memory.of(new SharedArrayBuffer(64, { maxByteLength: 256 }));
    assert.deepEqual(
      [sab.kind, sab.shared, sab.growable, sab.maxByteLength],
      ["shared-array-buffer", true, true, 256],
    );
    const wasm = Memory.of(new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true }));
    assert.deepEqual([wasm.kind, wasm.shared, wasm.growable], ["wasm", true, true]);
  });

  test("views of a resizable ArrayBuffer follow its growth; offsets keep their bytes", () => {
    const memory = Memory.of(new ArrayBuffer(64, { maxByteLength: 4096 }));
    memory.f64[2] = 1.5;
    const before = memory.generation;
    assert.equal(memory.grow(1000), true);
    assert.equal(memory.byteLength, 1000);
    assert.equal(memory.u8.length, 1000);
    assert.equal(memory.f64.length, 125);
    assert.equal(memory.f64[2], 1.5);
    assert.equal(memory.dataView.byteLength, 1000);
    assert.ok(memory.generation > before);
  });

  test("views of a growable SharedArrayBuffer follow its growth", () => {
    const memory = Memory.of(new SharedArrayBuffer(64, { maxByteLength: 4096 }));
    memory.i32[3] = -7;
    assert.equal(memory.grow(4096), true);
    assert.equal(memory.i32.length, 1024);
    assert.equal(memory.i32[3], -7);
  });

  test("a WebAssembly memory that grows detaches its old buffer, and the getters never hand out the stale view", () => {
    const wasm = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const memory = Memory.of(wasm);
    memory.u32[5] = 0xdeadbeef;
    const stale = memory.u8;
    wasm.grow(1); // grown behind the Memory's back, as a wasm module would
    assert.equal(stale.length, 0, "the runtime detached the old view");
    assert.equal(memory.u8.length, 2 * WASM_PAGE_SIZE);
    assert.equal(memory.u32[5], 0xdeadbeef);
    assert.equal(memory.grow(3 * WASM_PAGE_SIZE + 1), true);
    assert.equal(memory.byteLength, 4 * WASM_PAGE_SIZE);
    assert.equal(memory.f64.length, (4 * WASM_PAGE_SIZE) / 8);
  });

  test("a shared WebAssembly memory's new, longer buffer is picked up", () => {
    const wasm = new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true });
    const memory = Memory.of(wasm);
    const old = memory.buffer;
    wasm.grow(1);
    assert.equal(old.byteLength, WASM_PAGE_SIZE, "the old SharedArrayBuffer keeps its old length");
    assert.equal(memory.u8.length, 2 * WASM_PAGE_SIZE);
  });

  test("grow refuses beyond the maximum and on a fixed buffer, changing nothing", () => {
    const fixed = Memory.of(new ArrayBuffer(64));
    assert.equal(fixed.grow(65), false);
    assert.equal(fixed.grow(64), true, "already long enough");
    const rab = Memory.of(new ArrayBuffer(64, { maxByteLength: 128 }));
    assert.equal(rab.grow(129), false);
    assert.equal(rab.byteLength, 64);
  });

  test("fixed buffers whose length is not a multiple of 8 still get every view", () => {
    const memory = Memory.of(new ArrayBuffer(13));
    assert.equal(memory.u8.length, 13);
    assert.equal(memory.f64.length, 1);
    assert.equal(memory.u16.length, 6);
  });

  test("view() makes a typed view at an offset", () => {
    const memory = Memory.of(new ArrayBuffer(64));
    const v = memory.view(Float32Array, 16, 4);
    v[0] = 2;
    assert.equal(memory.f32[4], 2);
  });

  test("rejects a source that is not a buffer, naming what it got", () => {
    assert.throws(
      () => new Memory({} as ArrayBuffer),
      (e: unknown) => e instanceof AllocError && /got \[object Object\]/.test((e as Error).message),
    );
  });

  test("caps managed memories at MAX_MEMORY_BYTES", () => {
    assert.ok(MAX_MEMORY_BYTES < 2 ** 31);
    assert.equal(Memory.of(new ArrayBuffer(8, { maxByteLength: 2 ** 32 })).maxByteLength, MAX_MEMORY_BYTES);
  });
});
