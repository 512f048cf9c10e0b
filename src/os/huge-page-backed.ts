/**
 * `HugePageBacked`: a mapping from the kernel's reserved huge-page pool (`MAP_HUGETLB`), so the region is backed
 * by 2 MiB (or 1 GiB) pages: fewer TLB misses for large, hot heaps.
 *
 * The pool must be reserved beforehand (`sysctl vm.nr_hugepages=N`, or
 * `/proc/sys/vm/nr_hugepages`); without it the constructor throws an `OsError` (`ENOMEM`) that says so and how
 * many pages are free. Pair it with `WithFallback` over an `MmapBacked` when the pool may be empty.
 *
 * Complexity: one `mmap`; allocation is a bump. Threads: one agent. Overhead: the size is rounded up to whole huge
 * pages, and reserved pages are not swappable.
 *
 * @example
 * ```ts
 * console.log(hugePagePool()); // { total, free, sizeBytes } of the reserved pool, or undefined
 * try {
 *   const heap = new HugePageBacked(64 << 20); // 32 huge pages of 2 MiB
 *   heap[Symbol.dispose]();
 * } catch (error) {
 *   // An OsError naming mmap and ENOMEM when no huge pages are reserved (`forge-alloc doctor` shows the pool)
 *   if (!(error instanceof OsError)) throw error;
 * }
 * ```
 *
 * @module
 */
import { AllocError, MAX_MEMORY_BYTES, checkInteger } from "../core/index.js";
import { defaultHugePageSize } from "./huge-page-aligned.js";
import { MappedBacking, roundToPages } from "./mapped-backing.js";
import { checkHugePageSize } from "./mmap-backed.js";
import { MAP_HUGETLB, native, osError, readTextFile } from "./native.js";

/** Options of {@link HugePageBacked}. */
export interface HugePageOptions {
  /** The huge page size: one the kernel offers (`hugePageSizes()`: 2 MiB, and 1 GiB where enabled, on x86-64). @defaultValue `defaultHugePageSize()` */
  hugePageSize?: number;
}

/** Reserved and free huge pages of the default size, from `/proc/meminfo` (`undefined` where unreadable). */
export function hugePagePool(): { total: number; free: number; sizeBytes: number } | undefined {
  const text = readTextFile("/proc/meminfo");
  if (text === undefined) return undefined;
  const read = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? NaN);
  const total = read("HugePages_Total");
  return Number.isNaN(total)
    ? undefined
    : { total, free: read("HugePages_Free"), sizeBytes: read("Hugepagesize") * 1024 };
}

/** A mapping of huge pages (see the module documentation). */
export class HugePageBacked extends MappedBacking {
  /** The huge page size in bytes. */
  readonly hugePageSize: number;

  /**
   * @param minSize - bytes wanted; rounded up to whole huge pages.
   * @throws `AllocError` for a bad size or page size; `OsError` when the pool cannot provide the pages.
   */
  constructor(minSize: number, options: HugePageOptions = {}) {
    const bytes = checkInteger("HugePageBacked", "minSize", minSize, 1, MAX_MEMORY_BYTES);
    const hp = checkHugePageSize("HugePageBacked", options.hugePageSize ?? defaultHugePageSize());
    const length = roundToPages(bytes, hp);
    if (length > MAX_MEMORY_BYTES)
      throw new AllocError(`HugePageBacked: ${length} bytes exceed MAX_MEMORY_BYTES`);
    const r = native.map(length, MAP_HUGETLB, 31 - Math.clz32(hp), 0);
    if (typeof r === "number") {
      const pool = hugePagePool();
      const pages = length / hp;
      throw osError(
        "mmap",
        -r,
        `HugePageBacked: the kernel could not provide ${pages} huge page(s) of ${hp} bytes` +
          (pool
            ? ` (vm.nr_hugepages reserves ${pool.total}, ${pool.free} free, of ${pool.sizeBytes} bytes)`
            : "") +
          `; reserve them first, e.g. \`sysctl vm.nr_hugepages=${pages}\` as root`,
      );
    }
    super("HugePageBacked", r);
    this.hugePageSize = hp;
  }
}
