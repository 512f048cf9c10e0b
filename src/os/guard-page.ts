/**
 * `GuardPage`: makes the first and last page of an OS mapping inaccessible (`mprotect(PROT_NONE)`) and hands out
 * the pages between them with its own bump cursor. A linear overflow or underflow off the end of the interior
 * hits a guard page and the process dies with SIGSEGV at once, instead of silently corrupting a neighbour.
 *
 * ```text
 *  basePtr                                                        basePtr + regionSize
 *  | guard page (PROT_NONE) | interior: the FixedRange, bump-allocated | guard page (PROT_NONE) |
 * ```
 *
 * Its `memory` is the whole mapping, guards included; its `FixedRange` is the interior. It never calls the
 * inner's `allocate`. Construction fails (and leaves both pages accessible) when either `mprotect` fails.
 *
 * Complexity: two `mprotect` calls at construction; O(1) bump allocation. Overhead: two pages per region.
 * Composition limits: detection is a crash, not an exception, so `corruptionEvents()` is always 0; test it in a
 * child process. Put layouts over it (`new Slab(new GuardPage(region), ...)`); see `HardenedSlab`.
 *
 * @example
 * ```ts
 * const guarded = new GuardPage(new MmapBacked(1 << 20)); // 4 KiB guards around 1 MiB - 8 KiB
 * ```
 *
 * @module
 */
import {
  AllocError,
  type OsBacked,
  ProtectFlags,
  RangeBacking,
  type Region,
  checkCarvable,
} from "../core/index.js";
import { PAGE_SIZE, native } from "./native.js";

/** Options of {@link GuardPage}. */
export interface GuardPageOptions {
  /** The guard size: a power of two, a multiple of the system page size. @defaultValue the page size */
  pageSize?: number;
}

/**
 * Guard pages around an OS mapping's interior (see the module documentation).
 *
 * @typeParam TInner - the mapping (anything `OsBacked`).
 */
export class GuardPage<TInner extends OsBacked> extends RangeBacking {
  /** The wrapped mapping. */
  readonly inner: TInner;
  /** The size of each guard. */
  readonly pageSize: number;

  /**
   * @throws `AllocError` when the page size is not a power of two multiple of the system page, the region is not
   *   page-aligned or has no interior page; `OsError` when `mprotect` fails.
   */
  constructor(inner: TInner, options: GuardPageOptions = {}) {
    if (typeof inner?.protect !== "function" || typeof inner.regionSize !== "function") {
      throw new AllocError(
        "GuardPage: the inner allocator must be OsBacked (an OS mapping such as MmapBacked)",
      );
    }
    checkCarvable("GuardPage", inner);
    const page = options.pageSize ?? PAGE_SIZE;
    if (typeof page !== "number" || page < PAGE_SIZE || (page & (page - 1)) !== 0) {
      throw new AllocError(
        `GuardPage: pageSize ${String(page)} is not valid; expected a power of two of at least ${PAGE_SIZE}`,
      );
    }
    const base = inner.basePtr();
    const size = inner.regionSize();
    if (base % page !== 0 || size % page !== 0 || size < 3 * page) {
      throw new AllocError(
        `GuardPage: the region [${base}, ${base + size}) must be whole ${page}-byte pages, at least three ` +
          `(two guards and an interior)`,
      );
    }
    super("GuardPage", inner.memory, base + page, base + size - page);
    this.inner = inner;
    this.pageSize = page;
    inner.protect(base, page, ProtectFlags.NONE);
    try {
      inner.protect(base + size - page, page, ProtectFlags.NONE);
    } catch (error) {
      inner.protect(base, page, ProtectFlags.RW);
      throw error;
    }
  }

  /** As `RangeBacking.allocate`. @throws `AllocError` once the mapping under it was disposed. */
  override allocate(size: number, align = 8): number {
    this.checkLive();
    return super.allocate(size, align);
  }

  /** As `RangeBacking.commit`; `false` once the mapping under it was disposed. */
  override commit(ptr: number, length: number): boolean {
    return native.isMapping(this.memory.buffer as ArrayBuffer) && super.commit(ptr, length);
  }

  private checkLive(): void {
    if (!native.isMapping(this.memory.buffer as ArrayBuffer)) {
      throw new AllocError(
        "GuardPage: allocate used after dispose(); the mapping under it is disposed (expected a live mapping)",
      );
    }
  }

  /** The interior's regions (issued and free) between the two `guard` regions. O(1); allocates. */
  override regions(): Region[] {
    const [[a0, a1], [b0, b1]] = this.guards();
    return [
      { offset: a0, size: a1 - a0, kind: "guard" },
      ...super.regions(),
      { offset: b0, size: b1 - b0, kind: "guard" },
    ];
  }

  /** The two guarded ranges, `[start, end)` each: touching them crashes the process. */
  guards(): [[number, number], [number, number]] {
    const base = this.inner.basePtr();
    const end = base + this.inner.regionSize();
    return [
      [base, base + this.pageSize],
      [end - this.pageSize, end],
    ];
  }
}
