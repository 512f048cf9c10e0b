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
import { AllocError, type Allocator } from "../core/index.js";
import { OsRangeForwarder } from "./forwarding.js";
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
export class SplitMetadata<TData extends Allocator> extends OsRangeForwarder<TData> implements Disposable {
  /** The data side: every allocation goes here. */
  readonly data: TData;
  /** The metadata mapping: give it to a layout's `metadata` option. */
  readonly meta: MmapBacked;

  /** @throws `AllocError`/`OsError` when the metadata mapping cannot be made (including `metaSize` 0). */
  constructor(data: TData, options: SplitMetadataOptions) {
    if (typeof data?.allocate !== "function")
      throw new AllocError("SplitMetadata: the data side must be an Allocator");
    super("SplitMetadata", data, "the data side");
    this.data = data;
    this.meta = new MmapBacked(options?.metaSize);
  }

  /** Unmaps the metadata mapping. */
  dispose(): void {
    this.meta.dispose();
  }
  /** `using` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
