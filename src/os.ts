/**
 * `forge-alloc/os`: the Node.js OS layer: real mappings (`MmapBacked`, `LockedMmapBacked`, `HugePageBacked`),
 * guard pages, split metadata, huge-page alignment and NUMA placement (`NumaLocal`), through forge-alloc's own
 * Node-API addon. Importing it works everywhere: where the addon (or Node.js) is not available, the pure parts
 * (`NodeSet`, `NumaPolicy`, `mbindArgs`, `parseNodeList`, `errnoName`, ...) still work, and constructing anything
 * that maps memory throws an `UnsupportedError` saying why and how to fix it ({@link nativeStatus} tells in
 * advance). The rest of forge-alloc never needs it.
 *
 * @packageDocumentation
 */
import { PAGE_SIZE, requireNative } from "./os/native.js";
import { GuardPage, LockedMmapBacked, MmapBacked, SplitMetadata, roundToPages } from "./os/index.js";
import { ZeroizeOnFree } from "./hardening/index.js";
import { Slab, type SlabOptions } from "./layout/index.js";
import { alignUp } from "./core/index.js";

export * from "./os/index.js";
export { type NativeStatus, nativeStatus } from "./os/native.js";

/** Options of {@link HardenedSlab}: a `Slab`'s, without `metadata` (it gets its own mapping). */
export type HardenedSlabOptions = Omit<SlabOptions, "metadata">;

/**
 * The Rust `HardenedSlab`: a `Slab` over `GuardPage<SplitMetadata<MmapBacked>>`: its blocks live in a mapping
 * with an inaccessible page before and after (an overflow off either end crashes at once), and its own state (the
 * free set) lives in a separate mapping, out of reach of any block overflow. `dispose()` unmaps both.
 *
 * Overhead: two guard pages, a metadata mapping of `8 * capacity` bytes (rounded to pages), one page of slack.
 *
 * @example
 * ```ts
 * using audit = new HardenedSlab({ blockSize: 128, capacity: 1024 });
 * const entry = audit.allocate(128);
 * ```
 */
export class HardenedSlab extends Slab implements Disposable {
  /** The data mapping (guards included). */
  readonly mapping: MmapBacked;
  /** The guard-page wrapper the slab allocates from. */
  readonly guarded: GuardPage<SplitMetadata<MmapBacked>>;
  /** The metadata split (its `meta` mapping holds the free set). */
  readonly split: SplitMetadata<MmapBacked>;

  /** @throws as `Slab`, `MmapBacked` and `GuardPage` (an `OsError` when the OS refuses). */
  constructor(options: HardenedSlabOptions) {
    requireNative("HardenedSlab");
    const align = options.align ?? 8;
    const stride = alignUp(options.blockSize, align);
    const interior = roundToPages(stride * options.capacity + align, PAGE_SIZE);
    const region = new MmapBacked(interior + 2 * PAGE_SIZE);
    let split: SplitMetadata<MmapBacked> | undefined;
    try {
      split = new SplitMetadata(region, {
        metaSize: roundToPages(
          (options.protection === undefined ? 8 : 12) * options.capacity + 64,
          PAGE_SIZE,
        ),
      });
      const guarded = new GuardPage(split);
      super(guarded, { ...options, metadata: split.meta });
      this.guarded = guarded;
    } catch (error) {
      split?.dispose();
      region.dispose();
      throw error;
    }
    this.mapping = region;
    this.split = split;
  }

  /** Unmaps the metadata and the data mappings; every view of them goes to length 0. */
  dispose(): void {
    this.split.dispose();
    this.mapping.dispose();
  }

  /** `using` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Options of {@link CryptoSlab}: a `Slab`'s, without `metadata`. */
export type CryptoSlabOptions = Omit<SlabOptions, "metadata">;

/**
 * The Rust `CryptoSlab`: `ZeroizeOnFree<Slab>` over `GuardPage<SplitMetadata<LockedMmapBacked>>`, for secrets:
 * the data pages are locked in RAM and excluded from core dumps (failing closed when the OS refuses the lock),
 * guarded by `PROT_NONE` pages at both ends, every freed block is zeroed (and the whole range on `reset()`), and
 * the slab's free set lives in a separate mapping. `dispose()` unlocks and unmaps everything.
 *
 * @example
 * ```ts
 * using keys = new CryptoSlab({ blockSize: 32, capacity: 256 }); // OsError (EPERM/ENOMEM) if mlock is refused
 * const k = keys.allocate(32);
 * keys.deallocate(k, 32); // zeroed before it is reusable
 * ```
 */
export class CryptoSlab extends ZeroizeOnFree<Slab> implements Disposable {
  /** The locked data mapping (guards included). */
  readonly mapping: LockedMmapBacked;
  /** The metadata split (its `meta` mapping holds the slab's free set). */
  readonly split: SplitMetadata<LockedMmapBacked>;

  /** @throws `OsError` when the pages cannot be locked (nothing stays mapped then), and as `Slab` and `GuardPage`. */
  constructor(options: CryptoSlabOptions) {
    requireNative("CryptoSlab");
    const align = options.align ?? 8;
    const stride = alignUp(options.blockSize, align);
    const interior = roundToPages(stride * options.capacity + align, PAGE_SIZE);
    const mapping = new LockedMmapBacked(interior + 2 * PAGE_SIZE);
    let split: SplitMetadata<LockedMmapBacked> | undefined;
    try {
      split = new SplitMetadata(mapping, {
        metaSize: roundToPages(
          (options.protection === undefined ? 8 : 12) * options.capacity + 64,
          PAGE_SIZE,
        ),
      });
      super(new Slab(new GuardPage(split), { ...options, metadata: split.meta }));
    } catch (error) {
      split?.dispose();
      mapping.dispose();
      throw error;
    }
    this.mapping = mapping;
    this.split = split;
  }

  /** Zeroes the whole data range, then unlocks and unmaps both mappings. */
  dispose(): void {
    if (this.mapping.disposed) return;
    this.reset();
    this.split.dispose();
    this.mapping.dispose();
  }

  /** `using` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
