import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  InvalidPointerError,
  MAX_MEMORY_BYTES,
  Memory,
  NULL,
  RESERVED_LOW_BYTES,
} from "../core/index.js";
import { ArrayBufferBacked, SharedArrayBufferBacked, StaticBacked, WasmMemoryBacked } from "./index.js";

describe("backings", () => {
  test("never hand out the reserved low bytes: the first block is at 16", () => {
    for (const backing of [
      new ArrayBufferBacked(64),
      new SharedArrayBufferBacked(64),
      new WasmMemoryBacked({ initial: 1 }),
      new StaticBacked(new Uint8Array(64)),
    ]) {
      assert.equal(backing.base(), RESERVED_LOW_BYTES);
      assert.equal(backing.allocate(1, 1), RESERVED_LOW_BYTES);
      assert.equal(backing.contains(0), false);
    }
  });

  test("FixedRange: contains the range's ends and nothing outside", () => {
    const b = new ArrayBufferBacked(128);
    assert.deepEqual([b.base(), b.size()], [16, 112]);
    assert.equal(b.contains(16), true);
    assert.equal(b.contains(127), true);
    assert.equal(b.contains(128), false);
    assert.equal(b.contains(15), false);
    assert.equal(b.contains(20.5), false);
  });

  test("a resizable backing reserves up to maxSize and grows its buffer by committing", () => {
    const b = new ArrayBufferBacked({ size: 64, maxSize: 1 << 12 });
    assert.equal(b.size(), (1 << 12) - 16);
    assert.equal(b.memory.byteLength, 64);
    assert.equal(b.commit(16, 1000), true);
    assert.ok(b.memory.byteLength >= 1016);
    assert.equal(b.commit(16, 1 << 12), false, "beyond the range");
  });

  test("a WebAssembly backing can manage part of a module's memory", () => {
    const wasm = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const b = new WasmMemoryBacked(wasm, { offset: 1024, maximum: 4 });
    assert.equal(b.base(), 1024);
    assert.equal(b.size(), 4 * 65536 - 1024);
    assert.equal(b.wasmMemory, wasm);
    assert.notEqual(b.allocate(100_000), NULL, "grows the module's memory");
    assert.equal(wasm.buffer.byteLength >= 1024 + 100_000, true);
  });

  test("StaticBacked over a view starts at 16 when the view starts below it, and carve() takes a disjoint range", () => {
    const buffer = new ArrayBuffer(256);
    const low = new StaticBacked(new Uint8Array(buffer, 0, 128));
    assert.deepEqual([low.base(), low.size()], [16, 112]);
    const high = new StaticBacked(new Uint8Array(buffer, 128, 128));
    assert.equal(low.memory, high.memory);
    const pool = new ArrayBufferBacked(1024);
    const a = StaticBacked.carve(pool, 100);
    const c = StaticBacked.carve(pool, 100);
    assert.ok(a.base() + a.size() <= c.base());
    assert.throws(() => StaticBacked.carve(pool, 4096), /no 4096 bytes/);
  });

  test("deallocate checks the pointer and reclaims nothing; reset reclaims everything", () => {
    const b = new ArrayBufferBacked(256);
    const p = b.allocate(32);
    assert.throws(() => b.deallocate(p + 32, 8), InvalidPointerError);
    b.deallocate(p, 32);
    assert.equal(b.allocate(8), p + 32);
    b.reset();
    assert.equal(b.allocate(8), p);
  });

  test("constructors reject bad sizes with a clear AllocError", () => {
    for (const bad of [0, -1, 31, 1.5, NaN, Infinity, MAX_MEMORY_BYTES + 1, "64", null]) {
      assert.throws(
        () => new ArrayBufferBacked(bad as number),
        (e: unknown) => e instanceof AllocError && /expected an integer from 32/.test((e as Error).message),
        String(bad),
      );
      assert.throws(() => new SharedArrayBufferBacked(bad as number), AllocError, String(bad));
    }
    assert.throws(
      () => new ArrayBufferBacked({ size: 128, maxSize: 64 }),
      /maxSize 64 is not valid; expected an integer from 128/,
    );
    for (const bad of [0, -1, 1.5, NaN, 40000]) {
      assert.throws(() => new WasmMemoryBacked({ initial: bad }), AllocError, String(bad));
    }
    assert.throws(() => new WasmMemoryBacked({ initial: 2, maximum: 1 }), AllocError);
    assert.throws(
      () => new WasmMemoryBacked(new WebAssembly.Memory({ initial: 1 }), { offset: 8 }),
      /offset 8/,
    );
    assert.throws(() => new StaticBacked(new Uint8Array(16)), /holds no usable byte/);
    assert.throws(() => new StaticBacked(new ArrayBuffer(64), { offset: 16, size: 100 }), /size 100/);
    assert.throws(() => new StaticBacked(new Uint8Array(64), { offset: 16 }), /already names its range/);
    assert.throws(() => new StaticBacked(Memory.of(new ArrayBuffer(64)), { size: 0 }), AllocError);
  });
});

test("ArrayBufferBacked and SharedArrayBufferBacked given a buffer say they create their own and name StaticBacked", () => {
  const given = [new ArrayBuffer(64), new SharedArrayBuffer(64), new Uint8Array(64)];
  for (const make of [
    (b: unknown) => new ArrayBufferBacked(b as number),
    (b: unknown) => new SharedArrayBufferBacked(b as number),
  ]) {
    for (const b of given) {
      assert.throws(
        () => make(b),
        (e: unknown) =>
          e instanceof AllocError &&
          /expected a byte length or \{ size, maxSize \}/.test(e.message) &&
          new RegExp(`not a buffer \\(${Object.prototype.toString.call(b).slice(8, -1)}, 64 bytes\\)`).test(
            e.message,
          ) &&
          /use new StaticBacked\(buffer\)/.test(e.message),
      );
    }
  }
  // and a missing size is named once, not as "undefined undefined"
  assert.throws(
    () => new ArrayBufferBacked({} as { size: number }),
    (e: unknown) => e instanceof AllocError && /: size undefined is not valid;/.test(e.message),
  );
});
