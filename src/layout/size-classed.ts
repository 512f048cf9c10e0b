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
  type AllocRawForwarder,
  type Allocator,
  FAULT_NOT_LIVE,
  type CheckForwarder,
  type FreeForwarder,
  type FreeRawForwarder,
  type Memory,
  NULL,
  type RawLayer,
  type Region,
  UnsupportedError,
  checkInteger,
  checkResize,
  faultError,
  hasRegions,
  isValidLayout,
  layoutError,
  moveRaw,
  noteFault,
  overlayRegions,
  rawForwarders,
  rawLayerOf,
  zeroBlock,
} from "../core/index.js";
import { Slab } from "./slab.js";

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

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
export class SizeClassed<TInner extends Allocator> implements Allocator, RawLayer {
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
  /** The inner's raw view (see `rawLayerOf` in core) and its forwarders. */
  private readonly raw: RawLayer;
  private readonly rawAlloc: AllocRawForwarder;
  private readonly rawTryFree: FreeForwarder;
  private readonly rawCheckFree: CheckForwarder;
  private readonly rawFreeRaw: FreeRawForwarder;

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
    this.raw = rawLayerOf(inner);
    const f = rawForwarders(this.raw);
    this.rawAlloc = f.alloc;
    this.rawTryFree = f.tryFree;
    this.rawCheckFree = f.checkFree;
    this.rawFreeRaw = f.freeRaw;
  }

  /** A class block when a class fits and has room; otherwise the inner's block; `NULL` when neither can. */
  allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("SizeClassed.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /** The raw protocol (see `RawLayer` in core): `allocate` for a layout the caller checked. @internal */
  allocRaw(size: number, align: number): number {
    const n = size > align ? size : align;
    const k = this.byLog2[32 - Math.clz32(n - 1)]!;
    if (k >= 0) {
      const slab = this.slabs[k];
      if (slab !== null && slab !== undefined) {
        const p = slab.allocRaw(n, align);
        if (p !== NULL) return p;
      } else {
        const p = this.openClass(k, n, align);
        if (p !== NULL) return p;
      }
    }
    return this.rawAlloc(this.raw, size, align);
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
   *
   * @throws `InvalidPointerError` or `LayoutError` naming `SizeClassed`; nothing changes then.
   */
  deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError("SizeClassed.deallocate", size, align);
    const r = this.tryFree(ptr, size, align);
    if (r !== 0) throw faultError("SizeClassed.deallocate", r, ptr, size, align);
  }

  /** The raw protocol: frees through the owner, or returns its fault code. @internal */
  tryFree(ptr: unknown, size: number, align: number): number {
    const n = size > align ? size : align;
    const k = this.byLog2[32 - Math.clz32(n - 1)]!;
    const p = ptr as number;
    if (typeof ptr !== "number") return noteFault(FAULT_NOT_LIVE, "a pointer is a number");
    if (k >= 0 && p >= this.slabRanges[2 * k]! && p < this.slabRanges[2 * k + 1]!) {
      return this.slabs[k]!.tryFree(ptr, size, align);
    }
    const owner = this.owner(ptr);
    return owner !== null ? owner.tryFree(ptr, size, align) : this.rawTryFree(this.raw, ptr, size, align);
  }

  /** The raw protocol: the owner's answer. @internal */
  checkFree(ptr: unknown, size: number, align: number, freeing: boolean): number {
    const owner = this.owner(ptr);
    return owner !== null
      ? owner.checkFree(ptr, size, align, freeing)
      : this.rawCheckFree(this.raw, ptr, size, align, freeing);
  }

  /** The raw protocol: the owner's. @internal */
  scrubFree(ptr: unknown, size: number, align: number, byte: number): number {
    const owner = this.owner(ptr);
    return owner !== null
      ? owner.scrubFree(ptr, size, align, byte)
      : this.raw.scrubFree(ptr, size, align, byte);
  }

  /** The raw protocol: the owner's answer. @internal */
  sizeOf(ptr: unknown): number {
    const owner = this.owner(ptr);
    return owner !== null ? owner.sizeOf(ptr) : this.raw.sizeOf(ptr);
  }

  /** The raw protocol: frees a checked block through its owner. @internal */
  freeRaw(ptr: number, size: number, align: number): void {
    const owner = this.owner(ptr);
    if (owner !== null) owner.freeRaw(ptr, size, align);
    else this.rawFreeRaw(this.raw, ptr, size, align);
  }

  /** The raw protocol: in place while the class allows it, else moved; the inner's blocks by the inner. @internal */
  resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    const owner = this.owner(ptr);
    if (owner === null) return this.raw.resizeRaw(ptr, oldSize, newSize, align);
    if (newSize <= owner.blockSize && align <= owner.align) return ptr;
    return moveRaw(this, this.memory.u8, ptr, oldSize, newSize, align);
  }

  /**
   * Frees without a size: asks each class slab, then the inner's `free`.
   *
   * @throws `UnsupportedError` when `ptr` is not in a class and the inner has no unsized `free`;
   *   `InvalidPointerError` naming `SizeClassed` for a pointer that is not a live block.
   */
  free(ptr: number): void {
    const owner = this.owner(ptr);
    if (owner !== null) {
      const r = owner.tryFree(ptr, 1, 1);
      if (r !== 0) throw faultError("SizeClassed.free", r, ptr, 1, 1);
      return;
    }
    if (typeof (this.inner as { free?: unknown }).free !== "function")
      throw new UnsupportedError("SizeClassed.free: the inner allocator has no unsized free");
    const usable = this.raw.sizeOf(ptr);
    if (usable < 0) throw faultError("SizeClassed.free", FAULT_NOT_LIVE, ptr, 1, 1);
    this.rawFreeRaw(this.raw, ptr, usable, 1);
  }

  /** In place while the class allows it; otherwise moves the block (I5). */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.resize("grow", ptr, oldSize, newSize, align);
  }

  /** In place (I5): a class block keeps its slab, and frees find it there. */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.resize("shrink", ptr, oldSize, newSize, align);
  }

  private resize(what: string, ptr: number, oldSize: number, newSize: number, align: number): number {
    checkResize(`SizeClassed.${what}`, oldSize, newSize, align, what === "grow");
    const usable = this.checkFree(ptr, oldSize, align, false);
    if (usable < 0) throw faultError(`SizeClassed.${what}`, usable, ptr, oldSize, align);
    return this.resizeRaw(ptr, oldSize, newSize, align);
  }

  /** Resets the inner and forgets the class slabs (their memory came from it). */
  reset(): void {
    this.inner.reset();
    this.slabs.fill(null);
    this.slabRanges.fill(0);
  }

  /** The class size for class blocks, else the inner's. @throws as `deallocate`. */
  usableSize(ptr: number, size: number): number {
    if (!validLayout(size, 1)) throw layoutError("SizeClassed.usableSize", size, 1);
    const usable = this.checkFree(ptr, size, 1, false);
    if (usable < 0) throw faultError("SizeClassed.usableSize", usable, ptr, size, 1);
    return usable;
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
  classOf(ptr: unknown): number {
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
  private owner(ptr: unknown): Slab | null {
    if (typeof ptr !== "number") return null;
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
    return slab.allocRaw(n, align);
  }
}
