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
  FAULT_LAYOUT,
  FAULT_NOT_LIVE,
  type FixedRange,
  type FreelistProtection,
  type Memory,
  NULL as IMPORTED_NULL,
  type RawLayer,
  type Region,
  TAGGED_FIELD,
  MAX_SIZE,
  alignUp,
  checkInteger,
  checkResize,
  faultError,
  fillBytes,
  isValidAlign,
  isValidLayout,
  layoutError,
  noteFault,
  zeroBlock,
} from "../core/index.js";

// `NULL`, bound module-locally: V8 folds a local constant (an imported binding is a load and a check at every use).
const NULL = IMPORTED_NULL;

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;
/** `Math.imul` as a module constant: the same machine multiply, in fewer bytecodes than a load of `Math.imul`. */
const imul = Math.imul;

/**
 * The 8-byte word of each fill byte, as the double with those bits: `scrubFree` fills a slot with 8-byte stores of
 * `FILL_WORDS[byte]` (a byte loop would take 8 stores per word, `TypedArray.prototype.fill` a builtin call). Only
 * for bytes up to 254: the word of 0xFF is a NaN, which an engine may canonicalise on a store.
 */
const FILL_WORDS: Float64Array = (() => {
  const words = new Float64Array(256);
  new Uint8Array(words.buffer).forEach((_, i, bytes) => (bytes[i] = i >>> 3));
  return words;
})();

/**
 * Sets the 8-byte words `[from, to)` of `f64` to the word of `byte` (see `FILL_WORDS`), by four stores per loop
 * iteration: the fill of `scrubFree`'s slow path (a slot larger than 64 bytes, or a checked slab; the fast path
 * stores up to 64 bytes straight-line, inline). Each loop iteration costs a map check, a reload of the view's
 * fields and an interrupt check (measured on Node 20: 14 instructions around one store), which the unrolled loop
 * shares among four stores.
 */
function fillWords(f64: Float64Array, from: number, to: number, byte: number): void {
  const word = FILL_WORDS[byte]!;
  let i = from;
  for (; i + 4 <= to; i += 4) {
    f64[i] = word;
    f64[i + 1] = word;
    f64[i + 2] = word;
    f64[i + 3] = word;
  }
  for (; i < to; i++) f64[i] = word;
}

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
   * Free-list integrity: a keyed MAC (e.g. `new HalfSipHashMac()`) over every free-stack entry below the top,
   * checked before the entry is used. The tag binds the block's offset and a sequence number that the slab keeps
   * in the JS heap (4 bytes per slot), so an entry forged, moved to another position, or saved and written back
   * later (a replay) fails. The top entry is checked against a copy of it that the slab keeps in the JS heap
   * instead (an exact compare, which no forgery passes), and is signed when the next free buries it: a free
   * followed by an allocation, the common reuse, computes no MAC, and a burst of `k` frees then `k` allocations
   * computes `k - 1` tags and checks `k - 1`. A bad entry is never followed: the allocation throws
   * `CorruptionError` (counted in `corruptionEvents()`), the free list is abandoned (its slots leak) and later
   * allocations carve the untouched tail. Worth it when the free set lives in memory other code can write (the
   * `metadata` option); with the default JS-heap free set nothing can forge it.
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
export class Slab implements Allocator, RawLayer, FixedRange {
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
  /**
   * The largest byte `scrubFree` writes by 8-byte words: 254 when the slots are 8-aligned with an 8-multiple
   * stride (0xFF is left out: its word is a NaN, whose bits a store need not keep), else -1 (always bytewise).
   */
  private readonly wordFill: number;
  /**
   * `wordFill` when the stride is at most 64 bytes, else -1: the largest byte `scrubFree`'s fast path fills inline
   * (by up to eight straight-line stores); larger slots take the slow path and its loop.
   */
  private readonly inlineFill: number;
  /** The stride in 8-byte words (what `scrubFree` fills when `wordFill` allows it). */
  private readonly strideWords: number;
  /** With a MAC: the sequence number of the free that wrote each stack position (in the JS heap, out of reach). */
  private readonly sequences: Int32Array | null;
  /** Entries signed so far (with a MAC): each one's sequence number, bound into its tag. Wraps after 2^32. */
  private frees: number;
  /**
   * With a checked free set: the offset in the top entry of the stack while that entry is not signed yet (it is
   * signed when a free buries it), else -1. The pop of the top compares the entry with this JS-heap copy.
   */
  private topCopy: number;

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
    this.topCopy = -1;
    this.checked = options.protection !== undefined || options.metadata !== undefined;
    this.fastLimit = this.checked ? 0 : blockSize;
    this.corruptions = 0;
    this.wordFill = (stride & 7) === 0 && (region & 7) === 0 ? 254 : -1;
    this.inlineFill = stride <= 64 ? this.wordFill : -1;
    this.strideWords = stride >>> 3;
  }

  /**
   * Takes a block for a request of `size <= blockSize` bytes aligned to `align <= this.align`; `NULL` when the slab
   * is full or the request is larger than a block (I1-I3).
   *
   * @throws `LayoutError` for a bad size or alignment (I9).
   */
  allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("Slab.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /**
   * The raw protocol (see `RawLayer` in core): `allocate` for a layout the caller has checked. One compare sends
   * everything but an unchecked pop (a request larger than a block, a checked free set, an empty stack) to the slow path.
   * @internal
   */
  allocRaw(size: number, align: number): number {
    const n = this.freeCount;
    if (size > this.fastLimit || align > this.align || n === 0) return this.allocateSlow(size, align);
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
    if (!validLayout(size, align)) throw layoutError("Slab.deallocate", size, align);
    const r = this.tryFree(ptr, size, align);
    if (r !== 0) throw faultError("Slab.deallocate", r, ptr, size, align);
  }

  /**
   * The raw protocol: frees `(ptr, size, align)` and returns 0, or returns a `FAULT_*` code and changes nothing.
   * The layout must be valid; `ptr` may be any value.
   * @internal
   */
  tryFree(ptr: unknown, size: number, align: number): number {
    if (typeof ptr === "number" && size <= this.fastLimit && align <= this.align) {
      // Exact division without a divide (the stride's odd part by its inverse, the power of two by a shift): for
      // a multiple of the stride this is the slot index; for anything else it is some other integer, which the
      // compares below reject. A free slot (a double free), a checked free set and every refusal take the slow
      // path (one call site: this method stays small enough for V8 to inline into a stack of wrappers).
      const idx = imul((ptr - this.region) >> this.strideShift, this.strideInverse);
      const n = this.freeCount;
      const set = this.freeSet;
      const at = this.capacity + idx;
      if (
        idx >>> 0 < this.carved &&
        idx * this.stride + this.region === ptr &&
        (set[at]! >= n || set[set[at]!] !== ptr)
      ) {
        set[n] = ptr;
        set[at] = n;
        this.freeCount = n + 1;
        return 0;
      }
    }
    return this.tryFreeSlow(ptr, size, align);
  }

  /**
   * The raw protocol: `tryFree` that first fills the whole slot with `byte` (a scrubbing wrapper's free): the
   * stride, or a `FAULT_*` code with nothing written. One index computation for the check, the fill and the push;
   * the fill is by 8-byte words (see `FILL_WORDS`) when the slots allow it.
   * @internal
   */
  scrubFree(ptr: unknown, size: number, align: number, byte: number): number {
    if (typeof ptr === "number" && size <= this.fastLimit && align <= this.align && byte <= this.inlineFill) {
      const idx = imul((ptr - this.region) >> this.strideShift, this.strideInverse);
      const n = this.freeCount;
      const set = this.freeSet;
      const at = this.capacity + idx;
      if (
        idx >>> 0 < this.carved &&
        idx * this.stride + this.region === ptr &&
        (set[at]! >= n || set[set[at]!] !== ptr)
      ) {
        // The push first: nothing of it stays live across the fill's stores, which V8 would otherwise spill
        // around them (docs/PERFORMANCE.md, ZeroizeOnFree at 64 B).
        set[n] = ptr;
        set[at] = n;
        this.freeCount = n + 1;
        // Up to 64 bytes: straight-line stores from both ends, which overlap for some counts (the same word
        // stored twice). 1-2 words: the first and the last; 3-4: also the second and the second-to-last; 5-8:
        // also the third, the fourth, and the third and fourth from the end. (This method's size is at V8's limit
        // for inlining into a wrapper's free: see docs/PERFORMANCE.md before adding to it.)
        const f64 = this.memory.f64;
        const word = FILL_WORDS[byte]!;
        const words = this.strideWords & 15; // at most 8 here; the mask lets V8 drop the overflow checks below
        const a = ptr >>> 3;
        f64[a] = word;
        if (words > 1) {
          const b = a + words;
          f64[b - 1] = word;
          if (words > 2) {
            f64[a + 1] = word;
            f64[b - 2] = word;
            if (words > 4) {
              f64[a + 2] = word;
              f64[a + 3] = word;
              f64[b - 3] = word;
              f64[b - 4] = word;
            }
          }
        }
        return this.stride;
      }
    }
    return this.scrubFreeSlow(ptr, size, align, byte);
  }

  /** `scrubFree` off the hot path: a checked slab, a slot over 64 bytes, a fill not by words, or a refused free. */
  private scrubFreeSlow(ptr: unknown, size: number, align: number, byte: number): number {
    const idx = typeof ptr === "number" ? this.indexOf(ptr) : -1;
    if (idx < 0 || size > this.blockSize || align > this.align || !this.isLive(idx)) {
      return this.checkFree(ptr, size, align, true); // refused: checkFree says why
    }
    if (byte <= this.wordFill)
      fillWords(this.memory.f64, (ptr as number) >>> 3, ((ptr as number) + this.stride) >>> 3, byte);
    else fillBytes(this.memory, byte, ptr as number, (ptr as number) + this.stride);
    this.push(ptr as number, idx);
    return this.stride;
  }

  /** `tryFree` off the hot path: a checked slab's push (with its tag), or the code for a refused free. */
  private tryFreeSlow(ptr: unknown, size: number, align: number): number {
    const idx = typeof ptr === "number" ? this.indexOf(ptr) : -1;
    if (idx < 0 || size > this.blockSize || align > this.align || !this.isLive(idx)) {
      return this.checkFree(ptr, size, align, true); // refused: checkFree says why
    }
    this.push(ptr as number, idx);
    return 0;
  }

  /**
   * The raw protocol: the stride when a free of `(ptr, size, align)` would be accepted, else a `FAULT_*` code.
   * @internal
   */
  checkFree(ptr: unknown, size: number, align: number, _freeing: boolean): number {
    const idx = typeof ptr === "number" ? this.indexOf(ptr) : -1;
    if (idx < 0 || !this.isLive(idx)) return noteFault(FAULT_NOT_LIVE, this.notLive(ptr));
    if (size > this.blockSize || align > this.align) {
      return noteFault(FAULT_LAYOUT, `this slab serves size <= ${this.blockSize} and align <= ${this.align}`);
    }
    return this.stride;
  }

  /** The raw protocol: the stride of a live block, or -1 for anything else. @internal */
  sizeOf(ptr: unknown): number {
    const idx = typeof ptr === "number" ? this.indexOf(ptr) : -1;
    return idx >= 0 && this.isLive(idx) ? this.stride : -1;
  }

  /** The raw protocol: pushes a block `checkFree` just accepted (signing the entry with a MAC). @internal */
  freeRaw(ptr: number, _size: number, _align: number): void {
    this.push(ptr, this.indexOf(ptr));
  }

  /**
   * Pushes the live slot `idx` at `ptr` on the free stack. A checked free set keeps a JS-heap copy of the new top
   * entry instead of signing it, and signs the entry it buries, from that copy (never from the memory, which
   * other code may have written meanwhile).
   */
  private push(ptr: number, idx: number): void {
    const n = this.freeCount;
    const set = this.freeSet;
    if (this.checked) {
      if (this.topCopy !== -1 && this.protection !== null) {
        const seq = (this.frees = (this.frees + 1) | 0);
        this.sequences![n - 1] = seq;
        set[2 * this.capacity + n - 1] = this.protection.sign(this.topCopy, seq);
      }
      this.topCopy = ptr;
    }
    set[n] = ptr;
    set[this.capacity + idx] = n;
    this.freeCount = n + 1;
  }

  /** The raw protocol: in place when the new layout fits a block, else `NULL` (no block is larger). @internal */
  resizeRaw(ptr: number, _oldSize: number, newSize: number, align: number): number {
    return newSize <= this.blockSize && align <= this.align ? ptr : NULL;
  }

  /** In place when `newSize <= blockSize` (I5); otherwise `NULL`, as no block is larger. */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.resize("grow", ptr, oldSize, newSize, align);
  }

  /** Always in place (I5). */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.resize("shrink", ptr, oldSize, newSize, align);
  }

  private resize(what: string, ptr: number, oldSize: number, newSize: number, align: number): number {
    checkResize(`Slab.${what}`, oldSize, newSize, align, what === "grow");
    const usable = this.checkFree(ptr, oldSize, align, false);
    if (usable < 0) throw faultError(`Slab.${what}`, usable, ptr, oldSize, align);
    return this.resizeRaw(ptr, oldSize, newSize, align);
  }

  /** Frees every block at once (I7). O(1): slots are carved afresh. */
  reset(): void {
    this.freeCount = 0;
    this.carved = 0;
    this.topCopy = -1;
  }

  /** The stride: the whole block may be used (I8). @throws `InvalidPointerError` when `ptr` is not live. */
  usableSize(ptr: number, size: number): number {
    if (!validLayout(size, 1)) throw layoutError("Slab.usableSize", size, 1);
    const usable = this.checkFree(ptr, size, 1, false);
    if (usable < 0) throw faultError("Slab.usableSize", usable, ptr, size, 1);
    return usable;
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
    return (
      typeof ptr === "number" &&
      (ptr | 0) === ptr &&
      ptr >= this.region &&
      ptr < this.region + this.capacity * this.stride
    );
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
    if (this.memory.retired) throw this.retiredError();
    if (size > this.blockSize || align > this.align) return NULL; // cannot be served by any block (I3)
    const n = this.freeCount;
    if (n !== 0) {
      // Only a checked slab pops here (an unchecked one pops in allocRaw, and reaches this line only retired, which
      // throws above); on an unchecked one the checks would pass anyway: only the slab writes its free set.
      const ptr = this.freeSet[n - 1]!;
      if (this.entryIsSound(ptr, n - 1)) {
        this.freeCount = n - 1;
        this.topCopy = -1; // the entry below was signed when this one buried it
        return ptr;
      }
      throw this.abandon(n - 1);
    }
    const idx = this.carved;
    if (idx === this.capacity) return NULL;
    this.carved = idx + 1;
    return this.region + idx * this.stride;
  }

  private retiredError(): AllocError {
    return new AllocError(
      "Slab.allocate: its memory was disposed (the OS mapping is gone); nothing can be allocated from it any more",
    );
  }

  /**
   * A forged or replayed entry at `at`: count it, never follow it, abandon the whole free list (its slots leak;
   * later allocations carve the untouched tail), and say so. Kept out of `allocateSlow`, so that stays small.
   */
  private abandon(at: number): CorruptionError {
    this.corruptions++;
    this.freeCount = 0;
    this.topCopy = -1;
    return new CorruptionError(
      `Slab.allocate: free-list entry ${at} fails its check (forged, moved or replayed: ` +
        `${this.protection === null ? "not a free slot at its recorded place" : "its MAC does not match"}); ` +
        `the free list is abandoned and not followed`,
    );
  }

  /**
   * Checks a popped free-stack entry: a carved slot start, at its recorded place, equal to the JS-heap copy of an
   * unsigned top entry, or else with a valid tag.
   */
  private entryIsSound(ptr: number, at: number): boolean {
    const idx = this.indexOf(ptr);
    if (idx < 0 || this.freeSet[this.capacity + idx] !== at) return false;
    if (this.topCopy !== -1) return ptr === this.topCopy; // the unsigned top: its JS-heap copy decides
    return (
      this.protection === null ||
      this.protection.verify(ptr, this.sequences![at]!, this.freeSet[2 * this.capacity + at]!)
    );
  }

  /** The slot index of `ptr` by the exact-division trick of `deallocate`, or -1 when it is not a carved slot start. */
  private indexOf(ptr: number): number {
    const idx = imul((ptr - this.region) >> this.strideShift, this.strideInverse);
    return idx >>> 0 < this.carved && idx * this.stride + this.region === ptr ? idx : -1;
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

  /** What is wrong with a pointer that is not a live block, for the message. */
  private notLive(ptr: unknown): string {
    if (typeof ptr !== "number") return "a pointer is a number";
    const idx = Math.round((ptr - this.region) / this.stride);
    const isSlot = idx >= 0 && idx < this.capacity && idx * this.stride + this.region === ptr;
    return isSlot
      ? `slot ${idx} of the slab is not live: a double free, or a block freed or issued before reset()`
      : `expected the start of one of the slab's ${this.capacity} slots (${this.stride}-byte stride from ${this.region})`;
  }
}
