import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  InvalidPointerError,
  LayoutError,
  NULL,
  StaticBacked,
  WasmMemoryBacked,
} from "../index.js";
import { BumpArena } from "./index.js";

describe("BumpArena", () => {
  test("hands out consecutive aligned offsets from the backing's range", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    assert.equal(arena.allocate(3, 1), 16);
    assert.equal(arena.allocate(8), 24);
    assert.equal(arena.allocate(1, 64), 64);
    assert.equal(
      arena.allocate(1, 4096),
      NULL,
      "no 4096-aligned offset with a byte after it fits in 4096 bytes",
    );
    assert.equal(arena.allocated(), 65 - 16);
  });

  test("aligns every power of two up to MAX_ALIGN (2 MiB) over a big enough memory", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 23));
    for (let align = 1; align <= 1 << 21; align *= 2) assert.equal(arena.allocate(1, align) % align, 0);
  });

  test("returns NULL when full and changes nothing", () => {
    const arena = new BumpArena(new ArrayBufferBacked(64));
    assert.equal(arena.allocate(40), 16);
    assert.equal(arena.allocate(16), NULL);
    assert.equal(arena.allocate(8), 56);
  });

  test("a scope rewinds at the end of a `using` block, even when it throws", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    arena.allocate(8);
    const before = arena.mark();
    {
      using scope = arena.scope();
      scope.allocate(128);
      scope.allocArray(Float64Array, 4);
      assert.ok(arena.mark() > before);
    }
    assert.equal(arena.mark(), before);
    assert.throws(() => {
      using scope = arena.scope();
      scope.allocate(64);
      throw new Error("boom");
    }, /boom/);
    assert.equal(arena.mark(), before);
  });

  test("scopes nest, and a disposed scope refuses to allocate", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    const outer = arena.scope();
    outer.allocate(16);
    const middle = arena.mark();
    const inner = outer.scope();
    inner.allocate(32);
    inner.dispose();
    assert.equal(arena.mark(), middle);
    outer.dispose();
    outer.dispose(); // harmless
    assert.equal(arena.mark(), 16);
    assert.equal(outer.isOpen, false);
    assert.throws(() => outer.allocate(8), AllocError);
  });

  test("a scope opened before reset() does not rewind after it", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    const scope = arena.scope();
    scope.allocate(64);
    arena.reset();
    const p = arena.allocate(256);
    scope.dispose();
    assert.equal(arena.mark(), p + 256, "blocks allocated after the reset survive");
  });

  test("rewindTo frees what came after a mark and rejects a stale mark", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    arena.allocate(8);
    const mark = arena.mark();
    arena.allocate(100);
    arena.rewindTo(mark);
    assert.equal(arena.mark(), mark);
    assert.throws(() => arena.rewindTo(mark + 8), InvalidPointerError);
    assert.throws(() => arena.rewindTo(1.5), InvalidPointerError);
    arena.reset();
    assert.throws(() => arena.rewindTo(mark), /no longer valid/);
  });

  test("grows the last block in place and moves an earlier one", () => {
    const arena = new BumpArena(new ArrayBufferBacked(1 << 12));
    const a = arena.allocate(16);
    arena.memory.u8.fill(7, a, a + 16);
    assert.equal(arena.grow(a, 16, 64), a, "in place: the block ends at the cursor");
    const b = arena.allocate(8);
    const moved = arena.grow(a, 64, 128);
    assert.ok(moved > b);
    assert.deepEqual([...arena.memory.u8.subarray(moved, moved + 16)], new Array(16).fill(7));
    assert.equal(arena.shrink(moved, 128, 8), moved);
    assert.equal(arena.mark(), moved + 8, "shrinking the last block gives its tail back");
  });

  test("typed helpers return a view of exactly the allocation, and throw when out of memory", () => {
    const arena = new BumpArena(new ArrayBufferBacked(256));
    const xs = arena.allocArray(Float64Array, 4);
    assert.equal(xs.length, 4);
    assert.equal(xs.byteOffset % 8, 0);
    xs[4] = 99; // past the end: dropped by the runtime, cannot reach the neighbour
    const bytes = arena.allocBytes(3);
    assert.equal(bytes.byteOffset, xs.byteOffset + 32);
    assert.deepEqual([...arena.allocUtf8("héllo")], [...new TextEncoder().encode("héllo")]);
    const dv = arena.allocDataView(8, 8);
    assert.throws(() => dv.setUint8(8, 1), RangeError);
    assert.throws(
      () => arena.allocBytes(1000),
      (e: unknown) => e instanceof AllocError && /out of memory: 1000 bytes/.test((e as Error).message),
    );
    assert.throws(() => arena.allocArray(Int32Array, 0), LayoutError);
    assert.throws(() => arena.allocArray(Int32Array, 1.5), LayoutError);
  });

  test("commits through a growable backing: the memory grows on demand and offsets stay valid", () => {
    const backing = new ArrayBufferBacked({ size: 64, maxSize: 1 << 16 });
    const arena = new BumpArena(backing);
    const p = arena.allocate(16);
    arena.memory.u32[p >>> 2] = 42;
    const q = arena.allocate(10_000);
    assert.notEqual(q, NULL);
    assert.ok(arena.memory.byteLength >= q + 10_000);
    assert.equal(arena.memory.u32[p >>> 2], 42);
    assert.equal(arena.allocate(1 << 16), NULL, "beyond maxSize");
  });

  test("over a growing WebAssembly memory the views it hands out are re-derived", () => {
    const arena = new BumpArena(new WasmMemoryBacked({ initial: 1, maximum: 3 }));
    const a = arena.allocArray(Int32Array, 10);
    a[0] = 5;
    const ptr = a.byteOffset;
    arena.allocate(100_000); // grows the memory: `a` is now detached
    assert.equal(a.length, 0);
    const again = arena.memory.view(Int32Array, ptr, 10);
    assert.equal(again[0], 5);
  });

  test("carves only its backing's range", () => {
    const pool = new ArrayBufferBacked(1 << 12);
    const range = StaticBacked.carve(pool, 256, 16);
    const arena = new BumpArena(range);
    assert.equal(arena.base(), range.base());
    assert.equal(arena.capacityBytes(), 256);
    assert.equal(arena.allocate(257), NULL);
  });

  test("rejects a backing that is not a FixedRange", () => {
    assert.throws(() => new BumpArena({} as never), /must be a FixedRange/);
  });
});
