/**
 * `SizeClassed`: small requests from fixed-size slabs, one per size class, in front of an inner allocator that takes
 * everything else (and provides the slabs' memory). Slab allocate+free is a few nanoseconds where a general
 * allocator pays for fitting and coalescing, so most programs, whose requests are mostly small, get faster.
 *
 * A request goes to the smallest class of at least `max(size, align)` bytes; when there is none, or that class's
 * slab is full, it goes to the inner allocator. Class slabs are created on first use, each with `slotsPerClass`
 * blocks taken from the inner in one piece, so the memory parked in classes is bounded:
 * `sum(classes) * slotsPerClass` bytes at most. Frees are routed by provenance: the class of the size says which
 * slab to ask, and a pointer it does not hold goes to the inner.
 *
 * Complexity: O(1) (a class lookup by `Math.clz32` and a slab operation); an unsized `free` checks the class slabs
 * in turn (O(classes)). Overhead: the slabs' rounding (a request takes its class's size). Threads: one agent.
 * Composition limits: the inner must be able to free what it allocates (a `Tlsf`, not a bump arena, if blocks are
 * to be reused); `reset` resets the inner and forgets the slabs.
 *
 * @example
 * ```ts
 * const heap = new SizeClassed(new Tlsf(new ArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 28 })));
 * const p = heap.allocate(24); // from the 32-byte class
 * heap.deallocate(p, 24);
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  LayoutError,
  type Memory,
  NULL,
  type Region,
  UnsupportedError,
  checkInteger,
  checkResize,
  hasRegions,
  isValidLayout,
  layoutError,
  moveBlock,
  overlayRegions,
  zeroBlock,
} from "../core/index.js";
import { Slab } from "./slab.js";

/** The Rust crate's default classes. */
export const DEFAULT_CLASS_SIZES: readonly number[] = Object.freeze([8, 16, 32, 64, 128, 256, 512, 1024]);

/** Options of {@link SizeClassed}. */
export interface SizeClassedOptions {
  /** Class sizes: powers of two from 8 to 65536, strictly increasing. @defaultValue 8 .. 1024 */
  classes?: readonly number[];
  /** Blocks per class slab (1 to 2^20). @defaultValue 256 */
  slotsPerClass?: number;
}

/**
 * Size-class slabs in front of an allocator (see the module documentation).
 *
 * @typeParam TInner - the allocator behind the classes.
 */
export class SizeClassed<TInner extends Allocator> implements Allocator {
  /** The memory of the inner allocator. */
  readonly memory: Memory;
  /** The allocator behind the classes. */
  readonly inner: TInner;
  /** The class sizes. */
  readonly classes: readonly number[];
  /** Blocks per class slab. */
  readonly slotsPerClass: number;
  /** `byLog2[ceil(log2(n))]` = the class index for requests of `n` bytes, or -1 above the largest class. */
  private readonly byLog2: Int32Array;
  private readonly slabs: (Slab | null)[];
  /** `[start, end)` of each open class slab's region, by class (0, 0 while closed): `owner` scans it without calls. */
  private readonly slabRanges: Int32Array;

  /** @throws `AllocError` for classes that are not increasing powers of two in `[8, 65536]`, or a bad slot count. */
  constructor(inner: TInner, options: SizeClassedOptions = {}) {
    if (typeof inner?.allocate !== "function")
      throw new AllocError("SizeClassed: the inner must be an Allocator");
    const classes = options.classes ?? DEFAULT_CLASS_SIZES;
    if (!Array.isArray(classes) || classes.length === 0 || classes.length > 14) {
      throw new AllocError("SizeClassed: classes must be 1 to 14 sizes");
    }
    classes.forEach((c, i) => {
      if (
        !Number.isInteger(c) ||
        c < 8 ||
        c > 65536 ||
        (c & (c - 1)) !== 0 ||
        (i > 0 && c <= classes[i - 1]!)
      ) {
        throw new AllocError(
          `SizeClassed: class ${String(c)} is not valid; expected increasing powers of two from 8 to 65536`,
        );
      }
    });
    this.inner = inner;
    this.memory = inner.memory;
    this.classes = Object.freeze([...classes]);
    this.slotsPerClass = checkInteger(
      "SizeClassed",
      "slotsPerClass",
      options.slotsPerClass ?? 256,
      1,
      1 << 20,
    );
    this.byLog2 = new Int32Array(32).fill(-1);
    for (let b = 0; b < 32; b++) {
      const k = classes.findIndex((c) => c >= 2 ** b);
      this.byLog2[b] = k;
    }
    this.slabs = new Array<Slab | null>(classes.length).fill(null);
    this.slabRanges = new Int32Array(2 * classes.length);
  }

  /** A class block when a class fits and has room; otherwise the inner's block; `NULL` when neither can. */
  allocate(size: number, align = 8): number {
    const m = align - 1;
    if (((size - 1) & 0x3fffffff) + 1 !== size || (m & 0x1fffff) + 1 !== align || (align & m) !== 0) {
      throw layoutError("SizeClassed.allocate", size, align);
    }
    const n = size > align ? size : align;
    const k = this.byLog2[32 - Math.clz32(n - 1)]!;
    if (k >= 0) {
      const slab = this.slabs[k];
      if (slab !== null && slab !== undefined) {
        const p = slab.allocate(n, align);
        if (p !== NULL) return p;
      } else {
        const p = this.openClass(k, n, align);
        if (p !== NULL) return p;
      }
    }
    return this.inner.allocate(size, align);
  }

  /** As {@link SizeClassed.allocate}, zeroed. */
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /**
   * Frees through the class slab that holds `ptr` (the size's class first, then the others, since a block resized
   * in place keeps its slab), else through the inner.
   */
  deallocate(ptr: number, size: number, align = 8): void {
    const m = align - 1;
    if (((size - 1) & 0x3fffffff) + 1 !== size || (m & 0x1fffff) + 1 !== align || (align & m) !== 0) {
      throw layoutError("SizeClassed.deallocate", size, align);
    }
    const n = size > align ? size : align;
    const k = this.byLog2[32 - Math.clz32(n - 1)]!;
    if (k >= 0 && ptr >= this.slabRanges[2 * k]! && ptr < this.slabRanges[2 * k + 1]!) {
      this.slabs[k]!.deallocate(ptr, n, align);
      return;
    }
    const owner = this.owner(ptr);
    if (owner === null) {
      this.inner.deallocate(ptr, size, align);
      return;
    }
    if (size > owner.blockSize || align > owner.align) {
      throw new LayoutError(
        `SizeClassed.deallocate: ${size} bytes aligned to ${align} cannot be a block of the ${owner.blockSize}-byte class`,
      );
    }
    owner.deallocate(ptr, size, align);
  }

  /**
   * Frees without a size: asks each class slab, then the inner's `free`.
   *
   * @throws `UnsupportedError` when `ptr` is not in a class and the inner has no unsized `free`.
   */
  free(ptr: number): void {
    const owner = this.owner(ptr);
    if (owner !== null) {
      owner.deallocate(ptr, 1, 1);
      return;
    }
    const free = (this.inner as { free?: (p: number) => void }).free;
    if (typeof free !== "function")
      throw new UnsupportedError("SizeClassed.free: the inner allocator has no unsized free");
    free.call(this.inner, ptr);
  }

  /** In place while the class allows it; otherwise moves the block (I5). */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("SizeClassed.grow", oldSize, newSize, align, true);
    const owner = this.owner(ptr);
    if (owner !== null) {
      owner.usableSize(ptr, 1);
      if (newSize <= owner.blockSize) return ptr;
      return moveBlock(this, ptr, oldSize, newSize, align);
    }
    return this.inner.grow(ptr, oldSize, newSize, align);
  }

  /** In place (I5): a class block keeps its slab, and frees find it there. */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("SizeClassed.shrink", oldSize, newSize, align, false);
    const owner = this.owner(ptr);
    if (owner !== null) {
      owner.usableSize(ptr, 1);
      return ptr;
    }
    return this.inner.shrink(ptr, oldSize, newSize, align);
  }

  /** Resets the inner and forgets the class slabs (their memory came from it). */
  reset(): void {
    this.inner.reset();
    this.slabs.fill(null);
    this.slabRanges.fill(0);
  }

  /** The class size for class blocks, else the inner's. */
  usableSize(ptr: number, size: number): number {
    if (!isValidLayout(size, 1)) throw layoutError("SizeClassed.usableSize", size, 1);
    const owner = this.owner(ptr);
    if (owner !== null) {
      if (size > owner.blockSize) throw layoutError("SizeClassed.usableSize", size, 1);
      return owner.usableSize(ptr, 1);
    }
    return this.inner.usableSize(ptr, size);
  }

  /** The inner's capacity (class slabs live inside it). */
  capacityBytes(): number {
    return this.inner.capacityBytes();
  }

  /** The class slabs' corruption counts plus the inner's. */
  corruptionEvents(): number {
    let n = this.inner.corruptionEvents();
    for (const slab of this.slabs) if (slab !== null) n += slab.corruptionEvents();
    return n;
  }

  /** The index of the class whose slab holds `ptr`, or -1 (a block of the inner, or no block). O(classes). */
  classOf(ptr: number): number {
    const owner = this.owner(ptr);
    return owner === null ? -1 : this.slabs.indexOf(owner);
  }

  /** Blocks live in each class slab (0 for a class not opened yet). */
  classUsage(): number[] {
    return this.slabs.map((s) => (s === null ? 0 : s.liveCount()));
  }

  /**
   * The inner's regions (when it can list them) with each class slab's piece replaced by the slab's slots; without
   * them, the class slabs' slots alone. O(blocks); allocates.
   */
  regions(): Region[] {
    const slabs: Region[] = [];
    for (const s of this.slabs) if (s !== null) slabs.push(...s.regions());
    slabs.sort((a, b) => a.offset - b.offset);
    return hasRegions(this.inner) ? overlayRegions(this.inner.regions(), slabs) : slabs;
  }

  /** The class slab whose region holds `ptr`, or `null`. O(classes). */
  private owner(ptr: number): Slab | null {
    const r = this.slabRanges;
    for (let k = 0, n = r.length; k < n; k += 2) {
      if (ptr >= r[k]! && ptr < r[k + 1]!) return (ptr | 0) === ptr ? this.slabs[k >>> 1]! : null;
    }
    return null;
  }

  /** Slow path: the first request for class `k` builds its slab from the inner. */
  private openClass(k: number, n: number, align: number): number {
    const c = this.classes[k]!;
    let slab: Slab;
    try {
      slab = new Slab(this.inner, { blockSize: c, capacity: this.slotsPerClass, align: Math.min(c, 4096) });
    } catch {
      return NULL; // the inner has no room for the slab: the request goes to the inner itself
    }
    this.slabs[k] = slab;
    this.slabRanges[2 * k] = slab.base();
    this.slabRanges[2 * k + 1] = slab.base() + slab.size();
    return slab.allocate(n, align);
  }
}
