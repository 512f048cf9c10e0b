/**
 * `Tlsf`: a general-purpose allocator for mixed sizes: two-level segregated fit (TLSF), with O(1) allocate and
 * free, coalescing of free neighbours, splitting, in-place `realloc` when the neighbour allows it, and growth of a
 * growable memory when the heap is exhausted (offsets stay valid). In front of the lists, a small quick cache of
 * freed blocks by exact size.
 *
 * Complexity: O(1) allocate, free and realloc (a fixed number of bitmap scans; flushing the quick cache, before the
 * heap grows or an allocation fails, is O(cached blocks), at most 7,532); `validate()` and `stats()` walk the heap,
 * O(blocks). Required backing: a `FixedRange` (it carves the whole range, as `BumpArena`, and commits through it to
 * grow). Threads: one agent. Per-block overhead: an 8-byte header in the heap; payloads are 8-aligned and sized in
 * multiples of 8 (at least 16). Out of band (JavaScript typed arrays, never in the heap): a 32-byte record per
 * block, free or used (the array grows by doubling with the number of blocks), one bit per 8 bytes of heap, and about
 * 64 KiB of fixed tables. Per byte managed that is at most 32 bytes per 24 (a heap of nothing but 16-byte blocks),
 * about 4% for 750-byte blocks, 1.6% + 32 bytes per block in general.
 *
 * ```text
 *  heap:          | hdr | payload (size bytes) ... | hdr | payload ... | ... |   <- committed end
 *  hdr (8 bytes): | record index (4) | unused (4) |   written when the block is handed out; nothing else is in band
 *  record (8 x int32, out of band):
 *      OFF    the payload's offset p while the block is used, -p while it is free in a list, p + 1 while it is in
 *             the quick cache, 0 for a spare record
 *      SIZE   payload bytes: the next block's payload is at p + SIZE + 8
 *      PREV, NEXT      the records of the blocks before and after (0: none)
 *      FNEXT, FPREV    the neighbours in the block's free list (0: none); FNEXT also chains the spare records
 *      BIN    the free list the block is in (fl * 16 + sl, ./tlsf-levels.ts, shared with OffsetAllocator)
 *  lists: first level = floor(log2 size) (sizes below 128 share level 0), second level = 16 linear steps;
 *  flMap bit f set iff some slMap[f] is non-zero; slMap[f] bit s set iff list (f, s) is non-empty
 *  quick cache: per size up to 4096 (multiples of 8), a stack of (payload, record) of up to 16 KiB worth of
 *  blocks (1 to 64), all of it at most 1/32 of the heap (1/8 from 4 MiB of heap). A cached block is neither used
 *  nor in a list: its neighbours do not merge with it until the cache is flushed.
 * ```
 * Invariants (checked by `validate()`): the records' blocks tile the heap exactly, in PREV/NEXT order; no two free
 * blocks in lists are adjacent; every free block is in the list of its size and nowhere else; every list and bitmap
 * bit agrees; every cached block is on the stack of its size, within the depths and the byte count; the start
 * bitmap marks exactly the used and the cached blocks; every used block's header holds its record index.
 *
 * Metadata that fails closed: nothing that steers the heap (sizes, neighbours, free lists, the quick cache) lives in
 * the memory it manages, so no write after free and no overflow can steer it. The one word read back from the heap,
 * a used block's record index, is followed only when that record says a used block starts exactly there (a forged
 * index names a record of another block, or none); a header that fails the check is a `CorruptionError` (counted)
 * when the start bitmap says a block starts there, before anything is written, so an overflow into a header never
 * makes the heap free a block it did not issue (the scribble fuzz, `test/scribble.test.ts`). A double free (of a
 * block in a list or in the quick cache), an interior or a foreign pointer is an `InvalidPointerError`. Every loop
 * follows out-of-band links only and is bounded by the number of records.
 *
 * Alignments up to 8 cost nothing; larger ones over-allocate and give the front back as a free block.
 * Composition limits: hardening wrappers go outside (a `Canary` before a `Tlsf` also protects its in-band headers).
 * An overflow into the next block's header is detected when that block is next freed or sized, not at the moment of
 * the write; the block it hit can then no longer be freed (it is kept, and the refusal counted).
 *
 * @example
 * ```ts
 * const tlsf = new Tlsf(new ArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 30 }));
 * const p = tlsf.allocate(100);
 * const q = tlsf.realloc(p, 400);
 * tlsf.free(q);
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
  type Memory,
  NULL,
  type Region,
  checkCarvable,
  checkResize,
  describePointer,
  isFixedRange,
  isInt32,
  isValidLayout,
  layoutError,
} from "../core/index.js";
import { tlsfBin32, tlsfSearchBin32 } from "./tlsf-levels.js";

// The shared checks, bound to module-local constants: V8 folds those, while an imported binding is a load and a
// check at every call (see page-engine.ts).
const validLayout = isValidLayout;
const int32 = isInt32;

const HEADER = 8;
const MIN_SIZE = 16;
/** The smallest remainder a split gives back: a header and the smallest payload. */
const MIN_SPLIT = HEADER + MIN_SIZE;
const SL_BITS = 4;
const SL_SIZE = 1 << SL_BITS;
const SB_BITS = SL_BITS + 3; // sizes below 128 share the first level, in steps of 8
const SB_SIZE = 1 << SB_BITS;
const FL_COUNT = 31 - SB_BITS + 1 + 1;
// Record fields (see the module documentation); a record index is the record's first word in `rec`.
const STRIDE = 8;
const OFF = 0;
const SIZE = 1;
const PREV = 2;
const NEXT = 3;
const FNEXT = 4;
const FPREV = 5;
const BIN = 6;
/** The record of the first block of a formatted heap. */
const FIRST = STRIDE;
/** The largest payload the quick cache keeps; one list per multiple of 8 up to it. */
const QUICK_MAX = 4096;
const QUICK_LISTS = (QUICK_MAX >>> 3) + 1;
/**
 * The quick cache's geometry: 16 KiB worth of blocks per size (1 to 64), tables of 7,532 entries (60 KiB per heap),
 * module constants so the hot paths fold them (as instance fields, chosen by the heap's size, they cost 10% more
 * instructions per step). Its budget: 1/32 of a heap below {@link QUICK_LARGE_FROM} bytes, 1/8 of a larger one.
 * Measured on the random-size churn (16..4096 B, 10,000 live blocks, 7 MiB): 4 KiB worth per size (1 to 16) within
 * 1/32 of the heap served 76% of allocations, this serves 86%, and a step costs 24% fewer instructions (cachegrind:
 * 540 against 707). The cache never makes the heap grow or a request fail: it is flushed first.
 */
const QUICK_DEPTHS = Int32Array.from({ length: QUICK_LISTS }, (_, k) =>
  Math.max(1, Math.min(64, Math.floor(16384 / Math.max(8, k * 8)))),
);
/** Where each size's stack starts in the quick tables (the depths summed; the last entry is the tables' length). */
const QUICK_BASE = new Int32Array(QUICK_LISTS + 1);
for (let k = 0; k < QUICK_LISTS; k++) QUICK_BASE[k + 1] = QUICK_BASE[k]! + QUICK_DEPTHS[k]!;
const SMALL_SHARE = 5;
const LARGE_SHARE = 3;
const QUICK_LARGE_FROM = 1 << 22;

/** Heap statistics from {@link Tlsf.stats}. */
export interface TlsfStats {
  /** Bytes in used blocks' payloads. */
  readonly usedBytes: number;
  /** Used blocks. */
  readonly usedBlocks: number;
  /** Bytes in free blocks' payloads (a `Tlsf`'s quick cache included). */
  readonly freeBytes: number;
  /** Free blocks (a `Tlsf`'s quick cache included). */
  readonly freeBlocks: number;
  /** The largest free payload: the largest request that fits without growing. */
  readonly largestFreeBlock: number;
  /** `1 - largestFreeBlock / freeBytes` (0 when there is no free byte): how scattered the free space is. */
  readonly fragmentation: number;
  /** Bytes of block headers (8 per block). */
  readonly overheadBytes: number;
  /** Bytes committed to the heap so far. */
  readonly heapBytes: number;
}

/** A two-level segregated-fit allocator (see the module documentation). */
export class Tlsf implements Allocator, FixedRange {
  /** The memory the heap lies in. */
  readonly memory: Memory;
  /** The range the heap carves. */
  readonly backing: FixedRange;
  private readonly heapBase: number;
  private readonly rangeEnd: number;
  private heapEnd: number;
  private flMap: number;
  private readonly slMap: Int32Array;
  /** Per list, the record of its first block (0: empty). */
  private readonly heads: Int32Array;
  /** The block records (see the module documentation); grows by doubling. */
  private rec: Int32Array;
  /** Records handed out so far (the next fresh one is at `recTop`). */
  private recTop: number;
  /** The first spare record (chained through FNEXT), 0 when none. */
  private spare: number;
  /** The records of the first and the last block. */
  private first: number;
  private last: number;
  /** Out of band, one bit per 8 bytes: set where the payload of a used block or one in the quick cache starts. */
  private starts: Int32Array;
  /**
   * The quick cache: per payload size / 8 (k), a stack of up to `QUICK_DEPTHS[k]` blocks, entry `QUICK_BASE[k] + i`
   * holding the block's payload offset (`quickPtr`) and its record (`quickRec`), so a hit reads nothing else.
   */
  private readonly quickPtr: Int32Array;
  private readonly quickRec: Int32Array;
  /** Per payload size / 8, the blocks on its stack. */
  private readonly quickCount: Int32Array;
  /** Payload bytes in the quick cache, and the most it may hold. */
  private quickBytes: number;
  private quickBudget: number;
  private corruptions: number;
  /**
   * The memory's 32-bit view, taken when the heap grows. A WebAssembly memory grown by someone else detaches it
   * (length 0): a header read then fails its check, and the slow path takes the view again.
   */
  private i32: Int32Array;

  /** @throws `AllocError` when `backing` is not a `FixedRange`, is a wrapper it would bypass, or is too small. */
  constructor(backing: FixedRange) {
    if (!isFixedRange(backing))
      throw new AllocError("Tlsf: the backing must be a FixedRange (a backing or a range)");
    checkCarvable("Tlsf", backing);
    const base = (backing.base() + 7) & ~7;
    const end = (backing.base() + backing.size()) & ~7;
    if (end - base < HEADER + MIN_SIZE + HEADER)
      throw new AllocError(`Tlsf: the range [${base}, ${end}) is too small for a heap`);
    this.memory = backing.memory;
    this.backing = backing;
    this.heapBase = base;
    this.rangeEnd = end;
    this.flMap = 0;
    this.slMap = new Int32Array(FL_COUNT);
    this.heads = new Int32Array(FL_COUNT * SL_SIZE);
    this.corruptions = 0;
    const committed = Math.min(end, this.memory.byteLength) & ~7;
    const initial = Math.max(committed, base + HEADER + MIN_SIZE + HEADER);
    if (initial > committed && !backing.commit(committed, initial - committed)) {
      throw new AllocError("Tlsf: the backing cannot commit the first bytes of the heap");
    }
    this.heapEnd = initial;
    this.starts = new Int32Array(((initial - base) >>> 8) + 1); // grows with the heap
    this.rec = new Int32Array(64 * STRIDE);
    this.quickPtr = new Int32Array(QUICK_BASE[QUICK_LISTS]!);
    this.quickRec = new Int32Array(QUICK_BASE[QUICK_LISTS]!);
    this.quickCount = new Int32Array(QUICK_LISTS);
    this.quickBytes = 0;
    this.quickBudget = 0;
    this.recTop = FIRST;
    this.spare = 0;
    this.first = FIRST;
    this.last = FIRST;
    this.i32 = this.view();
    this.format();
    this.memory.watchRetire(this);
  }

  /**
   * Allocates `size` bytes aligned to `align` (default 8). `NULL` when neither the heap nor its growth can serve it.
   *
   * @throws `LayoutError` for a bad size or alignment (I9).
   */
  allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("Tlsf.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /**
   * The raw protocol (see `RawAllocator` in core): `allocate` for a layout the caller has checked.
   * @internal
   */
  allocRaw(size: number, align: number): number {
    if (align > 8) return this.allocateAligned(size, align);
    const s = size <= MIN_SIZE ? MIN_SIZE : (size + 7) & ~7;
    if (s <= QUICK_MAX) {
      const k = s >>> 3;
      const top = this.quickCount[k]! - 1;
      if (top >= 0) {
        // A quick hit: the block's record is written, nothing is read. Its header still names the record (a header
        // written while the block was free fails its check at the next free: a CorruptionError, never a wrong block).
        const i = QUICK_BASE[k]! + top;
        this.quickCount[k] = top;
        this.quickBytes -= s;
        const p = this.quickPtr[i]!;
        this.rec[this.quickRec[i]! + OFF] = p;
        return p;
      }
    }
    let r = this.search(s);
    if (r === 0) {
      r = this.searchHarder(s);
      if (r === 0) return NULL;
    }
    return this.take(r, s);
  }

  /**
   * The raw protocol: the payload size of the live block `ptr`, or -1 for anything else (any value).
   *
   * @throws `CorruptionError` (counted) when the block's header was overwritten.
   * @internal
   */
  sizeOf(ptr: unknown): number {
    if (!int32(ptr)) return -1;
    const p = ptr;
    if ((p & 7) !== 0 || p <= this.heapBase || p >= this.heapEnd) return -1;
    const r = this.i32[(p - HEADER) >>> 2]!;
    const rec = this.rec;
    if ((r & (STRIDE - 1)) === 0 && r >>> 0 < this.recTop && rec[r + OFF] === p) return rec[r + SIZE]!;
    const q = this.recordOf("free", p);
    return q === 0 ? -1 : rec[q + SIZE]!;
  }

  /** The raw protocol: frees a block `sizeOf` just reported live. @internal */
  freeRaw(ptr: number): void {
    this.release(this.i32[(ptr - HEADER) >>> 2]!, ptr);
  }

  /**
   * Gives the blocks of the quick cache back to the free lists, coalescing them with their free neighbours. An
   * allocation that finds no free block does it before it grows the heap or returns `NULL`, so the cache never
   * makes a request fail; call it to see the heap fully coalesced (in `stats()`, `regions()`).
   */
  flushCache(): void {
    for (let k = 0; k < QUICK_LISTS; k++) {
      const count = this.quickCount[k]!;
      this.quickCount[k] = 0;
      for (let i = QUICK_BASE[k]!; i < QUICK_BASE[k]! + count; i++)
        this.merge(this.quickRec[i]!, this.quickPtr[i]!);
    }
    this.quickBytes = 0;
  }

  /** As {@link Tlsf.allocate}, with the block zeroed. */
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) this.memory.u8.fill(0, p, p + size);
    return p;
  }

  /**
   * Frees a live block; `size` and `align` are checked against it (any size up to its usable size).
   *
   * @throws `InvalidPointerError` for anything but a live block (never issued, freed, interior, foreign);
   *   `LayoutError` for a size larger than the block; `CorruptionError` (counted) for a header an overflow destroyed.
   */
  deallocate(ptr: number, size: number, align = 8): void {
    if (!isValidLayout(size, align)) throw layoutError("Tlsf.deallocate", size, align);
    let r = this.usedAt(ptr);
    if (r === 0) r = this.liveRecord("deallocate", ptr);
    const usable = this.rec[r + SIZE]!;
    if (size > usable || (ptr & (align - 1)) !== 0) {
      throw new LayoutError(
        `Tlsf.deallocate: block ${describePointer(ptr)} holds ${usable} bytes, aligned to its address; it cannot have been allocated with size ${size} and align ${align}`,
      );
    }
    this.release(r, ptr);
  }

  /**
   * Frees a live block without its size (`malloc`-style).
   *
   * @throws as {@link Tlsf.deallocate}.
   */
  free(ptr: number): void {
    let r = this.usedAt(ptr);
    if (r === 0) r = this.liveRecord("free", ptr);
    this.release(r, ptr);
  }

  /**
   * Resizes a live block: in place when it shrinks or the next block is free and large enough, else by moving it.
   * Returns the (possibly new) offset, or `NULL` with the old block intact when no memory can be had.
   *
   * @throws as {@link Tlsf.free} for a bad pointer; `LayoutError` for a bad size.
   */
  realloc(ptr: number, newSize: number): number {
    if (!isValidLayout(newSize, 1)) throw layoutError("Tlsf.realloc", newSize, 8);
    const r = this.liveRecord("realloc", ptr);
    const s = newSize <= MIN_SIZE ? MIN_SIZE : (newSize + 7) & ~7;
    const cur = this.rec[r + SIZE]!;
    if (s <= cur) {
      this.trim(r, ptr, s);
      return ptr;
    }
    // The last block grows in place: the heap grows behind it (a buffer that keeps growing is not copied each time).
    if (r === this.last) this.growFor(s - cur);
    const rec = this.rec;
    const n = rec[r + NEXT]!;
    const off = n === 0 ? 0 : rec[n + OFF]!;
    if ((off < 0 || (off & 7) !== 0) && cur + HEADER + rec[n + SIZE]! >= s) {
      if (off < 0) this.unlink(n);
      else this.unquick(n);
      this.absorbNext(r, n);
      this.trim(r, ptr, s);
      return ptr;
    }
    const q = this.allocRaw(newSize, 8);
    if (q === NULL) return NULL;
    this.memory.u8.copyWithin(q, ptr, ptr + cur);
    this.merge(r, ptr);
    return q;
  }

  /** Grows a block (I5): `realloc`, with the contract's checks. */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("Tlsf.grow", oldSize, newSize, align, true);
    const usable = this.checkHeld("grow", ptr, oldSize, align);
    if (align > 8 && newSize > usable) return this.move(ptr, oldSize, newSize, align);
    return this.realloc(ptr, newSize);
  }

  /** Shrinks a block in place (I5). */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("Tlsf.shrink", oldSize, newSize, align, false);
    this.checkHeld("shrink", ptr, oldSize, align);
    return this.realloc(ptr, newSize);
  }

  /** Frees every block at once (I7): the committed heap becomes one free block again. */
  reset(): void {
    this.format();
  }

  /** The block's payload size (at least the size asked for, rounded up to 8). */
  usableSize(ptr: number, size: number): number {
    if (!isValidLayout(size, 1)) throw layoutError("Tlsf.usableSize", size, 1);
    const usable = this.rec[this.liveRecord("usableSize", ptr) + SIZE]!;
    if (size > usable)
      throw new LayoutError(
        `Tlsf.usableSize: block ${describePointer(ptr)} holds ${usable} bytes, not ${size}`,
      );
    return usable;
  }

  /** The most bytes the heap can span: the backing's whole range (committed or not). */
  capacityBytes(): number {
    return this.rangeEnd - this.heapBase;
  }

  /** Headers found destroyed (by an overflow of the block before) so far. */
  corruptionEvents(): number {
    return this.corruptions;
  }

  /**
   * The memory was retired (its OS mapping disposed): the quick cache and the lists are emptied, so every allocation
   * takes the slow path, which refuses. The heap cannot be used or validated any more.
   * @internal
   */
  memoryRetired(): void {
    this.quickCount.fill(0);
    this.quickBytes = 0;
    this.quickBudget = -1;
    this.flMap = 0;
    this.slMap.fill(0);
  }

  /** First offset of the heap's range. */
  base(): number {
    return this.heapBase;
  }

  /** Length of the heap's range (committed or not). */
  size(): number {
    return this.rangeEnd - this.heapBase;
  }

  /** Forwarded to the backing within the range. */
  commit(ptr: number, length: number): boolean {
    return this.backing.commit(ptr, length);
  }

  /** True inside the heap's range. */
  contains(ptr: number): boolean {
    return int32(ptr) && ptr >= this.heapBase && ptr < this.rangeEnd;
  }

  /** Walks the heap: used and free bytes and blocks, the largest free block, fragmentation. O(blocks). */
  stats(): TlsfStats {
    const rec = this.rec;
    let usedBytes = 0;
    let usedBlocks = 0;
    let freeBytes = 0;
    let freeBlocks = 0;
    let largest = 0;
    for (let r = this.first, n = 0; r !== 0 && n < this.recTop; r = rec[r + NEXT]!, n += STRIDE) {
      const size = rec[r + SIZE]!;
      const off = rec[r + OFF]!;
      if (off < 0 || (off & 7) !== 0) {
        freeBytes += size; // a free block, or one in the quick cache
        freeBlocks++;
        if (size > largest) largest = size;
      } else {
        usedBytes += size;
        usedBlocks++;
      }
    }
    return {
      usedBytes,
      usedBlocks,
      freeBytes,
      freeBlocks,
      largestFreeBlock: largest,
      fragmentation: freeBytes === 0 ? 0 : 1 - largest / freeBytes,
      overheadBytes: (usedBlocks + freeBlocks) * HEADER,
      heapBytes: this.heapEnd - this.heapBase,
    };
  }

  /**
   * The heap block by block: each 8-byte header as `metadata` and each payload as `used` or `free`. The range
   * not committed yet (room to grow) is not listed. O(blocks); allocates.
   */
  regions(): Region[] {
    const rec = this.rec;
    const out: Region[] = [];
    for (let r = this.first, n = 0; r !== 0 && n < this.recTop; r = rec[r + NEXT]!, n += STRIDE) {
      const off = rec[r + OFF]!;
      const p = off < 0 ? -off : off & ~7;
      out.push({ offset: p - HEADER, size: HEADER, kind: "metadata" });
      out.push({ offset: p, size: rec[r + SIZE]!, kind: off === p ? "used" : "free" });
    }
    return out;
  }

  /** Checks every invariant of the module documentation; throws an `Error` naming the first one broken. O(blocks). */
  validate(): void {
    const rec = this.rec;
    const i32 = this.memory.i32;
    const fail = (what: string): never => {
      throw new Error(`Tlsf.validate: ${what}`);
    };
    const free = new Set<number>();
    const cached = new Set<number>();
    let at = this.heapBase + HEADER;
    let before = 0;
    let prevFree = false;
    let blocks = 0;
    for (let r = this.first; r !== 0; r = rec[r + NEXT]!) {
      if (++blocks > this.recTop / STRIDE) fail("the block chain has a cycle");
      const off = rec[r + OFF]!;
      const p = off < 0 ? -off : off & ~7;
      const size = rec[r + SIZE]!;
      if (off > 0 && off !== p && off !== p + 1) fail(`record ${r} has offset ${off}`);
      if (p !== at) fail(`record ${r} says its block is at ${p}, the blocks before end at ${at - HEADER}`);
      if (rec[r + PREV] !== before)
        fail(`record ${r} names ${rec[r + PREV]} as the block before, not ${before}`);
      if (size < MIN_SIZE || (size & 7) !== 0) fail(`block ${p} has size ${size}`);
      const isFree = off < 0;
      if (isFree && prevFree) fail(`blocks before ${p} and ${p} are both free (not coalesced)`);
      const isUsed = off === p;
      if (isFree) free.add(r);
      else if (!isUsed) cached.add(r);
      else if (i32[(p - HEADER) >>> 2] !== r)
        fail(`the header of used block ${p} does not hold its record ${r}`);
      if (this.isStart(p) === isFree)
        fail(`the start bitmap says ${isFree ? "used" : "free"} for block ${p}`);
      prevFree = isFree;
      before = r;
      at = p + size + HEADER;
    }
    if (at - HEADER !== this.heapEnd) fail(`the blocks end at ${at - HEADER}, the heap at ${this.heapEnd}`);
    if (before !== this.last) fail(`the last block is record ${before}, not ${this.last}`);
    let spares = 0;
    for (let r = this.spare; r !== 0; r = rec[r + FNEXT]!) {
      if (rec[r + OFF] !== 0) fail(`spare record ${r} is in use`);
      if (++spares > this.recTop / STRIDE) fail("the spare records have a cycle");
    }
    let quickBytes = 0;
    for (let k = 0; k < QUICK_LISTS; k++) {
      let n = 0;
      if (this.quickCount[k]! > QUICK_DEPTHS[k]!)
        fail(`quick list ${k * 8} holds more than ${QUICK_DEPTHS[k]} blocks`);
      for (; n < this.quickCount[k]!; n++) {
        const r = this.quickRec[QUICK_BASE[k]! + n]!;
        if (!cached.delete(r)) fail(`quick list ${k * 8} holds record ${r}, which is not a cached block`);
        if (rec[r + SIZE] !== k * 8) fail(`quick list ${k * 8} holds a block of ${rec[r + SIZE]} bytes`);
        if (rec[r + OFF] !== this.quickPtr[QUICK_BASE[k]! + n]! + 1)
          fail(`quick list ${k * 8} names ${this.quickPtr[QUICK_BASE[k]! + n]} for record ${r}`);
        quickBytes += k * 8;
      }
    }
    if (cached.size !== 0) fail(`${cached.size} cached blocks are on no quick list`);
    if (quickBytes !== this.quickBytes)
      fail(`the quick cache holds ${quickBytes} bytes, counted ${this.quickBytes}`);
    if (blocks + spares + 1 !== this.recTop / STRIDE)
      fail(`${blocks} blocks and ${spares} spare records, ${this.recTop / STRIDE - 1} records handed out`);
    let listed = 0;
    for (let f = 0; f < FL_COUNT; f++) {
      for (let s = 0; s < SL_SIZE; s++) {
        const head = this.heads[f * SL_SIZE + s]!;
        if (((this.slMap[f]! >>> s) & 1) !== (head !== 0 ? 1 : 0))
          fail(`slMap[${f}] bit ${s} disagrees with its list`);
        let prev = 0;
        for (let r = head; r !== 0; r = rec[r + FNEXT]!) {
          if (!free.has(r)) fail(`list (${f}, ${s}) holds record ${r}, which is not a free block`);
          const size = rec[r + SIZE]!;
          if (tlsfBin32(size) !== f * SL_SIZE + s || rec[r + BIN] !== f * SL_SIZE + s)
            fail(`free block ${-rec[r + OFF]!} (size ${size}) is in list (${f}, ${s})`);
          if (rec[r + FPREV] !== prev) fail(`free record ${r} has a wrong prev link`);
          prev = r;
          if (++listed > free.size) fail("a free list has a cycle");
        }
      }
      if ((((this.flMap >>> f) & 1) === 1) !== (this.slMap[f] !== 0))
        fail(`flMap bit ${f} disagrees with slMap[${f}]`);
    }
    if (listed !== free.size) fail(`${free.size} free blocks, ${listed} listed`);
  }

  // ---- internals ----

  /** One free block over the whole committed heap. */
  private format(): void {
    this.flMap = 0;
    this.slMap.fill(0);
    this.heads.fill(0);
    this.starts.fill(0);
    this.rec.fill(0);
    this.recTop = FIRST + STRIDE;
    this.spare = 0;
    this.first = FIRST;
    this.last = FIRST;
    this.quickCount.fill(0);
    this.quickBytes = 0;
    this.sizeQuick();
    this.i32 = this.view();
    const rec = this.rec;
    const p = this.heapBase + HEADER;
    const size = this.heapEnd - p;
    rec[FIRST + OFF] = -p;
    rec[FIRST + SIZE] = size;
    this.link(FIRST, size);
    if (this.memory.retired) this.memoryRetired();
  }

  /**
   * A fixed-length view of the memory up to the heap's end: over a resizable buffer, V8 reads a fixed-length view
   * faster than the length-tracking ones of `Memory`. Taken again when the heap grows.
   */
  private view(): Int32Array {
    return new Int32Array(this.memory.buffer, 0, this.heapEnd >>> 2);
  }

  private retiredError(): AllocError {
    return new AllocError(
      "Tlsf.allocate: its memory was disposed (the OS mapping is gone); nothing can be allocated from it any more",
    );
  }

  /**
   * The fast check of a live block: the record its header names, when that record says a used block starts at
   * `ptr` (any value); 0 otherwise (then {@link Tlsf.liveRecord} decides what was wrong).
   */
  private usedAt(ptr: number): number {
    if (!int32(ptr) || (ptr & 7) !== 0 || ptr <= this.heapBase || ptr >= this.heapEnd) return 0;
    const r = this.i32[(ptr - HEADER) >>> 2]!;
    return (r & (STRIDE - 1)) === 0 && r >>> 0 < this.recTop && this.rec[r + OFF] === ptr ? r : 0;
  }

  private isStart(p: number): boolean {
    const i = (p - this.heapBase) >>> 3;
    return ((this.starts[i >>> 5]! >>> (i & 31)) & 1) === 1;
  }

  /** The record of the live block at `ptr`; throws `InvalidPointerError` for anything else. */
  private liveRecord(what: string, ptr: number): number {
    const r =
      int32(ptr) && (ptr & 7) === 0 && ptr > this.heapBase && ptr < this.heapEnd
        ? this.recordOf(what, ptr)
        : 0;
    if (r === 0) {
      throw new InvalidPointerError(
        ptr,
        `Tlsf.${what}: ${describePointer(ptr)} is not a live block (never issued, freed already, an interior or foreign pointer)`,
      );
    }
    return r;
  }

  /**
   * The record of the used block whose payload starts at `p` (8-aligned, inside the heap), 0 when none does (a
   * block in the quick cache is not live); a header that fails its check where the start bitmap says a block starts
   * is a `CorruptionError` (counted).
   */
  private recordOf(what: string, p: number): number {
    // A WebAssembly memory grown by someone else detached the view: take it again. (A shared one keeps its old
    // buffer, which still holds the whole heap.)
    if (this.i32.length === 0) this.i32 = this.view();
    const r = this.i32[(p - HEADER) >>> 2]!;
    if ((r & (STRIDE - 1)) === 0 && r >>> 0 < this.recTop) {
      if (this.rec[r + OFF] === p) return r;
      if (this.rec[r + OFF] === p + 1) return 0; // in the quick cache: freed already
    }
    if (!this.isStart(p)) return 0;
    this.corruptions++;
    throw new CorruptionError(
      `Tlsf.${what}: the header of block ${describePointer(p)} was overwritten (an overflow of the block before it); nothing was handed out or freed`,
    );
  }

  private checkHeld(what: string, ptr: number, size: number, align: number): number {
    const usable = this.rec[this.liveRecord(what, ptr) + SIZE]!;
    if (size > usable || (ptr & (align - 1)) !== 0) {
      throw new LayoutError(
        `Tlsf.${what}: block ${describePointer(ptr)} holds ${usable} bytes; not a block of size ${size} and align ${align}`,
      );
    }
    return usable;
  }

  private move(ptr: number, oldSize: number, newSize: number, align: number): number {
    const q = this.allocate(newSize, align);
    if (q === NULL) return NULL;
    this.memory.u8.copyWithin(q, ptr, ptr + oldSize);
    this.free(ptr);
    return q;
  }

  /** Finds a free block of at least `s` bytes (rounded up to its class first, so any block found fits): its record. */
  private search(s: number): number {
    const k = tlsfSearchBin32(s);
    let fl = k >>> SL_BITS;
    let sl = k & (SL_SIZE - 1);
    if (fl >= FL_COUNT) return 0;
    let slBits = this.slMap[fl]! & (~0 << sl);
    if (slBits === 0) {
      const flBits = fl + 1 >= 32 ? 0 : this.flMap & (~0 << (fl + 1));
      if (flBits === 0) return 0;
      fl = 31 - Math.clz32(flBits & -flBits);
      slBits = this.slMap[fl]!;
    }
    sl = 31 - Math.clz32(slBits & -slBits);
    return this.heads[fl * SL_SIZE + sl]!;
  }

  /** Removes free block `r` from its list, splits off what a block of `s` bytes does not need, marks it used. */
  private take(r: number, s: number): number {
    let rec = this.rec;
    const p = -rec[r + OFF]!;
    const rest = rec[r + SIZE]! - s;
    if (rest >= MIN_SPLIT && tlsfBin32(rest - HEADER) === rec[r + BIN]) {
      // The rest stays in r's list, in r's place: the front gets a new record, and no list changes.
      const u = this.newRecord();
      rec = this.rec;
      const before = rec[r + PREV]!;
      rec[u + SIZE] = s;
      rec[u + PREV] = before;
      rec[u + NEXT] = r;
      if (before !== 0) rec[before + NEXT] = u;
      else this.first = u;
      rec[r + PREV] = u;
      rec[r + OFF] = -(p + s + HEADER);
      rec[r + SIZE] = rest - HEADER;
      this.markUsed(u, p);
      return p;
    }
    this.unlink(r);
    if (rest >= MIN_SPLIT) {
      const n = this.newRecord();
      rec = this.rec;
      const after = rec[r + NEXT]!;
      rec[n + OFF] = -(p + s + HEADER);
      rec[n + SIZE] = rest - HEADER;
      rec[n + PREV] = r;
      rec[n + NEXT] = after;
      if (after !== 0) rec[after + PREV] = n;
      else this.last = n;
      rec[r + NEXT] = n;
      rec[r + SIZE] = s;
      this.link(n, rest - HEADER);
    }
    this.markUsed(r, p);
    return p;
  }

  /** Marks block `r` (payload at `p`) used: its record, its header, its start bit. */
  private markUsed(r: number, p: number): void {
    this.rec[r + OFF] = p;
    let i32 = this.i32;
    if (i32.length === 0) i32 = this.i32 = this.view(); // detached by someone else's growth
    i32[(p - HEADER) >>> 2] = r;
    const i = (p - this.heapBase) >>> 3;
    this.starts[i >>> 5]! |= 1 << (i & 31);
  }

  /**
   * Frees used block `r` (payload at `p`): into the quick cache when it is small and the cache has room for it
   * (no neighbour is touched), else into the lists.
   */
  private release(r: number, p: number): void {
    const rec = this.rec;
    const size = rec[r + SIZE]!;
    if (size <= QUICK_MAX) {
      const k = size >>> 3;
      const count = this.quickCount[k]!;
      if (count < QUICK_DEPTHS[k]! && this.quickBytes + size <= this.quickBudget) {
        rec[r + OFF] = p + 1; // its start bit stays set
        const i = QUICK_BASE[k]! + count;
        this.quickPtr[i] = p;
        this.quickRec[i] = r;
        this.quickCount[k] = count + 1;
        this.quickBytes += size;
        return;
      }
    }
    this.merge(r, p);
  }

  /** Takes block `r` off its quick stack (a scan of at most {@link QUICK_DEPTH} entries; the top fills the hole). */
  private unquick(r: number): void {
    const rec = this.rec;
    const size = rec[r + SIZE]!;
    const k = size >>> 3;
    const top = QUICK_BASE[k]! + this.quickCount[k]! - 1;
    for (let i = QUICK_BASE[k]!; i <= top; i++) {
      if (this.quickRec[i] === r) {
        this.quickRec[i] = this.quickRec[top]!;
        this.quickPtr[i] = this.quickPtr[top]!;
        break;
      }
    }
    this.quickCount[k] = this.quickCount[k]! - 1;
    this.quickBytes -= size;
    const i = (rec[r + OFF]! - 1 - this.heapBase) >>> 3;
    this.starts[i >>> 5]! &= ~(1 << (i & 31));
  }

  /** After a failed search: flushes the quick cache and searches again, then grows the heap. A free block, or 0. */
  private searchHarder(s: number): number {
    if (this.memory.retired) throw this.retiredError();
    if (this.quickBytes > 0) {
      this.flushCache();
      const r = this.search(s);
      if (r !== 0) return r;
    }
    return this.growFor(s);
  }

  /** Frees used block `r` (payload at `p`) into the lists: coalesces with free neighbours and files the result. */
  private merge(r: number, p: number): void {
    const rec = this.rec;
    const i = (p - this.heapBase) >>> 3;
    this.starts[i >>> 5]! &= ~(1 << (i & 31));
    const n = rec[r + NEXT]!;
    const b = rec[r + PREV]!;
    const prevFree = b !== 0 && rec[b + OFF]! < 0;
    if (n !== 0 && rec[n + OFF]! < 0) {
      const merged = rec[r + SIZE]! + HEADER + rec[n + SIZE]!;
      if (!prevFree && tlsfBin32(merged) === rec[n + BIN]) {
        // n takes r in and keeps its list place: no list changes.
        rec[n + OFF] = -p;
        rec[n + SIZE] = merged;
        rec[n + PREV] = b;
        if (b !== 0) rec[b + NEXT] = n;
        else this.first = n;
        this.spareRecord(r);
        return;
      }
      this.unlink(n);
      this.absorbNext(r, n);
    }
    if (prevFree) {
      const bin = rec[b + BIN]!;
      this.absorbNext(b, r);
      if (tlsfBin32(rec[b + SIZE]!) !== bin) {
        this.unlink(b); // from the list of its old size
        this.link(b, rec[b + SIZE]!);
      }
      return;
    }
    rec[r + OFF] = -p;
    this.link(r, rec[r + SIZE]!);
  }

  /** Block `r` takes in the block after it, `n` (already off its list), whose record becomes spare. */
  private absorbNext(r: number, n: number): void {
    const rec = this.rec;
    const after = rec[n + NEXT]!;
    rec[r + SIZE] = rec[r + SIZE]! + HEADER + rec[n + SIZE]!;
    rec[r + NEXT] = after;
    if (after !== 0) rec[after + PREV] = r;
    else this.last = r;
    this.spareRecord(n);
  }

  /** Puts record `r` on the spare stack. */
  private spareRecord(r: number): void {
    this.rec[r + OFF] = 0;
    this.rec[r + FNEXT] = this.spare;
    this.spare = r;
  }

  /** A spare record (the array doubles when none is left). */
  private newRecord(): number {
    const r = this.spare;
    if (r !== 0) {
      this.spare = this.rec[r + FNEXT]!;
      return r;
    }
    const top = this.recTop;
    if (top === this.rec.length) {
      const grown = new Int32Array(top * 2);
      grown.set(this.rec);
      this.rec = grown;
    }
    this.recTop = top + STRIDE;
    return top;
  }

  /** Shrinks the used block `r` (payload at `p`) to `s` bytes, giving a large enough tail back. */
  private trim(r: number, p: number, s: number): void {
    let rec = this.rec;
    const rest = rec[r + SIZE]! - s;
    if (rest < MIN_SPLIT) return;
    const t = this.newRecord();
    rec = this.rec;
    const after = rec[r + NEXT]!;
    const q = p + s + HEADER;
    rec[t + SIZE] = rest - HEADER;
    rec[t + PREV] = r;
    rec[t + NEXT] = after;
    if (after !== 0) rec[after + PREV] = t;
    else this.last = t;
    rec[r + NEXT] = t;
    rec[r + SIZE] = s;
    // The tail is a used block for a moment, so merge() coalesces it with a free block after it.
    this.markUsed(t, q);
    this.merge(t, q);
  }

  private link(r: number, size: number): void {
    const k = tlsfBin32(size);
    const fl = k >>> SL_BITS;
    const sl = k & (SL_SIZE - 1);
    const rec = this.rec;
    const head = this.heads[k]!;
    rec[r + FNEXT] = head;
    rec[r + FPREV] = 0;
    rec[r + BIN] = k;
    if (head !== 0) rec[head + FPREV] = r;
    this.heads[k] = r;
    this.flMap |= 1 << fl;
    this.slMap[fl]! |= 1 << sl;
  }

  private unlink(r: number): void {
    const rec = this.rec;
    const next = rec[r + FNEXT]!;
    const prev = rec[r + FPREV]!;
    if (next !== 0) rec[next + FPREV] = prev;
    if (prev !== 0) {
      rec[prev + FNEXT] = next;
      return;
    }
    const k = rec[r + BIN]!;
    this.heads[k] = next;
    if (next === 0) {
      const fl = k >>> SL_BITS;
      const bits = this.slMap[fl]! & ~(1 << (k & (SL_SIZE - 1)));
      this.slMap[fl] = bits;
      if (bits === 0) this.flMap &= ~(1 << fl);
    }
  }

  /** The quick cache's budget for the heap's size now (see {@link QUICK_LARGE_FROM}). */
  private sizeQuick(): void {
    const bytes = this.heapEnd - this.heapBase;
    this.quickBudget = bytes >>> (bytes >= QUICK_LARGE_FROM ? LARGE_SHARE : SMALL_SHARE);
  }

  /**
   * Grows the committed heap so a block of `s` bytes fits (the last block, when free, grows; else a free block
   * follows it); returns a free block of at least `s` bytes, or 0.
   */
  private growFor(s: number): number {
    const oldEnd = this.heapEnd;
    // search() looks one size class up (so any block it finds fits): grow by the rounded size.
    const rounded = s < SB_SIZE ? s : s + (1 << (31 - Math.clz32(s) - SL_BITS)) - 1;
    // Compared before any bitwise operation: near 2^30 a sum wraps in 32-bit arithmetic (and would commit memory).
    if (oldEnd + rounded + HEADER + MIN_SIZE + 7 > this.rangeEnd) return 0;
    const want = (oldEnd + rounded + HEADER + MIN_SIZE + 7) & ~7;
    const target = Math.min(this.rangeEnd, Math.max(want, oldEnd + (oldEnd - this.heapBase))) & ~7;
    if (!this.backing.commit(oldEnd, target - oldEnd) && !this.backing.commit(oldEnd, want - oldEnd))
      return 0;
    const newEnd = Math.min(this.rangeEnd, this.memory.byteLength) & ~7;
    if (newEnd < want) return 0;
    if (newEnd - this.heapBase >= this.starts.length * 256) {
      const grown = new Int32Array(((newEnd - this.heapBase) >>> 8) + 1);
      grown.set(this.starts);
      this.starts = grown;
    }
    this.heapEnd = newEnd;
    this.i32 = this.view();
    this.sizeQuick();
    const l = this.last;
    let rec = this.rec;
    if (rec[l + OFF]! < 0) {
      this.unlink(l);
      rec[l + SIZE] = rec[l + SIZE]! + newEnd - oldEnd;
      this.link(l, rec[l + SIZE]!);
    } else {
      const n = this.newRecord();
      rec = this.rec;
      rec[n + OFF] = -(oldEnd + HEADER);
      rec[n + SIZE] = newEnd - oldEnd - HEADER;
      rec[n + PREV] = l;
      rec[n + NEXT] = 0;
      rec[l + NEXT] = n;
      this.last = n;
      this.link(n, newEnd - oldEnd - HEADER);
    }
    return this.search(s);
  }

  /** Alignment above 8: take `size + align + 24` and give the front (and the tail) back. */
  private allocateAligned(size: number, align: number): number {
    const s = size <= MIN_SIZE ? MIN_SIZE : (size + 7) & ~7;
    const want = s + align + MIN_SPLIT; // at most 2^30 + 2^21 + 24: its list is within FL_COUNT
    let r = this.search(want);
    if (r === 0) {
      r = this.searchHarder(want);
      if (r === 0) return NULL;
    }
    const b = this.take(r, want);
    r = this.i32[(b - HEADER) >>> 2]!; // take() may have given the block a new record: its header, just written, names it
    let q = (b + align - 1) & -align;
    if (q !== b && q - b < MIN_SPLIT) q += align;
    if (q === b) {
      this.trim(r, b, s);
      return b;
    }
    // Split the front [b, q) off as its own block and free it.
    const m = this.newRecord();
    const rec = this.rec;
    const total = rec[r + SIZE]!;
    const after = rec[r + NEXT]!;
    rec[r + SIZE] = q - b - HEADER;
    rec[m + SIZE] = total - (q - b);
    rec[m + PREV] = r;
    rec[m + NEXT] = after;
    if (after !== 0) rec[after + PREV] = m;
    else this.last = m;
    rec[r + NEXT] = m;
    this.markUsed(m, q);
    this.merge(r, b);
    this.trim(m, q, s);
    return q;
  }
}
