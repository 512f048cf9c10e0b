/**
 * `forge-alloc/os`: the Node.js OS layer: real mappings (`MmapBacked`, `LockedMmapBacked`, `HugePageBacked`),
 * guard pages, split metadata, huge-page alignment and NUMA placement (`NumaLocal`), through forge-alloc's own
 * Node-API addon. Importing it works everywhere: where the addon (or Node.js) is not available, the pure parts
 * (`NodeSet`, `NumaPolicy`, `mbindArgs`, `parseNodeList`, `errnoName`, ...) still work, and constructing anything
 * that maps memory throws an `UnsupportedError` saying why and how to fix it ({@link nativeStatus} tells in
 * advance). The rest of forge-alloc never needs it.
 *
 * Every name is listed here by hand; `mapOrThrow`, `checkAlignment`, `checkHugePageSize` and `mbindOutcome` are
 * internal to `src/os/` (see the API report, `etc/forge-alloc.api.md`).
 *
 * @packageDocumentation
 */
import { PAGE_SIZE, requireNative } from "./os/native.js";
import { GuardPage, LockedMmapBacked, MmapBacked, SplitMetadata, roundToPages } from "./os/index.js";
import { ZeroizeOnFree } from "./hardening/index.js";
import { Slab, type SlabOptions } from "./layout/index.js";
import { AllocError, type OsBacked, alignUp } from "./core/index.js";

export { OsForwarder, OsRangeForwarder } from "./os/forwarding.js";
export { GuardPage, type GuardPageOptions } from "./os/guard-page.js";
export {
  HugePageAligned,
  type HugePageAlignedOptions,
  defaultHugePageSize,
  hugePageSizes,
} from "./os/huge-page-aligned.js";
export { HugePageBacked, type HugePageOptions, hugePagePool } from "./os/huge-page-backed.js";
export { LockedMmapBacked } from "./os/locked-mmap-backed.js";
export { MappedBacking, roundToPages } from "./os/mapped-backing.js";
export { MmapBacked, type MmapFlags, type MmapOptions } from "./os/mmap-backed.js";
export {
  type AppliedPolicy,
  MAX_NUMA_NODES,
  MPOL,
  MPOL_MF_MOVE,
  type MbindArgs,
  NodeSet,
  NumaLocal,
  type NumaLocalOptions,
  type NumaLocalStats,
  type NumaNodeInfo,
  NumaPolicy,
  currentNumaNode,
  mbindArgs,
  numaSupported,
  numaTopology,
  onlineNumaNodes,
  parseNodeList,
} from "./os/numa.js";
export {
  SHARED_HEADER_BYTES,
  type SharedMappingDescriptor,
  SharedMmapBacked,
  type SharedMmapAttachOptions,
  type SharedWaitResult,
} from "./os/shared-mmap-backed.js";
export {
  NumaPagePlacement,
  type NumaPagePlacementOptions,
  type NumaTopologyInfo,
  type WorkerPlacementPlan,
  nodeOfCpu,
  pinThread,
  planWorkerPlacement,
  threadAffinity,
} from "./os/numa-placement.js";
export { SplitMetadata, type SplitMetadataOptions } from "./os/split-metadata.js";
export {
  type NativeStatus,
  OsError,
  type OsErrorInfo,
  PAGE_SIZE,
  clearLastOsError,
  errnoName,
  lastOsError,
  nativeStatus,
} from "./os/native.js";

/**
 * Pushes the guarded interior's cursor so that a region of `bytes` (aligned to `align`) taken next ends exactly at
 * the back guard page: the end alignment of hardened allocators, so an overflow off the last block traps at once.
 */
function endAlign(guarded: GuardPage<SplitMetadata<OsBacked>>, bytes: number, align: number): void {
  const end = guarded.base() + guarded.size();
  const start = Math.floor((end - bytes) / align) * align;
  const pad = start - (guarded.base() + guarded.allocated());
  if (pad > 0 && guarded.allocate(pad, 1) === 0)
    throw new AllocError("HardenedSlab: the guarded interior cannot hold the slab's region");
}

/** The interior a slab of `bytes` aligned to `align` needs: whole pages, with room to align beyond a page. */
function interiorFor(bytes: number, align: number): number {
  return roundToPages(bytes + (align > PAGE_SIZE ? align : 0), PAGE_SIZE);
}

/** Options of {@link HardenedSlab}: a `Slab`'s, without `metadata` (it gets its own mapping). */
export type HardenedSlabOptions = Omit<SlabOptions, "metadata">;

/**
 * The Rust `HardenedSlab`: a `Slab` over `GuardPage<SplitMetadata<MmapBacked>>`: its blocks live in a mapping
 * with an inaccessible page before and after, and its own state (the free set) lives in a separate mapping, out of
 * reach of any block overflow. `dispose()` unmaps both.
 *
 * The blocks are end-aligned, as hardened allocators place them: the last block's usable end (`usableSize`, the
 * stride) is the first byte of the back guard page, so writing one byte past it crashes the process (SIGSEGV) at
 * once; the slack of the page rounding lies before the first block, where an underflow off the first block lands
 * (and runs on into the front guard). Between neighbours there is no guard: an overflow off any other block writes
 * into the next block, undetected (put a `Canary` outside to detect it on free), and never reaches the free set.
 *
 * Overhead: two guard pages, a metadata mapping of `8 * capacity` bytes (12 with a MAC; rounded to pages), less
 * than a page of slack before the first block.
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
    const interior = interiorFor(stride * options.capacity, align);
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
      endAlign(guarded, stride * options.capacity, align);
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
 * the slab's free set lives in a separate mapping. `dispose()` unlocks and unmaps everything. Blocks are
 * end-aligned as in `HardenedSlab`: one byte past the last block traps; an overflow between neighbours overwrites
 * the next key, undetected (no guard between blocks).
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
    const interior = interiorFor(stride * options.capacity, align);
    const mapping = new LockedMmapBacked(interior + 2 * PAGE_SIZE);
    let split: SplitMetadata<LockedMmapBacked> | undefined;
    try {
      split = new SplitMetadata(mapping, {
        metaSize: roundToPages(
          (options.protection === undefined ? 8 : 12) * options.capacity + 64,
          PAGE_SIZE,
        ),
      });
      const guarded = new GuardPage(split);
      endAlign(guarded, stride * options.capacity, align);
      super(new Slab(guarded, { ...options, metadata: split.meta }));
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
