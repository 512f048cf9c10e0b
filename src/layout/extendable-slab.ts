/**
 * `ExtendableSlab`: a fixed-size block pool that grows by growing its memory, not by adding segments: it carves
 * its backing's range like a bump arena, and when every block is taken it commits more of the range (a resizable
 * `ArrayBuffer`, a growable `SharedArrayBuffer`, a `WebAssembly.Memory`) and carries on. Offsets stay valid, so
 * blocks never move, and one contiguous range means a free is routed by one range check (the Rust version keeps a
 * list of separate mappings behind a mutex).
 *
 * Complexity: O(1) allocate and free; growth doubles the committed capacity (amortised O(1)), copying the
 * out-of-band state. Overhead: `stride - size` per block, 5 bytes per slot out of band. Detects double frees and
 * pointers that are not slots, as `Slab`. Threads: one agent.
 *
 * @example
 * ```ts
 * const pool = new ExtendableSlab(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 26 }), { blockSize: 48 });
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  type FixedRange,
  InvalidPointerError,
  LayoutError,
  type Memory,
  NULL,
  checkCarvable,
  checkInteger,
  checkResize,
  describePointer,
  isFixedRange,
  isValidAlign,
  isValidLayout,
  layoutError,
  moveBlock,
  zeroBlock,
} from "../core/index.js";

/** Options of {@link ExtendableSlab}. */
export interface ExtendableSlabOptions {
  /** The largest request a block serves (1 to 2^20 bytes). */
  blockSize: number;
  /** The alignment of every block (a power of two up to 4096). @defaultValue 8 */
  align?: number;
  /** Blocks committed at first (at least 1). @defaultValue as many as the committed part of the range holds */
  initialCapacity?: number;
}

/** A slab that grows with its memory (see the module documentation). */
export class ExtendableSlab implements Allocator, FixedRange {
  /** The memory the blocks lie in. */
  readonly memory: Memory;
  /** The range carved. */
  readonly backing: FixedRange;
  /** The largest request a block serves. */
  readonly blockSize: number;
  /** The alignment of every block. */
  readonly align: number;
  /** Bytes between block starts. */
  readonly stride: number;
  /** The most blocks the range can hold. */
  readonly maxCapacity: number;
  private readonly region: number;
  private capacity: number;
  private carved: number;
  private freeCount: number;
  private freeStack: Int32Array;
  private live: Uint8Array;

  /** @throws `AllocError` for bad options, a backing that is not a range, or one too small for a block. */
  constructor(backing: FixedRange, options: ExtendableSlabOptions) {
    if (!isFixedRange(backing)) throw new AllocError("ExtendableSlab: the backing must be a FixedRange");
    checkCarvable("ExtendableSlab", backing);
    const blockSize = checkInteger("ExtendableSlab", "blockSize", options?.blockSize, 1, 1 << 20);
    const align = options.align ?? 8;
    if (!isValidAlign(align) || align > 4096)
      throw new AllocError(`ExtendableSlab: align ${String(align)} is not a power of two up to 4096`);
    this.memory = backing.memory;
    this.backing = backing;
    this.blockSize = blockSize;
    this.align = align;
    this.stride = (blockSize + align - 1) & -align;
    this.region = (backing.base() + align - 1) & -align;
    this.maxCapacity = Math.floor((backing.base() + backing.size() - this.region) / this.stride);
    if (this.maxCapacity < 1) throw new AllocError("ExtendableSlab: the range holds no block");
    const committed = Math.max(
      0,
      Math.floor(
        (Math.min(backing.base() + backing.size(), this.memory.byteLength) - this.region) / this.stride,
      ),
    );
    const initial = checkInteger(
      "ExtendableSlab",
      "initialCapacity",
      options.initialCapacity ?? Math.max(1, committed),
      1,
      this.maxCapacity,
    );
    if (!backing.commit(this.region, initial * this.stride))
      throw new AllocError("ExtendableSlab: the backing cannot commit the first blocks");
    this.capacity = initial;
    this.carved = 0;
    this.freeCount = 0;
    this.freeStack = new Int32Array(initial);
    this.live = new Uint8Array(initial);
  }

  /** A block for `size <= blockSize` and `align <= this.align`; `NULL` when the range is full or the request too big. */
  allocate(size: number, align = 8): number {
    const m = align - 1;
    if (((size - 1) & 0x3fffffff) + 1 !== size || (m & 0x1fffff) + 1 !== align || (align & m) !== 0) {
      throw layoutError("ExtendableSlab.allocate", size, align);
    }
    if (size > this.blockSize || align > this.align) return NULL;
    let idx: number;
    if (this.freeCount !== 0) idx = this.freeStack[--this.freeCount]!;
    else if (this.carved < this.capacity || this.extend()) idx = this.carved++;
    else return NULL;
    this.live[idx] = 1;
    return this.region + idx * this.stride;
  }

  /** As {@link ExtendableSlab.allocate}, zeroed. */
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /** Returns a live block. @throws `InvalidPointerError` for a double free or a non-slot; `LayoutError` for a bad layout. */
  deallocate(ptr: number, size: number, align = 8): void {
    const idx = this.slot("deallocate", ptr, size, align);
    this.live[idx] = 0;
    this.freeStack[this.freeCount++] = idx;
  }

  /** In place up to `blockSize`, else `NULL` (no block is larger). */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("ExtendableSlab.grow", oldSize, newSize, align, true);
    this.slot("grow", ptr, oldSize, align);
    return newSize <= this.blockSize ? ptr : moveBlock(this, ptr, oldSize, newSize, align);
  }

  /** Always in place. */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("ExtendableSlab.shrink", oldSize, newSize, align, false);
    this.slot("shrink", ptr, oldSize, align);
    return ptr;
  }

  /** Frees every block (the committed memory stays). */
  reset(): void {
    this.live.fill(0);
    this.carved = 0;
    this.freeCount = 0;
  }

  /** The stride. */
  usableSize(ptr: number, size: number): number {
    this.slot("usableSize", ptr, size, 1);
    return this.stride;
  }

  /** Every block the range can hold. */
  capacityBytes(): number {
    return this.maxCapacity * this.stride;
  }

  /** Always 0: the out-of-band state cannot be forged through the memory. */
  corruptionEvents(): number {
    return 0;
  }

  /** Start of the blocks. */
  base(): number {
    return this.region;
  }

  /** Bytes the blocks can span. */
  size(): number {
    return this.maxCapacity * this.stride;
  }

  /** Forwarded to the backing. */
  commit(ptr: number, length: number): boolean {
    return this.backing.commit(ptr, length);
  }

  /** True inside the blocks' span. */
  contains(ptr: number): boolean {
    return (ptr | 0) === ptr && ptr >= this.region && ptr < this.region + this.maxCapacity * this.stride;
  }

  /** Blocks currently committed (grows as needed). */
  committedCapacity(): number {
    return this.capacity;
  }

  /** Blocks live. */
  liveCount(): number {
    return this.carved - this.freeCount;
  }

  /** Slow path: commit twice the blocks (within the range) and grow the out-of-band state to match. */
  private extend(): boolean {
    if (this.capacity === this.maxCapacity) return false;
    const next = Math.min(this.maxCapacity, this.capacity * 2);
    if (!this.backing.commit(this.region, next * this.stride)) return false;
    const stack = new Int32Array(next);
    stack.set(this.freeStack);
    const live = new Uint8Array(next);
    live.set(this.live);
    this.freeStack = stack;
    this.live = live;
    this.capacity = next;
    return true;
  }

  private slot(what: string, ptr: number, size: number, align: number): number {
    if (!isValidLayout(size, align)) throw layoutError(`ExtendableSlab.${what}`, size, align);
    const off = ptr - this.region;
    const idx = Math.floor(off / this.stride);
    if (
      (ptr | 0) !== ptr ||
      off < 0 ||
      idx * this.stride !== off ||
      idx >= this.carved ||
      this.live[idx] !== 1
    ) {
      throw new InvalidPointerError(
        ptr,
        `ExtendableSlab.${what}: ${describePointer(ptr)} is not a live block (a double free, or not a slot)`,
      );
    }
    if (size > this.blockSize || align > this.align) {
      throw new LayoutError(
        `ExtendableSlab.${what}: block ${describePointer(ptr)} serves at most ${this.blockSize} bytes aligned to ${this.align}`,
      );
    }
    return idx;
  }
}
