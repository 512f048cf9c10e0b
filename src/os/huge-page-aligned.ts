/**
 * `HugePageAligned`: aligns every block to a huge page (the kernel's default size, 2 MiB on x86-64; up to 1 GiB)
 * and asks the kernel to back the region
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
 * console.log(hugePageSizes().includes(defaultHugePageSize())); // true: the sizes MAP_HUGETLB can use here
 * ```
 *
 * @module
 */
import {
  AllocError,
  InvalidPointerError,
  LayoutError,
  MAX_ALIGN,
  NULL,
  type OsBacked,
  describePointer,
  isValidAlign,
  isValidSize,
  layoutError,
} from "../core/index.js";
import { OsRangeForwarder } from "./forwarding.js";
import { Advice, listFolder, native, readTextFile } from "./native.js";

/**
 * The kernel's default huge page size: `Hugepagesize` of `/proc/meminfo` (2 MiB on x86-64, often 512 MiB or 2 MiB
 * on arm64 depending on the base page), as the Rust `default_huge_page_size()`; where the OS does not say, 2 MiB
 * (32 MiB on Apple Silicon macOS, as in Rust).
 */
export function defaultHugePageSize(): number {
  const meminfo = readTextFile("/proc/meminfo");
  if (meminfo !== undefined) {
    const kb = Number(/^Hugepagesize:\s+(\d+)\s*kB/m.exec(meminfo)?.[1] ?? NaN);
    if (kb > 0) return kb * 1024;
  }
  const host = (globalThis as { process?: { platform?: string; arch?: string } }).process;
  return host?.platform === "darwin" && host.arch === "arm64" ? 32 << 20 : 2 << 20;
}

/**
 * The huge page sizes this kernel offers for `MAP_HUGETLB`, ascending, from `/sys/kernel/mm/hugepages`
 * (`[2 MiB, 1 GiB]` on x86-64 with 1 GiB pages enabled); `[]` where the OS does not say.
 */
export function hugePageSizes(): number[] {
  const names = listFolder("/sys/kernel/mm/hugepages");
  if (names === undefined) return [];
  return names
    .map((n) => Number(/^hugepages-(\d+)kB$/.exec(n)?.[1] ?? NaN) * 1024)
    .filter((n) => n > 0)
    .sort((a, b) => a - b);
}

/** Options of {@link HugePageAligned}. */
export interface HugePageAlignedOptions {
  /**
   * The huge page size: a power of two from 64 KiB to 1 GiB. Above 2 MiB (`MAX_ALIGN`, the largest alignment a
   * layout accepts) the wrapper places each block itself: it asks the inner for `size + hugePageSize - 2 MiB`
   * bytes and hands out the aligned part (the padding is address space, never touched).
   * @defaultValue {@link defaultHugePageSize} (2 MiB on x86-64)
   */
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
    const hp = options.hugePageSize ?? Math.min(defaultHugePageSize(), 2 ** 30);
    if (typeof hp !== "number" || hp < 1 << 16 || hp > 2 ** 30 || (hp & (hp - 1)) !== 0) {
      throw new AllocError(
        `HugePageAligned: hugePageSize ${String(hp)} is not valid; expected a power of two from 64 KiB to 1 GiB`,
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
    if (this.hugePageSize > MAX_ALIGN) return this.placeLarge(size, align, false);
    return this.inner.allocate(size, this.raise(align, size));
  }
  /** As {@link HugePageAligned.allocate}, zeroed. */
  override allocateZeroed(size: number, align = 8): number {
    if (this.hugePageSize > MAX_ALIGN) return this.placeLarge(size, align, true);
    return this.inner.allocateZeroed(size, this.raise(align, size));
  }
  /** Forwarded with the raised alignment. */
  override deallocate(ptr: number, size: number, align = 8): void {
    if (this.hugePageSize > MAX_ALIGN) {
      const b = this.largeBlock("deallocate", ptr, size, align);
      this.inner.deallocate(b.innerPtr, b.innerSize, MAX_ALIGN);
      this.large.delete(ptr);
      return;
    }
    this.inner.deallocate(ptr, size, this.raise(align, size));
  }
  /** Forwarded with the raised alignment (above 2 MiB pages: a new block, the bytes copied, the old one freed). */
  override grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    if (this.hugePageSize > MAX_ALIGN) return this.moveLarge("grow", ptr, oldSize, newSize, align);
    return this.inner.grow(ptr, oldSize, newSize, this.raise(align, oldSize));
  }
  /** Forwarded with the raised alignment (above 2 MiB pages: as `grow`). */
  override shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    if (this.hugePageSize > MAX_ALIGN) return this.moveLarge("shrink", ptr, oldSize, newSize, align);
    return this.inner.shrink(ptr, oldSize, newSize, this.raise(align, oldSize));
  }
  /** Forwarded (above 2 MiB pages: the bytes from `ptr` to the end of the inner's block). */
  override usableSize(ptr: number, size: number): number {
    if (this.hugePageSize > MAX_ALIGN) {
      const b = this.largeBlock("usableSize", ptr, size, 8);
      return b.innerPtr + this.inner.usableSize(b.innerPtr, b.innerSize) - ptr;
    }
    return this.inner.usableSize(ptr, size);
  }
  /** Forwarded; forgets the blocks placed above 2 MiB pages. */
  override reset(): void {
    this.inner.reset();
    this.large.clear();
  }

  /** Blocks placed by this wrapper (huge pages above 2 MiB): aligned offset -> the inner's block. */
  private readonly large = new Map<number, { innerPtr: number; innerSize: number; size: number }>();

  private placeLarge(size: number, align: number, zeroed: boolean): number {
    if (!isValidSize(size) || !isValidAlign(align))
      throw layoutError("HugePageAligned.allocate", size, align);
    const hp = this.hugePageSize;
    const innerSize = size + hp - MAX_ALIGN;
    if (!isValidSize(innerSize)) return NULL; // larger than any memory: it cannot fit
    const p = zeroed
      ? this.inner.allocateZeroed(innerSize, MAX_ALIGN)
      : this.inner.allocate(innerSize, MAX_ALIGN);
    if (p === NULL) return NULL;
    const aligned = Math.ceil(p / hp) * hp;
    this.large.set(aligned, { innerPtr: p, innerSize, size });
    return aligned;
  }

  private largeBlock(what: string, ptr: number, size: number, align: number) {
    if (!isValidSize(size) || !isValidAlign(align)) throw layoutError(`HugePageAligned.${what}`, size, align);
    const b = this.large.get(ptr);
    if (b === undefined) {
      throw new InvalidPointerError(
        ptr,
        `HugePageAligned.${what}: ${describePointer(ptr)} is not a live block of this wrapper`,
      );
    }
    if (b.size !== size) {
      throw new LayoutError(
        `HugePageAligned.${what}: size ${size} is not the size of the block at ${ptr}; expected ${b.size}`,
      );
    }
    return b;
  }

  private moveLarge(what: string, ptr: number, oldSize: number, newSize: number, align: number): number {
    this.largeBlock(what, ptr, oldSize, align);
    if (!isValidSize(newSize) || (what === "grow" ? newSize < oldSize : newSize > oldSize)) {
      throw layoutError(`HugePageAligned.${what}`, newSize, align);
    }
    const q = this.placeLarge(newSize, align, false);
    if (q === NULL) return NULL;
    this.memory.u8.copyWithin(q, ptr, ptr + Math.min(oldSize, newSize));
    this.deallocate(ptr, oldSize, align);
    return q;
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
