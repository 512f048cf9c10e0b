// The Rust crate's ExtendableSlab rows: `segment_count()` and `with_protection` (a MAC over the free-list links).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  CorruptionError,
  HalfSipHashMac,
  InvalidPointerError,
  NULL,
} from "../index.js";
import { ExtendableSlab } from "./index.js";

const KEY = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const signed = (blockSize = 64): ExtendableSlab =>
  new ExtendableSlab(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 20 }), {
    blockSize,
    initialCapacity: 4,
    protection: new HalfSipHashMac(KEY),
  });

describe("ExtendableSlab.segmentCount", () => {
  test("one segment at first, one more per growth (slots [4, 8), [8, 16), ...), kept across reset", () => {
    const pool = new ExtendableSlab(new ArrayBufferBacked({ size: 1024, maxSize: 1 << 20 }), {
      blockSize: 64,
      initialCapacity: 4,
    });
    assert.equal(pool.segmentCount(), 1);
    const counts: number[] = [];
    for (let i = 0; i < 33; i++) {
      pool.allocate(64);
      counts.push(pool.segmentCount());
    }
    assert.deepEqual(
      [counts[3], counts[4], counts[7], counts[8], counts[15], counts[16], counts[31], counts[32]],
      [1, 2, 2, 3, 3, 4, 4, 5],
    );
    assert.equal(pool.committedCapacity(), 64);
    pool.reset();
    assert.equal(pool.segmentCount(), 5);
  });

  test("a range that cannot grow stays one segment", () => {
    const pool = new ExtendableSlab(new ArrayBufferBacked(1024), { blockSize: 64 });
    while (pool.allocate(64) !== NULL);
    assert.equal(pool.segmentCount(), 1);
  });
});

describe("ExtendableSlab with protection (a MAC over the free-list links in freed blocks)", () => {
  test("frees and reuses LIFO across growth; the link sits in the freed block", () => {
    const pool = signed();
    const blocks = Array.from({ length: 40 }, () => pool.allocate(64));
    assert.ok(!blocks.includes(NULL));
    assert.equal(new Set(blocks).size, 40);
    assert.equal(pool.segmentCount(), 5);
    pool.deallocate(blocks[3]!, 64);
    pool.deallocate(blocks[30]!, 64);
    const view = pool.memory.dataView;
    assert.equal(view.getUint32(blocks[30]!, true), 3 + 1, "the link names slot 3 (+1)");
    assert.equal(view.getUint32(blocks[3]!, true), 0, "the end of the list");
    assert.equal(pool.liveCount(), 38);
    assert.equal(pool.allocate(64), blocks[30]);
    assert.equal(pool.allocate(64), blocks[3]);
    assert.equal(pool.allocate(64), pool.base() + 40 * pool.stride, "then the tail");
    assert.throws(() => pool.deallocate(blocks[3]! + 1, 64), InvalidPointerError);
    pool.deallocate(blocks[5]!, 64);
    assert.throws(() => pool.deallocate(blocks[5]!, 64), InvalidPointerError, "a double free");
    assert.equal(pool.corruptionEvents(), 0);
  });

  test("a link overwritten after free is caught, counted and never followed; the tail serves on", () => {
    const pool = signed();
    const [a, b, c] = [pool.allocate(64), pool.allocate(64), pool.allocate(64)];
    pool.deallocate(a, 64);
    pool.deallocate(b, 64); // list: b -> a
    pool.memory.dataView.setUint32(b, 3, true); // a use after free points the link at c (slot 2, live)
    assert.throws(() => pool.allocate(64), CorruptionError);
    assert.equal(pool.corruptionEvents(), 1);
    const next = pool.allocate(64);
    assert.ok(![a, b, c].includes(next), "neither the live block nor the abandoned ones");
    assert.equal(pool.liveCount(), 2, "c and the new block; a and b leaked until reset");
    pool.reset();
    assert.equal(pool.liveCount(), 0);
    assert.equal(pool.allocate(64), a);
  });

  test("a link replayed after its block was reissued and freed again fails", () => {
    const pool = signed();
    const [a, b] = [pool.allocate(64), pool.allocate(64)];
    pool.deallocate(a, 64);
    pool.deallocate(b, 64); // b -> a: a valid link and tag in b
    const saved = pool.memory.u8.slice(b, b + 8);
    assert.equal(pool.allocate(64), b);
    assert.equal(pool.allocate(64), a);
    pool.deallocate(b, 64); // b -> (end), with a new sequence number
    pool.memory.u8.set(saved, b); // the old, once valid, link back
    assert.throws(() => pool.allocate(64), CorruptionError);
    assert.equal(pool.corruptionEvents(), 1);
  });

  test("a valid link moved to another freed block fails", () => {
    const pool = signed();
    const [a, b, c] = [pool.allocate(64), pool.allocate(64), pool.allocate(64)];
    pool.deallocate(a, 64);
    pool.deallocate(b, 64);
    pool.deallocate(c, 64); // c -> b -> a
    pool.memory.u8.copyWithin(c, b, b + 8); // c now carries b's link (-> a) and b's tag
    assert.throws(() => pool.allocate(64), CorruptionError);
  });

  test("refuses blocks too small for a link, and a protection that is not one", () => {
    assert.throws(
      () =>
        new ExtendableSlab(new ArrayBufferBacked(4096), { blockSize: 4, protection: new HalfSipHashMac() }),
      (e: unknown) => e instanceof AllocError && /at least 8/.test((e as Error).message),
    );
    assert.throws(
      () => new ExtendableSlab(new ArrayBufferBacked(4096), { blockSize: 8, protection: {} as never }),
      (e: unknown) => e instanceof AllocError && /FreelistProtection/.test((e as Error).message),
    );
  });
});
