/**
 * `Slab`: a pool of fixed-size blocks with O(1) allocate and free, which detects a double free and a pointer
 * that is not one of its slots (the Rust slab detects neither).
 *
 * Complexity: O(1) allocate and free; construction O(1) (slots are carved lazily).
 * Required backing: any `Allocator`; the slab takes one block of `capacity * stride` bytes from it at
 * construction (so several slabs can share one backing).
 * Threads: one agent (see `SlabOwner`/`SlabRemote` for frees from other workers).
 * Per-allocation overhead: `stride - size` bytes of rounding in the memory; out of band, two 4-byte words per slot
 * in the JS heap (or in the `metadata` allocator's memory). Nothing is written into free blocks, so a free block keeps its bytes and cannot forge the list.
 *
 * ```text
 *  memory:   region = base | slot 0 | slot 1 | ... | slot carved-1 | not yet carved ... |   (stride bytes each)
 *  freeSet:  Int32Array(2 * capacity), one array so the hot path loads one object:
 *            [0, capacity)             stack: offsets of freed slots, LIFO; [0, freeCount) is exactly the free set
 *            [capacity, 2 * capacity)  pos: where slot i's offset sits in the stack (stale while i is live)
 * ```
 * A sparse set: slot `i < carved` at offset `p` is free iff `pos[i] < freeCount && stack[pos[i]] === p`, else
 * live. So allocation writes no per-slot state, a free checks liveness with one or two loads, `reset` is O(1).
 * Invariant: `live + freeCount + (capacity - carved) === capacity`, with `live = carved - freeCount`.
 *
 * A request is served when `size <= blockSize` and `align <= this.align`; a larger one gets `NULL` (I3), which
 * lets `WithFallback` send it elsewhere.
 *
 * Composition limits: a wrapper that adds bytes per block (a canary) needs a `blockSize` that leaves room.
 * Neighbouring blocks touch (no gap, no guard): an overflow off the end of one block writes into the next one's
 * bytes, undetected (put a `Canary` outside to detect it on free); it never reaches the free set, which lives
 * outside the blocks. A free set in `metadata` memory that other code can write should carry a `protection` MAC.
 *
 * @example
 * ```ts
 * const slab = new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 48, capacity: 1000 });
 * const q = slab.allocate(48);
 * slab.deallocate(q, 48);
 * // With a keyed MAC over the free list, a forged free-list entry is caught instead of followed:
 * const signed = new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 100, protection: new HalfSipHashMac() });
 * signed.deallocate(signed.allocate(64), 64);
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
  NULL,
  type Region,
  TAGGED_FIELD,
  MAX_SIZE,
  alignUp,
  checkInteger,
  checkResize,
  describePointer,
  isValidAlign,
  isValidLayout,
  layoutError,
  moveBlock,
  zeroBlock,
} from "../core/index.js";

/** Options of a {@link Slab}. */
export interface SlabOptions {
  /** The largest request a block serves, in bytes (1 to 2^30). */
  blockSize: number;
  /** The number of blocks (1 to 2^24). */
  capacity: number;
  /** The largest alignment a block guarantees (a power of two). Blocks are spaced by a multiple of it. @defaultValue 8 */
  align?: number;
  /**
   * Where the slab's own state (`8 * capacity` bytes) lives: by default a fresh `Int32Array` in the JS heap; given
   * an allocator, a block of its memory (e.g. `SplitMetadata.meta`, a separate OS mapping, so an overflow of a data
   * block cannot reach it). The allocator's memory must not be a WebAssembly memory that grows.
   * @defaultValue the JS heap
   */
  metadata?: Allocator;
  /**
   * Free-list integrity: a keyed MAC (e.g. `new HalfSipHashMac()`) over every free-stack entry, checked before the
   * entry is used. The tag binds the block's offset and a per-free sequence number that the slab keeps in the JS
   * heap (4 bytes per slot), so an entry forged, moved to another position, or saved and written back later (a
   * replay) fails. A bad entry is never followed: the allocation throws `CorruptionError` (counted in
   * `corruptionEvents()`), the free list is abandoned (its slots leak) and later allocations carve the untouched
   * tail. Worth it when the free set lives in memory other code can write (the `metadata` option); with the
   * default JS-heap free set nothing can forge it.
   * @defaultValue no MAC
   */
  protection?: FreelistProtection;
}

/** A slab's validated shape (see {@link slabGeometry}). */
export interface SlabGeometry {
  /** The largest request a block serves. */
  readonly blockSize: number;
  /** The number of blocks. */
  readonly capacity: number;
  /** The alignment every block has. */
  readonly align: number;
  /** Bytes between block starts. */
  readonly stride: number;
  /** Bytes of the region: `capacity * stride`. */
  readonly bytes: number;
}

/**
 * Checks a slab's options and returns its geometry, without taking any memory: what `new Slab` checks first, for
 * layouts that must validate everything before they allocate (so a refused construction keeps no bytes).
 *
 * @throws `AllocError` for a size, capacity or region out of range; `LayoutError` for a bad alignment.
 *
 * @example
 * ```ts
 * const shape = slabGeometry("MySlab", { blockSize: 20, capacity: 100 });
 * console.log(shape.stride, shape.bytes); // 24 2400
 * ```
 */
export function slabGeometry(where: string, options: SlabOptions): SlabGeometry {
  const blockSize = checkInteger(where, "blockSize", options?.blockSize, 1, MAX_SIZE);
  const capacity = checkInteger(where, "capacity", options.capacity, 1, 1 << 24);
  const align = options.align ?? 8;
  if (!isValidAlign(align)) throw layoutError(where, blockSize, align);
  const stride = alignUp(blockSize, align);
  const bytes = stride * capacity;
  if (bytes > MAX_SIZE) {
    throw new AllocError(
      `${where}: ${capacity} blocks of ${stride} bytes exceed the largest region (${MAX_SIZE} bytes)`,
    );
  }
  return { blockSize, capacity, align, stride, bytes };
}

/** The slab's free set in a block of `metadata`'s memory. */
function metadataArray(metadata: Allocator, capacity: number, words: number): Int32Array {
  if (typeof metadata?.allocate !== "function")
    throw new AllocError("Slab: the metadata option must be an Allocator");
  const bytes = 4 * words * capacity;
  const ptr = metadata.allocateZeroed(bytes, 8);
  if (ptr === NULL)
    throw new AllocError(`Slab: the metadata allocator cannot provide ${bytes} bytes for ${capacity} slots`);
  return new Int32Array(metadata.memory.buffer, ptr, words * capacity);
}

/** The inverse of the odd number `d` modulo 2^32 (Newton's iteration; each step doubles the correct bits). */
function inverseOdd(d: number): number {
  let x = d; // correct to 3 bits, as d * d === 1 (mod 8) for every odd d
  for (let i = 0; i < 4; i++) x = Math.imul(x, 2 - Math.imul(d, x));
  return x;
}

/** A fixed-size block pool (see the module documentation). */
export class Slab implements Allocator, FixedRange {
  /** The memory the slab's region lies in. */
  readonly memory: Memory;
  /** The allocator the region came from. */
  readonly backing: Allocator;
  /** The largest request a block serves. */
  readonly blockSize: number;
  /** The alignment every block has. */
  readonly align: number;
  /** Bytes between block starts: `blockSize` rounded up to `align`. */
  readonly stride: number;
  /** The number of blocks. */
  readonly capacity: number;
  /** The free-list MAC, or `null`. */
  readonly protection: FreelistProtection | null;
  private readonly region: number;
  /** `nextPowerOfTwo(blockSize) - 1`: the hot size check's mask. */
  private readonly sizeMask: number;
  /** `align - 1`: the hot alignment check's mask. */
  private readonly alignMask: number;
  /** `stride = oddPart << strideShift`. */
  private readonly strideShift: number;
  /** The inverse of the stride's odd part modulo 2^32: multiplying an exact multiple by it divides exactly. */
  private readonly strideInverse: number;
  private readonly freeSet: Int32Array;
  private freeCount: number;
  private carved: number;
  /** True when popped entries must be checked (a MAC, or a free set in memory other code can write). */
  private readonly checked: boolean;
  /** `blockSize`, or 0 when entries are checked: the hot paths compare against it, so checking costs them nothing. */
  private fastLimit: number;
  private corruptions: number;
  /** With a MAC: the sequence number of the free that wrote each stack position (in the JS heap, out of reach). */
  private readonly sequences: Int32Array | null;
  /** Frees so far (with a MAC): each free's sequence number, bound into its entry's tag. Wraps after 2^32. */
  private frees: number;

  /**
   * Takes `capacity * stride` bytes (aligned to `align`) from `backing`.
   *
   * @throws `AllocError` when an option is out of range or the backing cannot provide the region.
   */
  constructor(backing: Allocator, options: SlabOptions) {
    const where = "Slab";
    if (typeof backing?.allocate !== "function")
      throw new AllocError(`${where}: the backing must be an Allocator`);
    const { blockSize, capacity, align, stride, bytes } = slabGeometry(where, options);
    if (options.protection !== undefined && typeof options.protection?.sign !== "function") {
      throw new AllocError(
        "Slab: the protection option must be a FreelistProtection (e.g. new HalfSipHashMac())",
      );
    }
    const region = backing.allocate(bytes, align);
    if (region === NULL) {
      throw new AllocError(
        `${where}: the backing cannot provide ${bytes} bytes (${capacity} blocks of ${stride})`,
      );
    }
    this.memory = backing.memory;
    this.memory.watchRetire(this);
    this.backing = backing;
    this.blockSize = blockSize;
    this.align = align;
    this.stride = stride;
    this.capacity = capacity;
    this.region = region;
    this.sizeMask = (blockSize <= 1 ? 1 : 2 ** (32 - Math.clz32(blockSize - 1))) - 1;
    this.alignMask = align - 1;
    this.strideShift = 31 - Math.clz32(stride & -stride);
    this.strideInverse = inverseOdd(stride >>> this.strideShift);
    try {
      const words = options.protection === undefined ? 2 : 3; // stack, positions[, tags]
      this.freeSet =
        options.metadata === undefined
          ? new Int32Array(words * capacity)
          : metadataArray(options.metadata, capacity, words);
    } catch (error) {
      backing.deallocate(region, bytes, align); // give the region back: a failed construction takes nothing
      throw error;
    }
    this.freeCount = TAGGED_FIELD; // representation hint, see TAGGED_FIELD
    this.freeCount = 0;
    this.carved = 0;
    this.protection = options.protection ?? null;
    this.sequences = this.protection === null ? null : new Int32Array(capacity);
    this.frees = 0;
    this.checked = options.protection !== undefined || options.metadata !== undefined;
    this.fastLimit = this.checked ? 0 : blockSize;
    this.corruptions = 0;
  }

  /**
   * Takes a block for a request of `size <= blockSize` bytes aligned to `align <= this.align`; `NULL` when the slab
   * is full or the request is larger than a block (I1-I3).
   *
   * @throws `LayoutError` for a bad size or alignment (I9).
   */
  allocate(size: number, align = 8): number {
    // One masked compare accepts exactly the integers 1 .. sizeMask + 1 and the powers of two 1 .. this.align,
    // and rejects everything else (0, negatives, fractions, NaN, strings); the slow path sorts out which.
    const m = align - 1;
    const n = this.freeCount;
    if (
      ((size - 1) & this.sizeMask) + 1 !== size ||
      size > this.fastLimit ||
      (m & this.alignMask) + 1 !== align ||
      (align & m) !== 0 ||
      n === 0
    ) {
      return this.allocateSlow(size, align);
    }
    this.freeCount = n - 1;
    return this.freeSet[n - 1]!;
  }

  /** As {@link Slab.allocate}, with the block's `size` bytes zeroed (I6). */
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /**
   * Returns a live block to the slab.
   *
   * @throws `InvalidPointerError` when `ptr` is not a slot start, not live (a double free), or not a number;
   *   `LayoutError` when `size`/`align` could not have been served by a block. Nothing changes when it throws.
   */
  deallocate(ptr: number, size: number, align = 8): void {
    // Exact division without a divide: for a multiple of the stride this is the slot index; for anything else it
    // is some other integer, which the compare below rejects.
    const q = (ptr - this.region) >> this.strideShift;
    const inverse = this.strideInverse;
    const idx = inverse === 1 ? q : Math.imul(q, inverse);
    const m = align - 1;
    if (
      idx * this.stride + this.region !== ptr ||
      idx >>> 0 >= this.carved ||
      ((size - 1) & this.sizeMask) + 1 !== size ||
      size > this.fastLimit ||
      (m & this.alignMask) + 1 !== align ||
      (align & m) !== 0
    ) {
      return this.deallocateSlow(ptr, idx, size, align);
    }
    const n = this.freeCount;
    const set = this.freeSet;
    const at = set[this.capacity + idx]!;
    if (at < n && set[at] === ptr) throw this.badPointer("deallocate", ptr); // already free
    set[n] = ptr;
    set[this.capacity + idx] = n;
    this.freeCount = n + 1;
  }

  /** In place when `newSize <= blockSize` (I5); otherwise `NULL`, as no block is larger. */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("Slab.grow", oldSize, newSize, align, true);
    this.usableSize(ptr, oldSize);
    if (newSize <= this.blockSize && align <= this.align) return ptr;
    return moveBlock(this, ptr, oldSize, newSize, align); // refused by allocate (too large): NULL, block intact
  }

  /** Always in place (I5). */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("Slab.shrink", oldSize, newSize, align, false);
    this.usableSize(ptr, oldSize);
    return ptr;
  }

  /** Frees every block at once (I7). O(1): slots are carved afresh. */
  reset(): void {
    this.freeCount = 0;
    this.carved = 0;
  }

  /** The stride: the whole block may be used (I8). @throws `InvalidPointerError` when `ptr` is not live. */
  usableSize(ptr: number, size: number): number {
    const idx = this.indexOf(ptr);
    if (idx < 0 || ((size - 1) & this.sizeMask) + 1 !== size || size > this.blockSize) {
      if (idx < 0 || !this.isLive(idx)) throw this.badPointer("usableSize", ptr);
      throw this.badLayout("usableSize", ptr, size, 1);
    }
    const at = this.freeSet[this.capacity + idx]!;
    if (at < this.freeCount && this.freeSet[at] === ptr) throw this.badPointer("usableSize", ptr);
    return this.stride;
  }

  /** `capacity * stride`. */
  capacityBytes(): number {
    return this.capacity * this.stride;
  }

  /** Forged or replayed free-list entries detected (and not followed) so far; always 0 without `protection` or `metadata`. */
  corruptionEvents(): number {
    return this.corruptions;
  }

  /** Start of the slab's region. */
  base(): number {
    return this.region;
  }

  /** Length of the region: `capacity * stride`. */
  size(): number {
    return this.capacity * this.stride;
  }

  /** True inside the region (committed at construction). */
  commit(ptr: number, length: number): boolean {
    return this.contains(ptr) && length >= 0 && ptr + length <= this.region + this.capacity * this.stride;
  }

  /** True when `ptr` is an integer inside the region (live or not). */
  contains(ptr: number): boolean {
    return (ptr | 0) === ptr && ptr >= this.region && ptr < this.region + this.capacity * this.stride;
  }

  /** Blocks currently live. */
  liveCount(): number {
    return this.carved - this.freeCount;
  }

  /** Checks the sparse set and `live + freeCount + (capacity - carved) === capacity`; throws an `Error` if broken. */
  validate(): void {
    if (!(0 <= this.freeCount && this.freeCount <= this.carved && this.carved <= this.capacity)) {
      throw new Error(
        `Slab.validate: freeCount ${this.freeCount}, carved ${this.carved}, capacity ${this.capacity}`,
      );
    }
    const seen = new Uint8Array(this.capacity);
    for (let k = 0; k < this.freeCount; k++) {
      const i = (this.freeSet[k]! - this.region) / this.stride;
      if (
        !Number.isInteger(i) ||
        i < 0 ||
        i >= this.carved ||
        seen[i] === 1 ||
        this.freeSet[this.capacity + i] !== k
      ) {
        throw new Error(
          `Slab.validate: free stack entry ${k} (slot ${i}) is not a unique carved slot that knows its place`,
        );
      }
      seen[i] = 1;
    }
  }

  /**
   * The memory was retired (its OS mapping disposed): allocations take the slow path from now on, which refuses.
   * @internal
   */
  memoryRetired(): void {
    this.fastLimit = 0;
  }

  private allocateSlow(size: number, align: number): number {
    const m = align - 1;
    if (((size - 1) & 0x3fffffff) + 1 !== size || (m & 0x1fffff) + 1 !== align || (align & m) !== 0) {
      throw layoutError("Slab.allocate", size, align);
    }
    if (this.memory.retired) {
      throw new AllocError(
        "Slab.allocate: its memory was disposed (the OS mapping is gone); nothing can be allocated from it any more",
      );
    }
    if (size > this.blockSize || align > this.align) return NULL; // cannot be served by any block (I3)
    const n = this.freeCount;
    if (n !== 0) {
      const ptr = this.freeSet[n - 1]!;
      if (!this.checked || this.entryIsSound(ptr, n - 1)) {
        this.freeCount = n - 1;
        return ptr;
      }
      // A forged or replayed entry: count it, never follow it, abandon the whole free list (its slots leak; later
      // allocations carve the untouched tail), and say so.
      this.corruptions++;
      this.freeCount = 0;
      throw new CorruptionError(
        `Slab.allocate: free-list entry ${n - 1} fails its check (forged, moved or replayed: ` +
          `${this.protection === null ? "not a free slot at its recorded place" : "its MAC does not match"}); ` +
          `the free list is abandoned and not followed`,
      );
    }
    const idx = this.carved;
    if (idx === this.capacity) return NULL;
    this.carved = idx + 1;
    return this.region + idx * this.stride;
  }

  /** Checks a popped free-stack entry: a carved slot start, at its recorded place, with a valid tag. */
  private entryIsSound(ptr: number, at: number): boolean {
    const idx = this.indexOf(ptr);
    if (idx < 0 || this.freeSet[this.capacity + idx] !== at) return false;
    return (
      this.protection === null ||
      this.protection.verify(ptr, this.sequences![at]!, this.freeSet[2 * this.capacity + at]!)
    );
  }

  /** `deallocate` off the hot path: a checked slab's push (with its tag), or the error for a bad call. */
  private deallocateSlow(ptr: number, idx: number, size: number, align: number): void {
    const m = align - 1;
    if (
      idx * this.stride + this.region !== ptr ||
      idx >>> 0 >= this.carved ||
      !isValidLayout(size, align) ||
      size > this.blockSize ||
      align > this.align ||
      (m & this.alignMask) + 1 !== align
    ) {
      throw this.badFree(ptr, size, align);
    }
    const n = this.freeCount;
    const set = this.freeSet;
    const at = set[this.capacity + idx]!;
    if (at < n && set[at] === ptr) throw this.badPointer("deallocate", ptr); // already free
    set[n] = ptr;
    set[this.capacity + idx] = n;
    if (this.protection !== null) {
      const seq = (this.frees = (this.frees + 1) | 0);
      this.sequences![n] = seq;
      set[2 * this.capacity + n] = this.protection.sign(ptr, seq);
    }
    this.freeCount = n + 1;
  }

  /** The slot index of `ptr` by the exact-division trick of `deallocate`, or -1 when it is not a carved slot start. */
  private indexOf(ptr: number): number {
    const q = (ptr - this.region) >> this.strideShift;
    const inverse = this.strideInverse;
    const idx = inverse === 1 ? q : Math.imul(q, inverse);
    return idx * this.stride + this.region === ptr && idx >>> 0 < this.carved ? idx : -1;
  }

  /** The slot index of `ptr`, or -1 when it is not the start of a carved slot. */
  private slotOf(ptr: number): number {
    const idx = Math.round((ptr - this.region) / this.stride);
    return typeof ptr === "number" && idx >= 0 && idx < this.carved && idx * this.stride + this.region === ptr
      ? idx
      : -1;
  }

  /**
   * Every slot as a `used` or `free` region (a whole stride each), then the slots not yet carved as one `free`
   * region. O(capacity); allocates.
   */
  regions(): Region[] {
    const out: Region[] = [];
    const stride = this.stride;
    for (let i = 0; i < this.carved; i++) {
      out.push({ offset: this.region + i * stride, size: stride, kind: this.isLive(i) ? "used" : "free" });
    }
    if (this.carved < this.capacity) {
      out.push({
        offset: this.region + this.carved * stride,
        size: (this.capacity - this.carved) * stride,
        kind: "free",
      });
    }
    return out;
  }

  private isLive(idx: number): boolean {
    const at = this.freeSet[this.capacity + idx]!;
    return !(at < this.freeCount && this.freeSet[at] === this.region + idx * this.stride);
  }

  private badFree(ptr: number, size: number, align: number): InvalidPointerError | LayoutError {
    const idx = this.slotOf(ptr);
    if (idx < 0 || !this.isLive(idx)) return this.badPointer("deallocate", ptr);
    return this.badLayout("deallocate", ptr, size, align);
  }

  private badPointer(what: string, ptr: number): InvalidPointerError {
    const idx = Math.round((ptr - this.region) / this.stride);
    const isSlot =
      typeof ptr === "number" && idx >= 0 && idx < this.capacity && idx * this.stride + this.region === ptr;
    return new InvalidPointerError(
      ptr,
      isSlot
        ? `Slab.${what}: ${describePointer(ptr)} (slot ${idx}) is not live: a double free, or a block freed or ` +
            `issued before reset()`
        : `Slab.${what}: ${describePointer(ptr)} is not a block of this slab; expected the start of one of its ` +
            `${this.capacity} slots (${this.stride}-byte stride from ${this.region})`,
    );
  }

  private badLayout(what: string, ptr: number, size: number, align: number): LayoutError {
    if (!isValidLayout(size, align)) return layoutError(`Slab.${what}`, size, align);
    return new LayoutError(
      `Slab.${what}: block ${describePointer(ptr)} cannot have been allocated with size ${size} and align ${align}; ` +
        `this slab serves size <= ${this.blockSize} and align <= ${this.align}`,
    );
  }
}
