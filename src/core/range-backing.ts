/**
 * `RangeBacking`: the bump allocator and `FixedRange` shared by every backing (Layer 1 and the OS layer) and by
 * the bump-style layouts.
 *
 * Complexity: O(1) allocate; `deallocate` validates and does nothing (space returns on `reset`).
 * Threads: single agent; for several workers over one shared memory use `SharedBumpArena`.
 * Overhead: no per-block header; alignment padding only.
 *
 * ```text
 *   base                      top                     committed                end
 *   |  issued blocks + padding |  free, accessible      |  reserved, not yet     |
 *   |                          |                        |  committed (growable)  |
 * ```
 * Invariant: `base <= top <= end`, `committed = min(end, memory.byteLength)` or less (a stale lower value only
 * sends the next allocation down the slow path, which refreshes it).
 *
 * Composition limits: a layout built directly over a backing (`BumpArena`, `StackAlloc`) carves the backing's
 * whole range and never calls its `allocate`; do not also allocate from that backing (or give the layout its own
 * range with `StaticBacked.carve`).
 *
 * @module
 */
import type { Allocator, FixedRange } from "./allocator.js";
import { checkResize, moveBlock, zeroBlock } from "./blocks.js";
import { NULL } from "./constants.js";
import { AllocError, InvalidPointerError } from "./errors.js";
import { TAGGED_FIELD } from "./hints.js";
import type { Memory } from "./memory.js";
import type { Region } from "./regions.js";
import { describePointer, isInt32, isValidLayout, layoutError } from "./validate.js";

/**
 * The common implementation of the backings: a bump cursor over `[base, end)` of one memory.
 * Use the concrete backings; this class is exported for the layers above and for custom backings.
 *
 * @example
 * ```ts
 * const memory = Memory.of(new ArrayBuffer(1 << 16));
 * const range = new RangeBacking("MyRange", memory, 16, 4096); // a backing over [16, 4096)
 * console.log(range.allocate(64), range.remaining()); // 16 4016
 * ```
 */
export class RangeBacking implements Allocator, FixedRange {
  /** The memory this backing's range lies in. */
  readonly memory: Memory;
  /** The class name used in messages. */
  protected readonly label: string;
  /** First offset of the range. */
  protected readonly rangeBase: number;
  /** One past the last offset of the range. */
  protected readonly rangeEnd: number;
  /** The bump cursor. */
  protected top: number;
  /** Offsets below this are known to be accessible. */
  protected committed: number;

  /** @internal */
  constructor(label: string, memory: Memory, base: number, end: number) {
    this.memory = memory;
    this.label = label;
    this.rangeBase = base;
    this.rangeEnd = end;
    this.top = TAGGED_FIELD; // representation hint, see TAGGED_FIELD
    this.top = base;
    this.committed = Math.min(end, memory.byteLength);
    memory.watchRetire(this);
  }

  /**
   * The memory was retired (its OS mapping disposed): every later allocation takes the slow path, which refuses.
   * @internal
   */
  memoryRetired(): void {
    this.committed = -1;
  }

  /** The error for an allocation from a retired memory. */
  protected retiredError(): AllocError {
    return new AllocError(
      `${this.label}.allocate: its memory was disposed (the OS mapping is gone); nothing can be allocated from it any more`,
    );
  }

  /** Bump-allocates `size` bytes aligned to `align` (default 8) from the range; `NULL` when it does not fit (I1-I3). */
  allocate(size: number, align = 8): number {
    if (!isValidLayout(size, align)) throw layoutError(`${this.label}.allocate`, size, align);
    const m = align - 1;
    const top = this.top;
    const p = top + (-top & m);
    const end = p + size;
    if (end > this.committed && !this.commitTo(end)) {
      if (this.memory.retired) throw this.retiredError();
      return NULL;
    }
    this.top = end;
    return p;
  }

  /** As {@link RangeBacking.allocate}, then zeroes the block (I6). */
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /**
   * Checks that `ptr` is a block of this backing (issued since the last `reset`) and does nothing else: a bump
   * backing reclaims space only on `reset`. It cannot tell a double free.
   *
   * @throws `InvalidPointerError` when `[ptr, ptr + size)` is not inside the issued part of the range or `ptr`
   *   is not aligned to `align`; `LayoutError` for a bad layout.
   */
  deallocate(ptr: number, size: number, align = 8): void {
    this.checkIssued("deallocate", ptr, size, align);
  }

  /** Grows in place when `ptr` is the last block, else moves it (I5). The moved-from block is reclaimed on `reset`. */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize(`${this.label}.grow`, oldSize, newSize, align, true);
    this.checkIssued("grow", ptr, oldSize, align);
    if (newSize === oldSize) return ptr;
    if (ptr + oldSize === this.top) {
      const end = ptr + newSize;
      if (end <= this.committed || this.commitTo(end)) {
        this.top = end;
        return ptr;
      }
      return NULL;
    }
    return moveBlock(this, ptr, oldSize, newSize, align);
  }

  /** Shrinks in place; when `ptr` is the last block the freed tail is reusable at once (I5). */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize(`${this.label}.shrink`, oldSize, newSize, align, false);
    this.checkIssued("shrink", ptr, oldSize, align);
    if (ptr + oldSize === this.top) this.top = ptr + newSize;
    return ptr;
  }

  /** Frees everything: the cursor goes back to the start of the range (I7). */
  reset(): void {
    this.top = this.rangeBase;
  }

  /** Exactly `size`: a bump backing adds no slack (I8). */
  usableSize(ptr: number, size: number): number {
    this.checkIssued("usableSize", ptr, size, 1);
    return size;
  }

  /** The length of the range. */
  capacityBytes(): number {
    return this.rangeEnd - this.rangeBase;
  }

  /** Always 0: a backing detects no corruption. */
  corruptionEvents(): number {
    return 0;
  }

  /** First offset of the range (never below `RESERVED_LOW_BYTES`). */
  base(): number {
    return this.rangeBase;
  }

  /** Length of the range in bytes, including the part not yet committed in a growable memory. */
  size(): number {
    return this.rangeEnd - this.rangeBase;
  }

  /** True when `ptr` is an integer inside `[base, base + size)`. */
  contains(ptr: number): boolean {
    return isInt32(ptr) && ptr >= this.rangeBase && ptr < this.rangeEnd;
  }

  /**
   * Makes `[ptr, ptr + length)` accessible, growing a growable memory (at least doubling it, within the range, so
   * growth is amortised). `false` when the span leaves the range or the memory cannot grow.
   */
  commit(ptr: number, length: number): boolean {
    if (!isInt32(ptr) || !isInt32(length) || length < 0) return false;
    const end = ptr + length;
    if (ptr < this.rangeBase || end > this.rangeEnd) return false;
    return end <= this.committed || this.commitTo(end);
  }

  /** Bytes issued since the last reset, padding included. */
  allocated(): number {
    return this.top - this.rangeBase;
  }

  /** The issued bytes `[base, cursor)` as one `used` region, the rest of the range as `free`. O(1); allocates. */
  regions(): Region[] {
    const out: Region[] = [];
    if (this.top > this.rangeBase)
      out.push({ offset: this.rangeBase, size: this.top - this.rangeBase, kind: "used" });
    if (this.rangeEnd > this.top)
      out.push({ offset: this.top, size: this.rangeEnd - this.top, kind: "free" });
    return out;
  }

  /** Bytes left in the range (committed or not), ignoring alignment padding. */
  remaining(): number {
    return this.rangeEnd - this.top;
  }

  /** Slow path of allocation: make offsets below `end` accessible. */
  protected commitTo(end: number): boolean {
    if (end > this.rangeEnd || this.memory.retired) return false;
    const memory = this.memory;
    let have = memory.byteLength;
    if (end > have) {
      const doubled = Math.min(this.rangeEnd, memory.maxByteLength, Math.max(end, have * 2));
      if (!memory.grow(doubled) && !memory.grow(end)) return false;
      have = memory.byteLength;
    }
    this.committed = Math.min(this.rangeEnd, have);
    // A range may claim more than its memory can ever hold: growing to a capped length "succeeds" short of `end`.
    return have >= end;
  }

  protected checkIssued(what: string, ptr: number, size: number, align: number): void {
    if (!isValidLayout(size, align)) throw layoutError(`${this.label}.${what}`, size, align);
    if (!isInt32(ptr) || ptr < this.rangeBase || ptr + size > this.top || (ptr & (align - 1)) !== 0) {
      throw new InvalidPointerError(
        ptr,
        `${this.label}.${what}: ${describePointer(ptr)} with size ${size} and align ${align} is not a block of ` +
          `this backing; expected an ${align}-aligned block inside the issued range ` +
          `[${this.rangeBase}, ${this.top}) (blocks issued before reset() are no longer valid)`,
      );
    }
  }
}
