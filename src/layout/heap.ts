/**
 * `Heap`: `malloc` / `calloc` / `realloc` / `free` for application code, over one memory. Small blocks (up to 16 KiB)
 * live in pages of one size class each, carved from a `Tlsf`; larger blocks are `Tlsf` blocks. Out of memory throws
 * `AllocError` here (this is the high-level face; its `allocate` still returns `NULL`). Typed helpers return a view
 * of exactly the allocation, and `free` takes a pointer or such a view.
 *
 * ```text
 *  memory:  | hdr | page: slot slot slot ... | hdr | large block ... | hdr | page: slot slot ... | ... (the Tlsf)
 *  engine:  state byte per 16 B (1 = live slot start), page map per 4 KiB, page records and free-slot stacks:
 *           all out of band, so no word a program can overwrite steers a small allocation or free
 * ```
 * (the page engine's module documentation, `page-engine.ts`, has the full diagram and the algebra).
 *
 * Complexity: O(1) for every call (a page is chosen among at most 8 partial ones). Threads: one agent (see
 * `ConcurrentHeap` for workers). Overhead: a small block rounds up to its class (16 .. 16 KiB, four classes per
 * power of two, at most 25%); a page costs its `Tlsf` header and up to 8 bytes of alignment; a large block an 8-byte
 * header. Memory held beyond the live blocks: the free slots of partly used pages, the current page of each class,
 * and empty pages kept for their classes (all of them within 1/32 of the pages' bytes, or one page; every other
 * empty page goes back to the `Tlsf` at once, and kept ones before a request would fail). Out of band: about 1/16 of
 * the heap span plus 4 bytes per slot.
 *
 * Invariants (checked by `validate()`): every live small block is a slot whose state byte is 1 and every other
 * granule's is 0; per page, live slots + free slots = capacity; pages are live `Tlsf` blocks that only the heap can
 * free (a page's `Tlsf` block passed to `free` is refused); the `Tlsf`'s own invariants.
 *
 * Composition limits: hardening wrappers go outside. A `Heap` needs a `FixedRange` backing (it formats the range).
 *
 * @example
 * ```ts
 * const heap = new Heap(new SharedArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 26 }));
 * const xs = heap.allocArray(Float64Array, 1000);
 * heap.free(xs);
 * const p = heap.malloc(100); const q = heap.realloc(p, 400); heap.free(q);
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  CorruptionError,
  type FixedRange,
  InvalidPointerError,
  LayoutError,
  NULL,
  type Region,
  type TypedArray,
  type TypedArrayConstructor,
  checkResize,
  describePointer,
  isFixedRange,
  isInt32,
  isValidLayout,
  isValidSize,
  layoutError,
  overlayRegions,
  zeroBlock,
} from "../core/index.js";
import {
  HEAP_CLASSES,
  MAX_PAGES,
  MAX_SMALL,
  PageEngine,
  type PageStats,
  RECORD,
  classOf,
} from "./page-engine.js";
import { Tlsf, type TlsfStats } from "./tlsf.js";
import { allocArray, allocDataView, allocUtf8 } from "./typed.js";

const { BLK, BLK_BYTES, START, ID, SENTINEL } = RECORD;
/** log2 of the page map's unit. Pages are larger than a unit, so at most two meet in one. */
const UNIT = 12;
/**
 * Slots per page of each class: at least 16 and 16 KiB up to 4 KiB classes, 64 KiB pages above. Larger pages mean
 * fewer refills (measured on the random-size workload: 8 KiB pages of at least 8 slots took the slow path on 23% of
 * allocations and ran 27 ns per step; these run 18 ns) for a little more memory parked in partial pages.
 */
const CLASS_SLOTS: Int32Array = Int32Array.from(HEAP_CLASSES, (c) =>
  c <= 4096 ? Math.max(16, Math.ceil(16384 / c)) : Math.max(4, Math.floor(65536 / c)),
);

/** Options of {@link Heap}. None yet: the classes and page sizes are fixed (see the module documentation). */
export type HeapOptions = Record<string, never>;

/** What {@link Heap.stats} reports: the `Tlsf`'s walk (pages and large blocks are its used blocks) and the pages'. */
export type HeapStats = TlsfStats & PageStats;

/**
 * A `malloc`-style heap (see the module documentation). `allocate`, `free`, `deallocate` and the other fast paths
 * come from the page engine it extends.
 */
export class Heap extends PageEngine implements Allocator {
  /** The general allocator that holds the pages and the large blocks. */
  readonly tlsf: Tlsf;
  /** Two page records per 4 KiB unit of the heap: the (at most two) pages whose Tlsf blocks meet it. */
  private map: Int32Array;
  /** The next page id never given out (ids stay with their records). */
  private nextId: number;

  /** @throws `AllocError` when `backing` is not a `FixedRange` or is too small. */
  constructor(backing: FixedRange, options: HeapOptions = {}) {
    if (!isFixedRange(backing))
      throw new AllocError("Heap: the backing must be a FixedRange (a backing or a range)");
    if (typeof options !== "object" || options === null)
      throw new AllocError(`Heap: options must be an object, got ${String(options)}`);
    const tlsf = new Tlsf(backing);
    super(tlsf.memory, tlsf.base(), "Heap", CLASS_SLOTS);
    this.tlsf = tlsf;
    this.keepShare = 5; // kept empty pages: at most 1/32 of the pages' bytes (or one page)
    this.map = new Int32Array(0);
    this.nextId = 1;
    this.cover(tlsf.base() + tlsf.stats().heapBytes);
    this.memory.watchRetire(this);
  }

  /**
   * `size` bytes, 16-aligned for small blocks and 8-aligned for large ones.
   *
   * @throws `AllocError` when out of memory; `LayoutError` for a bad size.
   */
  malloc(size: number): number {
    if (!isValidSize(size)) throw layoutError("Heap.malloc", size, 8);
    const p = this.allocRaw(size, 8);
    if (p === NULL) throw this.oom("malloc", size);
    return p;
  }

  /**
   * `count * size` zeroed bytes.
   *
   * @throws `AllocError` when out of memory; `LayoutError` for a bad count or size, or a product above `MAX_SIZE`.
   */
  calloc(count: number, size: number): number {
    const total = count * size;
    if (!isValidSize(count) || !isValidSize(size) || !isValidSize(total)) {
      throw new LayoutError(
        `Heap.calloc: ${describePointer(count)} x ${describePointer(size)} bytes is not a valid request; expected positive integers whose product is at most 2^30`,
      );
    }
    const p = this.allocRaw(total, 8);
    if (p === NULL) throw this.oom("calloc", total);
    zeroBlock(this.memory, p, total);
    return p;
  }

  /**
   * Resizes a block (`realloc(NULL, n)` is `malloc(n)`): in place when its class or its neighbour allows it, else by
   * moving it. The old pointer is invalid afterwards unless it was returned.
   *
   * @throws `AllocError` when out of memory (the old block is then intact); `InvalidPointerError` for a bad pointer;
   *   `LayoutError` for a bad size. Nothing changes when it throws.
   */
  realloc(ptr: number, size: number): number {
    if (ptr === NULL) return this.malloc(size);
    if (!isValidSize(size)) throw layoutError("Heap.realloc", size, 8);
    const cls = this.slotSize(ptr);
    if (cls === 0) {
      if (this.sizeOf(ptr) < 0) throw this.notLive("realloc", ptr);
      // in place when it shrinks or the neighbour allows; NULL leaves it intact
      let q = this.tlsf.realloc(ptr, size);
      if (q === NULL && this.releaseKept()) q = this.tlsf.realloc(ptr, size);
      if (q === NULL) throw this.oom("realloc", size);
      return q;
    }
    if (size <= cls) return ptr;
    // A larger class (or, above 16 KiB, a Tlsf block): a page allocation and free cost a fraction of the Tlsf's, and
    // a growing block (a vector or a string buffer doubling) rarely finds a free neighbour to grow into in a busy
    // heap anyway (measured on the recorded traces: lua5.4 and sqlite3 grow 12,000 small blocks per run).
    const q = this.allocRaw(size, 8);
    if (q === NULL) throw this.oom("realloc", size);
    if (cls <= 48) {
      // A few words: copyWithin is a call into the runtime that costs several times this loop (measured: about
      // 60 ns against 20 for 16 bytes); both slots are 16-aligned and the class a multiple of 16.
      const i32 = this.memory.i32;
      for (let i = ptr >>> 2, j = q >>> 2, end = (ptr + cls) >>> 2; i < end; i++, j++) i32[j] = i32[i]!;
    } else this.memory.u8.copyWithin(q, ptr, ptr + cls);
    this.free(ptr);
    return q;
  }

  /** `length` elements of `ctor`, as a view of exactly them. @throws `AllocError` when out of memory. */
  allocArray<T extends TypedArray>(ctor: TypedArrayConstructor<T>, length: number): T {
    return allocArray(this, "Heap.allocArray", ctor, length);
  }

  /** `size` bytes as a `Uint8Array`. @throws `AllocError` when out of memory. */
  allocBytes(size: number): Uint8Array {
    return allocArray(this, "Heap.allocBytes", Uint8Array, size);
  }

  /** A `DataView` of `size` bytes. @throws `AllocError` when out of memory. */
  allocDataView(size: number, align = 8): DataView {
    return allocDataView(this, "Heap.allocDataView", size, align);
  }

  /** `text` as UTF-8 bytes. @throws `AllocError` when out of memory. */
  allocUtf8(text: string): Uint8Array {
    return allocUtf8(this, "Heap.allocUtf8", text);
  }

  /** As `allocate`, zeroed (I6). */
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /** Grows a block (I5): in place when it fits its class or its neighbour, else by moving it. `NULL` leaves it intact. */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("Heap.grow", oldSize, newSize, align, true);
    return this.resize("grow", ptr, oldSize, newSize, align);
  }

  /** Shrinks a block (I5): in place. */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("Heap.shrink", oldSize, newSize, align, false);
    return this.resize("shrink", ptr, oldSize, newSize, align);
  }

  /** Frees everything (I7): the pages are forgotten and the `Tlsf` is formatted again. */
  reset(): void {
    this.clearPages();
    this.map.fill(SENTINEL);
    this.nextId = 1;
    this.tlsf.reset();
  }

  /** The block's usable size: its class, or a large block's payload (I8). */
  usableSize(ptr: number, size: number): number {
    if (!isValidLayout(size, 1)) throw layoutError("Heap.usableSize", size, 1);
    const usable = this.sizeOf(ptr);
    if (usable < 0) throw this.notLive("usableSize", ptr);
    if (size > usable)
      throw new LayoutError(
        `Heap.usableSize: block ${describePointer(ptr)} holds ${usable} bytes, not ${size}`,
      );
    return usable;
  }

  /** The heap's range (it can grow to it). */
  capacityBytes(): number {
    return this.tlsf.capacityBytes();
  }

  /** Corruptions detected (headers of large blocks and pages found overwritten). */
  corruptionEvents(): number {
    return this.tlsf.corruptionEvents() + this.corruptions;
  }

  /** The `Tlsf`'s blocks, with every page shown slot by slot. O(blocks + slots). */
  regions(): Region[] {
    return overlayRegions(this.tlsf.regions(), this.pageSlotRegions());
  }

  /** The `Tlsf`'s statistics (pages count as its used blocks) and the pages'. O(blocks + pages). */
  stats(): HeapStats {
    return { ...this.tlsf.stats(), ...this.pageStats() };
  }

  /** Checks every invariant of the module documentation; throws an `Error` naming the first one broken. O(heap). */
  validate(): void {
    const fail = (what: string): never => {
      throw new Error(`Heap.validate: ${what}`);
    };
    this.tlsf.validate();
    let liveStates = 0;
    for (let g = 0; g < this.owners.length; g++) if (this.owners[g] !== 0) liveStates++;
    let liveSlots = 0;
    const meta = this.meta;
    const held = new Set<number>();
    this.validatePages(
      (r) => {
        const blk = meta[r + BLK]!;
        const blkBytes = meta[r + BLK_BYTES]!;
        if (this.tlsf.sizeOf(blk) !== blkBytes) fail(`page ${r}: its Tlsf block ${blk} is not live`);
        if (meta[r + START] !== ((blk + 15) & ~15)) fail(`page ${r}: its slots do not start at its block`);
        for (let u = (blk - this.base) >>> UNIT; u <= (blk + blkBytes - 1 - this.base) >>> UNIT; u++)
          if (this.map[2 * u] !== r && this.map[2 * u + 1] !== r)
            fail(`page ${r} is missing from the map at unit ${u}`);
        liveSlots += meta[r + RECORD.CAP]! - meta[r + RECORD.TOP]!;
        held.add(r);
      },
      () => 0,
    );
    if (liveStates !== liveSlots)
      fail(`${liveStates} live granules in owners, ${liveSlots} live slots in pages`);
    // and the other way: the map names only pages held, at units their blocks meet (a stale entry would take the
    // place of a page that meets the unit later)
    for (let i = 0; i < this.map.length; i++) {
      const r = this.map[i]!;
      if (r === SENTINEL) continue;
      const u = i >>> 1;
      const from = this.base + u * (1 << UNIT);
      if (
        !held.has(r) ||
        meta[r + BLK]! >= from + (1 << UNIT) ||
        meta[r + BLK]! + meta[r + BLK_BYTES]! <= from
      )
        fail(`the map names page ${r} at unit ${u}, which no block of a held page meets`);
    }
  }

  /**
   * The raw protocol: the usable size of the live block `ptr` (its class, or the large block's payload), or -1.
   * @throws `CorruptionError` (counted) when a large block's header was overwritten.
   * @internal
   */
  sizeOf(ptr: unknown): number {
    const p = ptr as number;
    const cls = this.slotSize(p);
    if (cls !== 0) return cls;
    if (this.isPageBlock(p)) return -1;
    return this.tlsf.sizeOf(p);
  }

  /** The raw protocol: frees a block `sizeOf` just reported live. @internal */
  freeRaw(ptr: number): void {
    this.free(ptr);
  }

  // ---- the engine's hooks: pages are Tlsf blocks ----

  protected allocateSlow(size: number, align: number): number {
    if (this.memory.retired) {
      throw new AllocError(
        "Heap.allocate: its memory was disposed (the OS mapping is gone); nothing can be allocated from it any more",
      );
    }
    if (size <= MAX_SMALL && align <= 16) return this.refill(classOf(size));
    const p = this.tlsf.allocRaw(size, align);
    // the memory of kept empty pages goes back before a request fails
    return p === NULL && this.releaseKept() ? this.tlsf.allocRaw(size, align) : p;
  }

  protected deallocateSlow(ptr: number, size: number, align: number): void {
    const usable = this.largeSize("deallocate", ptr);
    if (size > usable || (ptr & (align - 1)) !== 0)
      throw this.wrongLayout("deallocate", ptr, usable, size, align);
    this.tlsf.freeRaw(ptr);
  }

  protected freeSlow(block: unknown, what: string): void {
    let ptr = block;
    if (typeof block === "object" && block !== null && ArrayBuffer.isView(block)) {
      if (block.buffer !== this.memory.buffer)
        throw new InvalidPointerError(block, `Heap.${what}: the view is not over this heap's memory`);
      ptr = block.byteOffset;
      if (this.slotSize(block.byteOffset) !== 0) {
        this.free(block.byteOffset);
        return;
      }
    }
    this.largeSize(what, ptr);
    this.tlsf.freeRaw(ptr as number);
  }

  /** No room for a whole page: the block itself may still fit, as a Tlsf block (the frees find it there). */
  protected override pageMiss(k: number): number {
    return this.tlsf.allocRaw(HEAP_CLASSES[k]!, 16);
  }

  protected carvePage(r: number, bytes: number): boolean {
    const meta = this.meta;
    if (meta[r + ID] === 0) {
      if (this.nextId > MAX_PAGES) return false; // every page id is taken: small blocks become Tlsf blocks
      this.bindId(r, this.nextId++);
    }
    const blk = this.tlsf.allocRaw(bytes + 8, 8); // 8 spare bytes: the slots start 16-aligned
    if (blk === NULL) return false;
    const blkBytes = this.tlsf.sizeOf(blk);
    this.cover(blk + blkBytes);
    meta[r + START] = (blk + 15) & ~15;
    meta[r + BLK] = blk;
    meta[r + BLK_BYTES] = blkBytes;
    const map = this.map;
    for (
      let u = (blk - this.base) >>> UNIT, last = (blk + blkBytes - 1 - this.base) >>> UNIT;
      u <= last;
      u++
    ) {
      if (map[2 * u] === SENTINEL) map[2 * u] = r;
      else map[2 * u + 1] = r;
    }
    return true;
  }

  protected returnPage(r: number): void {
    const meta = this.meta;
    const map = this.map;
    const blk = meta[r + BLK]!;
    if (this.tlsf.sizeOf(blk) !== meta[r + BLK_BYTES]) {
      // The page's Tlsf header no longer says what the engine carved: keep the page (its slots stay free and
      // usable), hand nothing back, and say so.
      this.corruptions++;
      throw new CorruptionError(
        `Heap.free: the Tlsf header of page ${describePointer(blk)} was overwritten (an overflow of the block before it); the page is kept`,
      );
    }
    const last = (blk + meta[r + BLK_BYTES]! - 1 - this.base) >>> UNIT;
    for (let u = (blk - this.base) >>> UNIT; u <= last; u++) {
      if (map[2 * u] === r) {
        map[2 * u] = map[2 * u + 1]!;
        map[2 * u + 1] = SENTINEL;
      } else if (map[2 * u + 1] === r) map[2 * u + 1] = SENTINEL;
    }
    this.tlsf.freeRaw(blk);
  }

  /** True when `ptr` is the Tlsf block of a page (which only the engine may free). */
  private isPageBlock(ptr: number): boolean {
    if (!isInt32(ptr)) return false;
    const rel = ptr - this.base;
    if (rel >>> 0 >= this.span) return false;
    const u = (rel >>> UNIT) << 1;
    return this.meta[this.map[u]! + BLK] === ptr || this.meta[this.map[u + 1]! + BLK] === ptr;
  }

  /** The payload of the live large block `ptr`; throws for anything else. */
  private largeSize(what: string, ptr: unknown): number {
    if (this.isPageBlock(ptr as number)) throw this.notLive(what, ptr);
    const usable = this.tlsf.sizeOf(ptr);
    if (usable < 0) throw this.notLive(what, ptr);
    return usable;
  }

  /** Makes `owners` and the page map cover the heap up to `end` (called when the Tlsf may have grown). */
  private cover(end: number): void {
    const want = end - this.base;
    if (want <= this.span) return;
    const span = Math.max(want, Math.min(this.tlsf.capacityBytes(), this.span * 2));
    const owners = new Uint16Array((span >>> 4) + 1);
    owners.set(this.owners);
    const map = new Int32Array(((span >>> UNIT) + 2) * 2).fill(SENTINEL);
    map.set(this.map);
    this.owners = owners;
    this.map = map;
    this.span = span;
  }

  private resize(what: string, ptr: number, oldSize: number, newSize: number, align: number): number {
    const usable = this.sizeOf(ptr);
    if (usable < 0) throw this.notLive(what, ptr);
    if (oldSize > usable || (ptr & (align - 1)) !== 0)
      throw this.wrongLayout(what, ptr, usable, oldSize, align);
    if (usable > MAX_SMALL && (align <= 8 || newSize <= usable)) {
      const q = this.tlsf.realloc(ptr, newSize);
      return q === NULL && this.releaseKept() ? this.tlsf.realloc(ptr, newSize) : q;
    }
    if (newSize <= usable) return ptr;
    const q = this.allocRaw(newSize, align);
    if (q === NULL) return NULL;
    this.memory.u8.copyWithin(q, ptr, ptr + Math.min(oldSize, newSize));
    this.freeRaw(ptr);
    return q;
  }

  private oom(what: string, size: number): AllocError {
    return new AllocError(
      `Heap.${what}: out of memory: ${size} bytes requested; the heap spans ${this.tlsf.stats().heapBytes} of at most ${this.tlsf.capacityBytes()} bytes`,
    );
  }
}
