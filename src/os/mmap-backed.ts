/**
 * `MmapBacked`: a private anonymous mapping from the OS (`mmap`), with a bump cursor. The OS hands out zeroed
 * pages lazily on first touch, so a large mapping costs nothing until it is used.
 *
 * Complexity: O(1) bump allocation; construction is one `mmap` (about 10-50 us); `dispose()` one native call (zero pages in place; unmapped once unreachable).
 * Threads: one agent. Overhead: none per block; the size is rounded up to whole pages.
 *
 * Composition limits: as every backing (a layout over it carves its whole range). The base of the mapping is
 * page-aligned (or `alignment`-aligned), so an offset's alignment is the real address's alignment up to that.
 *
 * @example
 * ```ts
 * using region = new MmapBacked(64 << 20);                 // 64 MiB, unmapped at the end of the block
 * const arena = new BumpArena(region);
 * const aligned = new MmapBacked(8 << 20, { alignment: 2 << 20, populate: true });
 * const sparse = MmapBacked.lazy(1 << 30); // MAP_NORESERVE: no swap reserved, pages committed on first touch
 * console.log(sparse.flags.lazy, defaultHugePageSize() >= 2 << 20); // true true
 * ```
 *
 * @module
 */
import { AllocError, MAX_MEMORY_BYTES, checkInteger } from "../core/index.js";
import { defaultHugePageSize, hugePageSizes } from "./huge-page-aligned.js";
import { MappedBacking, roundToPages } from "./mapped-backing.js";
import { MAP_HUGETLB, MAP_NORESERVE, MAP_POPULATE, PAGE_SIZE, native, osError } from "./native.js";

/** Options of {@link MmapBacked} (the Rust `MmapFlags`). */
export interface MmapOptions {
  /** Fault every page in at once (`MAP_POPULATE`), so first touches do not page-fault later. @defaultValue false */
  populate?: boolean;
  /** The mapping's address is a multiple of this (a power of two from the page size to 1 GiB). @defaultValue the page size */
  alignment?: number;
  /**
   * Reserve no swap space for the mapping (`MAP_NORESERVE`): pages are committed only when first touched, so a
   * large sparse region does not count against the overcommit limit (the Rust `new_lazy`; on Linux Rust's lazy
   * commit is a no-op, here it is real). Touching a page when memory is exhausted then raises SIGSEGV/SIGBUS
   * (or the OOM killer) instead of a refused `mmap`. Not with `populate`. @defaultValue false
   */
  lazy?: boolean;
  /**
   * Back the mapping with pages from the reserved huge-page pool (`MAP_HUGETLB`): `true` for
   * {@link defaultHugePageSize}, or a size the kernel offers ({@link hugePageSizes}). The size is rounded up to
   * whole huge pages; throws an `OsError` (`ENOMEM`) naming `vm.nr_hugepages` when the pool cannot provide them
   * (the Rust `with_huge_pages` only hints; here the request is real, pair it with `WithFallback` when the pool may
   * be empty). @defaultValue false
   */
  hugePages?: boolean | number;
}

/** Maps `length` bytes or throws an `OsError` naming `label`. @internal */
export function mapOrThrow(
  label: string,
  length: number,
  flags: number,
  hugeShift: number,
  alignment: number,
): ArrayBuffer {
  const alignShift = 31 - Math.clz32(alignment);
  const r = native.map(length, flags, hugeShift, alignShift);
  if (typeof r === "number") {
    throw osError("mmap", -r, `${label}: the OS refused to map ${length} bytes`);
  }
  return r;
}

/** Checks an alignment option (a power of two in `[page, 2^30]`). @internal */
export function checkAlignment(label: string, alignment: number | undefined): number {
  const a = alignment ?? PAGE_SIZE;
  if (typeof a !== "number" || a < PAGE_SIZE || a > 2 ** 30 || (a & (a - 1)) !== 0) {
    throw new AllocError(
      `${label}: alignment ${String(a)} is not valid; expected a power of two from ${PAGE_SIZE} to 2^30`,
    );
  }
  return a;
}

/** Checks a huge page size against what the kernel offers; returns it. @internal */
export function checkHugePageSize(label: string, hp: unknown): number {
  const offered = hugePageSizes();
  if (
    typeof hp !== "number" ||
    hp < 1 << 16 ||
    hp > 2 ** 30 ||
    (hp & (hp - 1)) !== 0 ||
    (offered.length > 0 && !offered.includes(hp))
  ) {
    throw new AllocError(
      `${label}: huge page size ${String(hp)} is not valid here; expected one the kernel offers ` +
        `(${offered.length > 0 ? offered.join(", ") : "a power of two from 64 KiB to 1 GiB"} bytes)`,
    );
  }
  return hp;
}

/** The flags a {@link MmapBacked} was mapped with. */
export interface MmapFlags {
  /** `MAP_POPULATE`. */
  readonly populate: boolean;
  /** `MAP_NORESERVE`. */
  readonly lazy: boolean;
  /** The huge page size of a `MAP_HUGETLB` mapping; 0 for ordinary pages. */
  readonly hugePageSize: number;
}

/** An anonymous OS mapping (see the module documentation). */
export class MmapBacked extends MappedBacking {
  /** What the mapping was made with. */
  readonly flags: MmapFlags;

  /**
   * @param size - bytes to map (rounded up to whole pages, or whole huge pages with `hugePages`), at least 32.
   * @throws `AllocError` for a bad size or option, `OsError` (with errno) when `mmap` fails.
   */
  constructor(size: number, options: MmapOptions = {}) {
    const bytes = checkInteger("MmapBacked", "size", size, 32, MAX_MEMORY_BYTES);
    const alignment = checkAlignment("MmapBacked", options.alignment);
    const populate = options.populate === true;
    const lazy = options.lazy === true;
    if (populate && lazy) {
      throw new AllocError(
        "MmapBacked: populate and lazy contradict each other; expected at most one of them",
      );
    }
    const hp =
      options.hugePages === undefined || options.hugePages === false
        ? 0
        : checkHugePageSize(
            "MmapBacked",
            options.hugePages === true ? defaultHugePageSize() : options.hugePages,
          );
    if (hp > 0 && alignment > hp) {
      throw new AllocError(
        `MmapBacked: alignment ${alignment} exceeds the huge page size ${hp}; a huge-page mapping is aligned to its page size`,
      );
    }
    const length = roundToPages(bytes, hp > 0 ? hp : PAGE_SIZE);
    if (length > MAX_MEMORY_BYTES) {
      throw new AllocError(`MmapBacked: ${length} bytes (whole huge pages) exceed MAX_MEMORY_BYTES`);
    }
    const flags = (populate ? MAP_POPULATE : 0) | (lazy ? MAP_NORESERVE : 0) | (hp > 0 ? MAP_HUGETLB : 0);
    let mapping: ArrayBuffer;
    if (hp > 0) {
      const r = native.map(length, flags, 31 - Math.clz32(hp), 0);
      if (typeof r === "number") {
        throw osError(
          "mmap",
          -r,
          `MmapBacked: the kernel could not provide ${length / hp} huge page(s) of ${hp} bytes; reserve them ` +
            `first (\`sysctl vm.nr_hugepages\`, or /sys/kernel/mm/hugepages/hugepages-${hp / 1024}kB/nr_hugepages)`,
        );
      }
      mapping = r;
    } else {
      mapping = mapOrThrow("MmapBacked", length, flags, 0, alignment);
    }
    super("MmapBacked", mapping);
    this.flags = Object.freeze({ populate, lazy, hugePageSize: hp });
  }

  /** A mapping that reserves no swap and commits pages on first touch (the Rust `MmapBacked::new_lazy`). */
  static lazy(size: number): MmapBacked {
    return new MmapBacked(size, { lazy: true });
  }

  /**
   * A mapping of huge pages from the reserved pool (the Rust `MmapBacked::with_huge_pages`, which only hints):
   * `hugePageSize` defaults to {@link defaultHugePageSize}.
   */
  static withHugePages(size: number, hugePageSize?: number): MmapBacked {
    return new MmapBacked(size, { hugePages: hugePageSize ?? true });
  }

  /** A mapping with explicit flags (the Rust `MmapBacked::with_flags`). */
  static withFlags(size: number, flags: MmapOptions): MmapBacked {
    return new MmapBacked(size, flags);
  }
}
