/**
 * `StackAlloc`: a LIFO allocator: blocks are freed in the reverse order of allocation, and each free gives its
 * space (alignment padding included) back at once.
 *
 * Complexity: O(1) allocate and free of the newest block; finding an older block (to name an out-of-order free,
 * or to shrink it) is O(depth).
 * Required backing: any `FixedRange`; carves its whole range and commits through it, as `BumpArena`.
 * Threads: one agent. Per-allocation overhead: alignment padding plus one 12-byte frame in an out-of-band
 * `Int32Array` (the frame table, `maxDepth` frames, allocated once).
 *
 * ```text
 *  frames (Int32Array, 3 words each):  [ptr, size, prevTop] [ptr, size, prevTop] ...   depth frames live
 *  range:  base | pad | block 0 | pad | block 1 | ... | top            free ...           end
 * ```
 * Invariant: frame `i` lies below frame `i + 1`; `top` is the end of the newest frame (or `base`).
 *
 * Unlike the Rust `StackAlloc` (a debug assertion, then a silent leak in release), an out-of-order free, a
 * double free, or a size that differs from the allocation throws and changes nothing.
 *
 * Composition limits: as `BumpArena` (hardening wrappers go outside). A full frame table refuses further
 * allocations with `NULL` (I3), like a full range. A wrapper over it checks a free with the stack's own rule (only
 * the newest block), before it writes anything, so a scrubbing wrapper never poisons a block the stack refuses.
 *
 * @example
 * ```ts
 * const stack = new StackAlloc(new ArrayBufferBacked(1 << 16), { maxDepth: 64 });
 * const a = stack.allocate(100), b = stack.allocate(200);
 * stack.deallocate(b, 200); stack.deallocate(a, 100); // LIFO
 * ```
 *
 * @module
 */
import {
  AllocError,
  FAULT_LAYOUT,
  FAULT_NOT_LIVE,
  type FixedRange,
  InvalidPointerError,
  LayoutError,
  NULL,
  TAGGED_FIELD,
  checkInteger,
  checkResize,
  describePointer,
  faultError,
  noteFault,
  scrubFreeChecked,
  type RawLayer,
  checkCarvable,
  isFixedRange,
  isValidLayout,
  layoutError,
  RangeBacking,
} from "../core/index.js";

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

/** Options of a {@link StackAlloc}. */
export interface StackAllocOptions {
  /** Most blocks live at once (the frame table's length). @defaultValue 1024 */
  maxDepth?: number;
}

const FRAME = 3; // words per frame: ptr, size, previous top

/** A LIFO allocator over a `FixedRange` (see the module documentation). */
export class StackAlloc extends RangeBacking implements RawLayer {
  /** The range the stack carves. */
  readonly backing: FixedRange;
  /** The most blocks that can be live at once. */
  readonly maxDepth: number;
  private readonly frames: Int32Array;
  private depth: number;

  /**
   * @throws `AllocError` when `backing` is not a `FixedRange`, its range is empty, or `maxDepth` is not an integer
   *   in `[1, 2^24]`.
   */
  constructor(backing: FixedRange, options: StackAllocOptions = {}) {
    if (!isFixedRange(backing)) throw new AllocError("StackAlloc: the backing must be a FixedRange");
    checkCarvable("StackAlloc", backing);
    const base = backing.base();
    const size = backing.size();
    if (!(size > 0)) throw new AllocError(`StackAlloc: the backing's range is empty (size ${size})`);
    super("StackAlloc", backing.memory, base, base + size);
    this.backing = backing;
    this.maxDepth = checkInteger("StackAlloc", "maxDepth", options.maxDepth ?? 1024, 1, 1 << 24);
    this.frames = new Int32Array(this.maxDepth * FRAME);
    this.depth = TAGGED_FIELD; // representation hint, see TAGGED_FIELD
    this.depth = 0;
  }

  /** Pushes a block of `size` bytes aligned to `align` (default 8); `NULL` when the range or the frame table is full. */
  override allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("StackAlloc.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /** The raw protocol (see `RawLayer` in core): `allocate` for a layout the caller checked. @internal */
  allocRaw(size: number, align: number): number {
    const d = this.depth;
    if (d === this.maxDepth) return NULL;
    const top = this.top;
    const p = top + (-top & (align - 1));
    const end = p + size;
    if (end > this.committed && !this.commitTo(end)) {
      if (this.memory.retired) throw this.retiredError();
      return NULL;
    }
    const f = d * FRAME;
    this.frames[f] = p;
    this.frames[f + 1] = size;
    this.frames[f + 2] = top;
    this.depth = d + 1;
    this.top = end;
    return p;
  }

  /**
   * Pops the newest block. `size` must be the size it was allocated (or last resized) with.
   *
   * @throws `InvalidPointerError` when `ptr` is not the newest live block (out of order, double free, never
   *   issued); `LayoutError` when `size` differs. Nothing changes when it throws.
   */
  override deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError("StackAlloc.deallocate", size, align);
    const r = this.tryFree(ptr, size, align);
    if (r !== 0) throw faultError("StackAlloc.deallocate", r, ptr, size, align);
  }

  /**
   * The raw protocol: `size` when `ptr` is the newest live block, allocated with `size` and aligned to `align`,
   * else a fault code. A stack frees only its newest block, so an older one is refused here too. @internal
   */
  checkFree(ptr: unknown, size: number, align: number, freeing: boolean): number {
    const f = this.find(ptr);
    if (f < 0)
      return noteFault(
        FAULT_NOT_LIVE,
        "not a live block of the stack (never issued, freed, or issued before reset())",
      );
    if (this.frames[f + 1] !== size || ((ptr as number) & (align - 1)) !== 0) {
      return noteFault(
        FAULT_LAYOUT,
        `the block has size ${this.frames[f + 1]}, not ${size}, aligned to its offset; pass the size it was allocated (or last resized) with`,
      );
    }
    if (freeing && f !== (this.depth - 1) * FRAME) {
      return noteFault(
        FAULT_NOT_LIVE,
        `it is live but not the newest block (depth ${f / FRAME + 1} of ${this.depth}); a stack frees in reverse order of allocation`,
      );
    }
    return size;
  }

  /** The raw protocol: `checkFree`, then the pop. @internal */
  tryFree(ptr: unknown, size: number, align: number): number {
    const usable = this.checkFree(ptr, size, align, true);
    if (usable < 0) return usable;
    this.freeRaw(ptr as number, size, align);
    return 0;
  }

  /** The raw protocol: `checkFree`, the fill, then the pop. @internal */
  scrubFree(ptr: unknown, size: number, align: number, byte: number): number {
    return scrubFreeChecked(this, this.memory, ptr, size, align, byte);
  }

  /** The raw protocol: pops the newest block (which `checkFree` just accepted). @internal */
  freeRaw(_ptr: number, _size: number, _align: number): void {
    const f = (this.depth - 1) * FRAME;
    // The top goes back to the end of the block below (which may have shrunk since this one was pushed: its tail is
    // reusable now), or to where the stack was when the first block was pushed.
    this.top = f > 0 ? this.frames[f - FRAME]! + this.frames[f - FRAME + 1]! : this.frames[f + 2]!;
    this.depth--;
  }

  /** The raw protocol: a live block's size, or -1. @internal */
  sizeOf(ptr: unknown): number {
    const f = this.find(ptr);
    return f < 0 ? -1 : this.frames[f + 1]!;
  }

  /** The raw protocol: `grow`/`shrink` in place of a checked block (`NULL` when it cannot). @internal */
  resizeRaw(ptr: number, oldSize: number, newSize: number, _align: number): number {
    const f = this.find(ptr);
    return newSize >= oldSize ? this.growAt(f, ptr, oldSize, newSize) : this.shrinkAt(f, ptr, newSize);
  }

  /** The frame (word index) of the live block `ptr`, or -1. O(depth) from the newest. */
  private find(ptr: unknown): number {
    let f = (this.depth - 1) * FRAME;
    while (f >= 0 && this.frames[f] !== ptr) f -= FRAME;
    return f;
  }

  private growAt(f: number, ptr: number, oldSize: number, newSize: number): number {
    if (newSize === oldSize) return ptr;
    if (f !== (this.depth - 1) * FRAME) return NULL;
    const end = ptr + newSize;
    if (end > this.committed && !this.commitTo(end)) return NULL;
    this.frames[f + 1] = newSize;
    this.top = end;
    return ptr;
  }

  private shrinkAt(f: number, ptr: number, newSize: number): number {
    this.frames[f + 1] = newSize;
    if (f === (this.depth - 1) * FRAME) this.top = ptr + newSize;
    return ptr;
  }

  /**
   * Grows the newest block in place. An older block cannot move without an out-of-order free, so growing it
   * returns `NULL` (the block stays as it was, I5).
   */
  override grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("StackAlloc.grow", oldSize, newSize, align, true);
    return this.growAt(this.frameOf("grow", ptr, oldSize, align), ptr, oldSize, newSize);
  }

  /** Shrinks in place. The newest block's tail is reusable at once; an older block's when the blocks above it pop. */
  override shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("StackAlloc.shrink", oldSize, newSize, align, false);
    return this.shrinkAt(this.frameOf("shrink", ptr, oldSize, align), ptr, newSize);
  }

  /** Frees every block (I7). */
  override reset(): void {
    this.top = this.rangeBase;
    this.depth = 0;
  }

  /** Exactly the block's size. @throws `InvalidPointerError` when `ptr` is not live. */
  override usableSize(ptr: number, size: number): number {
    this.frameOf("usableSize", ptr, size, 1);
    return size;
  }

  /** Blocks currently live. */
  liveCount(): number {
    return this.depth;
  }

  /** Checks the frame invariants; throws an `Error` naming the broken one. */
  validate(): void {
    let prevEnd = this.rangeBase;
    for (let i = 0; i < this.depth; i++) {
      const f = i * FRAME;
      const p = this.frames[f]!;
      const s = this.frames[f + 1]!;
      if (this.frames[f + 2]! < prevEnd || p < this.frames[f + 2]! || p + s > this.rangeEnd) {
        throw new Error(`StackAlloc.validate: frame ${i} (${p}, ${s}) does not follow ${prevEnd}`);
      }
      prevEnd = p + s;
    }
    if (prevEnd !== this.top)
      throw new Error(`StackAlloc.validate: top ${this.top} is not the newest end ${prevEnd}`);
  }

  /** Validates the layout and finds the live frame of `ptr` (word index). Throws when `ptr` is not live. */
  private frameOf(what: string, ptr: number, size: number, align: number): number {
    if (!validLayout(size, align)) throw layoutError(`StackAlloc.${what}`, size, align);
    let f = (this.depth - 1) * FRAME;
    while (f >= 0 && this.frames[f] !== ptr) f -= FRAME;
    if (f < 0 || (ptr | 0) !== ptr) {
      throw new InvalidPointerError(
        ptr,
        `StackAlloc.${what}: ${describePointer(ptr)} is not a live block (never issued, already freed, or ` +
          `issued before reset())`,
      );
    }
    if (this.frames[f + 1] !== size || (ptr & (align - 1)) !== 0) {
      throw new LayoutError(
        `StackAlloc.${what}: block ${describePointer(ptr)} has size ${this.frames[f + 1]}, not ${size}; ` +
          `pass the size it was allocated (or last resized) with`,
      );
    }
    return f;
  }
}
