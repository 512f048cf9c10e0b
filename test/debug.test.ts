// The debug level (forge-alloc/debug): every checked call is followed by the invariant checks, a broken invariant
// throws an InvariantError naming it, the allocator and the call, and turning it off puts the original methods back.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import {
  ArrayBufferBacked,
  Heap,
  InvalidPointerError,
  LayoutError,
  Memory,
  NULL,
  Slab,
  Statistics,
  Tlsf,
} from "../src/index.js";
import {
  DEBUG_LEVEL,
  InvariantError,
  debugChecksEnabled,
  disableDebugChecks,
  enableDebugChecks,
  isDebugChecked,
} from "../src/debug.js";

/**
 * A deliberately broken allocator: each flag breaks one promise, so each check can be seen to fire. Without a flag
 * it is a correct bump allocator over its own memory.
 */
class Broken {
  readonly memory = Memory.of(new ArrayBuffer(4096, { maxByteLength: 1 << 16 }));
  top = 16;
  events = 0;
  constructor(readonly flaw: string) {}
  allocate(size: number, align = 8): number {
    if (this.flaw === "raw TypeError") return Number(BigInt(size)) + align; // BigInt(1.5) throws a RangeError; Symbol a TypeError
    if (typeof size !== "number" || size < 1) {
      if (this.flaw === "grows on refusal") (this.memory.buffer as ArrayBuffer).resize(8192);
      if (this.flaw === "counts on refusal") this.events++;
      throw new LayoutError(`Broken.allocate: bad size ${String(size)}`);
    }
    const p = this.flaw === "misaligned" ? this.top + 1 : (this.top + align - 1) & -align;
    this.top = p + size;
    return this.flaw === "past the end" ? this.memory.byteLength - 8 : p;
  }
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (this.flaw !== "dirty zeroed") this.memory.u8.fill(0, p, p + size);
    else this.memory.u8[p + size - 1] = 7;
    return p;
  }
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    const q = this.allocate(newSize, align);
    if (this.flaw !== "forgets on grow") this.memory.u8.copyWithin(q, ptr, ptr + oldSize);
    return q;
  }
  usableSize(_ptr: number, size: number): number {
    return this.flaw === "short usable" ? size - 1 : size;
  }
  corruptionEvents(): number {
    return this.flaw === "forgets corruption" && this.top > 16 ? 0 : this.events;
  }
  validate(): void {
    if (this.flaw === "invalid" && this.top > 16) throw new Error("Broken.validate: the cursor is off");
  }
}

describe("under the debug level", () => {
  after(() => {
    disableDebugChecks();
    if (DEBUG_LEVEL > 0) enableDebugChecks(); // leave the process as FORGE_ALLOC_DEBUG asked
  });

  test("is off unless FORGE_ALLOC_DEBUG is set: the classes keep their own methods", () => {
    assert.equal(debugChecksEnabled(), DEBUG_LEVEL === 1);
    disableDebugChecks();
    assert.equal(debugChecksEnabled(), false);
    assert.equal(isDebugChecked(Slab.prototype.allocate), false);
  });

  test("instruments every public class, and off again restores the very same functions", () => {
    disableDebugChecks();
    const before = [Slab.prototype.allocate, Tlsf.prototype.deallocate, Heap.prototype.malloc];
    const count = enableDebugChecks();
    assert.ok(count > 100, `only ${count} methods instrumented`);
    assert.equal(enableDebugChecks(), 0, "enabling twice instruments nothing twice");
    assert.ok(debugChecksEnabled());
    assert.ok(isDebugChecked(Heap.prototype.malloc));
    assert.equal(disableDebugChecks(), count);
    assert.deepEqual([Slab.prototype.allocate, Tlsf.prototype.deallocate, Heap.prototype.malloc], before);
  });

  test("correct allocators pass every check, nested calls included (a moving grow, a wrapper over a heap)", () => {
    enableDebugChecks();
    const heap = new Statistics(new Heap(new ArrayBufferBacked(1 << 22)));
    const blocks: number[] = [];
    for (let i = 1; i < 200; i++) blocks.push(heap.allocate(i * 7, 8));
    assert.ok(blocks.every((p) => p !== NULL));
    const z = heap.allocateZeroed(300, 16);
    const g = heap.grow(blocks[3]!, 28, 5000, 8); // moves: the Heap allocates and frees inside
    assert.notEqual(g, NULL);
    heap.deallocate(g, 5000, 8);
    heap.deallocate(z, 300, 16);
    const backing = new ArrayBufferBacked(1 << 12);
    const a = backing.allocate(16);
    backing.allocate(16);
    assert.notEqual(backing.grow(a, 16, 64), NULL); // not the last block: moves through its own allocate
    assert.throws(() => heap.allocate(0), LayoutError, "a refused call passes the refusal checks");
    assert.throws(() => heap.deallocate(12345, 8), InvalidPointerError);
  });

  const cases: [
    flaw: string,
    invariant: string,
    call: (b: Broken) => unknown,
    reason: RegExp,
    // what the same call does without the debug level: returns, or throws this (the flaw goes unnoticed)
    unchecked?: new (...args: never[]) => Error,
  ][] = [
    ["misaligned", "I1", (b) => b.allocate(8, 8), /Broken\.allocate\(8, 8\) returned 17, not aligned to 8/],
    ["past the end", "I1", (b) => b.allocate(64), /end past the memory/],
    ["dirty zeroed", "I6", (b) => b.allocateZeroed(32), /byte 31 is 7, not 0/],
    [
      "forgets on grow",
      "I5",
      (b) => {
        const p = b.allocate(8);
        b.memory.u8[p] = 42;
        return b.grow(p, 8, 64);
      },
      /byte 0 changed from 42 to 0/,
    ],
    ["short usable", "I8", (b) => b.usableSize(16, 8), /returned 7, less than the size asked/],
    [
      "forgets corruption",
      "I10",
      (b) => {
        b.events = 1;
        return b.allocate(8);
      },
      /corruptionEvents\(\) decreased/,
    ],
    [
      "raw TypeError",
      "I9",
      (b) => b.allocate(Symbol("s") as unknown as number),
      /threw a raw TypeError instead of a typed error/,
      TypeError,
    ],
    [
      "grows on refusal",
      "I3",
      (b) => b.allocate(0),
      /was refused \(LayoutError\) but the memory grew from 4096 to 8192/,
      LayoutError,
    ],
    [
      "counts on refusal",
      "I10",
      (b) => b.allocate(0),
      /was refused \(LayoutError\) but corruptionEvents\(\) changed/,
      LayoutError,
    ],
    [
      "invalid",
      "validate",
      (b) => b.allocate(8),
      /Broken\.validate\(\) fails after Broken\.allocate\(8\): Broken\.validate: the cursor is off/,
    ],
  ];
  for (const [flaw, invariant, call, reason, unchecked] of cases) {
    test(`asserts ${invariant} with its reason: an allocator that ${flaw}`, () => {
      enableDebugChecks([Broken]);
      const b = new Broken(flaw);
      assert.throws(
        () => call(b),
        (e: unknown) =>
          e instanceof InvariantError &&
          e.code === "ERR_INVARIANT" &&
          e.invariant === invariant &&
          reason.test(e.message),
      );
      disableDebugChecks();
      const plain = new Broken(flaw);
      // the same call, unchecked: nothing notices the flaw (it returns, or throws only what it throws anyway)
      if (unchecked === undefined) call(plain);
      else
        assert.throws(
          () => call(plain),
          (e: unknown) => e instanceof unchecked && !(e instanceof InvariantError),
        );
    });
  }

  test("a Slab whose free set was overwritten from outside fails validate() right after the next call", () => {
    enableDebugChecks();
    const slab = new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 32, capacity: 8 });
    const a = slab.allocate(32);
    const b = slab.allocate(32);
    slab.allocate(32);
    slab.deallocate(a, 32);
    slab.deallocate(b, 32); // the free stack holds a (bottom) and b (top)
    // Overwrite a's back-index (where in the stack the slot is): the hot path never reads it for a pop of b.
    const freeSet = (slab as unknown as { freeSet: Int32Array }).freeSet;
    freeSet[8 + 0] = 5;
    assert.throws(
      () => slab.allocate(32),
      (e: unknown) =>
        e instanceof InvariantError &&
        e.invariant === "validate" &&
        /^validate: Slab\.validate\(\) fails after Slab\.allocate\(32\): Slab\.validate: free stack entry 0/.test(
          e.message,
        ),
    );
    disableDebugChecks();
  });
});
