/**
 * The page engine under `Heap` and `ConcurrentHeap`: small blocks live in pages of one size class each; where a
 * page's memory comes from is the face's business (`Heap` carves pages from its `Tlsf`, `ConcurrentHeap` takes
 * 64 KiB pages from a pool in shared memory), and so is everything about large blocks.
 *
 * ```text
 *  managed memory (a face's pages, anywhere at or above `base`):
 *  | ... | page (class 48): slot | slot | slot | ... | ... | page (class 256): slot | ... |
 *        ^ start (16-aligned)                  ^ start + bytes = start + cap * cls
 *
 *  owners (Uint16Array, per 16-byte granule from `base`): the id of the page whose live slot starts there, else 0
 *         (out of band for `Heap`; in the shared memory, beside the pages, for `ConcurrentHeap`)
 *  out of band, in this agent's memory (user code cannot reach it):
 *  records (Int32Array): page id -> the offset of its record in meta (0: not a page of this engine)
 *  meta   (Int32Array):
 *    | current record, per class | partial list head, per class | partial list tail, per class | SENTINEL record |
 *    | page record + its stack | page record + its stack | ...
 *    page record (R_WORDS words), then its stack of `cap` words:
 *    | top | trigger | start | bytes | cls | class | cap | blk | blkBytes | next | prev | list | id | free slot ... |
 *      top: free slots on the stack; trigger: the top at which a free has more to do (1 for a full page: it becomes
 *      partial; cap for a partial page: it goes back; -1 for the current page: nothing), so a free makes one
 *      comparison; start..start+bytes: the slots; blk, blkBytes: the memory the face gave the page
 * ```
 *
 * Algebra, per page: `live slots (owners = id) + top = cap` (for `ConcurrentHeap`, + the slots other workers freed
 * that the owner has not collected yet); a slot is either on the page's stack or live, never both. A page is
 * `current` for its class (allocations pop from it), `partial` (on its class's list: some slots free), `full`
 * (no list) or `kept` (empty, on its class's kept list). A page that becomes empty is kept while the face's budget
 * allows (`Heap`: all kept pages within 1/32 of the pages' bytes, or one page), else it goes back to the face at
 * once; so the memory parked in pages is the current page of each class, the kept pages within that budget, and
 * the free slots of partial pages. A class whose pages fill and empty in turn reuses its kept pages instead of
 * carving new ones each time; kept pages go back before the face reports out of memory.
 *
 * Why out of band: a free never reads the block it frees and an allocation never reads the block it hands out, so
 * the hot paths touch no user memory (no cache miss on a random block), and no word a program can overwrite by
 * misusing a block ever steers the engine: double frees, interior and foreign pointers are refused by `owners`,
 * exactly.
 *
 * Complexity: O(1) for every operation (a page is taken from the head of its class's partial list, oldest first:
 * it has collected the most frees). Overhead: a slot rounds a request up to its class (16 .. 16 KiB, four classes
 * per power of two, at most 25%); 2 bytes of `owners` per 16 bytes of the span; 4 bytes per slot (stacks) and 52
 * per page (records) in this agent's memory.
 *
 * @internal The engine is shared by the heap faces; use `Heap` or `ConcurrentHeap`.
 * @module
 */
import {
  InvalidPointerError,
  LayoutError,
  type Memory,
  NULL,
  type Region,
  describePointer,
  isInt32,
  isValidLayout,
  layoutError,
} from "../core/index.js";

// The shared checks, bound to module-local constants: V8 folds those (an imported binding is a load and a check at
// every call, measured at about 0.6 ns per allocate + free on the 64-byte churn).
const validLayout = isValidLayout;
const int32 = isInt32;

// The hot paths use module-local constants only: V8 folds those, while an exported or imported binding is a load
// and a check at every use (measured: about 2x the cost of the whole fast path). The exports below are copies.
const SMALL = 16384;
const GRANULE = 4;

/** The largest request a page serves; larger ones are the face's large blocks. */
export const MAX_SMALL: number = SMALL;
/** The size classes of both heaps: 16 .. 128 in steps of 16, then four per power of two up to 16 KiB. */
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

/** The class index of a request of `size` bytes (1 .. {@link MAX_SMALL}). @internal */
export function classOf(size: number): number {
  return CLASS_OF[(size + 15) >>> 4]!;
}

/** log2 of the granule `owners` describes. */
export const GRANULE_SHIFT: number = GRANULE;

/**
 * Page ids are 16-bit (`owners` holds one per granule) and 0xffff is `REMOTE`: at most this many pages. Past it, a
 * face serves small blocks some other way (`Heap`: as `Tlsf` blocks).
 */
export const MAX_PAGES = 0xfffe;
/**
 * The `owners` value of a slot another worker freed and its page's owner has not collected yet (`ConcurrentHeap`):
 * not live (a second free is refused) and not on the owner's stack (it cannot be handed out).
 */
export const REMOTE = 0xffff;

const LIST_NONE = 0;
const LIST_CURRENT = 1;
const LIST_PARTIAL = 2;
/** An empty page a face keeps for its class instead of giving it back (see {@link PageEngine.keepShare}). */
const LIST_KEPT = 3;

const CLASSES = HEAP_CLASSES.length;
/** Record fields (word offsets from a record's start in `meta`). */
const R_TOP = 0;
const R_TRIGGER = 1;
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
/** A record with no slots (top 0, bytes 0): where nothing is current. */
const SENTINEL = 3 * CLASSES;

/** Record field offsets, for the faces' slow paths. @internal */
export const RECORD = Object.freeze({
  TOP: R_TOP,
  START: R_START,
  BYTES: R_BYTES,
  CLS: R_CLS,
  CLASS: R_CLASS,
  CAP: R_CAP,
  BLK: R_BLK,
  BLK_BYTES: R_BLK_BYTES,
  LIST: R_LIST,
  ID: R_ID,
  WORDS: R_WORDS,
  SENTINEL,
  LIST_NONE,
  LIST_CURRENT,
  LIST_PARTIAL,
  LIST_KEPT,
});

/** Counters of the engine, for the faces' `stats()`. */
export interface PageStats {
  /** Pages held. */
  readonly pages: number;
  /** Bytes of the memory those pages were given (`Heap`: their Tlsf blocks' payloads). */
  readonly pageBytes: number;
  /** Live small blocks. */
  readonly smallBlocks: number;
  /** Bytes of live small blocks' slots (class sizes). */
  readonly smallBytes: number;
  /** Free slots parked in held pages. */
  readonly freeSlots: number;
  /** Empty pages kept for their classes (counted in `pages`; see the module documentation of `Heap`). */
  readonly keptPages: number;
  /** Live small blocks per class (index into {@link HEAP_CLASSES}). */
  readonly classUsage: number[];
}

/**
 * The page engine (see the module documentation) and the checked fast paths of the heap faces built on it: a face
 * extends it, so its hot paths read the engine's fields directly and this module's constants fold into them (V8
 * does not fold a constant imported from another module: each use is a load and a check, measured at 2x the cost of
 * the whole fast path). A face supplies the pages ({@link PageEngine.carvePage}, {@link PageEngine.returnPage}),
 * the large blocks and the slow paths ({@link PageEngine.allocateSlow}, {@link PageEngine.freeSlow}).
 *
 * @internal Use `Heap` or `ConcurrentHeap`.
 */
export abstract class PageEngine {
  /** The memory the heap serves. */
  readonly memory: Memory;
  /** The public class name, for messages. */
  protected readonly label: string;
  /** The first byte `owners` describes. */
  protected readonly base: number;
  /** Bytes from `base` that `owners` covers. */
  protected span: number;
  /** Per 16-byte granule: the id of the page whose live slot starts there, 0 where none does (or `REMOTE`). */
  protected owners: Uint16Array;
  /** Page id -> the offset of its record in `meta` (0: none). */
  protected records: Int32Array;
  /** Class table, records and stacks (see the module documentation). */
  protected meta: Int32Array;
  private metaUsed: number;
  /** Slots per page, by class (the face's page geometry). */
  protected readonly slotsOf: Int32Array;
  /** Record offsets not in use, by class (each keeps its stack for the next page of the class). */
  private readonly spare: number[][];
  /** Pages held. */
  protected pagesHeld: number;
  /** Bytes of the memory the pages held were given (their `blkBytes`). */
  private pageBytesHeld: number;
  /**
   * Per class, the first of its kept empty pages (0: none), linked through their `next` fields. A class whose
   * pages fill and empty in turn (a program that allocates a burst and frees it, again and again) would otherwise
   * carve a page and give it back each time: measured on the recorded jq trace, 710 pages carved and returned per
   * replay.
   */
  private readonly kept: Int32Array;
  /** Bytes of the memory the kept pages were given. */
  private keptBytes: number;
  /**
   * The face's budget for kept empty pages: at most the pages' bytes / 2^keepShare (and one page of any size when
   * that is less); -1 keeps none (a face whose pages other agents need, `ConcurrentHeap`).
   */
  protected keepShare: number;
  /** Corruptions the engine or its face detected. */
  protected corruptions: number;

  /**
   * @param memory - the memory the pages are in.
   * @param base - the first byte `owners` describes (the face sets `owners`, `span` and `records`).
   * @param label - the public class, named in error messages.
   * @param slotsOf - slots per page of each class of {@link HEAP_CLASSES}.
   */
  constructor(memory: Memory, base: number, label: string, slotsOf: Int32Array) {
    this.label = label;
    this.memory = memory;
    this.base = base;
    this.span = 0;
    this.owners = new Uint16Array(0);
    this.records = new Int32Array(256);
    this.meta = new Int32Array(8192);
    this.slotsOf = slotsOf;
    this.spare = HEAP_CLASSES.map(() => []);
    this.metaUsed = 0;
    this.pagesHeld = 0;
    this.pageBytesHeld = 0;
    this.kept = new Int32Array(CLASSES);
    this.keptBytes = 0;
    this.keepShare = -1;
    this.corruptions = 0;
    this.clearPages();
  }

  /**
   * Allocates `size` bytes aligned to `align` (default 8; small blocks are 16-aligned). Returns `NULL` when the
   * memory cannot hold it (I3).
   *
   * @throws `LayoutError` for a bad size or alignment (I9).
   */
  allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError(`${this.label}.allocate`, size, align);
    // The same pop as allocRaw's, written out here on purpose: the public fast path stays one function V8 inlines
    // whole into its caller, with no call between the check and the pop.
    if (size <= SMALL && align <= 16) {
      const meta = this.meta;
      const r = meta[CLASS_OF[(size + 15) >>> 4]!]!;
      const t = (meta[r + R_TOP]! - 1) | 0;
      if (t >= 0) {
        const p = meta[(r + R_WORDS + t) | 0]!;
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
      const r = meta[CLASS_OF[(size + 15) >>> 4]!]!;
      const t = (meta[r + R_TOP]! - 1) | 0;
      if (t >= 0) {
        const p = meta[(r + R_WORDS + t) | 0]!;
        meta[r + R_TOP] = t;
        this.owners[(p - this.base) >>> GRANULE] = meta[r + R_ID]!;
        return p;
      }
    }
    return this.allocateSlow(size, align);
  }

  /**
   * The face's slow path of `allocate`: the current page of the class is exhausted (call {@link PageEngine.refill}),
   * the block is large, or the alignment is above 16. `NULL` when nothing fits.
   */
  protected abstract allocateSlow(size: number, align: number): number;

  /**
   * Frees a block by pointer (the single-agent face; `ConcurrentHeap` has its own, atomic one).
   *
   * @throws `InvalidPointerError` for anything but a live block of this heap; as the face's `freeSlow` otherwise.
   */
  free(block: number | ArrayBufferView): void {
    const ptr = block as number;
    const rel = int32(ptr) ? ptr - this.base : -1; // a typeof test first: no value can make this throw
    const id = rel >>> 0 < this.span && (rel & 15) === 0 ? this.owners[rel >>> GRANULE]! : 0;
    if (id !== 0) {
      this.owners[rel >>> GRANULE] = 0;
      const meta = this.meta;
      const r = this.records[id]!;
      const t = meta[r + R_TOP]!;
      meta[(r + R_WORDS + t) | 0] = ptr;
      meta[r + R_TOP] = (t + 1) | 0;
      if (t + 1 === meta[r + R_TRIGGER]) this.afterFree(r, t + 1);
      return;
    }
    this.freeSlow(block, "free");
  }

  /**
   * The free of a face whose pages other agents free into too (`ConcurrentHeap`): when `ptr` is a live slot of a
   * page this engine holds, its `owners` entry goes from the page's id to 0 by compare-and-swap (another agent's
   * free of the same block may race this one; exactly one wins) and the slot goes back on the stack: true. False
   * when `ptr` is no slot of a page this engine holds (the face looks further).
   *
   * @throws `InvalidPointerError` when the compare-and-swap loses (the block was freed already).
   */
  protected freeAtomic(ptr: number): boolean {
    const rel = int32(ptr) ? ptr - this.base : -1;
    const g = rel >>> GRANULE;
    const id = rel >>> 0 < this.span && (rel & 15) === 0 ? this.owners[g]! : 0;
    const r = this.records[id]!;
    if (r === 0) return false;
    if (Atomics.compareExchange(this.owners, g, id, 0) !== id) throw this.notLive("free", ptr);
    const meta = this.meta;
    const t = meta[r + R_TOP]!;
    meta[(r + R_WORDS + t) | 0] = ptr;
    meta[r + R_TOP] = (t + 1) | 0;
    if (t + 1 === meta[r + R_TRIGGER]) this.afterFree(r, t + 1);
    return true;
  }

  /** The face's free of anything that is not a live slot (a large block, a view, or an error). */
  protected abstract freeSlow(block: unknown, what: string): void;

  /**
   * Frees a block allocated with `size` and `align` (I4): as `free`, and the layout must fit the block.
   *
   * @throws `LayoutError` for a bad layout or one the block cannot have been allocated with; as `free` otherwise.
   */
  deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError(`${this.label}.deallocate`, size, align);
    const m = align - 1;
    const rel = int32(ptr) ? ptr - this.base : -1;
    const id = rel >>> 0 < this.span && (rel & 15) === 0 ? this.owners[rel >>> GRANULE]! : 0;
    if (id !== 0) {
      const meta = this.meta;
      const r = this.records[id]!;
      if (size > meta[r + R_CLS]! || (ptr & m) !== 0)
        throw this.wrongLayout("deallocate", ptr, meta[r + R_CLS]!, size, align);
      this.owners[rel >>> GRANULE] = 0;
      const t = meta[r + R_TOP]!;
      meta[(r + R_WORDS + t) | 0] = ptr;
      meta[r + R_TOP] = (t + 1) | 0;
      if (t + 1 === meta[r + R_TRIGGER]) this.afterFree(r, t + 1);
      return;
    }
    this.deallocateSlow(ptr, size, align);
  }

  /** The face's `deallocate` of anything that is not a live slot (a large block, or an error). */
  protected abstract deallocateSlow(ptr: number, size: number, align: number): void;

  /** The class size of the live slot `ptr`, or 0 when `ptr` is not a live slot (a large block, or nothing). */
  protected slotSize(ptr: number): number {
    const rel = int32(ptr) ? ptr - this.base : -1;
    const id = rel >>> 0 < this.span && (rel & 15) === 0 ? this.owners[rel >>> GRANULE]! : 0;
    if (id === 0 || id === REMOTE) return 0;
    const r = this.records[id]!;
    return r === 0 ? 0 : this.meta[r + R_CLS]!;
  }

  /**
   * The memory was retired (its OS mapping disposed) or the face was released: no class has a current page, so
   * every allocation takes the slow path, which refuses.
   * @internal
   */
  memoryRetired(): void {
    this.meta.fill(SENTINEL, 0, CLASSES);
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

  /** A slot of class `k`: a pop from the current page, else {@link PageEngine.refill}. The slow paths' entry. */
  protected popClass(k: number): number {
    const meta = this.meta;
    const r = meta[k]!;
    const t = (meta[r + R_TOP]! - 1) | 0;
    if (t < 0) return this.refill(k);
    const p = meta[(r + R_WORDS + t) | 0]!;
    meta[r + R_TOP] = t;
    this.owners[(p - this.base) >>> GRANULE] = meta[r + R_ID]!;
    return p;
  }

  /**
   * Slow path of a small allocation of class `k`: the current page is exhausted. The face may serve it first
   * ({@link PageEngine.beforeRefill}); else the oldest partial page (or a new one) becomes current and a slot is
   * popped; with no page to be had, the face decides ({@link PageEngine.pageMiss}).
   */
  protected refill(k: number): number {
    const q = this.beforeRefill(k);
    if (q !== 0) return q;
    let r = this.takePartial(k);
    if (r === 0) {
      r = this.kept[k]!;
      if (r !== 0) this.unkeep(r, 0);
      else {
        r = this.newPage(k);
        if (r === 0 && this.releaseKept()) r = this.newPage(k); // memory parked in other classes' kept pages
        if (r === 0) return this.pageMiss(k);
      }
    }
    const meta = this.meta;
    const old = meta[k]!;
    if (old !== SENTINEL) {
      meta[old + R_LIST] = LIST_NONE; // exhausted (beforeRefill served any slot it got back): full, on no list
      meta[old + R_TRIGGER] = 1; // its first free makes it partial
    }
    meta[k] = r;
    meta[r + R_LIST] = LIST_CURRENT;
    meta[r + R_TRIGGER] = -1;
    const t = (meta[r + R_TOP]! - 1) | 0;
    const p = meta[(r + R_WORDS + t) | 0]!;
    meta[r + R_TOP] = t;
    this.owners[(p - this.base) >>> GRANULE] = meta[r + R_ID]!;
    return p;
  }

  /** A face's chance to serve class `k` before a refill (a pointer), or 0. */
  protected beforeRefill(_k: number): number {
    return 0;
  }

  /** No page could be had for class `k`: the face's fallback, or `NULL`. */
  protected pageMiss(_k: number): number {
    return NULL;
  }

  /**
   * Gives page record `r` (class, cap, cls, bytes set) memory for `bytes` bytes of slots: the face sets
   * `start` (16-aligned), `blk`, `blkBytes` and the page id ({@link PageEngine.bindId}). False when it has none.
   */
  protected abstract carvePage(r: number, bytes: number): boolean;

  /** Takes back the memory of the empty page `r`, and its id; may throw (nothing changed then). */
  protected abstract returnPage(r: number): void;

  /**
   * After a free left `top` free slots in page `r`, and `top` is its trigger: a full page (trigger 1) becomes
   * partial, an empty partial one (trigger cap) goes back to the face. The current page's trigger is -1.
   */
  protected afterFree(r: number, top: number): void {
    const meta = this.meta;
    if (top === meta[r + R_CAP]!) this.emptied(r);
    else this.linkPartial(r);
  }

  /**
   * Gives every kept empty page back to the face (a face calls it before it reports out of memory, so kept pages
   * never make a request fail). True when it gave any back.
   */
  protected releaseKept(): boolean {
    if (this.keptBytes === 0) return false;
    for (let k = 0; k < CLASSES; k++) {
      for (let r = this.kept[k]!; r !== 0; r = this.kept[k]!) {
        this.returnPage(r); // may throw: then the page stays kept
        this.unkeep(r, 0);
        this.forget(r);
      }
    }
    return true;
  }

  /** Forgets every page (the face takes their memory back its own way). */
  protected clearPages(): void {
    this.owners.fill(0);
    this.records.fill(0);
    this.meta.fill(0);
    this.meta.fill(SENTINEL, 0, CLASSES);
    for (const ids of this.spare) ids.length = 0;
    this.metaUsed = SENTINEL + R_WORDS;
    this.pagesHeld = 0;
    this.pageBytesHeld = 0;
    this.kept.fill(0);
    this.keptBytes = 0;
  }

  /** Calls `visit(record)` for every page held. */
  protected forEachPage(visit: (r: number) => void): void {
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
    let keptPages = 0;
    this.forEachPage((r) => {
      const live = meta[r + R_CAP]! - meta[r + R_TOP]!;
      usage[meta[r + R_CLASS]!]! += live;
      pageBytes += meta[r + R_BLK_BYTES]!;
      smallBlocks += live;
      smallBytes += live * meta[r + R_CLS]!;
      freeSlots += meta[r + R_TOP]!;
      if (meta[r + R_LIST] === LIST_KEPT) keptPages++;
    });
    return {
      pages: this.pagesHeld,
      pageBytes,
      smallBlocks,
      smallBytes,
      freeSlots,
      keptPages,
      classUsage: usage,
    };
  }

  /** Every page slot by slot (live slots `used`, free ones `free`; the page's memory around them `metadata`). */
  protected pageSlotRegions(): Region[] {
    const meta = this.meta;
    const slots: Region[] = [];
    this.forEachPage((r) => {
      const start = meta[r + R_START]!;
      const cls = meta[r + R_CLS]!;
      const blk = meta[r + R_BLK]!;
      if (start > blk) slots.push({ offset: blk, size: start - blk, kind: "metadata" });
      for (let i = 0; i < meta[r + R_CAP]!; i++) {
        const p = start + i * cls;
        const live = this.owners[(p - this.base) >>> GRANULE] === meta[r + R_ID];
        slots.push({ offset: p, size: cls, kind: live ? "used" : "free" });
      }
      const end = start + meta[r + R_BYTES]!;
      const blkEnd = blk + meta[r + R_BLK_BYTES]!;
      if (blkEnd > end) slots.push({ offset: end, size: blkEnd - end, kind: "metadata" });
    });
    slots.sort((x, y) => x.offset - y.offset);
    return slots;
  }

  /**
   * Checks the engine's invariants for the pages it holds, with `checkPage(r)` for the face's own, and `pending(r)`
   * the slots of page `r` freed by others and not collected yet (0 for a single-agent face). Throws an `Error`
   * naming the first one broken. O(pages' slots).
   */
  protected validatePages(checkPage: (r: number) => void, pending: (r: number) => number): void {
    const fail = (what: string): never => {
      throw new Error(`${this.label}.validate: ${what}`);
    };
    const meta = this.meta;
    let held = 0;
    let pageBytes = 0;
    let keptBytes = 0;
    let keptPages = 0;
    this.forEachPage((r) => {
      held++;
      const k = meta[r + R_CLASS]!;
      const cls = HEAP_CLASSES[k]!;
      const cap = meta[r + R_CAP]!;
      const start = meta[r + R_START]!;
      if (meta[r + R_CLS] !== cls || cap !== this.slotsOf[k] || meta[r + R_BYTES] !== cap * cls)
        fail(`page ${r}: its record disagrees with class ${k}`);
      if (
        (start & 15) !== 0 ||
        start < meta[r + R_BLK]! ||
        start + cap * cls > meta[r + R_BLK]! + meta[r + R_BLK_BYTES]!
      )
        fail(`page ${r}: slots [${start}, ${start + cap * cls}) do not fit its memory`);
      const top = meta[r + R_TOP]!;
      if (top < 0 || top > cap) fail(`page ${r}: ${top} free slots of ${cap}`);
      const id = meta[r + R_ID]!;
      if (id <= 0 || id > MAX_PAGES || this.records[id] !== r)
        fail(`page ${r}: its id ${id} names record ${this.records[id]}`);
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
      let remote = 0;
      for (let i = 0; i < cap; i++) {
        const owner = this.owners[(start + i * cls - this.base) >>> GRANULE]!;
        if (owner === REMOTE) remote++;
        else if (owner !== 0 && owner !== id) fail(`page ${r}: slot ${i} is marked live in page ${owner}`);
        else if (owner !== 0) live++;
      }
      if (remote !== pending(r)) fail(`page ${r}: ${remote} slots freed by others, ${pending(r)} expected`);
      if (live + top + remote !== cap)
        fail(`page ${r}: ${live} live + ${top} free + ${remote} remote != ${cap}`);
      const list = meta[r + R_LIST]!;
      const current = meta[k] === r;
      if ((list === LIST_CURRENT) !== current)
        fail(`page ${r}: its list (${list}) disagrees with class ${k}'s current`);
      if (meta[r + R_TRIGGER] !== (current ? -1 : list === LIST_NONE ? 1 : cap))
        fail(`page ${r}: its trigger is ${meta[r + R_TRIGGER]}`);
      if (list === LIST_KEPT) {
        keptPages++;
        if (top !== cap) fail(`page ${r} is kept with ${cap - top} live slots`);
        keptBytes += meta[r + R_BLK_BYTES]!;
      }
      pageBytes += meta[r + R_BLK_BYTES]!;
      if (list === LIST_NONE && top !== 0) fail(`page ${r} has free slots but is on no list`);
      if (list === LIST_PARTIAL && (top === 0 || top === cap))
        fail(`page ${r} is listed partial with ${top} free`);
      checkPage(r);
    });
    if (held !== this.pagesHeld) fail(`${held} pages found, ${this.pagesHeld} counted`);
    if (pageBytes !== this.pageBytesHeld)
      fail(`pages of ${pageBytes} bytes found, ${this.pageBytesHeld} counted`);
    if (keptBytes !== this.keptBytes)
      fail(`kept pages of ${keptBytes} bytes found, ${this.keptBytes} counted`);
    let listed = 0;
    for (let k = 0; k < CLASSES; k++) {
      for (let r = this.kept[k]!; r !== 0; r = meta[r + R_NEXT]!) {
        if (meta[r + R_LIST] !== LIST_KEPT || meta[r + R_CLASS] !== k)
          fail(`class ${k}: page ${r} on its kept list is not a kept page of the class`);
        if (++listed > keptPages) fail(`class ${k}: the kept list has a cycle or a page twice`);
      }
    }
    if (listed !== keptPages) fail(`${keptPages} kept pages, ${listed} on the kept lists`);
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

  // ---- for the faces ----

  /** Maps page id `id` to record `r` (`records` grows as needed). */
  protected bindId(r: number, id: number): void {
    if (id >= this.records.length) {
      const grown = new Int32Array(Math.max(this.records.length * 2, id + 1));
      grown.set(this.records);
      this.records = grown;
    }
    this.records[id] = r;
    this.meta[r + R_ID] = id;
  }

  /**
   * A record for a page of class `k` that the face already holds (`ConcurrentHeap` adopting an abandoned page):
   * every field but the stack set, top 0, on no list. 0 when `meta` cannot grow.
   */
  protected adoptRecord(k: number, start: number, blk: number, blkBytes: number): number {
    const cap = this.slotsOf[k]!;
    const spare = this.spare[k]!;
    const r = spare.length > 0 ? spare.pop()! : this.newRecord(cap);
    const meta = this.meta;
    const cls = HEAP_CLASSES[k]!;
    meta[r + R_START] = start;
    meta[r + R_BYTES] = cap * cls;
    meta[r + R_CLS] = cls;
    meta[r + R_CLASS] = k;
    meta[r + R_BLK] = blk;
    meta[r + R_BLK_BYTES] = blkBytes;
    meta[r + R_LIST] = LIST_NONE;
    meta[r + R_TRIGGER] = 1;
    meta[r + R_TOP] = 0;
    this.pagesHeld++;
    this.pageBytesHeld += blkBytes;
    return r;
  }

  /** Pushes the free slot `p` onto page `r`'s stack (the face checked it is one of its slots and not on it). */
  protected pushSlot(r: number, p: number): void {
    const t = this.meta[r + R_TOP]!;
    this.meta[r + R_WORDS + t] = p;
    this.meta[r + R_TOP] = (t + 1) | 0;
  }

  /**
   * After slots came back to page `r` other than by `free` (collected, adopted): an empty page that is not current
   * goes back to the face, a page with room that is on no list becomes partial.
   */
  protected settlePage(r: number): void {
    const meta = this.meta;
    const list = meta[r + R_LIST]!;
    if (list === LIST_CURRENT) return;
    if (list === LIST_KEPT) return;
    const top = meta[r + R_TOP]!;
    if (top === meta[r + R_CAP]!) this.emptied(r);
    else if (top > 0 && list === LIST_NONE) this.linkPartial(r);
  }

  /**
   * Drops page `r` without giving its memory back (`ConcurrentHeap.release` abandons it to other workers): its
   * record goes spare, its id unbound.
   */
  protected dropPage(r: number): void {
    const meta = this.meta;
    if (meta[r + R_LIST] === LIST_PARTIAL) this.unlinkPartial(r);
    else if (meta[r + R_LIST] === LIST_KEPT) this.unkeep(r, this.keptBefore(r));
    const k = meta[r + R_CLASS]!;
    if (meta[k] === r) meta[k] = SENTINEL;
    this.forget(r);
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

  /** A fresh page of class `k` from the face, all its slots free; 0 when the face has none. */
  private newPage(k: number): number {
    const cls = HEAP_CLASSES[k]!;
    const cap = this.slotsOf[k]!;
    const bytes = cap * cls;
    const spare = this.spare[k]!;
    const r = spare.length > 0 ? spare.pop()! : this.newRecord(cap);
    const meta = this.meta;
    meta[r + R_BYTES] = bytes;
    meta[r + R_CLS] = cls;
    meta[r + R_CLASS] = k;
    if (!this.carvePage(r, bytes)) {
      meta[r + R_BLK] = 0;
      spare.push(r);
      return 0;
    }
    const start = meta[r + R_START]!;
    meta[r + R_LIST] = LIST_NONE;
    meta[r + R_TRIGGER] = 1; // on no list (refill makes it current at once)
    // every slot free; the first pop gives the lowest address
    for (let i = 0; i < cap; i++) meta[r + R_WORDS + i] = start + (cap - 1 - i) * cls;
    meta[r + R_TOP] = cap;
    this.pagesHeld++;
    this.pageBytesHeld += meta[r + R_BLK_BYTES]!;
    return r;
  }

  /**
   * Page `r` (not current) has just become empty: kept for its class (first on its kept list) while the budget
   * allows (see {@link PageEngine.keepShare}), else given back to the face.
   */
  private emptied(r: number): void {
    const meta = this.meta;
    const k = meta[r + R_CLASS]!;
    const bytes = meta[r + R_BLK_BYTES]!;
    if (
      this.keepShare >= 0 &&
      this.keptBytes + bytes <= Math.max(bytes, this.pageBytesHeld / 2 ** this.keepShare)
    ) {
      if (meta[r + R_LIST] === LIST_PARTIAL) this.unlinkPartial(r);
      meta[r + R_LIST] = LIST_KEPT;
      meta[r + R_TRIGGER] = meta[r + R_CAP]!; // never reached: every slot is free
      meta[r + R_NEXT] = this.kept[k]!;
      this.kept[k] = r;
      this.keptBytes += bytes;
      return;
    }
    this.releasePage(r);
  }

  /** The kept page before `r` on its class's kept list (0: `r` is the first). O(kept pages of the class). */
  private keptBefore(r: number): number {
    const meta = this.meta;
    let before = 0;
    for (let q = this.kept[meta[r + R_CLASS]!]!; q !== r && q !== 0; q = meta[q + R_NEXT]!) before = q;
    return before;
  }

  /**
   * Takes kept page `r` (after `before` on its class's kept list, 0: first) off the list, as it is about to become
   * current, be given back or be dropped: on no list.
   */
  private unkeep(r: number, before: number): void {
    const meta = this.meta;
    const next = meta[r + R_NEXT]!;
    if (before === 0) this.kept[meta[r + R_CLASS]!] = next;
    else meta[before + R_NEXT] = next;
    meta[r + R_NEXT] = 0;
    this.keptBytes -= meta[r + R_BLK_BYTES]!;
    meta[r + R_LIST] = LIST_NONE;
    meta[r + R_TRIGGER] = 1;
  }

  /** Gives an empty page back to the face and keeps its record (and stack) for its class. */
  private releasePage(r: number): void {
    this.returnPage(r); // may throw: then nothing changed
    if (this.meta[r + R_LIST] === LIST_PARTIAL) this.unlinkPartial(r);
    this.forget(r);
  }

  /** Record `r` holds no page any more: spare for its class. */
  private forget(r: number): void {
    const meta = this.meta;
    this.pageBytesHeld -= meta[r + R_BLK_BYTES]!;
    meta[r + R_BLK] = 0;
    meta[r + R_BLK_BYTES] = 0;
    meta[r + R_START] = 0;
    meta[r + R_TOP] = 0;
    meta[r + R_LIST] = LIST_NONE;
    this.spare[meta[r + R_CLASS]!]!.push(r);
    this.pagesHeld--;
  }

  /** A new record with a stack of `cap` entries (`meta` grows as needed). */
  private newRecord(cap: number): number {
    const r = this.metaUsed;
    if (r + R_WORDS + cap > this.meta.length) {
      const grown = new Int32Array(Math.max(this.meta.length * 2, r + R_WORDS + cap));
      grown.set(this.meta);
      this.meta = grown;
    }
    this.meta[r + R_CAP] = cap; // also what forEachPage steps by
    this.meta[r + R_ID] = 0;
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
    meta[r + R_TRIGGER] = meta[r + R_CAP]!; // the free that empties it gives it back
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
