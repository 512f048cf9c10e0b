// The kit must catch what it claims to catch: each broken allocator below breaks one invariant.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Allocator, ArrayBufferBacked, NULL, Slab } from "../src/index.js";
import { ConformanceError, runConformance } from "../src/testing/index.js";

type Fault =
  | "misaligned"
  | "overlap"
  | "no-validation"
  | "silent-double-free"
  | "dirty-zeroed"
  | "lossy-grow"
  | "oom-not-null"
  | "leaky-oom"
  | "writes-into-live";

class Broken implements Allocator {
  readonly inner = new Slab(new ArrayBufferBacked(1 << 15), { blockSize: 256, capacity: 64, align: 16 });
  readonly memory = this.inner.memory;
  private last = NULL;
  constructor(private readonly fault: Fault) {}
  allocate(size: number, align = 8): number {
    if (this.fault === "no-validation" && !(size > 0 && size <= 256)) return this.inner.allocate(8, 8);
    if (this.fault === "overlap" && this.last !== NULL) return this.last;
    const p = this.inner.allocate(size, align);
    if (this.fault === "oom-not-null" && p === NULL) return 8;
    if (this.fault === "leaky-oom" && p === NULL) this.inner.allocate(1, 1); // a refused request takes a slot
    // bookkeeping kept in the block handed out before (live or not): it overlaps no new block, it only writes
    if (this.fault === "writes-into-live" && p !== NULL && this.last !== NULL)
      this.memory.u8[this.last + 1]! ^= 0x5a;
    this.last = p;
    return this.fault === "misaligned" && align >= 16 && p !== NULL ? p + 8 : p;
  }
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL && this.fault !== "dirty-zeroed") this.memory.u8.fill(0, p, p + size);
    return p;
  }
  deallocate(ptr: number, size: number, align = 8): void {
    if (this.fault === "silent-double-free") {
      try {
        this.inner.deallocate(ptr, size, align);
      } catch {
        /* swallowed: the fault */
      }
      return;
    }
    if (this.fault === "overlap" && ptr === this.last) return;
    this.inner.deallocate(ptr, size, align);
  }
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    const q = this.inner.grow(ptr, oldSize, newSize, align);
    if (this.fault === "lossy-grow" && q !== NULL) this.memory.u8.fill(0, q, q + oldSize);
    return q;
  }
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.inner.shrink(ptr, oldSize, newSize, align);
  }
  reset(): void {
    this.inner.reset();
    this.last = NULL;
  }
  usableSize(ptr: number, size: number): number {
    return this.inner.usableSize(ptr, size);
  }
  capacityBytes(): number {
    return this.inner.capacityBytes();
  }
  corruptionEvents(): number {
    return 0;
  }
}

const caps = { frees: true, reset: true, detectsDoubleFree: true, maxSize: 256 };

describe("runConformance", () => {
  test("passes a correct allocator", () => {
    assert.doesNotThrow(() =>
      runConformance(
        () => new Slab(new ArrayBufferBacked(1 << 15), { blockSize: 256, capacity: 64, align: 16 }),
        caps,
      ),
    );
  });

  const cases: [Fault, string, RegExp?][] = [
    ["misaligned", "I1"],
    ["overlap", "I2"],
    ["no-validation", "I9"],
    ["silent-double-free", "I4"],
    ["dirty-zeroed", "I6"],
    ["lossy-grow", "I5"],
    ["oom-not-null", "I1"],
    ["leaky-oom", "I3"],
    ["writes-into-live", "I3", /byte 1 of live block .* changed/], // only the byte check sees it (first: I3 fills)
  ];
  for (const [fault, invariant, message] of cases) {
    test(`reports ${invariant} for an allocator with the fault "${fault}"`, () => {
      assert.throws(
        () => runConformance(() => new Broken(fault), caps),
        (error: unknown) =>
          error instanceof ConformanceError &&
          error.invariant === invariant &&
          (message === undefined || message.test(error.message)),
      );
    });
  }
});
