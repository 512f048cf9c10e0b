/**
 * `Tlsf`: a general-purpose allocator for mixed sizes: two-level segregated fit (TLSF), with O(1) allocate and
 * free, immediate coalescing of free neighbours, splitting, in-place `realloc` when the neighbour allows it, and
 * growth of a growable memory when the heap is exhausted (offsets stay valid).
 *
 * Complexity: O(1) allocate, free and realloc (a fixed number of bitmap scans); `validate()` and `stats()` walk the
 * heap, O(blocks). Required backing: a `FixedRange` (it carves the whole range, as `BumpArena`, and commits through
 * it to grow). Threads: one agent. Per-block overhead: an 8-byte header; payloads are 8-aligned and sized in
 * multiples of 8 (at least 16). Out of band, two bits per 8 bytes of heap mark the live and the free block starts.
 *
 * ```text
 *  used block:   | size | flags (4) | check (4) | payload (size bytes) ...
 *  free block:   | size | flags (4) | check (4) | next free (4) | prev free (4) | ... | back link: payload (4) |
 *  heap:         | block | block | ... | sentinel header (size 0, used) |   <- committed end
 *  flags: bit 0 FREE, bit 1 PREV_FREE (the block before is free; its payload address is the 4 bytes before
 *  this block's header)
 *  check: a 30-bit keyed mix of the payload address and the first word (the key is random per heap)
 *  lists: first level = floor(log2 size) (sizes below 128 share level 0), second level = 16 linear steps;
 *  flMap bit f set iff some slMap[f] is non-zero; slMap[f] bit s set iff list (f, s) is non-empty
 * ```
 * Invariants (checked by `validate()`): the blocks tile the heap exactly; every header's check word matches; no two
 * free blocks are adjacent; every free block is in the list of its size and nowhere else; every list and bitmap bit
 * agrees; the start bitmap marks exactly the used blocks.
 *
 * Metadata that fails closed: nothing read from the heap is followed unchecked. A header must carry its check word
 * and end where the out-of-band bitmaps say the next block starts; a list link must point at a free block (the
 * free-start bitmap) that links back; a back link must name the free block that ends right before. A check that
 * fails raises `CorruptionError` (counted) before anything is written, so an overflow into a header or a write
 * after free never makes the heap hand out memory outside itself or over a live block (the scribble fuzz,
 * `test/scribble.test.ts`). A double free, an interior or a foreign pointer is an `InvalidPointerError`.
 *
 * Alignments up to 8 cost nothing; larger ones over-allocate and give the front back as a free block.
 * Composition limits: hardening wrappers go outside (a `Canary` before a `Tlsf` also protects its in-band headers).
 * An overflow into the next block's header is detected when that header is next read (a free, or the allocation
 * that splits or merges it), not at the moment of the write.
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
  isValidLayout,
  layoutError,
} from "../core/index.js";

const HEADER = 8;
const MIN_SIZE = 16; // next, prev and the back link fit
const FREE = 1;
const PREV_FREE = 2;
const FLAGS = 3;
const SL_BITS = 4;
const SL_SIZE = 1 << SL_BITS;
const SB_BITS = SL_BITS + 3; // sizes below 128 share the first level, in steps of 8
const SB_SIZE = 1 << SB_BITS;
const FL_COUNT = 31 - SB_BITS + 1 + 1;

/** Heap statistics from {@link Tlsf.stats}. */
export interface TlsfStats {
  /** Bytes in used blocks' payloads. */
  readonly usedBytes: number;
  /** Used blocks. */
  readonly usedBlocks: number;
  /** Bytes in free blocks' payloads. */
  readonly freeBytes: number;
  /** Free blocks. */
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
  private readonly heads: Int32Array;
  /** Out of band, one bit per 8 bytes: set where a live block starts. */
  private starts: Int32Array;
  /** Out of band, one bit per 8 bytes: set where a free block (on a list) starts. */
  private frees: Int32Array;
  private corruptions: number;
  /** The memory's 32-bit view, taken again at each public entry (a WebAssembly memory replaces its buffer). */
  private u32: Uint32Array;
  /** The key of the header check words (random per heap). */
  private readonly key: number;

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
    this.frees = new Int32Array(this.starts.length);
    this.u32 = this.memory.u32;
    this.key = randomKey() & 0x3fffffff;
    this.format();
  }

  /**
   * Allocates `size` bytes aligned to `align` (default 8). `NULL` when neither the heap nor its growth can serve it.
   *
   * @throws `LayoutError` for a bad size or alignment (I9).
   */
  allocate(size: number, align = 8): number {
    const m = align - 1;
    if (((size - 1) & 0x3fffffff) + 1 !== size || (m & 0x1fffff) + 1 !== align || (align & m) !== 0) {
      throw layoutError("Tlsf.allocate", size, align);
    }
    return this.allocRaw(size, align);
  }

  /**
   * The raw protocol (see `RawAllocator` in core): `allocate` for a layout the caller has checked.
   * @internal
   */
  allocRaw(size: number, align: number): number {
    if (this.memory.retired) {
      throw new AllocError(
        "Tlsf.allocate: its memory was disposed (the OS mapping is gone); nothing can be allocated from it any more",
      );
    }
    this.u32 = this.memory.u32;
    if (align > 8) return this.allocateAligned(size, align);
    const s = size <= MIN_SIZE ? MIN_SIZE : (size + 7) & ~7;
    let b = this.search(s);
    if (b === NULL) {
      b = this.growFor(s);
      if (b === NULL) return NULL;
    }
    this.take(b, s);
    return b;
  }

  /**
   * The raw protocol: the payload size of the live block `ptr`, or -1 for anything else (any value).
   *
   * @throws `CorruptionError` (counted) when the block's header was overwritten.
   * @internal
   */
  sizeOf(ptr: unknown): number {
    const p = ptr as number;
    if ((p | 0) !== p || (p & 7) !== 0 || p <= this.heapBase || p >= this.heapEnd || !this.isStart(p))
      return -1;
    this.u32 = this.memory.u32;
    return this.checkedHeader("free", p);
  }

  /** The raw protocol: frees a block `sizeOf` just reported live. @internal */
  freeRaw(ptr: number): void {
    this.u32 = this.memory.u32;
    this.release(ptr);
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
    const usable = this.liveSize("deallocate", ptr);
    if (size > usable || (ptr & (align - 1)) !== 0) {
      throw new LayoutError(
        `Tlsf.deallocate: block ${describePointer(ptr)} holds ${usable} bytes, aligned to its address; it cannot have been allocated with size ${size} and align ${align}`,
      );
    }
    this.release(ptr);
  }

  /**
   * Frees a live block without its size (`malloc`-style).
   *
   * @throws as {@link Tlsf.deallocate}.
   */
  free(ptr: number): void {
    this.liveSize("free", ptr);
    this.release(ptr);
  }

  /**
   * Resizes a live block: in place when it shrinks or the next block is free and large enough, else by moving it.
   * Returns the (possibly new) offset, or `NULL` with the old block intact when no memory can be had.
   *
   * @throws as {@link Tlsf.free} for a bad pointer; `LayoutError` for a bad size.
   */
  realloc(ptr: number, newSize: number): number {
    if (!isValidLayout(newSize, 1)) throw layoutError("Tlsf.realloc", newSize, 8);
    const cur = this.liveSize("realloc", ptr);
    const s = newSize <= MIN_SIZE ? MIN_SIZE : (newSize + 7) & ~7;
    const next = ptr + cur + HEADER;
    this.checkNext("realloc", ptr, next);
    if (s <= cur) {
      this.trim(ptr, s);
      return ptr;
    }
    // The last block grows in place: the heap grows behind it (a buffer that keeps growing is not copied each time).
    if (next === this.heapEnd && this.growFor(s - cur) !== NULL) this.u32 = this.memory.u32;
    const nh = this.u32[(next - HEADER) >>> 2]!;
    if (this.isFree(next) && cur + HEADER + (nh & ~FLAGS) >= s) {
      const nsize = this.checkFree("realloc", next);
      this.checkLinks("realloc", next, nsize);
      this.checkTag("realloc", next + nsize + HEADER);
      this.unlink(next, nh & ~FLAGS);
      const merged = cur + HEADER + (nh & ~FLAGS);
      this.put(ptr, merged | (this.u32[(ptr - HEADER) >>> 2]! & PREV_FREE));
      this.clearPrevFree(ptr + merged + HEADER);
      this.trim(ptr, s);
      return ptr;
    }
    const q = this.allocate(newSize, 8);
    if (q === NULL) return NULL;
    this.memory.u8.copyWithin(q, ptr, ptr + cur);
    this.release(ptr);
    return q;
  }

  /** Grows a block (I5): `realloc`, with the contract's checks. */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("Tlsf.grow", oldSize, newSize, align, true);
    this.checkHeld("grow", ptr, oldSize, align);
    if (align > 8 && newSize > this.liveSize("grow", ptr)) return this.move(ptr, oldSize, newSize, align);
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
    const usable = this.liveSize("usableSize", ptr);
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
    return (ptr | 0) === ptr && ptr >= this.heapBase && ptr < this.rangeEnd;
  }

  /** Walks the heap: used and free bytes and blocks, the largest free block, fragmentation. O(blocks). */
  stats(): TlsfStats {
    const u32 = this.memory.u32;
    let usedBytes = 0;
    let usedBlocks = 0;
    let freeBytes = 0;
    let freeBlocks = 0;
    let largest = 0;
    for (let p = this.heapBase + HEADER; p < this.heapEnd;) {
      const h = u32[(p - HEADER) >>> 2]!;
      const size = h & ~FLAGS;
      if (size === 0) break; // the sentinel
      if ((h & FREE) !== 0) {
        freeBytes += size;
        freeBlocks++;
        if (size > largest) largest = size;
      } else {
        usedBytes += size;
        usedBlocks++;
      }
      p += size + HEADER;
    }
    return {
      usedBytes,
      usedBlocks,
      freeBytes,
      freeBlocks,
      largestFreeBlock: largest,
      fragmentation: freeBytes === 0 ? 0 : 1 - largest / freeBytes,
      overheadBytes: (usedBlocks + freeBlocks + 1) * HEADER,
      heapBytes: this.heapEnd - this.heapBase,
    };
  }

  /**
   * The heap block by block: each 8-byte header as `metadata` and each payload as `used` or `free`. The range
   * not committed yet (room to grow) is not listed. O(blocks); allocates.
   */
  regions(): Region[] {
    const u32 = this.memory.u32;
    const out: Region[] = [];
    let p = this.heapBase + HEADER;
    for (; p <= this.heapEnd;) {
      const h = u32[(p - HEADER) >>> 2]!;
      const size = h & ~FLAGS;
      out.push({ offset: p - HEADER, size: HEADER, kind: "metadata" });
      if (size === 0) break; // the sentinel
      out.push({ offset: p, size, kind: (h & FREE) !== 0 ? "free" : "used" });
      p += size + HEADER;
    }
    return out;
  }

  /** Checks every invariant of the module documentation; throws an `Error` naming the first one broken. O(blocks). */
  validate(): void {
    const u32 = this.memory.u32;
    const fail = (what: string): never => {
      throw new Error(`Tlsf.validate: ${what}`);
    };
    const free = new Set<number>();
    let prevFree = false;
    let p = this.heapBase + HEADER;
    for (;;) {
      if (p > this.heapEnd) fail(`block ${p} runs past the heap end ${this.heapEnd}`);
      const h = u32[(p - HEADER) >>> 2]!;
      const size = h & ~FLAGS;
      if (((h & PREV_FREE) !== 0) !== prevFree)
        fail(
          `block ${p}: PREV_FREE is ${(h & PREV_FREE) !== 0}, the block before is ${prevFree ? "free" : "used"}`,
        );
      if (size === 0) {
        if (p !== this.heapEnd) fail(`the sentinel sits at ${p}, not at the heap end ${this.heapEnd}`);
        break;
      }
      if (u32[(p - 4) >>> 2] !== this.tagOf(p, h)) fail(`block ${p} has a wrong check word`);
      if (size < MIN_SIZE || (size & 7) !== 0) fail(`block ${p} has size ${size}`);
      const isFree = (h & FREE) !== 0;
      if (isFree && prevFree) fail(`blocks before ${p} and ${p} are both free (not coalesced)`);
      if (isFree) {
        free.add(p);
        if (u32[(p + size - 4) >>> 2] !== p) fail(`free block ${p} has a wrong back link`);
      }
      if (this.isStart(p) === isFree)
        fail(`the start bitmap says ${isFree ? "used" : "free"} for block ${p}`);
      prevFree = isFree;
      p += size + HEADER;
    }
    let listed = 0;
    for (let f = 0; f < FL_COUNT; f++) {
      for (let s = 0; s < SL_SIZE; s++) {
        const head = this.heads[f * SL_SIZE + s]!;
        if (((this.slMap[f]! >>> s) & 1) !== (head !== NULL ? 1 : 0))
          fail(`slMap[${f}] bit ${s} disagrees with its list`);
        let prev = NULL;
        for (let b = head; b !== NULL; b = u32[b >>> 2]!) {
          if (!free.has(b)) fail(`list (${f}, ${s}) holds ${b}, which is not a free block`);
          const [bf, bs] = mapping(u32[(b - HEADER) >>> 2]! & ~FLAGS);
          if (bf !== f || bs !== s) fail(`free block ${b} is in list (${f}, ${s}), not (${bf}, ${bs})`);
          if (u32[(b + 4) >>> 2] !== prev) fail(`free block ${b} has a wrong prev link`);
          prev = b;
          if (++listed > free.size) fail("a free list has a cycle");
        }
      }
      if ((((this.flMap >>> f) & 1) === 1) !== (this.slMap[f] !== 0))
        fail(`flMap bit ${f} disagrees with slMap[${f}]`);
    }
    if (listed !== free.size) fail(`${free.size} free blocks, ${listed} listed`);
  }

  // ---- internals ----

  /** One free block over the whole committed heap, then the sentinel. */
  private format(): void {
    this.flMap = 0;
    this.slMap.fill(0);
    this.heads.fill(0);
    this.starts.fill(0);
    this.frees.fill(0);
    this.u32 = this.memory.u32;
    const u32 = this.u32;
    const p = this.heapBase + HEADER;
    const size = this.heapEnd - HEADER - p;
    this.put(this.heapEnd, 0 | PREV_FREE); // sentinel: size 0, used
    this.put(p, size | FREE);
    u32[(p + size - 4) >>> 2] = p;
    this.link(p, size);
  }

  private isStart(p: number): boolean {
    const i = (p - this.heapBase) >>> 3;
    return ((this.starts[i >>> 5]! >>> (i & 31)) & 1) === 1;
  }

  /** The payload size of the live block at `ptr`; throws for anything else. */
  private liveSize(what: string, ptr: number): number {
    this.u32 = this.memory.u32;
    if (
      (ptr | 0) !== ptr ||
      (ptr & 7) !== 0 ||
      ptr <= this.heapBase ||
      ptr >= this.heapEnd ||
      !this.isStart(ptr)
    ) {
      throw new InvalidPointerError(
        ptr,
        `Tlsf.${what}: ${describePointer(ptr)} is not a live block (never issued, freed already, an interior or foreign pointer)`,
      );
    }
    return this.checkedHeader(what, ptr);
  }

  /** The payload size in the header of the block at `ptr` (a start bit is set there), checked against the heap. */
  private checkedHeader(what: string, ptr: number): number {
    const h = this.u32[(ptr - HEADER) >>> 2]!;
    const size = h & ~FLAGS;
    const next = ptr + size + HEADER;
    if (
      this.u32[(ptr - 4) >>> 2] !== this.tagOf(ptr, h) ||
      (h & FREE) !== 0 ||
      size < MIN_SIZE ||
      (size & 7) !== 0 ||
      next > this.heapEnd ||
      (next !== this.heapEnd && !this.isStart(next) && !this.isFree(next))
    ) {
      throw this.corrupt(
        what,
        `the header of block ${describePointer(ptr)} was overwritten (an overflow of the block before it)`,
      );
    }
    return size;
  }

  /** Counts a corruption and builds its error. */
  private corrupt(what: string, detail: string): CorruptionError {
    this.corruptions++;
    return new CorruptionError(`Tlsf.${what}: ${detail}; nothing was handed out or freed`);
  }

  /**
   * The check word of a header: a keyed mix of the block's address and its first header word. A program that
   * overwrites a header (an overflow of the block before, a write after free) does not know the key, so the pair no
   * longer matches and the header is refused before anything follows it.
   */
  private tagOf(p: number, h: number): number {
    // 30 bits: the tag and the key stay small integers (Smis), never boxed doubles on the hot path.
    return (Math.imul(p ^ this.key, 0x9e3779b1) ^ Math.imul(h ^ (p >>> 7), 0x85ebca6b)) & 0x3fffffff;
  }

  /** Checks the check word of the header at `p` (a block or the end marker) before it is rewritten. */
  private checkTag(what: string, p: number): void {
    if (this.u32[(p - 4) >>> 2] !== this.tagOf(p, this.u32[(p - HEADER) >>> 2]!))
      throw this.corrupt(what, `the header of block ${describePointer(p)} was overwritten`);
  }

  /** Writes the header of the block at `p`: `h` (size and flags) and its check word. */
  private put(p: number, h: number): void {
    this.u32[(p - HEADER) >>> 2] = h;
    this.u32[(p - 4) >>> 2] = this.tagOf(p, h);
  }

  /** True when a free block (one on a list) starts at `p` (any value: false for anything else). */
  private isFree(p: number): boolean {
    const i = (p - this.heapBase) >>> 3;
    return (p & 7) === 0 && ((this.frees[i >>> 5]! >>> (i & 31)) & 1) === 1;
  }

  /**
   * The size of the free block `b` after checking what its header says against the out-of-band bits: a free block
   * starts there, the header says free, and its size ends at the start of a used block or the heap's end.
   */
  private checkFree(what: string, b: number): number {
    const h = this.u32[(b - HEADER) >>> 2]!;
    const size = h & ~FLAGS;
    const next = b + size + HEADER;
    if (
      !this.isFree(b) ||
      this.u32[(b - 4) >>> 2] !== this.tagOf(b, h) ||
      (h & FREE) === 0 ||
      size < MIN_SIZE ||
      (size & 7) !== 0 ||
      next > this.heapEnd ||
      (next !== this.heapEnd && !this.isStart(next))
    ) {
      throw this.corrupt(what, `the header of free block ${describePointer(b)} was overwritten`);
    }
    return size;
  }

  /** Checks the list links of free block `b` (of `size`): each neighbour is a free block that links back. */
  private checkLinks(what: string, b: number, size: number): void {
    const u32 = this.u32;
    const next = u32[b >>> 2]!;
    const prev = u32[(b + 4) >>> 2]!;
    if (
      (next !== NULL && (!this.isFree(next) || u32[(next + 4) >>> 2] !== b)) ||
      (prev === NULL
        ? this.heads[flOf(size) * SL_SIZE + slOf(size)] !== b
        : !this.isFree(prev) || u32[prev >>> 2] !== b)
    ) {
      throw this.corrupt(
        what,
        `the free-list links of block ${describePointer(b)} were overwritten (a write after free)`,
      );
    }
  }

  /** Checks that `next`, the block after the live block `p`, is a block start (or the heap's end). */
  private checkNext(what: string, p: number, next: number): void {
    if (next !== this.heapEnd && !this.isStart(next) && !this.isFree(next)) {
      throw this.corrupt(what, `the header of block ${describePointer(p)} was overwritten`);
    }
  }

  private checkHeld(what: string, ptr: number, size: number, align: number): void {
    const usable = this.liveSize(what, ptr);
    if (size > usable || (ptr & (align - 1)) !== 0) {
      throw new LayoutError(
        `Tlsf.${what}: block ${describePointer(ptr)} holds ${usable} bytes; not a block of size ${size} and align ${align}`,
      );
    }
  }

  private move(ptr: number, oldSize: number, newSize: number, align: number): number {
    const q = this.allocate(newSize, align);
    if (q === NULL) return NULL;
    this.memory.u8.copyWithin(q, ptr, ptr + oldSize);
    this.release(ptr);
    return q;
  }

  /** Finds a free block of at least `s` bytes (rounded up to its class first, so any block found fits). */
  private search(s: number): number {
    let fl: number;
    let sl: number;
    if (s < SB_SIZE) {
      fl = 0;
      sl = s >>> 3;
    } else {
      const r = s + (1 << (31 - Math.clz32(s) - SL_BITS)) - 1; // round up to the next class boundary
      const f = 31 - Math.clz32(r);
      sl = (r >>> (f - SL_BITS)) ^ SL_SIZE;
      fl = f - (SB_BITS - 1);
      if (fl >= FL_COUNT) return NULL;
    }
    let slBits = this.slMap[fl]! & (~0 << sl);
    if (slBits === 0) {
      const flBits = fl + 1 >= 32 ? 0 : this.flMap & (~0 << (fl + 1));
      if (flBits === 0) return NULL;
      fl = 31 - Math.clz32(flBits & -flBits);
      slBits = this.slMap[fl]!;
    }
    sl = 31 - Math.clz32(slBits & -slBits);
    return this.heads[fl * SL_SIZE + sl]!;
  }

  /** Removes free block `b` from its list, splits off what is not needed, marks it used. */
  private take(b: number, s: number): void {
    const u32 = this.u32;
    const size = this.checkFree("allocate", b);
    this.checkLinks("allocate", b, size);
    this.checkTag("allocate", b + size + HEADER);
    const h = u32[(b - HEADER) >>> 2]!;
    this.unlink(b, size);
    const rest = size - s;
    if (rest >= HEADER + MIN_SIZE) {
      this.put(b, s | (h & PREV_FREE));
      const n = b + s + HEADER;
      const nsize = rest - HEADER;
      this.put(n, nsize | FREE);
      u32[(n + nsize - 4) >>> 2] = n;
      this.link(n, nsize); // the block after n already has PREV_FREE (it followed free b)
    } else {
      this.put(b, size | (h & PREV_FREE));
      this.clearPrevFree(b + size + HEADER);
    }
    const i = (b - this.heapBase) >>> 3;
    this.starts[i >>> 5]! |= 1 << (i & 31);
  }

  /** Frees a live block: coalesces with free neighbours and files the result. */
  private release(p: number): void {
    const u32 = this.u32;
    let h = u32[(p - HEADER) >>> 2]!;
    // The header of `p` itself was checked by whoever decided to free it (liveSize, or sizeOf before freeRaw), or
    // was just written by this heap (a split or a grown end).
    let size = h & ~FLAGS;
    // Check every neighbour the merge will follow before writing anything.
    const next = p + size + HEADER;
    let nsize = -1;
    if (next !== this.heapEnd && this.isFree(next)) {
      nsize = this.checkFree("free", next);
      this.checkLinks("free", next, nsize);
    }
    let prev = NULL;
    let psize = -1;
    if ((h & PREV_FREE) !== 0) {
      prev = u32[(p - HEADER - 4) >>> 2]!;
      if (!this.isFree(prev))
        throw this.corrupt("free", `the header of block ${describePointer(p)} was overwritten`);
      psize = this.checkFree("free", prev);
      if (prev + psize + HEADER !== p)
        throw this.corrupt("free", `the back link before block ${describePointer(p)} was overwritten`);
      this.checkLinks("free", prev, psize);
    }
    this.checkTag("free", nsize >= 0 ? next + nsize + HEADER : next); // its PREV_FREE flag is rewritten below
    const i = (p - this.heapBase) >>> 3;
    this.starts[i >>> 5]! &= ~(1 << (i & 31));
    if (nsize >= 0) {
      this.unlink(next, nsize);
      size += HEADER + nsize;
    }
    if (psize >= 0) {
      this.unlink(prev, psize);
      size += HEADER + psize;
      p = prev;
      h = u32[(prev - HEADER) >>> 2]!;
    }
    this.put(p, size | FREE | (h & PREV_FREE));
    u32[(p + size - 4) >>> 2] = p;
    const after = p + size + HEADER;
    this.put(after, u32[(after - HEADER) >>> 2]! | PREV_FREE);
    this.link(p, size);
  }

  /** Shrinks the used block `p` to `s` bytes, giving a large enough tail back. */
  private trim(p: number, s: number): void {
    const u32 = this.u32;
    const h = u32[(p - HEADER) >>> 2]!;
    const size = h & ~FLAGS;
    const rest = size - s;
    if (rest < HEADER + MIN_SIZE) return;
    this.put(p, s | (h & PREV_FREE));
    const n = p + s + HEADER;
    this.put(n, (rest - HEADER) | 0); // used for a moment, so release() can coalesce it
    const j = (n - this.heapBase) >>> 3;
    this.starts[j >>> 5]! |= 1 << (j & 31);
    this.release(n);
  }

  private clearPrevFree(p: number): void {
    const u32 = this.u32;
    this.put(p, u32[(p - HEADER) >>> 2]! & ~PREV_FREE);
  }

  private link(b: number, size: number): void {
    const fl = flOf(size);
    const sl = slOf(size);
    const k = fl * SL_SIZE + sl;
    const head = this.heads[k]!;
    const u32 = this.u32;
    const i = (b - this.heapBase) >>> 3;
    this.frees[i >>> 5]! |= 1 << (i & 31);
    u32[b >>> 2] = head;
    u32[(b + 4) >>> 2] = NULL;
    if (head !== NULL) u32[(head + 4) >>> 2] = b;
    this.heads[k] = b;
    this.flMap |= 1 << fl;
    this.slMap[fl]! |= 1 << sl;
  }

  private unlink(b: number, size: number): void {
    const u32 = this.u32;
    const i = (b - this.heapBase) >>> 3;
    this.frees[i >>> 5]! &= ~(1 << (i & 31));
    const next = u32[b >>> 2]!;
    const prev = u32[(b + 4) >>> 2]!;
    if (next !== NULL) u32[(next + 4) >>> 2] = prev;
    if (prev !== NULL) {
      u32[prev >>> 2] = next;
      return;
    }
    const fl = flOf(size);
    const sl = slOf(size);
    const k = fl * SL_SIZE + sl;
    this.heads[k] = next;
    if (next === NULL) {
      const bits = this.slMap[fl]! & ~(1 << sl);
      this.slMap[fl] = bits;
      if (bits === 0) this.flMap &= ~(1 << fl);
    }
  }

  /** Grows the committed heap so a block of `s` bytes fits; returns that free block, or `NULL`. */
  private growFor(s: number): number {
    const oldEnd = this.heapEnd;
    // search() looks one size class up (so any block it finds fits): grow by the rounded size.
    const rounded = s < SB_SIZE ? s : s + (1 << (31 - Math.clz32(s) - SL_BITS)) - 1;
    // Compared before any bitwise operation: near 2^30 a sum wraps in 32-bit arithmetic (and would commit memory).
    if (oldEnd + rounded + 2 * HEADER + MIN_SIZE + 7 > this.rangeEnd) return NULL;
    const want = (oldEnd + rounded + 2 * HEADER + MIN_SIZE + 7) & ~7;
    const target = Math.min(this.rangeEnd, Math.max(want, oldEnd + (oldEnd - this.heapBase))) & ~7;
    if (!this.backing.commit(oldEnd, target - oldEnd) && !this.backing.commit(oldEnd, want - oldEnd))
      return NULL;
    const newEnd = Math.min(this.rangeEnd, this.memory.byteLength) & ~7;
    if (newEnd < want) return NULL;
    if (newEnd - this.heapBase >= this.starts.length * 256) {
      const grown = new Int32Array(((newEnd - this.heapBase) >>> 8) + 1);
      grown.set(this.starts);
      this.starts = grown;
      const frees = new Int32Array(grown.length);
      frees.set(this.frees);
      this.frees = frees;
    }
    this.u32 = this.memory.u32;
    const u32 = this.u32;
    // The old sentinel's header becomes the header of a used block spanning the new bytes; releasing it coalesces
    // with a free block before it. A new sentinel closes the heap.
    const p = oldEnd;
    const size = newEnd - HEADER - p;
    const sentinel = u32[(oldEnd - HEADER) >>> 2]!;
    if ((sentinel & ~PREV_FREE) !== 0 || u32[(oldEnd - 4) >>> 2] !== this.tagOf(oldEnd, sentinel))
      throw this.corrupt(
        "allocate",
        `the heap's end marker at ${describePointer(oldEnd - HEADER)} was overwritten`,
      );
    this.put(p, size | (sentinel & PREV_FREE));
    this.put(newEnd, 0);
    this.heapEnd = newEnd;
    const i = (p - this.heapBase) >>> 3;
    this.starts[i >>> 5]! |= 1 << (i & 31);
    this.release(p);
    return this.search(s);
  }

  /** Alignment above 8: take `size + align + 24` and give the front (and the tail) back. */
  private allocateAligned(size: number, align: number): number {
    const s = size <= MIN_SIZE ? MIN_SIZE : (size + 7) & ~7;
    const want = s + align + HEADER + MIN_SIZE;
    if (want > 0x40000000) return NULL;
    let b = this.search(want);
    if (b === NULL) {
      b = this.growFor(want);
      if (b === NULL) return NULL;
    }
    this.take(b, want);
    let q = (b + align - 1) & -align;
    if (q !== b && q - b < HEADER + MIN_SIZE) q += align;
    if (q === b) {
      this.trim(b, s);
      return b;
    }
    // Split the front [b, q) off as its own block and free it.
    const u32 = this.u32;
    const h = u32[(b - HEADER) >>> 2]!;
    const total = h & ~FLAGS;
    const front = q - b - HEADER;
    this.put(b, front | (h & PREV_FREE));
    this.put(q, total - front - HEADER);
    const j = (q - this.heapBase) >>> 3;
    this.starts[j >>> 5]! |= 1 << (j & 31);
    this.release(b);
    this.trim(q, s);
    return q;
  }
}

/** A random 32-bit key: from the platform's cryptographic generator where there is one. */
function randomKey(): number {
  const c = (globalThis as { crypto?: { getRandomValues?(a: Uint32Array): Uint32Array } }).crypto;
  if (typeof c?.getRandomValues === "function") return c.getRandomValues(new Uint32Array(1))[0]! | 0;
  return (Math.random() * 0x100000000) | 0;
}

/** The first level of a free block's list (no tuple: this runs on every free). */
function flOf(size: number): number {
  return size < SB_SIZE ? 0 : 31 - Math.clz32(size) - (SB_BITS - 1);
}

/** The second level of a free block's list. */
function slOf(size: number): number {
  return size < SB_SIZE ? size >>> 3 : (size >>> (31 - Math.clz32(size) - SL_BITS)) ^ SL_SIZE;
}

/** Both levels, for `validate()`. */
function mapping(size: number): [number, number] {
  return [flOf(size), slOf(size)];
}
