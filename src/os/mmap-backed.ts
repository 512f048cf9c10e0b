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
 * ```
 *
 * @module
 */
import { AllocError, MAX_MEMORY_BYTES, checkInteger } from "../core/index.js";
import { MappedBacking, roundToPages } from "./mapped-backing.js";
import { MAP_POPULATE, PAGE_SIZE, native, osError } from "./native.js";

/** Options of {@link MmapBacked}. */
export interface MmapOptions {
  /** Fault every page in at once (`MAP_POPULATE`), so first touches do not page-fault later. @defaultValue false */
  populate?: boolean;
  /** The mapping's address is a multiple of this (a power of two from the page size to 1 GiB). @defaultValue the page size */
  alignment?: number;
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

/** An anonymous OS mapping (see the module documentation). */
export class MmapBacked extends MappedBacking {
  /**
   * @param size - bytes to map (rounded up to whole pages), at least 32.
   * @throws `AllocError` for a bad size or option, `OsError` (with errno) when `mmap` fails.
   */
  constructor(size: number, options: MmapOptions = {}) {
    const bytes = checkInteger("MmapBacked", "size", size, 32, MAX_MEMORY_BYTES);
    const alignment = checkAlignment("MmapBacked", options.alignment);
    const length = roundToPages(bytes, PAGE_SIZE);
    super(
      "MmapBacked",
      mapOrThrow("MmapBacked", length, options.populate === true ? MAP_POPULATE : 0, 0, alignment),
    );
  }
}
