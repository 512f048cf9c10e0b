/**
 * `HugePageAligned`: aligns every block to a huge page (2 MiB by default) and asks the kernel to back the region
 * with transparent huge pages (`madvise(MADV_HUGEPAGE)`, which the Rust original lacks). For large, long-lived
 * blocks that are scanned often (tables, columns, arenas).
 *
 * The alignment is real: the inner mapping's address must itself be a multiple of the huge page size (map it with
 * `new MmapBacked(size, { alignment: 2 << 20 })`), which the constructor checks. Promotion to huge pages stays the
 * kernel's decision; `transparentHugePages` says whether the advice was accepted (it is refused when THP is
 * `never`).
 *
 * It forwards `FixedRange` (`commit` included) exactly when the inner is one, as the seed does, so provenance
 * routing (`WithFallback`) works over it; but a carving layout would carve the range directly and align nothing
 * (the Rust footgun), so it reports its work as done in `allocate` and `new BumpArena(new HugePageAligned(...))`
 * (or over any pass-through above it, such as `NumaLocal`) is refused at construction instead.
 *
 * Overhead: up to one huge page of padding per block. `releasePages` rounds inward to whole huge pages and does
 * nothing when none is left.
 *
 * @example
 * ```ts
 * const region = new MmapBacked(64 << 20, { alignment: 2 << 20 });
 * const big = new HugePageAligned(region);
 * const table = big.allocate(8 << 20); // 2 MiB-aligned address
 * ```
 *
 * @module
 */
import { AllocError, type OsBacked, isValidAlign, layoutError } from "../core/index.js";
import { OsRangeForwarder } from "./forwarding.js";
import { Advice, native } from "./native.js";

/** Options of {@link HugePageAligned}. */
export interface HugePageAlignedOptions {
  /** The huge page size: a power of two from 64 KiB to 2 MiB (`MAX_ALIGN`). @defaultValue 2 MiB */
  hugePageSize?: number;
}

/**
 * Huge-page alignment and THP advice over an OS mapping (see the module documentation).
 *
 * @typeParam TInner - the mapping.
 */
export class HugePageAligned<TInner extends OsBacked> extends OsRangeForwarder<TInner> {
  /** The wrapped mapping. */
  readonly inner: TInner;
  /** The alignment every block gets. */
  readonly hugePageSize: number;
  /** True when the kernel accepted `MADV_HUGEPAGE` for the whole huge pages of the region. */
  readonly transparentHugePages: boolean;

  /** @throws `AllocError` when the size is not valid or the mapping's address is not aligned to it. */
  constructor(inner: TInner, options: HugePageAlignedOptions = {}) {
    if (typeof inner?.basePtr !== "function") {
      throw new AllocError(
        "HugePageAligned: the inner allocator must be OsBacked (an OS mapping such as MmapBacked)",
      );
    }
    const hp = options.hugePageSize ?? 2 << 20;
    if (typeof hp !== "number" || hp < 1 << 16 || hp > 2 << 20 || (hp & (hp - 1)) !== 0) {
      throw new AllocError(
        `HugePageAligned: hugePageSize ${String(hp)} is not valid; expected a power of two from 64 KiB to 2 MiB`,
      );
    }
    const buffer = inner.memory.buffer as ArrayBuffer;
    if (native.baseAlignment(buffer) < hp || inner.basePtr() % hp !== 0) {
      throw new AllocError(
        `HugePageAligned: the mapping's address is not a multiple of ${hp}, so offsets cannot be huge-page ` +
          `aligned; map it with new MmapBacked(size, { alignment: ${hp} })`,
      );
    }
    super("HugePageAligned", inner, "the inner allocator", true);
    this.inner = inner;
    this.hugePageSize = hp;
    const whole = Math.floor(inner.regionSize() / hp) * hp;
    this.transparentHugePages =
      whole > 0 && native.advise(buffer, inner.basePtr(), whole, Advice.HUGEPAGE) === 0;
  }

  /** Allocates from the inner with the alignment raised to the huge page size. */
  override allocate(size: number, align = 8): number {
    return this.inner.allocate(size, this.raise(align, size));
  }
  /** As {@link HugePageAligned.allocate}, zeroed. */
  override allocateZeroed(size: number, align = 8): number {
    return this.inner.allocateZeroed(size, this.raise(align, size));
  }
  /** Forwarded with the raised alignment. */
  override deallocate(ptr: number, size: number, align = 8): void {
    this.inner.deallocate(ptr, size, this.raise(align, size));
  }
  /** Forwarded with the raised alignment. */
  override grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.inner.grow(ptr, oldSize, newSize, this.raise(align, oldSize));
  }
  /** Forwarded with the raised alignment. */
  override shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.inner.shrink(ptr, oldSize, newSize, this.raise(align, oldSize));
  }
  /** Releases only the whole huge pages inside `[ptr, ptr + size)`; nothing when none fits. */
  override releasePages(ptr: number, size: number): void {
    const hp = this.hugePageSize;
    const start = Math.ceil(ptr / hp) * hp;
    const end = Math.floor((ptr + size) / hp) * hp;
    if (end > start) this.inner.releasePages(start, end - start);
  }
  /** The alignment passed down: `max(align, hugePageSize)`, after checking `align` itself (I9). */
  private raise(align: number, size: number): number {
    if (!isValidAlign(align)) throw layoutError("HugePageAligned", isValidAlign(align) ? size : 1, align);
    return align > this.hugePageSize ? align : this.hugePageSize;
  }

  /** The smallest range `releasePages` acts on: one huge page. */
  minPurgeSize(): number {
    return this.hugePageSize;
  }
}
