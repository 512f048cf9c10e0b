/**
 * `Slab`: a pool of fixed-size blocks with O(1) allocate and free, which detects a double free and a pointer
 * that is not one of its slots (the Rust slab detects neither).
 *
 * Complexity: O(1) allocate and free; construction O(1) (slots are carved lazily).
 * Required backing: any `Allocator`; the slab takes one block of `capacity * stride` bytes from it at
 * construction (so several slabs can share one backing).
 * Threads: one agent (see `SlabOwner`/`SlabRemote` for frees from other workers).
 * Per-allocation overhead: `stride - size` bytes of rounding in the memory; out of band, one state byte and one
 * free-stack word per slot in the JS heap. Nothing is written into free blocks, so a free block keeps its bytes.
 *
 * ```text
 *  memory:     region = base | slot 0 | slot 1 | ... | slot carved-1 | not yet carved ... |  (stride bytes each)
 *  state:      Uint8Array(capacity)   0 = free or never carved, 1 = live
 *  freeStack:  Int32Array(capacity)   slot indices, LIFO: [0, freeCount) hold the freed slots
 * ```
 * Invariant: `live + freeCount + (capacity - carved) === capacity`, where `live` counts `state[i] === 1`.
 *
 * A request is served when `size <= blockSize` and `align <= this.align`; a larger one gets `NULL` (I3), which
 * lets `WithFallback` send it elsewhere.
 *
 * Composition limits: a wrapper that adds bytes per block (a canary) needs a `blockSize` that leaves room.
 *
 * @example
 * ```ts
 * const slab = new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 48, capacity: 1000 });
 * const q = slab.allocate(48);
 * slab.deallocate(q, 48);
 * ```
 *
 * @module
 */
import {
  ALIGN_MASK,
  AllocError,
  type Allocator,
  type FixedRange,
  InvalidPointerError,
  LayoutError,
  type Memory,
  NULL,
  SIZE_MASK,
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
}

const FREE = 0;
const LIVE = 1;

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
  private readonly region: number;
  private readonly invStride: number;
  private readonly state: Uint8Array;
  private readonly freeStack: Int32Array;
  private freeCount: number;
  private carved: number;

  /**
   * Takes `capacity * stride` bytes (aligned to `align`) from `backing`.
   *
   * @throws `AllocError` when an option is out of range or the backing cannot provide the region.
   */
  constructor(backing: Allocator, options: SlabOptions) {
    const where = "Slab";
    if (typeof backing?.allocate !== "function") throw new AllocError(`${where}: the backing must be an Allocator`);
    const blockSize = checkInteger(where, "blockSize", options?.blockSize, 1, SIZE_MASK + 1);
    const capacity = checkInteger(where, "capacity", options.capacity, 1, 1 << 24);
    const align = options.align ?? 8;
    if (!isValidAlign(align)) throw layoutError(where, blockSize, align);
    const stride = alignUp(blockSize, align);
    const bytes = stride * capacity;
    if (bytes > SIZE_MASK + 1) {
      throw new AllocError(`${where}: ${capacity} blocks of ${stride} bytes exceed the largest region (${SIZE_MASK + 1} bytes)`);
    }
    const region = backing.allocate(bytes, align);
    if (region === NULL) {
      throw new AllocError(`${where}: the backing cannot provide ${bytes} bytes (${capacity} blocks of ${stride})`);
    }
    this.memory = backing.memory;
    this.backing = backing;
    this.blockSize = blockSize;
    this.align = align;
    this.stride = stride;
    this.capacity = capacity;
    this.region = region;
    this.invStride = 1 / stride;
    this.state = new Uint8Array(capacity);
    this.freeStack = new Int32Array(capacity);
    this.freeCount = 0;
    this.carved = 0;
  }

  /**
   * Takes a block for a request of `size <= blockSize` bytes aligned to `align <= this.align`; `NULL` when the slab
   * is full or the request is larger than a block (I1-I3).
   *
   * @throws `LayoutError` for a bad size or alignment (I9).
   */
  allocate(size: number, align = 8): number {
    const m = align - 1;
    if ((((size - 1) & SIZE_MASK) + 1) !== size || ((m & ALIGN_MASK) + 1) !== align || (align & m) !== 0) {
      throw layoutError("Slab.allocate", size, align);
    }
    const n = this.freeCount;
    if (n === 0 || size > this.blockSize || align > this.align) return this.allocateSlow(size, align);
    const idx = this.freeStack[n - 1]!;
    this.freeCount = n - 1;
    this.state[idx] = LIVE;
    return this.region + idx * this.stride;
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
    const idx = ((ptr - this.region) * this.invStride + 0.5) | 0;
    if (idx * this.stride + this.region !== ptr || (idx >>> 0) >= this.capacity || this.state[idx] !== LIVE) {
      throw this.badPointer("deallocate", ptr);
    }
    if (size > this.blockSize || align > this.align || !isValidLayout(size, align)) {
      throw this.badLayout("deallocate", ptr, size, align);
    }
    this.state[idx] = FREE;
    this.freeStack[this.freeCount++] = idx;
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

  /** Frees every block at once (I7). O(capacity) for the state bytes. */
  reset(): void {
    this.state.fill(FREE);
    this.freeCount = 0;
    this.carved = 0;
  }

  /** The stride: the whole block may be used (I8). @throws `InvalidPointerError` when `ptr` is not live. */
  usableSize(ptr: number, size: number): number {
    const idx = ((ptr - this.region) * this.invStride + 0.5) | 0;
    if (idx * this.stride + this.region !== ptr || (idx >>> 0) >= this.capacity || this.state[idx] !== LIVE) {
      throw this.badPointer("usableSize", ptr);
    }
    if (size > this.blockSize || !isValidLayout(size, 1)) throw this.badLayout("usableSize", ptr, size, 1);
    return this.stride;
  }

  /** `capacity * stride`. */
  capacityBytes(): number {
    return this.capacity * this.stride;
  }

  /** Always 0: the out-of-band free stack cannot be forged through the memory. */
  corruptionEvents(): number {
    return 0;
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

  /** Checks `live + freeCount + (capacity - carved) === capacity` and the free stack; throws an `Error` if broken. */
  validate(): void {
    let live = 0;
    for (let i = 0; i < this.capacity; i++) {
      const s = this.state[i];
      if (s === LIVE) {
        if (i >= this.carved) throw new Error(`Slab.validate: slot ${i} is live but was never carved`);
        live++;
      } else if (s !== FREE) throw new Error(`Slab.validate: slot ${i} has state ${s}`);
    }
    const seen = new Uint8Array(this.capacity);
    for (let k = 0; k < this.freeCount; k++) {
      const i = this.freeStack[k]!;
      if (i < 0 || i >= this.carved || this.state[i] !== FREE || seen[i] === 1) {
        throw new Error(`Slab.validate: free stack entry ${k} (slot ${i}) is not a unique free carved slot`);
      }
      seen[i] = 1;
    }
    if (live + this.freeCount + (this.capacity - this.carved) !== this.capacity) {
      throw new Error(`Slab.validate: live ${live} + free ${this.freeCount} + uncarved does not equal capacity`);
    }
  }

  private allocateSlow(size: number, align: number): number {
    if (size > this.blockSize || align > this.align) return NULL; // cannot be served by any block
    const idx = this.carved;
    if (idx === this.capacity) return NULL;
    this.carved = idx + 1;
    this.state[idx] = LIVE;
    return this.region + idx * this.stride;
  }

  private badPointer(what: string, ptr: number): InvalidPointerError {
    const idx = Math.round((ptr - this.region) / this.stride);
    const isSlot = typeof ptr === "number" && idx >= 0 && idx < this.capacity && idx * this.stride + this.region === ptr;
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
