/**
 * `SplitMetadata`: pairs a data allocator with a second, separate OS mapping for allocator metadata, so an
 * overflow of a data block cannot reach the allocator's own state. Unlike the Rust original, whose metadata
 * mapping is never written, our layouts use it: pass `split.meta` as `Slab`'s `metadata` option and the slab's
 * free set lives there (see `HardenedSlab`).
 *
 * Every `Allocator` call goes to the data side; `OsBacked` and `FixedRange` calls too, when the data side has them.
 * `dispose()` unmaps the metadata mapping (the data side belongs to the caller).
 *
 * Complexity and overhead: one extra mapping of `metaSize` bytes (rounded to pages).
 *
 * @example
 * ```ts
 * const split = new SplitMetadata(new MmapBacked(1 << 20), { metaSize: 64 << 10 });
 * const slab = new Slab(new GuardPage(split), { blockSize: 64, capacity: 1000, metadata: split.meta });
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  type FixedRange,
  type Memory,
  type OsBacked,
  type ProtectFlags,
  isFixedRange,
} from "../core/index.js";
import { MmapBacked } from "./mmap-backed.js";

/** Options of {@link SplitMetadata}. */
export interface SplitMetadataOptions {
  /** Bytes of the metadata mapping (rounded up to pages). */
  metaSize: number;
}

/**
 * Data allocations from `data`, metadata from a separate mapping (see the module documentation).
 *
 * @typeParam TData - the data allocator.
 */
export class SplitMetadata<TData extends Allocator> implements OsBacked, FixedRange, Disposable {
  /** The data side: every allocation goes here. */
  readonly data: TData;
  /** The metadata mapping: give it to a layout's `metadata` option. */
  readonly meta: MmapBacked;
  /** The data side's memory. */
  readonly memory: Memory;

  /** @throws `AllocError`/`OsError` when the metadata mapping cannot be made (including `metaSize` 0). */
  constructor(data: TData, options: SplitMetadataOptions) {
    if (typeof data?.allocate !== "function")
      throw new AllocError("SplitMetadata: the data side must be an Allocator");
    this.data = data;
    this.meta = new MmapBacked(options?.metaSize);
    this.memory = data.memory;
  }

  /** Forwarded to the data side. */
  allocate(size: number, align?: number): number {
    return this.data.allocate(size, align);
  }
  /** Forwarded. */
  allocateZeroed(size: number, align?: number): number {
    return this.data.allocateZeroed(size, align);
  }
  /** Forwarded. */
  deallocate(ptr: number, size: number, align?: number): void {
    this.data.deallocate(ptr, size, align);
  }
  /** Forwarded. */
  grow(ptr: number, oldSize: number, newSize: number, align?: number): number {
    return this.data.grow(ptr, oldSize, newSize, align);
  }
  /** Forwarded. */
  shrink(ptr: number, oldSize: number, newSize: number, align?: number): number {
    return this.data.shrink(ptr, oldSize, newSize, align);
  }
  /** Forwarded (the metadata mapping is the layouts' business). */
  reset(): void {
    this.data.reset();
  }
  /** Forwarded. */
  usableSize(ptr: number, size: number): number {
    return this.data.usableSize(ptr, size);
  }
  /** Forwarded. */
  capacityBytes(): number {
    return this.data.capacityBytes();
  }
  /** Forwarded. */
  corruptionEvents(): number {
    return this.data.corruptionEvents();
  }
  /** Forwarded. @throws `AllocError` when the data side is not `OsBacked`. */
  basePtr(): number {
    return this.os().basePtr();
  }
  /** Forwarded. */
  regionSize(): number {
    return this.os().regionSize();
  }
  /** Forwarded. */
  releasePages(ptr: number, size: number): void {
    this.os().releasePages(ptr, size);
  }
  /** Forwarded. */
  protect(ptr: number, size: number, flags: ProtectFlags): void {
    this.os().protect(ptr, size, flags);
  }
  /** Forwarded. @throws `AllocError` when the data side is not a `FixedRange`. */
  base(): number {
    return this.range().base();
  }
  /** Forwarded. */
  size(): number {
    return this.range().size();
  }
  /** Forwarded. */
  commit(ptr: number, length: number): boolean {
    return this.range().commit(ptr, length);
  }
  /** Forwarded. */
  contains(ptr: number): boolean {
    return this.range().contains(ptr);
  }
  /** Unmaps the metadata mapping. */
  dispose(): void {
    this.meta.dispose();
  }
  /** `using` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  private os(): OsBacked {
    const d = this.data as unknown as Partial<OsBacked>;
    if (typeof d.basePtr !== "function") throw new AllocError("SplitMetadata: the data side is not OsBacked");
    return this.data as unknown as OsBacked;
  }

  private range(): FixedRange {
    if (!isFixedRange(this.data)) throw new AllocError("SplitMetadata: the data side is not a FixedRange");
    return this.data;
  }
}
