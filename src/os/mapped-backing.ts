/**
 * `MappedBacking`: what every OS-mapped backing shares: a bump allocator over one real mapping, the `OsBacked`
 * calls with their range checks, and `dispose()`, which retires the mapping in one native call.
 *
 * The mapping is one `Memory` of kind `"os"`; offsets are offsets into the mapping (the region is
 * `[0, regionSize())`, and as in every memory the first 16 bytes are never handed out).
 *
 * Lifetime: `dispose()` replaces the contents with fresh zero pages in place, in one native call: the old bytes
 * are gone at once for every reader, native threads included (a pending `fs.write` or `zlib.deflate` reads zeros
 * from there on). Allocating then throws an `AllocError`, `commit` returns `false` and the `OsBacked` calls throw.
 * Views are deliberately not detached (Node's zlib aborts the process when a buffer it is reading is detached):
 * they keep their length and read zeros; writes through them land in the retired pages and nowhere else. The
 * address range stays reserved until the buffer object and everything sharing its memory (a buffer moved out with
 * `ArrayBuffer.prototype.transfer`, native I/O holding a view) are garbage-collected; only then is it unmapped.
 * So no reader ever faults on unmapped memory, and no new mapping can take the addresses while an old view can
 * reach them.
 *
 * @example
 * ```ts
 * using mapping: MappedBacking = new MmapBacked(1 << 16); // every OS backing is a MappedBacking
 * const p = mapping.allocate(64);
 * mapping.releasePages(mapping.basePtr(), 4096); // madvise(DONTNEED): the page reads as zeros again
 * console.log(mapping.regionSize(), p > 0, roundToPages(5000, 4096)); // 65536 true 8192
 * ```
 *
 * @module
 */
import {
  AllocError,
  InvalidPointerError,
  LayoutError,
  Memory,
  type OsBacked,
  ProtectFlags,
  RESERVED_LOW_BYTES,
  RangeBacking,
  describePointer,
} from "../core/index.js";
import { Advice, PAGE_SIZE, check, native } from "./native.js";

/** The base of the OS backings (see the module documentation). */
export class MappedBacking extends RangeBacking implements OsBacked, Disposable {
  /** The mapping itself (an external `ArrayBuffer`); all zeros once disposed. */
  protected readonly mapping: ArrayBuffer;
  /** Length of the mapping in bytes (a whole number of pages). */
  protected readonly length: number;
  /** `munlock` before retiring the mapping on dispose. */
  protected unlockOnUnmap: boolean;
  private live: boolean;

  /**
   * @internal Wraps a mapping made by `native.map` (or `mapShared`); the range starts at `base` (a header of the
   * mapping's own may sit below it).
   */
  constructor(label: string, mapping: ArrayBuffer, base: number = RESERVED_LOW_BYTES) {
    super(label, Memory.of(mapping, "os"), base, mapping.byteLength);
    this.mapping = mapping;
    this.length = mapping.byteLength;
    this.unlockOnUnmap = false;
    this.live = true;
  }

  /** The offset of the mapping in its memory: always 0 (the memory is the mapping). */
  basePtr(): number {
    return 0;
  }

  /** The length of the mapping in bytes. */
  regionSize(): number {
    return this.length;
  }

  /**
   * `madvise(MADV_DONTNEED)` over whole pages: the pages go back to the OS and read as zeros afterwards; the
   * mapping stays.
   *
   * @throws `LayoutError` when the range is not page-aligned, `InvalidPointerError` when it leaves the mapping,
   *   `OsError` when the kernel refuses.
   */
  releasePages(ptr: number, size: number): void {
    this.checkPages("releasePages", ptr, size);
    check(native.advise(this.mapping, ptr, size, Advice.DONTNEED), "madvise", `${this.label}.releasePages`);
  }

  /**
   * `mprotect` over whole pages. Touching a `ProtectFlags.NONE` page through any view kills the process with
   * SIGSEGV: it cannot be caught.
   *
   * @throws as {@link MappedBacking.releasePages}, and `LayoutError` for flags that are not `ProtectFlags`.
   */
  protect(ptr: number, size: number, flags: ProtectFlags): void {
    this.checkPages("protect", ptr, size);
    if (!Object.values(ProtectFlags).includes(flags)) {
      throw new LayoutError(`${this.label}.protect: flags ${String(flags)} are not one of ProtectFlags`);
    }
    check(native.protect(this.mapping, ptr, size, flags), "mprotect", `${this.label}.protect`);
  }

  /** True once {@link MappedBacking.dispose} has retired the region. */
  get disposed(): boolean {
    return !this.live;
  }

  /**
   * Retires the region in one native call: its pages are replaced with zero pages (the contents are gone at once,
   * views read zeros); the address range is unmapped once nothing can reach it (see the module documentation).
   * Idempotent. Afterwards allocating throws an `AllocError`, `commit` returns `false`, and blocks allocated before
   * must not be used (they read zeros, and what is written there is discarded).
   */
  dispose(): void {
    if (!this.live) return;
    this.live = false;
    this.committed = 0;
    this.memory.retire();
    check(native.unmap(this.mapping, this.unlockOnUnmap), "mmap", `${this.label}.dispose`);
  }

  /** As `RangeBacking.commit`; always `false` once disposed (nothing may be written there any more). */
  override commit(ptr: number, length: number): boolean {
    return this.live && super.commit(ptr, length);
  }

  /** `using` support: {@link MappedBacking.dispose}. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** After dispose, every allocation lands here: refuse loudly rather than return `NULL`. */
  protected override commitTo(end: number): boolean {
    if (!this.live) {
      throw new AllocError(
        `${this.label}: allocate used after dispose(); the mapping is disposed (expected a live mapping)`,
      );
    }
    return super.commitTo(end);
  }

  /** Checks that `[ptr, ptr + size)` is whole pages inside the mapping. */
  protected checkPages(what: string, ptr: number, size: number): void {
    if (
      (ptr | 0) !== ptr ||
      (size | 0) !== size ||
      size <= 0 ||
      ptr % PAGE_SIZE !== 0 ||
      size % PAGE_SIZE !== 0
    ) {
      throw new LayoutError(
        `${this.label}.${what}: [${describePointer(ptr)}, +${String(size)}) is not whole pages; expected an offset and a ` +
          `positive size that are multiples of the page size ${PAGE_SIZE}`,
      );
    }
    if (ptr < 0 || ptr + size > this.length) {
      throw new InvalidPointerError(
        ptr,
        `${this.label}.${what}: [${ptr}, ${ptr + size}) leaves the mapping [0, ${this.length})`,
      );
    }
    if (!this.live) throw new AllocError(`${this.label}.${what}: used after dispose(); the mapping is gone`);
  }
}

/** Rounds `bytes` up to whole pages of `page` bytes (a power of two). */
export function roundToPages(bytes: number, page: number): number {
  return Math.ceil(bytes / page) * page;
}
