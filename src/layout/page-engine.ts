/**
 * The page engine under `Heap`: small blocks live in pages of one size class each, carved from a `Tlsf`; large
 * blocks go to the `Tlsf` itself.
 *
 * ```text
 *  managed memory (the Tlsf's heap):
 *  | hdr | page (class 48): slot | slot | slot | ... | hdr | large block ........ | hdr | page (class 256) ... |
 *        ^ pStart (16-aligned)                 ^ pStart + pBytes = pStart + pCap * pCls
 *
 *  out of band, in this agent's memory (user code cannot reach it):
 *  owners (Uint16Array, per 16-byte granule of the heap): the id of the page whose live slot starts there, else 0
 *  records (Int32Array): page id -> the offset of its record in meta
 *  map    (Int32Array, 2 words per 4 KiB unit of the heap): the records of the (at most two) pages whose Tlsf
 *         blocks meet the unit (SENTINEL where none)
 *  meta   (Int32Array):
 *    | current record, per class | partial list head, per class | SENTINEL record | page record + its stack | ...
 *    page record (R_WORDS words), then its stack of R_CAP words:
 *    | top | emptyAt | start | bytes | cls | class | cap | blk | blkBytes | next | prev | list | id | free slot ... |
 *      top: free slots on the stack; emptyAt: cap, or -1 while the page is current (a free that empties a current
 *      page has nothing to do); start..start+bytes: the slots; blk, blkBytes: the page's Tlsf block
 * ```
 *
 * Algebra, per page: `live slots (state 1) + pTop = pCap`; a slot is either on the page's stack or live, never
 * both. A page is `current` for its class (allocations pop from it), `partial` (on its class's list: some slots
 * free), or `full` (no list). An empty page that is not current goes back to the `Tlsf` at once, so the memory
 * parked in pages is at most one empty page per class plus the free slots of partial pages.
 *
 * Why out of band: a free never reads the block it frees and an allocation never reads the block it hands out, so
 * the hot paths touch no user memory (no cache miss on a random block), and no word a program can overwrite ever
 * steers the engine: double frees, interior and foreign pointers are refused by the state byte, exactly.
 *
 * Complexity: O(1) for every operation (a page is taken from the head of its class's partial list, oldest first:
 * it has collected the most frees). Overhead: in the memory, a slot rounds a request up to its class (16 ..
 * 16 KiB, four classes per power of two) and a page's Tlsf block costs 8 to 16 bytes; out of band, about 1/16 of
 * the heap (owners) plus 4 bytes per slot (stacks).
 *
 * @internal The engine is shared by the heap faces; use `Heap`.
 * @module
 */
import {
  AllocError,
  CorruptionError,
  InvalidPointerError,
  LayoutError,
  type Memory,
  NULL,
  type Region,
  describePointer,
  layoutError,
  overlayRegions,
} from "../core/index.js";
import type { Tlsf } from "./tlsf.js";

// The hot paths use module-local constants only: V8 folds those, while an exported or imported binding is a load
// and a check at every use (measured: about 2x the cost of the whole fast path). The exports below are copies.
const SMALL = 16384;
const GRANULE = 4;
const UNIT = 12;

/** The largest request a page serves; larger ones are `Tlsf` blocks. */
export const MAX_SMALL: number = SMALL;
/** The `Heap` size classes: 16 .. 128 in steps of 16, then four per power of two up to 16 KiB (larger requests are `Tlsf` blocks). */
export const HEAP_CLASSES: readonly number[] = (() => {
  const out = [16, 32, 48, 64, 80, 96, 112, 128];
  for (let p = 128; p < MAX_SMALL; p *= 2) for (let q = 1; q <= 4; q++) out.push(p + (p / 4) * q);
  return Object.freeze(out);
})();
/** `CLASS_OF[(size + 15) >>> 4]` is the class index of a request of `size` bytes (1 .. MAX_SMALL). */
const CLASS_OF: Uint8Array = (() => {
  const t = new Uint8Array((MAX_SMALL >>> 4) + 1);
  for (let n = 1, k = 0; n <= MAX_SMALL >>> 4; n++) {
    while (HEAP_CLASSES[k]! < n * 16) k++;
    t[n] = k;
  }
  return t;
})();
/**
 * Slots per page of each class: at least 16 and 16 KiB up to 4 KiB classes, 64 KiB pages above. Larger pages mean
 * fewer refills (measured on the random-size workload: 8 KiB pages of at least 8 slots took the slow path on 23% of
 * allocations and ran 27 ns per step; these run 18 ns) for a little more memory parked in partial pages.
 */
export const CLASS_SLOTS: Int32Array = Int32Array.from(HEAP_CLASSES, (c) =>
  c <= 4096 ? Math.max(16, Math.ceil(16384 / c)) : Math.max(4, Math.floor(65536 / c)),
);

/** log2 of the granule the state bytes describe. */
export const GRANULE_SHIFT: number = GRANULE;
/** log2 of the page map's unit. Pages are larger than a unit, so at most two meet in one. */
export const UNIT_SHIFT: number = UNIT;

/**
 * Page ids are 16-bit (the `owners` table holds one per granule): at most this many pages, 1 GiB of 16 KiB pages.
 * Past it, small blocks are served as `Tlsf` blocks.
 */
const MAX_PAGES = 0xffff;

const LIST_NONE = 0;
const LIST_CURRENT = 1;
const LIST_PARTIAL = 2;

const CLASSES = HEAP_CLASSES.length;
/** Record fields (word offsets from a record's start in `meta`). */
const R_TOP = 0;
const R_EMPTY_AT = 1;
const R_START = 2;
const R_BYTES = 3;
const R_CLS = 4;
const R_CLASS = 5;
const R_CAP = 6;
const R_BLK = 7;
const R_BLK_BYTES = 8;
const R_NEXT = 9;
const R_PREV = 10;
const R_LIST = 11;
const R_ID = 12;
/** Words of a record; its stack follows. */
const R_WORDS = 13;
/**
 * `meta[k]` is the current record of class `k`; `meta[PARTIAL + k]` the head of its partial list (0: none), oldest
 * first, and `meta[PARTIAL_TAIL + k]` its tail.
 */
const PARTIAL = CLASSES;
const PARTIAL_TAIL = 2 * CLASSES;
/** A record with no slots (top 0, bytes 0): where nothing is current and where the map has no page. */
const SENTINEL = 3 * CLASSES;

/** Counters of the engine, for `Heap.stats()`. */
export interface PageStats {
  /** Pages held (carved from the Tlsf and not given back). */
  readonly pages: number;
  /** Bytes of those pages' Tlsf blocks (payloads). */
  readonly pageBytes: number;
  /** Live small blocks. */
  readonly smallBlocks: number;
  /** Bytes of live small blocks' slots (class sizes). */
  readonly smallBytes: number;
  /** Free slots parked in held pages. */
  readonly freeSlots: number;
  /** Live small blocks per class (index into {@link HEAP_CLASSES}). */
  readonly classUsage: number[];
}

/**
 * The page engine (see the module documentation) and the checked fast paths of the heap faces built on it: a face
 * extends it, so its hot paths read the engine's fields directly and this module's constants fold into them (V8
 * does not fold a constant imported from another module: each use is a load and a check, measured at 2x the cost of
 * the whole fast path).
 *
 * @internal Use `Heap`.
 */
export class PageEngine {
  /** The memory the heap serves. */
  readonly memory: Memory;
  /** The general allocator that holds the pages and the large blocks. */
  readonly tlsf: Tlsf;
  /** The public class name, for messages. */
  protected readonly label: string;
  /** The first byte the state bytes and the page map describe (the Tlsf's base). */
  protected readonly base: number;
  /** Bytes from `base` that `owners` and `map` cover; grows with the heap. */
  protected span: number;
  /** Per 16-byte granule: the id of the page whose live slot starts there, 0 where none does. */
  protected owners: Uint16Array;
  /** Page id -> the offset of its record in `meta` (0: none). */
  protected records: Int32Array;
  private nextId: number;
  /** Two record offsets per 4 KiB unit. */
  protected map: Int32Array;
  /** Class table, records and stacks (see the module documentation). */
  protected meta: Int32Array;
  private metaUsed: number;
  /** Record offsets not in use, by class (each keeps its stack for the next page of the class). */
  private readonly spare: number[][];
  private pagesHeld: number;
  /** Corruptions the engine itself detected (a page's Tlsf header found overwritten). */
  protected corruptions: number;

  /** @param label - the public class, named in error messages. */
  constructor(tlsf: Tlsf, label: string) {
    this.label = label;
    this.tlsf = tlsf;
    this.memory = tlsf.memory;
    this.base = tlsf.base();
    this.span = 0;
    this.owners = new Uint16Array(0);
    this.records = new Int32Array(256);
    this.nextId = 1;
    this.map = new Int32Array(0);
    this.meta = new Int32Array(8192);
    this.spare = HEAP_CLASSES.map(() => []);
    this.metaUsed = 0;
    this.pagesHeld = 0;
    this.corruptions = 0;
    this.clearPages();
    this.cover(tlsf.base() + tlsf.stats().heapBytes);
    this.memory.watchRetire(this);
  }

  /**
   * Allocates `size` bytes aligned to `align` (default 8; small blocks are 16-aligned). Returns `NULL` when the
   * memory cannot hold it (I3).
   *
   * @throws `LayoutError` for a bad size or alignment (I9).
   */
  allocate(size: number, align = 8): number {
    const m = align - 1;
    if (((size - 1) & 0x3fffffff) + 1 !== size || (m & 0x1fffff) + 1 !== align || (align & m) !== 0) {
      throw layoutError(`${this.label}.allocate`, size, align);
    }
    // The same pop as allocRaw's, written out here on purpose: the public fast path stays one function V8 inlines
    // whole into its caller, with no call between the check and the pop.
    if (size <= SMALL && align <= 16) {
      const meta = this.meta;
      const r = meta[CLASS_OF[(size + 15) >>> 4]!]!;
      const t = meta[r + R_TOP]! - 1;
      if (t >= 0) {
        const p = meta[r + R_WORDS + t]!;
        meta[r + R_TOP] = t;
        this.owners[(p - this.base) >>> GRANULE] = meta[r + R_ID]!;
        return p;
      }
    }
    return this.allocateSlow(size, align);
  }

  /**
   * The raw protocol (see `RawAllocator` in core): `allocate` for a layout the caller has checked.
   * @internal
   */
  allocRaw(size: number, align: number): number {
    if (size <= SMALL && align <= 16) {
      const meta = this.meta;
      const k = CLASS_OF[(size + 15) >>> 4]!;
      const r = meta[k]!;
      const t = meta[r + R_TOP]! - 1;
      if (t >= 0) {
        const p = meta[r + R_WORDS + t]!;
        meta[r + R_TOP] = t;
        this.owners[(p - this.base) >>> GRANULE] = meta[r + R_ID]!;
        return p;
      }
    }
    return this.allocateSlow(size, align);
  }

  /** The slow path of both: the current page is exhausted (a refill), or the block is large (the Tlsf). */
  private allocateSlow(size: number, align: number): number {
    if (this.memory.retired) {
      throw new AllocError(
        `${this.label}.allocate: its memory was disposed (the OS mapping is gone); nothing can be allocated from it any more`,
      );
    }
    if (size <= SMALL && align <= 16) return this.refill(CLASS_OF[(size + 15) >>> 4]!);
    return this.tlsf.allocRaw(size, align);
  }

  /**
   * Frees a block by pointer, or by a view that a typed helper returned.
   *
   * @throws `InvalidPointerError` for anything but a live block of this heap (a double free, an interior or foreign
   *   pointer, a view over another memory); `CorruptionError` (counted) when a large block's header was overwritten.
   */
  free(block: number | ArrayBufferView): void {
    const ptr = block as number;
    const rel = ptr - this.base;
    const id =
      (ptr | 0) === ptr && rel >>> 0 < this.span && (rel & 15) === 0 ? this.owners[rel >>> GRANULE]! : 0;
    if (id !== 0) {
      this.owners[rel >>> GRANULE] = 0;
      const meta = this.meta;
      const r = this.records[id]!;
      const t = meta[r + R_TOP]!;
      meta[r + R_WORDS + t] = ptr;
      meta[r + R_TOP] = t + 1;
      if (t === 0 || t + 1 === meta[r + R_EMPTY_AT]) this.afterFree(r, t + 1);
      return;
    }
    this.freeSlow(block, "free");
  }

  /**
   * Frees a block allocated with `size` and `align` (I4): as `free`, and the layout must fit the block.
   *
   * @throws `LayoutError` for a bad layout or one the block cannot have been allocated with; as `free` otherwise.
   */
  deallocate(ptr: number, size: number, align = 8): void {
    const m = align - 1;
    if (((size - 1) & 0x3fffffff) + 1 !== size || (m & 0x1fffff) + 1 !== align || (align & m) !== 0) {
      throw layoutError(`${this.label}.deallocate`, size, align);
    }
    const rel = ptr - this.base;
    const id =
      (ptr | 0) === ptr && rel >>> 0 < this.span && (rel & 15) === 0 ? this.owners[rel >>> GRANULE]! : 0;
    if (id !== 0) {
      const meta = this.meta;
      const r = this.records[id]!;
      if (size > meta[r + R_CLS]! || (ptr & m) !== 0)
        throw this.wrongLayout("deallocate", ptr, meta[r + R_CLS]!, size, align);
      this.owners[rel >>> GRANULE] = 0;
      const t = meta[r + R_TOP]!;
      meta[r + R_WORDS + t] = ptr;
      meta[r + R_TOP] = t + 1;
      if (t === 0 || t + 1 === meta[r + R_EMPTY_AT]) this.afterFree(r, t + 1);
      return;
    }
    this.deallocateLarge(ptr, size, align);
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

  /**
   * The memory was retired (its OS mapping disposed): no class has a current page, so every allocation takes the
   * slow path, which refuses.
   * @internal
   */
  memoryRetired(): void {
    this.meta.fill(SENTINEL, 0, CLASSES);
  }

  /** The class size of the live slot `ptr`, or 0 when `ptr` is not a live slot (a large block, or nothing). */
  protected slotSize(ptr: number): number {
    const rel = ptr - this.base;
    const id =
      (ptr | 0) === ptr && rel >>> 0 < this.span && (rel & 15) === 0 ? this.owners[rel >>> GRANULE]! : 0;
    return id === 0 ? 0 : this.meta[this.records[id]! + R_CLS]!;
  }

  /** The raw protocol: frees a block `sizeOf` just reported live. @internal */
  freeRaw(ptr: number): void {
    this.free(ptr);
  }

  /** An `InvalidPointerError` for `ptr`, naming the public method. */
  protected notLive(what: string, ptr: unknown): InvalidPointerError {
    return new InvalidPointerError(
      ptr,
      `${this.label}.${what}: ${describePointer(ptr)} is not a live block of this heap (never issued, freed already, an interior or foreign pointer)`,
    );
  }

  /** A `LayoutError` for a block that cannot have been allocated with `size` and `align`. */
  protected wrongLayout(what: string, ptr: number, usable: number, size: number, align: number): LayoutError {
    return new LayoutError(
      `${this.label}.${what}: block ${describePointer(ptr)} holds ${usable} bytes, aligned to its address; it cannot have been allocated with size ${size} and align ${align}`,
    );
  }

  private deallocateLarge(ptr: number, size: number, align: number): void {
    const usable = this.largeSize("deallocate", ptr);
    if (size > usable || (ptr & (align - 1)) !== 0)
      throw this.wrongLayout("deallocate", ptr, usable, size, align);
    this.tlsf.freeRaw(ptr);
  }

  private freeSlow(block: unknown, what: string): void {
    let ptr = block;
    if (typeof block === "object" && block !== null && ArrayBuffer.isView(block)) {
      if (block.buffer !== this.memory.buffer)
        throw new InvalidPointerError(
          block,
          `${this.label}.${what}: the view is not over this heap's memory`,
        );
      ptr = block.byteOffset;
      const rel = block.byteOffset - this.base;
      if (rel >>> 0 < this.span && (rel & 15) === 0 && this.owners[rel >>> GRANULE] !== 0) {
        this.free(block.byteOffset);
        return;
      }
    }
    this.largeSize(what, ptr);
    this.tlsf.freeRaw(ptr as number);
  }

  /** The payload of the live large block `ptr`; throws for anything else. */
  private largeSize(what: string, ptr: unknown): number {
    if (this.isPageBlock(ptr as number)) throw this.notLive(what, ptr);
    const usable = this.tlsf.sizeOf(ptr);
    if (usable < 0) throw this.notLive(what, ptr);
    return usable;
  }

  /**
   * Slow path of a small allocation of class `k`: the current page is exhausted. Makes the oldest partial page (or a
   * new one) current and pops a slot; with no room for a page, the block is a Tlsf block. `NULL` when neither fits.
   */
  protected refill(k: number): number {
    let r = this.takePartial(k);
    if (r === 0) {
      r = this.newPage(k);
      // No room for a whole page: the block itself may still fit, as a Tlsf block (the frees find it there).
      if (r === 0) return this.tlsf.allocRaw(HEAP_CLASSES[k]!, 16);
    }
    const meta = this.meta;
    const old = meta[k]!;
    if (old !== SENTINEL) {
      meta[old + R_LIST] = LIST_NONE; // exhausted: full, on no list
      meta[old + R_EMPTY_AT] = meta[old + R_CAP]!;
    }
    meta[k] = r;
    meta[r + R_LIST] = LIST_CURRENT;
    meta[r + R_EMPTY_AT] = -1;
    const t = meta[r + R_TOP]! - 1;
    const p = meta[r + R_WORDS + t]!;
    meta[r + R_TOP] = t;
    this.owners[(p - this.base) >>> GRANULE] = meta[r + R_ID]!;
    return p;
  }

  /**
   * After a free left `top` free slots in page `r`, and `top` is 1 (it was full) or its `emptyAt` (it is empty and
   * not current): a full page becomes partial, an empty one goes back to the Tlsf.
   */
  protected afterFree(r: number, top: number): void {
    const meta = this.meta;
    const list = meta[r + R_LIST]!;
    if (list === LIST_CURRENT) return; // the current page stays, empty or not
    if (top === meta[r + R_CAP]!) {
      this.releasePage(r);
    } else if (list === LIST_NONE) {
      this.linkPartial(r);
    }
  }

  /** True when `ptr` is the Tlsf block of a page (which only the engine may free). */
  protected isPageBlock(ptr: number): boolean {
    const rel = ptr - this.base;
    if ((ptr | 0) !== ptr || rel >>> 0 >= this.span) return false;
    const u = (rel >>> UNIT) << 1;
    return this.meta[this.map[u]! + R_BLK] === ptr || this.meta[this.map[u + 1]! + R_BLK] === ptr;
  }

  /** Forgets every page (their memory goes with the Tlsf's reset). */
  protected clearPages(): void {
    this.owners.fill(0);
    this.records.fill(0);
    this.nextId = 1;
    this.map.fill(SENTINEL);
    this.meta.fill(0);
    this.meta.fill(SENTINEL, 0, CLASSES);
    for (const ids of this.spare) ids.length = 0;
    this.metaUsed = SENTINEL + R_WORDS;
    this.pagesHeld = 0;
  }

  /** Makes the out-of-band tables cover the heap up to `end` (called when the Tlsf may have grown). */
  private cover(end: number): void {
    const want = end - this.base;
    if (want <= this.span) return;
    const span = Math.max(want, Math.min(this.tlsf.capacityBytes(), this.span * 2));
    const owners = new Uint16Array((span >>> GRANULE) + 1);
    owners.set(this.owners);
    const map = new Int32Array(((span >>> UNIT) + 2) * 2).fill(SENTINEL);
    map.set(this.map);
    this.owners = owners;
    this.map = map;
    this.span = span;
  }

  /** Calls `visit(record)` for every page held. */
  private forEachPage(visit: (r: number) => void): void {
    for (let r = SENTINEL + R_WORDS; r < this.metaUsed; r += R_WORDS + this.meta[r + R_CAP]!) {
      if (this.meta[r + R_BLK] !== 0) visit(r);
    }
  }

  /** Counters (O(pages)). */
  protected pageStats(): PageStats {
    const meta = this.meta;
    const usage = new Array<number>(CLASSES).fill(0);
    let pageBytes = 0;
    let smallBlocks = 0;
    let smallBytes = 0;
    let freeSlots = 0;
    this.forEachPage((r) => {
      const live = meta[r + R_CAP]! - meta[r + R_TOP]!;
      usage[meta[r + R_CLASS]!]! += live;
      pageBytes += meta[r + R_BLK_BYTES]!;
      smallBlocks += live;
      smallBytes += live * meta[r + R_CLS]!;
      freeSlots += meta[r + R_TOP]!;
    });
    return { pages: this.pagesHeld, pageBytes, smallBlocks, smallBytes, freeSlots, classUsage: usage };
  }

  /** The Tlsf's regions with every page shown slot by slot (live slots `used`, free ones `free`). */
  protected pageRegions(): Region[] {
    const meta = this.meta;
    const slots: Region[] = [];
    this.forEachPage((r) => {
      const start = meta[r + R_START]!;
      const cls = meta[r + R_CLS]!;
      const blk = meta[r + R_BLK]!;
      if (start > blk) slots.push({ offset: blk, size: start - blk, kind: "metadata" });
      for (let i = 0; i < meta[r + R_CAP]!; i++) {
        const p = start + i * cls;
        const live = this.owners[(p - this.base) >>> GRANULE] !== 0;
        slots.push({ offset: p, size: cls, kind: live ? "used" : "free" });
      }
      const end = start + meta[r + R_BYTES]!;
      const blkEnd = blk + meta[r + R_BLK_BYTES]!;
      if (blkEnd > end) slots.push({ offset: end, size: blkEnd - end, kind: "metadata" });
    });
    slots.sort((x, y) => x.offset - y.offset);
    return overlayRegions(this.tlsf.regions(), slots);
  }

  /**
   * Checks the engine's invariants (and the Tlsf's); throws an `Error` naming the first one broken. O(heap).
   */
  protected validatePages(): void {
    const fail = (what: string): never => {
      throw new Error(`${this.label}.validate: ${what}`);
    };
    const meta = this.meta;
    this.tlsf.validate();
    let liveStates = 0;
    for (let g = 0; g < this.owners.length; g++) if (this.owners[g] !== 0) liveStates++;
    let liveSlots = 0;
    let held = 0;
    this.forEachPage((r) => {
      held++;
      const k = meta[r + R_CLASS]!;
      const cls = HEAP_CLASSES[k]!;
      const cap = meta[r + R_CAP]!;
      const start = meta[r + R_START]!;
      const blk = meta[r + R_BLK]!;
      const blkBytes = meta[r + R_BLK_BYTES]!;
      if (meta[r + R_CLS] !== cls || cap !== CLASS_SLOTS[k] || meta[r + R_BYTES] !== cap * cls)
        fail(`page ${r}: its record disagrees with class ${k}`);
      if (this.tlsf.sizeOf(blk) !== blkBytes) fail(`page ${r}: its Tlsf block ${blk} is not live`);
      if (start !== ((blk + 15) & ~15) || start + cap * cls > blk + blkBytes)
        fail(`page ${r}: slots [${start}, ${start + cap * cls}) do not fit its block ${blk}`);
      const top = meta[r + R_TOP]!;
      if (top < 0 || top > cap) fail(`page ${r}: ${top} free slots of ${cap}`);
      const seen = new Set<number>();
      for (let i = 0; i < top; i++) {
        const p = meta[r + R_WORDS + i]!;
        if (p < start || p >= start + cap * cls || (p - start) % cls !== 0)
          fail(`page ${r}: free entry ${p} is not one of its slots`);
        if (seen.has(p)) fail(`page ${r}: slot ${p} is free twice`);
        if (this.owners[(p - this.base) >>> GRANULE] !== 0) fail(`page ${r}: free slot ${p} is marked live`);
        seen.add(p);
      }
      let live = 0;
      const id = meta[r + R_ID]!;
      if (this.records[id] !== r) fail(`page ${r}: its id ${id} names record ${this.records[id]}`);
      for (let i = 0; i < cap; i++) {
        const owner = this.owners[(start + i * cls - this.base) >>> GRANULE]!;
        if (owner !== 0 && owner !== id) fail(`page ${r}: slot ${i} is marked live in page ${owner}`);
        if (owner !== 0) live++;
      }
      if (live + top !== cap) fail(`page ${r}: ${live} live + ${top} free slots != ${cap}`);
      liveSlots += live;
      for (let u = (blk - this.base) >>> UNIT; u <= (blk + blkBytes - 1 - this.base) >>> UNIT; u++)
        if (this.map[2 * u] !== r && this.map[2 * u + 1] !== r)
          fail(`page ${r} is missing from the map at unit ${u}`);
      const list = meta[r + R_LIST]!;
      const current = meta[k] === r;
      if ((list === LIST_CURRENT) !== current)
        fail(`page ${r}: its list (${list}) disagrees with class ${k}'s current`);
      if (meta[r + R_EMPTY_AT] !== (current ? -1 : cap))
        fail(`page ${r}: emptyAt is ${meta[r + R_EMPTY_AT]}`);
      if (list === LIST_NONE && top !== 0) fail(`page ${r} has free slots but is on no list`);
      if (list === LIST_PARTIAL && (top === 0 || top === cap))
        fail(`page ${r} is listed partial with ${top} free`);
    });
    if (held !== this.pagesHeld) fail(`${held} pages found, ${this.pagesHeld} counted`);
    if (liveStates !== liveSlots) fail(`${liveStates} live state bytes, ${liveSlots} live slots in pages`);
    for (let k = 0; k < CLASSES; k++) {
      let n = 0;
      let last = 0;
      for (let r = meta[PARTIAL + k]!, prev = 0; r !== 0; prev = r, r = meta[r + R_NEXT]!) {
        if (meta[r + R_LIST] !== LIST_PARTIAL || meta[r + R_CLASS] !== k)
          fail(`class ${k}: page ${r} on its partial list`);
        if (meta[r + R_PREV] !== prev) fail(`class ${k}: page ${r} has a wrong prev link`);
        if (++n > held) fail(`class ${k}: the partial list has a cycle`);
        last = r;
      }
      if (meta[PARTIAL_TAIL + k] !== last) fail(`class ${k}: the partial list's tail is not its last page`);
    }
  }

  // ---- internals ----

  /**
   * Unlinks and returns the partial page of class `k` that has waited longest (0: none). It has had the most time to
   * collect frees, so it serves the most allocations before the next refill (the fullest page would serve one).
   */
  private takePartial(k: number): number {
    const r = this.meta[PARTIAL + k]!;
    if (r !== 0) this.unlinkPartial(r);
    return r;
  }

  /** A fresh page of class `k` from the Tlsf, all its slots free; 0 when the Tlsf has no room. */
  private newPage(k: number): number {
    const cls = HEAP_CLASSES[k]!;
    const cap = CLASS_SLOTS[k]!;
    const bytes = cap * cls;
    const spare = this.spare[k]!;
    const r = spare.length > 0 ? spare.pop()! : this.newRecord(cap);
    if (r === 0) return 0; // every page id is taken
    const blk = this.tlsf.allocRaw(bytes + 8, 8); // 8 spare bytes: the slots start 16-aligned
    if (blk === NULL) {
      spare.push(r);
      return 0;
    }
    const blkBytes = this.tlsf.sizeOf(blk);
    this.cover(blk + blkBytes);
    const meta = this.meta;
    const start = (blk + 15) & ~15;
    meta[r + R_START] = start;
    meta[r + R_BYTES] = bytes;
    meta[r + R_CLS] = cls;
    meta[r + R_CLASS] = k;
    meta[r + R_CAP] = cap;
    meta[r + R_BLK] = blk;
    meta[r + R_BLK_BYTES] = blkBytes;
    meta[r + R_LIST] = LIST_NONE;
    meta[r + R_EMPTY_AT] = cap;
    // every slot free; the first pop gives the lowest address
    for (let i = 0; i < cap; i++) meta[r + R_WORDS + i] = start + (cap - 1 - i) * cls;
    meta[r + R_TOP] = cap;
    const map = this.map;
    for (
      let u = (blk - this.base) >>> UNIT, last = (blk + blkBytes - 1 - this.base) >>> UNIT;
      u <= last;
      u++
    ) {
      if (map[2 * u] === SENTINEL) map[2 * u] = r;
      else map[2 * u + 1] = r;
    }
    this.pagesHeld++;
    return r;
  }

  /** Gives an empty page's block back to the Tlsf and keeps its record (and stack) for its class. */
  private releasePage(r: number): void {
    const meta = this.meta;
    const map = this.map;
    const blk = meta[r + R_BLK]!;
    if (this.tlsf.sizeOf(blk) !== meta[r + R_BLK_BYTES]) {
      // The page's Tlsf header no longer says what the engine carved: keep the page (its slots stay free and
      // usable), hand nothing back, and say so.
      this.corruptions++;
      if (meta[r + R_LIST] === LIST_NONE) this.linkPartial(r);
      throw new CorruptionError(
        `${this.label}.free: the Tlsf header of page ${describePointer(blk)} was overwritten (an overflow of the block before it); the page is kept`,
      );
    }
    if (meta[r + R_LIST] === LIST_PARTIAL) this.unlinkPartial(r);
    const last = (blk + meta[r + R_BLK_BYTES]! - 1 - this.base) >>> UNIT;
    for (let u = (blk - this.base) >>> UNIT; u <= last; u++) {
      if (map[2 * u] === r) {
        map[2 * u] = map[2 * u + 1]!;
        map[2 * u + 1] = SENTINEL;
      } else if (map[2 * u + 1] === r) map[2 * u + 1] = SENTINEL;
    }
    this.tlsf.freeRaw(blk);
    meta[r + R_BLK] = 0;
    meta[r + R_BLK_BYTES] = 0;
    meta[r + R_START] = 0;
    meta[r + R_BYTES] = 0;
    meta[r + R_TOP] = 0;
    meta[r + R_LIST] = LIST_NONE;
    this.spare[meta[r + R_CLASS]!]!.push(r);
    this.pagesHeld--;
  }

  /** A new record with a stack of `cap` entries (`meta` grows as needed). */
  /** A new record with a stack of `cap` entries and its page id; 0 when all {@link MAX_PAGES} ids are taken. */
  private newRecord(cap: number): number {
    const id = this.nextId;
    if (id > MAX_PAGES) return 0;
    const r = this.metaUsed;
    if (r + R_WORDS + cap > this.meta.length) {
      const grown = new Int32Array(Math.max(this.meta.length * 2, r + R_WORDS + cap));
      grown.set(this.meta);
      this.meta = grown;
    }
    if (id >= this.records.length) {
      const grown = new Int32Array(this.records.length * 2);
      grown.set(this.records);
      this.records = grown;
    }
    this.meta[r + R_CAP] = cap; // also what forEachPage steps by
    this.meta[r + R_ID] = id;
    this.records[id] = r;
    this.nextId = id + 1;
    this.metaUsed = r + R_WORDS + cap;
    return r;
  }

  /** Appends page `r` to the tail of its class's partial list. */
  private linkPartial(r: number): void {
    const meta = this.meta;
    const k = meta[r + R_CLASS]!;
    const tail = meta[PARTIAL_TAIL + k]!;
    meta[r + R_PREV] = tail;
    meta[r + R_NEXT] = 0;
    if (tail !== 0) meta[tail + R_NEXT] = r;
    else meta[PARTIAL + k] = r;
    meta[PARTIAL_TAIL + k] = r;
    meta[r + R_LIST] = LIST_PARTIAL;
  }

  private unlinkPartial(r: number): void {
    const meta = this.meta;
    const k = meta[r + R_CLASS]!;
    const next = meta[r + R_NEXT]!;
    const prev = meta[r + R_PREV]!;
    if (next !== 0) meta[next + R_PREV] = prev;
    else meta[PARTIAL_TAIL + k] = prev;
    if (prev !== 0) meta[prev + R_NEXT] = next;
    else meta[PARTIAL + k] = next;
    meta[r + R_NEXT] = 0;
    meta[r + R_PREV] = 0;
    meta[r + R_LIST] = LIST_NONE;
  }
}
