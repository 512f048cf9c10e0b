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
import { Tlsf } from "./index.js";

describe("Tlsf", () => {
  test("coalesces immediately beyond the quick cache: freeing everything leaves one free block", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 20));
    const ptrs = Array.from({ length: 50 }, (_, i) => t.allocate(4200 + i * 8)); // above the quick cache's sizes
    for (let i = 0; i < ptrs.length; i += 2) t.free(ptrs[i]!);
    t.validate();
    assert.ok(t.stats().freeBlocks > 20);
    for (let i = 1; i < ptrs.length; i += 2) t.free(ptrs[i]!);
    t.validate();
    const s = t.stats();
    assert.deepEqual([s.freeBlocks, s.usedBlocks, s.fragmentation], [1, 0, 0]);
  });

  test("the quick cache hands a freed small block out again for its size, and flushCache coalesces it", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 16));
    const ptrs = Array.from({ length: 20 }, (_, i) => t.allocate(16 + (i % 5) * 8));
    t.free(ptrs[7]!); // 32 bytes
    assert.equal(t.allocate(25), ptrs[7], "the same block, for the same rounded size");
    for (const p of ptrs) t.free(p);
    assert.throws(() => t.free(ptrs[3]!), InvalidPointerError, "a cached block is not live");
    t.validate();
    assert.ok(t.stats().freeBlocks > 1, "cached blocks are free but not coalesced yet");
    assert.equal(t.stats().usedBlocks, 0);
    t.flushCache();
    t.validate();
    assert.deepEqual([t.stats().freeBlocks, t.stats().usedBlocks], [1, 0]);
  });

  test("the quick cache never makes a request fail: a request that fits only once it is flushed is served", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14)); // not growable
    const ptrs: number[] = [];
    for (let p = t.allocate(64); p !== NULL; p = t.allocate(64)) ptrs.push(p);
    const mid = ptrs.length >>> 1;
    for (const p of ptrs.slice(mid, mid + 4)) t.free(p); // into the quick cache, in the middle of the heap
    for (const p of [...ptrs.slice(0, mid), ...ptrs.slice(mid + 4)]) t.free(p);
    assert.ok(t.stats().largestFreeBlock < t.stats().heapBytes / 2 + 64);
    const big = t.allocate(t.stats().heapBytes - 1100);
    assert.notEqual(big, NULL, "the cache was flushed, the heap coalesced into one block");
    t.validate();
  });

  test("the quick cache holds at most 1/32 of a small heap and 1/8 of one of 4 MiB or more; growth keeps every block", () => {
    const cached = (t: Tlsf): number => {
      // 40 adjacent 64-byte blocks between two live ones: those the cache does not take coalesce into one block
      const before = t.allocate(64);
      const run = Array.from({ length: 40 }, () => t.allocate(64));
      const after = t.allocate(64);
      const free0 = t.stats().freeBlocks;
      for (const p of run) t.free(p);
      const n = t.stats().freeBlocks - free0;
      t.validate();
      t.free(before);
      t.free(after);
      return n;
    };
    const t = new Tlsf(new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 24 }));
    const small = cached(t); // 64 KiB: about 2 KiB of cache (31 or 32 blocks), the rest coalesce into one block
    assert.ok(small >= 31 && small <= 33, `64 KiB: ${small} free blocks`);
    const live = Array.from({ length: 16 }, (_, i) => t.allocate(48 + 8 * i));
    live.forEach((p, i) => t.memory.u8.fill(i + 1, p, p + 48));
    t.free(live[3]!); // in the cache when the heap grows
    const big = t.allocate(5 << 20); // the heap grows past 4 MiB
    assert.notEqual(big, NULL);
    t.validate();
    live.forEach((p, i) => {
      if (i !== 3) assert.ok(t.memory.u8.subarray(p, p + 48).every((b) => b === i + 1));
    });
    assert.equal(cached(t), 40, "over 4 MiB: it caches all 40");
    for (const p of live) if (p !== live[3]) t.free(p);
    t.free(big);
    t.flushCache();
    t.validate();
  });

  test("a realloc absorbs a neighbour that sits in the quick cache", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 16));
    const a = t.allocate(64);
    const b = t.allocate(64);
    t.allocate(64);
    t.free(b); // cached
    assert.equal(t.realloc(a, 130), a);
    t.validate();
  });

  test("realloc grows in place into a free neighbour, shrinks in place, and moves only when it must", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 16));
    const a = t.allocate(64);
    const b = t.allocate(64);
    const c = t.allocate(64);
    t.memory.u8.fill(7, a, a + 64);
    t.free(b);
    assert.equal(t.realloc(a, 100), a, "absorbed the free neighbour");
    assert.equal(t.memory.u8[a + 63], 7);
    assert.equal(t.realloc(a, 24), a, "shrunk in place");
    const moved = t.realloc(a, 4000);
    assert.notEqual(moved, a);
    assert.equal(t.memory.u8[moved + 23], 7);
    t.validate();
    void c;
  });

  test("grows a resizable memory when the heap is exhausted; offsets and bytes stay", () => {
    const t = new Tlsf(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 20 }));
    const p = t.allocate(100);
    t.memory.u32[p >>> 2] = 0xfeedface;
    const big = t.allocate(200_000);
    assert.notEqual(big, NULL);
    assert.ok(t.memory.byteLength >= big + 200_000);
    assert.equal(t.memory.u32[p >>> 2], 0xfeedface);
    t.validate();
    assert.equal(t.allocate(1 << 20), NULL, "beyond maxSize");
  });

  test("grows a WebAssembly memory (detaching its buffer) and keeps working", () => {
    const t = new Tlsf(new WasmMemoryBacked({ initial: 1, maximum: 8 }));
    const ptrs: number[] = [];
    for (let i = 0; i < 100; i++) ptrs.push(t.allocate(3000));
    assert.ok(t.memory.byteLength > 65536);
    for (const p of ptrs) t.free(p);
    t.validate();
    assert.equal(t.stats().usedBlocks, 0);
  });

  test("aligned allocations up to 2 MiB give the front back", () => {
    const t = new Tlsf(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 23 }));
    for (const align of [16, 64, 4096, 1 << 16, 1 << 21]) {
      const p = t.allocate(100, align);
      assert.equal(p % align, 0, String(align));
      t.validate();
      t.deallocate(p, 100, align);
    }
    t.validate();
  });

  test("refuses double frees, interior, foreign and non-number pointers, and wrong sizes", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const p = t.allocate(40);
    for (const bad of [p + 8, p - 8, 0, 1 << 20, -8, 1.5, NaN, String(p)]) {
      assert.throws(() => t.free(bad as number), InvalidPointerError, String(bad));
    }
    assert.throws(
      () => t.deallocate(p, 100),
      (e: unknown) => e instanceof LayoutError && /holds 40 bytes/.test((e as Error).message),
    );
    t.free(p);
    assert.throws(
      () => t.free(p),
      (e: unknown) => e instanceof InvalidPointerError && /not a live block/.test((e as Error).message),
    );
    t.validate();
  });

  test("an overflow that destroys the next block's header is reported when that block is freed, and counted", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const a = t.allocate(32);
    const b = t.allocate(32);
    t.memory.u8.fill(0xff, a, a + 40); // 8 bytes too many: b's header
    assert.throws(() => t.free(b), CorruptionError);
    assert.equal(t.corruptionEvents(), 1);
  });

  test("stats report used and free bytes, blocks, the largest free block and overhead", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    t.allocate(100);
    const s = t.stats();
    assert.equal(s.usedBytes, 104);
    assert.equal(s.usedBlocks, 1);
    assert.equal(s.freeBlocks, 1);
    assert.equal(s.largestFreeBlock, s.freeBytes);
    assert.equal(s.usedBytes + s.freeBytes + s.overheadBytes, s.heapBytes);
  });

  test("rejects a backing that is not a range, or is too small", () => {
    assert.throws(() => new Tlsf({} as never), AllocError);
    assert.throws(() => new Tlsf(new ArrayBufferBacked(32)), /too small/);
  });
});
