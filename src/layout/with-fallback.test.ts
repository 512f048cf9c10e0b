import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  BumpArena,
  InvalidPointerError,
  NULL,
  Slab,
  StaticBacked,
} from "../index.js";
import { WithFallback } from "./index.js";

function make(): { alloc: WithFallback<Slab, BumpArena>; slab: Slab; arena: BumpArena } {
  const backing = new ArrayBufferBacked(1 << 16);
  const slab = new Slab(backing, { blockSize: 64, capacity: 2 });
  const arena = new BumpArena(StaticBacked.carve(backing, 1 << 12));
  return { alloc: new WithFallback(slab, arena), slab, arena };
}

describe("WithFallback", () => {
  test("takes what the primary refuses from the secondary, and routes frees by provenance", () => {
    const { alloc, slab, arena } = make();
    const a = alloc.allocate(64);
    const big = alloc.allocate(1000);
    assert.ok(slab.contains(a));
    assert.ok(arena.contains(big));
    alloc.deallocate(a, 64);
    assert.equal(slab.liveCount(), 0);
    alloc.deallocate(big, 1000); // to the arena: accepted there
    assert.throws(() => alloc.deallocate(a, 64), InvalidPointerError, "a double free still reaches the slab");
  });

  test("falls back when the primary is full, and returns NULL when both are", () => {
    const { alloc, arena } = make();
    alloc.allocate(8);
    alloc.allocate(8);
    const third = alloc.allocate(8);
    assert.ok(arena.contains(third));
    assert.equal(alloc.allocate(1 << 13), NULL);
  });

  test("grows a slab block past its stride by moving it to the secondary", () => {
    const { alloc, arena } = make();
    const a = alloc.allocate(64);
    alloc.memory.u8.fill(9, a, a + 64);
    const moved = alloc.grow(a, 64, 500);
    assert.ok(arena.contains(moved));
    assert.equal(alloc.memory.u8[moved + 63], 9);
  });

  test("rejects parts over different memories, and overlapping ranges", () => {
    const slab = new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 8, capacity: 8 });
    assert.throws(
      () => new WithFallback(slab, new BumpArena(new ArrayBufferBacked(1 << 12))),
      (e: unknown) => e instanceof AllocError && /different memories/.test((e as Error).message),
    );
    const backing = new ArrayBufferBacked(1 << 12);
    const inner = new Slab(backing, { blockSize: 8, capacity: 8 });
    assert.throws(() => new WithFallback(inner, new BumpArena(backing)), /overlaps/);
    assert.throws(
      () => new WithFallback({ memory: backing.memory } as never, backing),
      /must be a FixedRange/,
    );
  });

  test("adds both parts' capacities and corruption counts", () => {
    const { alloc, slab, arena } = make();
    assert.equal(alloc.capacityBytes(), slab.capacityBytes() + arena.capacityBytes());
    assert.equal(alloc.corruptionEvents(), 0);
  });
});
