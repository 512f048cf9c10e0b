import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, ArrayBufferBacked, InvalidPointerError, NULL, WasmMemoryBacked } from "../index.js";
import { needs } from "../../test/helpers/host.js";
import { ArenaPool, ExtendableSlab } from "./index.js";

describe("ExtendableSlab", () => {
  test("grows its memory when full; earlier blocks keep their offsets and bytes", () => {
    const pool = new ExtendableSlab(new ArrayBufferBacked({ size: 1024, maxSize: 1 << 20 }), {
      blockSize: 64,
    });
    const first = pool.allocate(64);
    pool.memory.u32[first >>> 2] = 123;
    const start = pool.committedCapacity();
    const blocks = Array.from({ length: 1000 }, () => pool.allocate(64));
    assert.ok(!blocks.includes(NULL));
    assert.ok(pool.committedCapacity() > start);
    assert.equal(pool.memory.u32[first >>> 2], 123);
    for (const b of blocks) pool.deallocate(b, 64);
    assert.throws(() => pool.deallocate(blocks[0]!, 64), InvalidPointerError);
    assert.equal(pool.liveCount(), 1);
  });

  test("over a WebAssembly memory it re-derives views after the memory grows", () => {
    const pool = new ExtendableSlab(new WasmMemoryBacked({ initial: 1, maximum: 4 }), {
      blockSize: 1024,
      initialCapacity: 8,
    });
    const ptrs = Array.from({ length: 200 }, () => pool.allocate(1024));
    assert.ok(!ptrs.includes(NULL));
    pool.memory.u8[ptrs[199]! + 1023] = 9;
    assert.equal(pool.memory.u8[ptrs[199]! + 1023], 9);
    assert.equal(pool.allocate(2048), NULL, "larger than a block");
  });

  test("returns NULL when the range is full, and rejects bad options", () => {
    const pool = new ExtendableSlab(new ArrayBufferBacked(256), { blockSize: 64 });
    const got = Array.from({ length: 5 }, () => pool.allocate(64));
    assert.deepEqual(
      got.map((p) => p !== NULL),
      [true, true, true, false, false],
    );
    assert.throws(() => new ExtendableSlab(new ArrayBufferBacked(256), { blockSize: 0 }), AllocError);
    assert.throws(
      () => new ExtendableSlab(new ArrayBufferBacked(256), { blockSize: 8, align: 3 }),
      AllocError,
    );
  });
});

describe("ArenaPool", () => {
  test("recycles reset arenas up to its capacity", () => {
    let made = 0;
    const pool = new ArenaPool(() => (made++, new ArrayBufferBacked(4096)), { capacity: 2 });
    const a = pool.checkout();
    a.allocate(100);
    pool.giveBack(a);
    const b = pool.checkout();
    assert.equal(b, a, "the same arena comes back");
    assert.equal(b.allocated(), 0, "reset");
    const c = pool.checkout();
    const d = pool.checkout();
    pool.giveBack(b);
    pool.giveBack(c);
    pool.giveBack(d); // beyond capacity: dropped
    assert.equal(pool.idleCount(), 2);
    assert.equal(made, 3);
    assert.equal(pool.prewarm(5), 2, "stops at capacity");
  });

  test("refuses an arena it did not hand out, or one given back twice", () => {
    const pool = new ArenaPool(() => new ArrayBufferBacked(4096));
    const a = pool.checkout();
    pool.giveBack(a);
    assert.throws(() => pool.giveBack(a), /not checked out of this pool/);
    const other = new ArenaPool(() => new ArrayBufferBacked(4096)).checkout();
    assert.throws(() => pool.giveBack(other), AllocError);
  });

  test(
    "releaseIdle gives idle OS-mapped arenas' pages back and keeps the mappings",
    needs("linux", "addon"),
    async () => {
      const { MmapBacked } = await import("../os.js");
      const pool = new ArenaPool(() => new MmapBacked(1 << 16));
      const a = pool.checkout();
      const p = a.allocate(4096);
      a.memory.u8.fill(7, p, p + 4096);
      pool.giveBack(a);
      assert.equal(pool.releaseIdle(), 1);
      assert.equal(a.memory.u8[p], 0, "the pages read as zeros");
      assert.equal(pool.checkout().allocate(8) !== NULL, true);
    },
  );
});
