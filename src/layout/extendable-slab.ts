/**
 * `ExtendableSlab`: a fixed-size block pool that grows by growing its memory, not by adding segments: it carves
 * its backing's range like a bump arena, and when every block is taken it commits more of the range (a resizable
 * `ArrayBuffer`, a growable `SharedArrayBuffer`, a `WebAssembly.Memory`) and carries on. Offsets stay valid, so
 * blocks never move, and one contiguous range means a free is routed by one range check (the Rust version keeps a
 * list of separate mappings behind a mutex).
 *
 * Complexity: O(1) allocate and free; growth doubles the committed capacity (amortised O(1)), copying the
 * out-of-band state. Overhead: `stride - size` per block, 5 bytes per slot out of band (9 with `protection`).
 * Detects double frees and pointers that are not slots, as `Slab`. Threads: one agent. Over an OS mapping that is
 * disposed, every later allocation throws `AllocError` (the memory tells the slab, so the fast path carries no check).
 *
 * Segments: each commit of a new part of the range (the first blocks, then each doubling) is a segment, the
 * counterpart of one of the Rust version's mappings; `segmentCount()` reports them. Segment `k > 0` holds slots
 * `[initial * 2^(k-1), initial * 2^k)` (the last one is cut at `maxCapacity`).
 *
 * Free-list protection (the Rust `ExtendableSlab::with_protection`): with a `protection` MAC the free list lives
 * in the freed blocks themselves, as in Rust: each freed block starts with a link (`next` slot + 1, 0 ends the list)
 * and its tag, signed over the link and a per-free sequence number kept out of the memory. A link written over by a
 * use after free, moved to another block or replayed fails its check before it is followed: the allocation throws
 * `CorruptionError` (counted in `corruptionEvents()`), the free list is abandoned (its slots leak) and allocation
 * carries on from the untouched tail. A link is also never followed to a slot that is live or not yet carved, MAC or
 * not, so no block is ever issued twice. Needs `blockSize >= 8` (the link is 8 bytes).
 *
 * ```text
 *  freed block (with protection):  | next slot + 1 (u32 LE) | tag (u32 LE) | rest of the block: untouched |
 * ```
 *
 * @example
 * ```ts
 * const pool = new ExtendableSlab(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 26 }), { blockSize: 48 });
 * const signed = new ExtendableSlab(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 20 }), {
 *   blockSize: 64,
 *   protection: new HalfSipHashMac(),
 * });
 * signed.deallocate(signed.allocate(64), 64); // the link in the freed block is signed
 * console.log(pool.segmentCount(), signed.corruptionEvents()); // 1 0
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  CorruptionError,
  type FixedRange,
  type FreelistProtection,
  InvalidPointerError,
  LayoutError,
  type Memory,
  NULL as IMPORTED_NULL,
  checkCarvable,
  checkInteger,
  checkResize,
  describePointer,
  isFixedRange,
  isValidAlign,
  isInt32,
  isValidLayout,
  layoutError,
  moveBlock,
  zeroBlock,
} from "../core/index.js";

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

// `NULL`, bound module-locally: V8 folds a local constant (an imported binding is a load and a check at every use).
const NULL = IMPORTED_NULL;

/** Options of {@link ExtendableSlab}. */
export interface ExtendableSlabOptions {
  /** The largest request a block serves (1 to 2^20 bytes). */
  blockSize: number;
  /** The alignment of every block (a power of two up to 4096). @defaultValue 8 */
  align?: number;
  /** Blocks committed at first (at least 1). @defaultValue as many as the committed part of the range holds */
  initialCapacity?: number;
  /**
   * Free-list integrity: a keyed MAC (e.g. `new HalfSipHashMac()`); the free list then lives in the freed blocks,
   * signed (see the module documentation). Needs `blockSize >= 8`.
   * @defaultValue no MAC: the free list is a stack in the JavaScript heap, out of the memory's reach
   */
  protection?: FreelistProtection;
}

/** The end of an in-block free list (no slot). */
const NO_SLOT = -1;

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
  /** The free-list MAC, or `null`. */
  readonly protection: FreelistProtection | null;
  private readonly region: number;
  private capacity: number;
  private carved: number;
  private freeCount: number;
  private freeStack: Int32Array;
  private live: Uint8Array;
  /** `blockSize`, or 0 when allocations must take the slow path (a MAC, or a retired memory). */
  private fastLimit: number;
  /** With a MAC: the first slot of the in-block free list (`freeCount` long), or `NO_SLOT`. */
  private head: number;
  /** With a MAC: the sequence number of the free that wrote each slot's link (out of the memory's reach). */
  private sequences: Int32Array;
  /** Frees so far (with a MAC): each free's sequence number, bound into its link's tag. Wraps after 2^32. */
  private frees: number;
  private corruptions: number;
  /** Slots of abandoned free lists (neither live nor free until `reset`). */
  private leaked: number;
  private segments: number;

  /** @throws `AllocError` for bad options, a backing that is not a range, or one too small for a block. */
  constructor(backing: FixedRange, options: ExtendableSlabOptions) {
    if (!isFixedRange(backing)) throw new AllocError("ExtendableSlab: the backing must be a FixedRange");
    checkCarvable("ExtendableSlab", backing);
    const blockSize = checkInteger("ExtendableSlab", "blockSize", options?.blockSize, 1, 1 << 20);
    const align = options.align ?? 8;
    if (!isValidAlign(align) || align > 4096)
      throw new AllocError(`ExtendableSlab: align ${String(align)} is not a power of two up to 4096`);
    const protection = options.protection ?? null;
    if (protection !== null && typeof protection?.sign !== "function") {
      throw new AllocError(
        "ExtendableSlab: the protection option must be a FreelistProtection (e.g. new HalfSipHashMac())",
      );
    }
    if (protection !== null && blockSize < 8) {
      throw new AllocError(
        `ExtendableSlab: blockSize ${blockSize} cannot hold a signed free-list link; with protection expected at least 8`,
      );
    }
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
    this.protection = protection;
    this.capacity = initial;
    this.carved = 0;
    this.freeCount = 0;
    this.freeStack = new Int32Array(protection === null ? initial : 0);
    this.live = new Uint8Array(initial);
    this.fastLimit = protection === null ? blockSize : 0;
    this.head = NO_SLOT;
    this.sequences = new Int32Array(protection === null ? 0 : initial);
    this.frees = 0;
    this.corruptions = 0;
    this.leaked = 0;
    this.segments = 1;
    this.memory.watchRetire(this);
  }

  /** A block for `size <= blockSize` and `align <= this.align`; `NULL` when the range is full or the request too big. */
  allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("ExtendableSlab.allocate", size, align);
    if (size > this.fastLimit || align > this.align) return this.allocateSlow(size, align);
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
    if (this.protection !== null) this.pushSigned(idx);
    else this.freeStack[this.freeCount++] = idx;
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
    this.head = NO_SLOT;
    this.leaked = 0;
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

  /**
   * Forged, moved or replayed free-list links detected (and not followed) so far; always 0 without `protection`
   * (the out-of-band free stack cannot be forged through the memory).
   */
  corruptionEvents(): number {
    return this.corruptions;
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
    return isInt32(ptr) && ptr >= this.region && ptr < this.region + this.maxCapacity * this.stride;
  }

  /** Blocks currently committed (grows as needed). */
  committedCapacity(): number {
    return this.capacity;
  }

  /** Blocks live. */
  liveCount(): number {
    return this.carved - this.freeCount - this.leaked;
  }

  /**
   * Segments committed so far: the first blocks, plus one per growth (the Rust `segment_count()`, where each
   * segment is a new mapping; see the module documentation). Never decreases, not even on `reset`.
   */
  segmentCount(): number {
    return this.segments;
  }

  /**
   * The memory was retired (its OS mapping disposed): allocations take the slow path from now on, which refuses.
   * @internal
   */
  memoryRetired(): void {
    this.fastLimit = 0;
  }

  /** Off the hot path: a request no block serves, a signed free list, or a retired memory. */
  private allocateSlow(size: number, align: number): number {
    if (this.memory.retired) {
      throw new AllocError(
        "ExtendableSlab.allocate: its memory was disposed (the OS mapping is gone); nothing can be allocated from it any more",
      );
    }
    if (size > this.blockSize || align > this.align) return NULL; // cannot be served by any block (I3)
    const h = this.head;
    if (h !== NO_SLOT) {
      const p = this.region + h * this.stride;
      const view = this.memory.dataView;
      const link = view.getUint32(p, true);
      const tag = view.getUint32(p + 4, true);
      const next = link - 1;
      if (
        this.live[h] !== 0 ||
        !this.protection!.verify(link, this.sequences[h]!, tag) ||
        next >= this.carved ||
        (next !== NO_SLOT && this.live[next] !== 0)
      ) {
        // Never follow it: count it, abandon the list (its slots leak), carry on from the tail.
        this.corruptions++;
        this.head = NO_SLOT;
        this.leaked += this.freeCount;
        this.freeCount = 0;
        throw new CorruptionError(
          `ExtendableSlab.allocate: the free-list link in slot ${h} fails its check (forged, moved or replayed); ` +
            "the free list is abandoned and not followed",
        );
      }
      this.head = next;
      this.freeCount--;
      this.live[h] = 1;
      return p;
    }
    if (this.carved === this.capacity && !this.extend()) return NULL;
    const idx = this.carved++;
    this.live[idx] = 1;
    return this.region + idx * this.stride;
  }

  /** With a MAC: `idx` goes on the in-block free list, its link signed with a fresh sequence number. */
  private pushSigned(idx: number): void {
    const seq = (this.frees = (this.frees + 1) | 0);
    this.sequences[idx] = seq;
    const link = this.head + 1;
    const p = this.region + idx * this.stride;
    const view = this.memory.dataView;
    view.setUint32(p, link, true);
    view.setUint32(p + 4, this.protection!.sign(link, seq), true);
    this.head = idx;
    this.freeCount++;
  }

  /** Slow path: commit twice the blocks (within the range) and grow the out-of-band state to match. */
  private extend(): boolean {
    if (this.capacity === this.maxCapacity) return false;
    const next = Math.min(this.maxCapacity, this.capacity * 2);
    if (!this.backing.commit(this.region, next * this.stride)) return false;
    const live = new Uint8Array(next);
    live.set(this.live);
    this.live = live;
    if (this.protection === null) {
      const stack = new Int32Array(next);
      stack.set(this.freeStack);
      this.freeStack = stack;
    } else {
      const sequences = new Int32Array(next);
      sequences.set(this.sequences);
      this.sequences = sequences;
    }
    this.capacity = next;
    this.segments++;
    return true;
  }

  /** The `InvalidPointerError` of a pointer that is not a live block (any value: the message builder never throws). */
  private notLive(what: string, ptr: unknown): InvalidPointerError {
    return new InvalidPointerError(
      ptr,
      `ExtendableSlab.${what}: ${describePointer(ptr)} is not a live block (a double free, or not a slot)`,
    );
  }

  private slot(what: string, ptr: number, size: number, align: number): number {
    if (!validLayout(size, align)) throw layoutError(`ExtendableSlab.${what}`, size, align);
    if (!isInt32(ptr)) throw this.notLive(what, ptr);
    const off = ptr - this.region;
    const idx = Math.floor(off / this.stride);
    if (off < 0 || idx * this.stride !== off || idx >= this.carved || this.live[idx] !== 1) {
      throw this.notLive(what, ptr);
    }
    if (size > this.blockSize || align > this.align) {
      throw new LayoutError(
        `ExtendableSlab.${what}: block ${describePointer(ptr)} serves at most ${this.blockSize} bytes aligned to ${this.align}`,
      );
    }
    return idx;
  }
}
