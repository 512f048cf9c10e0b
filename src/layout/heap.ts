/**
 * `Heap`: `malloc` / `calloc` / `realloc` / `free` for application code, over one memory: size classes in front for
 * small blocks, a `Tlsf` behind for the rest (and for the class slabs' memory). Out of memory throws `AllocError`
 * here (this is the high-level face; its `allocate` still returns `NULL`). Typed helpers return a view of exactly
 * the allocation, and `free` takes a pointer or such a view.
 *
 * Complexity: O(1) for every call but an unsized `free` of a large block, which first asks each class (O(classes)).
 * Overhead: a class block rounds up to its class (8 .. 1024 bytes by default); a `Tlsf` block has an 8-byte header.
 * Memory held in class slabs is bounded: `slotsPerClass` blocks per class (see `SizeClassed`).
 *
 * @example
 * ```ts
 * const heap = new Heap(new SharedArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 26 }));
 * const xs = heap.allocArray(Float64Array, 1000);
 * heap.free(xs);
 * const p = heap.malloc(100); const q = heap.realloc(p, 400); heap.free(q);
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
  type Region,
  type TypedArray,
  type TypedArrayConstructor,
  isValidSize,
  layoutError,
  zeroBlock,
} from "../core/index.js";
import { SizeClassed, type SizeClassedOptions } from "./size-classed.js";
import { Tlsf, type TlsfStats } from "./tlsf.js";
import { allocArray, allocDataView, allocUtf8 } from "./typed.js";

/** Options of {@link Heap}: the size classes in front of its `Tlsf`. */
export type HeapOptions = SizeClassedOptions;

/** A `malloc`-style heap (see the module documentation). */
export class Heap implements Allocator {
  /** The memory the heap serves. */
  readonly memory: Memory;
  /** The general allocator behind the classes. */
  readonly tlsf: Tlsf;
  /** The size classes in front. */
  readonly classes: SizeClassed<Tlsf>;

  /** @throws `AllocError` when `backing` is not a `FixedRange` or too small. */
  constructor(backing: FixedRange, options: HeapOptions = {}) {
    this.tlsf = new Tlsf(backing);
    this.classes = new SizeClassed(this.tlsf, options);
    this.memory = this.tlsf.memory;
  }

  /**
   * `size` bytes, 8-aligned.
   *
   * @throws `AllocError` when out of memory; `LayoutError` for a bad size.
   */
  malloc(size: number): number {
    const p = this.classes.allocate(size, 8);
    if (p === NULL) throw this.oom("malloc", size);
    return p;
  }

  /**
   * `count * size` zeroed bytes.
   *
   * @throws `AllocError` when out of memory; `LayoutError` for a bad count or size, or a product above `MAX_SIZE`.
   */
  calloc(count: number, size: number): number {
    const total = count * size;
    if (!Number.isInteger(count) || !isValidSize(size) || !isValidSize(total)) {
      throw new LayoutError(
        `Heap.calloc: ${String(count)} x ${String(size)} bytes is not a valid request; expected positive integers whose product is at most 2^30`,
      );
    }
    const p = this.classes.allocate(total, 8);
    if (p === NULL) throw this.oom("calloc", total);
    zeroBlock(this.memory, p, total);
    return p;
  }

  /**
   * Resizes a block (`realloc(NULL, n)` is `malloc(n)`): in place when its class or its neighbour allows it, else by
   * moving it. The old pointer is invalid afterwards unless it was returned.
   *
   * @throws `AllocError` when out of memory (the old block is then intact); `InvalidPointerError` for a bad pointer.
   */
  realloc(ptr: number, size: number): number {
    if (ptr === NULL) return this.malloc(size);
    if (!isValidSize(size)) throw layoutError("Heap.realloc", size, 8);
    const k = this.classes.classOf(ptr);
    if (k < 0) {
      const q = this.tlsf.realloc(ptr, size); // validates ptr; NULL leaves the block intact
      if (q === NULL) throw this.oom("realloc", size);
      return q;
    }
    const usable = this.classes.usableSize(ptr, 1); // validates that the class block is live
    if (size <= usable) return ptr;
    const q = this.malloc(size);
    this.memory.u8.copyWithin(q, ptr, ptr + usable);
    this.classes.free(ptr);
    return q;
  }

  /**
   * Frees a block by pointer, or by a view that `allocArray` (or any helper) returned.
   *
   * @throws `InvalidPointerError` for anything but a live block of this heap (a view over another memory, too).
   */
  free(block: number | ArrayBufferView): void {
    if (typeof block === "number") {
      this.classes.free(block);
      return;
    }
    if (!ArrayBuffer.isView(block) || block.buffer !== this.memory.buffer) {
      throw new InvalidPointerError(block, "Heap.free: the view is not over this heap's memory");
    }
    this.classes.free(block.byteOffset);
  }

  /** `length` elements of `ctor`, as a view of exactly them. @throws `AllocError` when out of memory. */
  allocArray<T extends TypedArray>(ctor: TypedArrayConstructor<T>, length: number): T {
    return allocArray(this, "Heap.allocArray", ctor, length);
  }

  /** `size` bytes as a `Uint8Array`. @throws `AllocError` when out of memory. */
  allocBytes(size: number): Uint8Array {
    return allocArray(this, "Heap.allocBytes", Uint8Array, size);
  }

  /** A `DataView` of `size` bytes. @throws `AllocError` when out of memory. */
  allocDataView(size: number, align = 8): DataView {
    return allocDataView(this, "Heap.allocDataView", size, align);
  }

  /** `text` as UTF-8 bytes. @throws `AllocError` when out of memory. */
  allocUtf8(text: string): Uint8Array {
    return allocUtf8(this, "Heap.allocUtf8", text);
  }

  /** The allocation contract: `NULL` when out of memory (I3). */
  allocate(size: number, align = 8): number {
    return this.classes.allocate(size, align);
  }
  /** As {@link Heap.allocate}, zeroed. */
  allocateZeroed(size: number, align = 8): number {
    return this.classes.allocateZeroed(size, align);
  }
  /** Sized free (I4). */
  deallocate(ptr: number, size: number, align = 8): void {
    this.classes.deallocate(ptr, size, align);
  }
  /** See `SizeClassed.grow`. */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.classes.grow(ptr, oldSize, newSize, align);
  }
  /** See `SizeClassed.shrink`. */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.classes.shrink(ptr, oldSize, newSize, align);
  }
  /** Frees everything (I7). */
  reset(): void {
    this.classes.reset();
  }
  /** The block's usable size. */
  usableSize(ptr: number, size: number): number {
    return this.classes.usableSize(ptr, size);
  }
  /** The heap's range (it can grow to it). */
  capacityBytes(): number {
    return this.tlsf.capacityBytes();
  }
  /** Corruptions detected by the classes and the `Tlsf`. */
  corruptionEvents(): number {
    return this.classes.corruptionEvents();
  }

  /** The `Tlsf`'s blocks, with the class slabs shown slot by slot (see `SizeClassed.regions`). O(blocks). */
  regions(): Region[] {
    return this.classes.regions();
  }

  /** The `Tlsf`'s statistics (class slabs count as its used blocks) and the live blocks per class. O(blocks). */
  stats(): TlsfStats & { readonly classUsage: number[] } {
    return { ...this.tlsf.stats(), classUsage: this.classes.classUsage() };
  }

  private oom(what: string, size: number): AllocError {
    return new AllocError(
      `Heap.${what}: out of memory: ${size} bytes requested; the heap spans ${this.tlsf.stats().heapBytes} of at most ${this.tlsf.capacityBytes()} bytes`,
    );
  }
}
