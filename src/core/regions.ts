/**
 * Regions: what an allocator can say about the bytes it manages, for pictures and fragmentation reports
 * (`forge-alloc inspect`). Not a hot path: `regions()` builds a fresh array on every call, O(blocks).
 *
 * A layout that knows its blocks implements {@link HasRegions}; a wrapper passes its inner's regions on and marks
 * what it knows better (a `Quarantine` marks the blocks it holds, a `GuardPage` adds its guards).
 *
 * @module
 */

/**
 * What a region of memory is, from the allocator's point of view:
 * - `used`: a live block (for slabs: a whole slot, padding included);
 * - `free`: bytes the allocator may hand out;
 * - `quarantined`: freed by the caller but held back from reuse;
 * - `guard`: a page that traps on access;
 * - `metadata`: the allocator's own in-band bookkeeping (block headers).
 */
export type RegionKind = "used" | "free" | "quarantined" | "guard" | "metadata";

/** One contiguous run of bytes of one kind, `[offset, offset + size)`. */
export interface Region {
  /** The first byte. */
  readonly offset: number;
  /** Bytes in the run (positive). */
  readonly size: number;
  /** What the bytes are. */
  readonly kind: RegionKind;
}

/** An allocator that can list its regions. */
export interface HasRegions {
  /** The allocator's regions, sorted by offset and not overlapping. O(blocks); allocates. */
  regions(): Region[];
}

/** True when `x` implements {@link HasRegions}. */
export function hasRegions(x: unknown): x is HasRegions {
  return typeof (x as Partial<HasRegions> | null)?.regions === "function";
}

/**
 * Returns `regions` with each region that contains one of `ptrs` changed to `kind` (the others unchanged).
 * O((regions + ptrs) log regions).
 *
 * @internal
 */
export function markContaining(
  regions: readonly Region[],
  ptrs: readonly number[],
  kind: RegionKind,
): Region[] {
  const out = regions.slice();
  for (const p of ptrs) {
    let lo = 0;
    let hi = out.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = out[mid]!;
      if (p < r.offset) hi = mid - 1;
      else if (p >= r.offset + r.size) lo = mid + 1;
      else {
        out[mid] = { offset: r.offset, size: r.size, kind };
        break;
      }
    }
  }
  return out;
}

/**
 * Returns `base` with the ranges covered by `overlay` replaced by the overlay's regions (both sorted and
 * non-overlapping). Used where one allocator carves pieces out of another (slabs inside a heap).
 *
 * @internal
 */
export function overlayRegions(base: readonly Region[], overlay: readonly Region[]): Region[] {
  if (overlay.length === 0) return base.slice();
  const out: Region[] = [];
  let j = 0;
  for (const r of base) {
    let at = r.offset;
    const end = r.offset + r.size;
    while (j < overlay.length && overlay[j]!.offset + overlay[j]!.size <= at) j++;
    let k = j;
    while (k < overlay.length && overlay[k]!.offset < end) {
      const o = overlay[k]!;
      if (o.offset > at) out.push({ offset: at, size: o.offset - at, kind: r.kind });
      const oEnd = Math.min(o.offset + o.size, end);
      const from = Math.max(o.offset, at);
      if (oEnd > from) out.push({ offset: from, size: oEnd - from, kind: o.kind });
      at = Math.max(at, oEnd);
      if (o.offset + o.size > end) break;
      k++;
    }
    if (at < end) out.push({ offset: at, size: end - at, kind: r.kind });
  }
  return out;
}
