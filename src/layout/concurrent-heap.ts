/**
 * `ConcurrentHeap`: `malloc`/`free` for several workers over one shared memory: the page engine of `Heap`, with
 * pages that belong to one worker each (after mimalloc). A worker allocates from its own pages with no atomic
 * operation at all (a pop from the page's free-slot stack, in its own agent's memory); its free of its own block is
 * one compare-and-swap of the block's `owners` entry (so it and another worker's free of the same block cannot both
 * pass). Another worker's free turns the entry into `REMOTE` with the same compare-and-swap and sets the block's bit
 * in the page's remote-free bitmap; the owner collects those when it runs out of slots. A page whose slots are all
 * free goes back to the pool for any worker, class or large block; a worker that leaves (`release()`) abandons its
 * other pages, and any worker adopts them.
 *
 * Every step a worker can be stopped at (a `Worker` terminated, a process killed) leaves pages that `reclaim` can
 * account for: abandoning a page is one store of its owner word (then the abandon generation moves on, and each
 * worker scans the page headers for abandoned pages once per generation it has not seen; `reclaim` moves it on
 * too, for a worker stopped between the two), and a worker about to take pages from the cursor first writes
 * their range into its slot (its intent) and clears it once their owner words name it, so `reclaim` frees the
 * pages a stopped worker had taken but not yet marked.
 *
 * ```text
 *  shared memory:
 *  control (256 B) | worker slots (64 x 128 B) | page headers (64 B per page) | owners (2 B per 16 B of pages) |
 *  remote bits (1 bit per 16 B of pages) | pages (64 KiB each, 64 KiB-aligned) ...
 *  control: magic | pages | cursor | free-page scan hint | abandon generation | region offsets | attached-worker bitmap
 *  worker slot: frees | remote frees | remote frees pending | reclaim flag | pid | process start stamp |
 *    intent: first page and count of the pages it is taking from the cursor (0 when none) | ...
 *  page header: owner (worker + 1; 0 free; -1 abandoned; -2 never used) | class size (or -pages for a large span's
 *    head, 0 for its tail) | remote frees to collect
 *  owners: per 16-byte granule, the page id (page number + 1) where a live block starts, REMOTE (0xffff) where
 *    another worker freed one the owner has not collected, else 0
 *  in each worker's own memory (the page engine): its pages' records and free-slot stacks, its class table
 * ```
 *
 * Metadata that fails closed: nothing that steers an allocation or a free lives inside a block, so a write after free
 * or an overflow into a freed block changes nothing the heap reads. Every free is decided by the `owners` entry (a
 * compare-and-swap from the page's id), so double frees, interior and foreign pointers are refused exactly, from any
 * worker. A remote-free bit is only a hint: the owner takes a slot back only where `owners` says `REMOTE`, and pushes
 * at most a page's capacity. The shared words that steer the page scans are checked before they are followed: a page
 * cursor outside `0..pageCount` raises a counted `CorruptionError` (and `validate()` names it), and a scan's start
 * hint outside the pages taken is ignored.
 *
 * Classes: `Heap`'s, 16 .. 16 KiB in four steps per power of two (16-byte aligned; a power-of-two class for larger
 * alignments up to 16 KiB); larger blocks take whole pages. Everything shared lives in the memory; `share()` /
 * `attach()` hand it to another worker, and formatting a range that holds a heap with attached workers is refused.
 *
 * Across processes: over a memory several processes map (`SharedMmapBacked` of forge-alloc/os, whose
 * `processSharing` this module reads through core's `ProcessSharing` interface), each process joins with
 * `ConcurrentHeap.join(backing)` and gets a worker slot that records its pid and start stamp; `reclaimDead()` takes
 * over the pages of the workers whose process ended. The `placement` option (`PagePlacement`) is called with every
 * page a worker takes, before any block of it is handed out (`NumaPagePlacement` binds it to the worker's node);
 * it runs on the slow path only.
 *
 * Complexity: O(1) allocate and free; taking a page when none is at hand scans the page headers (O(pages)), and
 * collecting remote frees scans the pages this worker owns that have some (128 words of bits each); adopting
 * abandoned pages scans the page headers once per abandon generation (each `release()` or reclaim moves it on). Overhead in the
 * memory: 2 bytes of `owners` and 1 bit per 16 bytes of pages (about 13%), a 64-byte header per page, rounding to the
 * class (at most 25%); in each worker's own memory, 4 bytes per slot of its pages.
 * Composition limits: frees must come from a worker attached to this heap; `share()` refuses a heap in a mapping
 * processes share (its buffer would be copied): other processes and workers map it again and `join`.
 *
 * @example
 * ```ts
 * const heap = new ConcurrentHeap(new SharedArrayBufferBacked(64 << 20));
 * const message = heap.share(); // post it to a worker: new Worker(url, { workerData: message })
 * const mine = ConcurrentHeap.attach(message); // in the worker
 * const p = mine.malloc(100);
 * mine.free(p);
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  CorruptionError,
  type FixedRange,
  Memory,
  NULL,
  type PagePlacement,
  type PlacementStats,
  type ProcessSharing,
  UnsupportedError,
  checkCarvable,
  checkResize,
  describePointer,
  isFixedRange,
  isInt32,
  isValidLayout,
  layoutError,
  moveBlock,
  processSharingOf,
  zeroBlock,
} from "../core/index.js";
import { StaticBacked } from "../backing/index.js";
import { HEAP_CLASSES, MAX_PAGES, MAX_SMALL, PageEngine, RECORD, REMOTE, classOf } from "./page-engine.js";

const { START, CLS, CAP, TOP, ID, BLK } = RECORD;
const PAGE_SHIFT = 16;
const PAGE = 1 << PAGE_SHIFT;
/** Granules (16 B) per page, and words of remote bits per page. */
const PAGE_GRANULES = PAGE >>> 4;
const PAGE_BIT_WORDS = PAGE_GRANULES >>> 5;
const MAX_WORKERS = 64;
const SLOT_BYTES = 128; // a worker's counters get their own cache lines
const MAGIC = 0x6368_6562; // "cheb": the page-engine format
// control words
const C_MAGIC = 0;
const C_PAGES = 1; // page count
const C_NEXT_PAGE = 2; // bump cursor (pages): read through cursorOf(), which checks it
const C_FREE_HINT = 3; // where the next scan for a free page starts
const C_ABANDONED = 4; // abandon generation: moves on after pages are marked abandoned (workers then scan for them)
const C_SLOTS = 5; // byte offsets of the regions
const C_HEADERS = 6;
const C_OWNERS = 7;
const C_BITS = 8;
const C_PAGES_AT = 9;
const C_WORKERS = 10; // claimed worker-slot bitmap (64 bits: two words)
// worker slot words
const S_FREES = 0;
const S_REMOTE = 1;
const S_PENDING = 2; // set by a worker that freed a block of one of this worker's pages
const S_RECLAIM = 3; // set by the worker that reclaims this slot's pages after it ended (`reclaim`)
const S_PID = 4; // the process of the worker (over a memory other processes map; else 0)
const S_STAMP = 5; // that process's start stamp (`ProcessSharing.stamp`): tells it from a later one with its pid
const S_TAKING = 6; // intent: the first page (1-based) this worker is taking from the cursor, 0 when none
const S_TAKING_N = 7; // and how many
// page header words
const H_OWNER = 0; // worker id + 1; 0 = free page; -1 = abandoned; -2 = never used (past the cursor)
const H_CLASS = 1; // class size, or -pages for a large span head, 0 for a free page or a span's tail
const H_REMOTE = 2; // remote frees since the owner last collected (a hint: owners says which)
const H_BYTES = 64;
const H_WORDS = H_BYTES >>> 2;
const ABANDONED = -1;
/** The owner word of a page the cursor has not reached yet. */
const NEVER_USED = -2;

/**
 * The shared page table's layout, for white-box tests that read it as another process would: the page size and
 * granules per page, the control words, a worker slot's size and words, and the page header's. @internal
 */
export const LAYOUT = Object.freeze({
  PAGE,
  PAGE_GRANULES,
  C_PAGES,
  C_NEXT_PAGE,
  C_FREE_HINT,
  C_SLOTS,
  C_HEADERS,
  C_OWNERS,
  C_BITS,
  C_PAGES_AT,
  SLOT_WORDS: SLOT_BYTES >>> 2,
  S_PENDING,
  S_RECLAIM,
  S_PID,
  S_STAMP,
  H_WORDS,
  H_OWNER,
  H_CLASS,
  H_REMOTE,
});

/** Slots per 64 KiB page, by class. */
const PAGE_SLOTS = Int32Array.from(HEAP_CLASSES, (c) => Math.floor(PAGE / c));

/** The class sizes: the same as `Heap`'s, 16 .. 16 KiB, four per power of two. */
export const CONCURRENT_CLASSES: readonly number[] = HEAP_CLASSES;

/** What `share()` returns. */
export interface ConcurrentHeapDescriptor {
  /** Always `"ConcurrentHeap"`. */
  readonly kind: "ConcurrentHeap";
  /** The shared storage. */
  readonly source: SharedArrayBuffer | WebAssembly.Memory;
  /** The control block's offset. */
  readonly control: number;
}

/** The heap's counters, summed over every worker. */
export interface ConcurrentHeapStats {
  /** Allocations by all workers (frees + live blocks). */
  readonly allocations: number;
  /** Frees by all workers (local and remote). */
  readonly frees: number;
  /** Of those, frees of another worker's block. */
  readonly remoteFrees: number;
  /** Pages in use (owned, abandoned or carved for large blocks). */
  readonly pagesInUse: number;
  /** Pages the memory holds in all. */
  readonly pages: number;
  /** Workers attached now. */
  readonly workers: number;
  /** What this worker's page placement did (with the `placement` option only). */
  readonly placement?: PlacementStats;
}

/** Options of {@link ConcurrentHeap}. */
export interface ConcurrentHeapOptions {
  /**
   * Where this worker's pages go in physical memory: called with every page this worker takes (a new or freed
   * page, an adopted one, a large block's pages) before any block of it is handed out; its report is in
   * `stats().placement`. `NumaPagePlacement` (forge-alloc/os) binds each page to the node of the CPU the worker
   * runs on. Per worker: each worker (or process) passes its own. @defaultValue none: pages go where the OS puts
   * them at first touch
   */
  readonly placement?: PagePlacement;
}

/** Where the regions of a heap are, read from (or written to) its control block. */
interface Layout {
  memory: Memory;
  control: number;
  pages: number;
  pagesAt: number;
}

/** Formats a heap over `backing`'s range, or finds the one there (`attaching`). */
function layoutOf(backing: FixedRange, attaching: boolean): Layout {
  if (!isFixedRange(backing)) throw new AllocError("ConcurrentHeap: the backing must be a FixedRange");
  checkCarvable("ConcurrentHeap", backing);
  const memory = backing.memory;
  if (!memory.shared && processSharingOf(backing) === undefined)
    throw new AllocError(
      "ConcurrentHeap: the memory must be shared (SharedArrayBufferBacked, a shared WebAssembly memory, or a mapping processes share: SharedMmapBacked)",
    );
  const control = (backing.base() + 255) & ~255;
  const c = control >>> 2;
  const i32 = memory.i32;
  const formatted = memory.byteLength >= control + 256 && Atomics.load(i32, c + C_MAGIC) === MAGIC;
  if (attaching) {
    if (!formatted) throw new AllocError("ConcurrentHeap.attach: no heap is formatted at that offset");
    return { memory, control, pages: i32[c + C_PAGES]!, pagesAt: i32[c + C_PAGES_AT]! };
  }
  if (formatted && (Atomics.load(i32, c + C_WORKERS) | Atomics.load(i32, c + C_WORKERS + 1)) !== 0) {
    throw new AllocError(
      "ConcurrentHeap: the range holds a heap that workers are attached to; join it with ConcurrentHeap.attach(heap.share()) instead of formatting it again",
    );
  }
  const end = backing.base() + backing.size();
  const slots = control + 256;
  const headers = slots + MAX_WORKERS * SLOT_BYTES;
  // per page: 64 KiB + its header + its owners + its remote bits, the pages 64 KiB-aligned after the tables
  const perPage = PAGE + H_BYTES + PAGE_GRANULES * 2 + PAGE_BIT_WORDS * 4;
  let n = Math.min(MAX_PAGES, Math.floor((end - headers) / perPage));
  const at = (k: number) => {
    const owners = headers + k * H_BYTES;
    const bits = owners + k * PAGE_GRANULES * 2;
    const pagesAt = (bits + k * PAGE_BIT_WORDS * 4 + PAGE - 1) & ~(PAGE - 1);
    return { owners, bits, pagesAt };
  };
  while (n > 0 && at(n).pagesAt + n * PAGE > end) n--;
  if (n < 1) throw new AllocError("ConcurrentHeap: the range is too small for one 64 KiB page");
  const { owners, bits, pagesAt } = at(n);
  if (!backing.commit(control, pagesAt + n * PAGE - control)) {
    throw new AllocError(
      "ConcurrentHeap: the backing cannot commit the heap (a growable memory must be able to grow to its range)",
    );
  }
  memory.u8.fill(0, control, pagesAt);
  const w = memory.i32;
  w[c + C_PAGES] = n;
  w[c + C_SLOTS] = slots;
  w[c + C_HEADERS] = headers;
  w[c + C_OWNERS] = owners;
  w[c + C_BITS] = bits;
  w[c + C_PAGES_AT] = pagesAt;
  // Pages past the cursor are NEVER_USED, not free: a worker that bumps the cursor owns them before it has written
  // its id into them, and a scan for free pages (owner 0) must not take them in that moment.
  for (let p = 0; p < n; p++) w[(headers >>> 2) + p * H_WORDS + H_OWNER] = NEVER_USED;
  Atomics.store(w, c + C_MAGIC, MAGIC);
  return { memory, control, pages: n, pagesAt };
}

/** A heap for many workers (see the module documentation). */
export class ConcurrentHeap extends PageEngine implements Allocator {
  /** This worker's id in the heap (0 to 63). */
  readonly workerId: number;
  private readonly control: number;
  /** The shared words from the control block to the pages (control, slots, headers, bits), from `control`. */
  private readonly words: Int32Array;
  /** Word indices into `words`. */
  private readonly slot: number;
  private readonly headers: number;
  private readonly bits: number;
  private readonly pageCount: number;
  private readonly owner: number;
  private released: boolean;
  /** Who this process is, over a memory other processes map (`SharedMmapBacked`); else undefined. */
  private readonly sharing: ProcessSharing | undefined;
  /** The `placement` option. */
  private placement: PagePlacement | undefined;
  /** The abandon generation this worker's last complete scan for abandoned pages started at (-1: none yet). */
  private adoptSeen: number;
  /** The generation of the scan in progress, and the page (0-based) it resumes at. */
  private adoptGen: number;
  private adoptFrom: number;

  /**
   * Formats a heap over `backing`'s range and joins it as a worker (`true` instead of options is internal:
   * `attach` and `join` use it).
   *
   * @throws `AllocError` when the memory is not shared, the range holds no page, or 64 workers are attached.
   */
  constructor(backing: FixedRange, options: ConcurrentHeapOptions | boolean = {}) {
    const attaching = options === true;
    const layout = layoutOf(backing, attaching);
    super(layout.memory, layout.pagesAt, "ConcurrentHeap", PAGE_SLOTS);
    const { memory, control, pages, pagesAt } = layout;
    this.control = control;
    this.pageCount = pages;
    const words = memory.view(Int32Array, control, (pagesAt - control) >>> 2);
    this.words = words;
    this.headers = (words[C_HEADERS]! - control) >>> 2;
    this.bits = (words[C_BITS]! - control) >>> 2;
    this.owners = memory.view(Uint16Array, words[C_OWNERS]!, pages * PAGE_GRANULES);
    this.span = pages * PAGE;
    this.records = new Int32Array(REMOTE + 1); // page id -> record; REMOTE and free pages map to 0
    this.workerId = this.claimWorker();
    this.owner = this.workerId + 1;
    this.slot = (words[C_SLOTS]! - control + this.workerId * SLOT_BYTES) >>> 2;
    for (let k = 0; k < SLOT_BYTES >>> 2; k++) Atomics.store(words, this.slot + k, 0);
    this.sharing = processSharingOf(backing);
    // after the zeroing: a worker that reads this slot's pid sees 0 (skip) or this process, never a stale one
    Atomics.store(words, this.slot + S_STAMP, this.sharing?.stamp ?? 0);
    Atomics.store(words, this.slot + S_PID, this.sharing?.pid ?? 0);
    this.placement = typeof options === "object" ? options.placement : undefined;
    this.released = false;
    this.adoptSeen = -1;
    this.adoptGen = 0;
    this.adoptFrom = 0;
  }

  /**
   * Joins, as one more worker, the heap formatted over the same range of a memory that several processes map
   * (`SharedMmapBacked.attach(descriptor)` in this process; the range must be the one the heap was made over, as
   * the creator's `new ConcurrentHeap(backing)`). Works over any backing whose range holds a heap, in any worker.
   *
   * @throws `AllocError` when no heap is formatted there, or 64 workers are attached.
   */
  static join(backing: FixedRange, options: ConcurrentHeapOptions = {}): ConcurrentHeap {
    const heap = new ConcurrentHeap(backing, true);
    heap.placement = options.placement;
    return heap;
  }

  /** Joins a heap another worker shared. @throws `AllocError` for a bad descriptor or when 64 workers are attached. */
  static attach(descriptor: ConcurrentHeapDescriptor): ConcurrentHeap {
    if (descriptor?.kind !== "ConcurrentHeap")
      throw new AllocError("ConcurrentHeap.attach: not a ConcurrentHeap descriptor");
    const memory = Memory.of(descriptor.source);
    return new ConcurrentHeap(
      new StaticBacked(memory, {
        offset: descriptor.control,
        size: memory.maxByteLength - descriptor.control,
      }),
      true,
    );
  }

  /**
   * A structured-cloneable description for `attach` in another worker.
   *
   * @throws `UnsupportedError` over a memory processes share (`SharedMmapBacked`): its buffer would be copied,
   *   not shared; hand the backing's own descriptor over and call {@link ConcurrentHeap.join} there.
   */
  share(): ConcurrentHeapDescriptor {
    if (!this.memory.shared)
      throw new UnsupportedError(
        "ConcurrentHeap.share: this heap is in a mapping processes share; send the mapping's share() descriptor and call ConcurrentHeap.join(SharedMmapBacked.attach(descriptor)) in the other process or worker",
      );
    return {
      kind: "ConcurrentHeap",
      source: this.memory.source as SharedArrayBuffer | WebAssembly.Memory,
      control: this.control,
    };
  }

  /** `malloc`: `size` bytes, 16-aligned; out of memory throws `AllocError`. */
  malloc(size: number): number {
    const p = this.allocate(size, 16);
    if (p === NULL) throw new AllocError(`ConcurrentHeap.malloc: out of memory: ${size} bytes requested`);
    return p;
  }

  /** As `allocate`, zeroed. */
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /**
   * Frees a block from any worker: back onto its page's stack when this worker owns the page (one CAS), else marked
   * `REMOTE` for its owner to collect (one CAS and one atomic OR).
   *
   * @throws `InvalidPointerError` for a double free or a pointer that is not a live block of this heap.
   */
  override free(ptr: number): void {
    if (this.freeAtomic(ptr)) this.words[this.slot + S_FREES]!++;
    else this.freeSlow(ptr, "free");
  }

  /** Sized free (I4): as `free`, and the layout must fit the block. */
  override deallocate(ptr: number, size: number, align = 8): void {
    if (!isValidLayout(size, align)) throw layoutError("ConcurrentHeap.deallocate", size, align);
    const usable = this.sizeOf(ptr);
    if (usable < 0) throw this.notLive("deallocate", ptr);
    if (size > usable || (ptr & (align - 1)) !== 0)
      throw this.wrongLayout("deallocate", ptr, usable, size, align);
    this.free(ptr);
  }

  /** Moves the block to a larger class (in place when it already fits). */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("ConcurrentHeap.grow", oldSize, newSize, align, true);
    const usable = this.sizeOf(ptr);
    if (usable < 0) throw this.notLive("grow", ptr);
    if (oldSize > usable || (ptr & (align - 1)) !== 0)
      throw this.wrongLayout("grow", ptr, usable, oldSize, align);
    return newSize <= usable ? ptr : moveBlock(this, ptr, oldSize, newSize, align);
  }

  /** In place. */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("ConcurrentHeap.shrink", oldSize, newSize, align, false);
    const usable = this.sizeOf(ptr);
    if (usable < 0) throw this.notLive("shrink", ptr);
    if (oldSize > usable || (ptr & (align - 1)) !== 0)
      throw this.wrongLayout("shrink", ptr, usable, oldSize, align);
    return ptr;
  }

  /** Not supported: other workers may hold blocks. @throws `UnsupportedError`. */
  reset(): void {
    throw new UnsupportedError(
      "ConcurrentHeap.reset: not supported: other workers may hold blocks of this heap",
    );
  }

  /** The block's class size (or its span, for a large block). */
  usableSize(ptr: number, size: number): number {
    if (!isValidLayout(size, 1)) throw layoutError("ConcurrentHeap.usableSize", size, 1);
    const usable = this.sizeOf(ptr);
    if (usable < 0) throw this.notLive("usableSize", ptr);
    if (size > usable) throw this.wrongLayout("usableSize", ptr, usable, size, 1);
    return usable;
  }

  /**
   * The raw protocol: the usable size of the live block `ptr` (its class, or a large block's pages), or -1. Any
   * worker may ask about any block.
   * @internal
   */
  sizeOf(ptr: unknown): number {
    if (!isInt32(ptr)) return -1;
    const rel = ptr - this.base;
    if (rel >>> 0 >= this.span || (rel & 15) !== 0) return -1;
    const page = (rel >>> PAGE_SHIFT) + 1;
    if (Atomics.load(this.owners, rel >>> 4) !== page) return -1;
    const cls = Atomics.load(this.words, this.headers + (page - 1) * H_WORDS + H_CLASS);
    if (cls > 0) return cls;
    if (cls < 0 && (rel & (PAGE - 1)) === 0) return -cls * PAGE;
    return -1;
  }

  /** The raw protocol: frees a block `sizeOf` just reported live. @internal */
  freeRaw(ptr: number): void {
    this.free(ptr);
  }

  /** Bytes of pages in all. */
  capacityBytes(): number {
    return this.pageCount * PAGE;
  }

  /** Corruptions this worker found (shared tables that disagree with each other) and refused to follow. */
  corruptionEvents(): number {
    return this.corruptions;
  }

  /** The counters of every worker, summed; readable in any worker. O(heap / 16). */
  stats(): ConcurrentHeapStats {
    const w = this.words;
    const slots = (w[C_SLOTS]! - this.control) >>> 2;
    let frees = 0;
    let remoteFrees = 0;
    for (let k = 0; k < MAX_WORKERS; k++) {
      const at = slots + k * (SLOT_BYTES >>> 2);
      frees += Atomics.load(w, at + S_FREES);
      remoteFrees += Atomics.load(w, at + S_REMOTE);
    }
    let inUse = 0;
    let live = 0;
    const cursor = this.cursorOf("stats");
    for (let p = 0; p < cursor; p++) {
      if (Atomics.load(w, this.headers + p * H_WORDS + H_OWNER) === 0) continue;
      inUse++;
      for (let g = p * PAGE_GRANULES; g < (p + 1) * PAGE_GRANULES; g++) if (this.owners[g] === p + 1) live++;
    }
    const popcount = (x: number): number => {
      let n = 0;
      for (let v = x >>> 0; v !== 0; v &= v - 1) n++;
      return n;
    };
    const out = {
      allocations: frees + live,
      frees,
      remoteFrees,
      pagesInUse: inUse,
      pages: this.pageCount,
      workers: popcount(Atomics.load(w, C_WORKERS)) + popcount(Atomics.load(w, C_WORKERS + 1)),
    };
    return this.placement === undefined ? out : { ...out, placement: this.placement.stats() };
  }

  /**
   * Checks the heap's invariants while no worker is using it (a snapshot; run it when the workers are quiet): the
   * engine's for this worker's pages (free slots on the stack are 0 in `owners`, live + free + `REMOTE` = capacity,
   * the lists); over every page: pages past the cursor are never used, `owners` holds a page's own id only at its
   * slot starts (or a large span's head), `REMOTE` only in pages of a class, and a free page holds nothing. Throws an
   * `Error` naming the first one broken. O(heap / 16).
   */
  validate(): void {
    const fail = (what: string): never => {
      throw new Error(`ConcurrentHeap.validate: ${what}`);
    };
    const w = this.words;
    const owners = this.owners;
    const meta = this.meta;
    const remoteIn = (page: number, cls: number): number => {
      let n = 0;
      const g0 = (page - 1) * PAGE_GRANULES;
      for (let i = 0, cap = Math.floor(PAGE / cls); i < cap; i++)
        if (owners[g0 + ((i * cls) >>> 4)] === REMOTE) n++;
      return n;
    };
    this.validatePages(
      (r) => {
        const page = meta[r + ID]!;
        const h = this.headers + (page - 1) * H_WORDS;
        if (w[h + H_OWNER] !== this.owner)
          fail(`page ${page} is in this worker's records but owned by ${w[h + H_OWNER]}`);
        if (w[h + H_CLASS] !== meta[r + CLS])
          fail(`page ${page}: header class ${w[h + H_CLASS]} != ${meta[r + CLS]}`);
        if (meta[r + START] !== this.base + (page - 1) * PAGE || meta[r + BLK] !== meta[r + START])
          fail(`page ${page}: its record's start is not the page's`);
      },
      (r) => remoteIn(meta[r + ID]!, meta[r + CLS]!),
    );
    const cursor = Atomics.load(w, C_NEXT_PAGE);
    if (cursor >>> 0 > this.pageCount) fail(`the page cursor ${cursor} is outside 0..${this.pageCount}`);
    let spanLeft = 0;
    let spanOwner = 0;
    for (let page = 1; page <= this.pageCount; page++) {
      const h = this.headers + (page - 1) * H_WORDS;
      const owner = w[h + H_OWNER]!;
      const cls = w[h + H_CLASS]!;
      const g0 = (page - 1) * PAGE_GRANULES;
      if (page > cursor) {
        if (owner !== NEVER_USED) fail(`page ${page} is past the cursor ${cursor} but has owner ${owner}`);
        continue;
      }
      if (owner === NEVER_USED) fail(`page ${page} is below the cursor but marked never used`);
      const nonzero = (from: number): number => {
        for (let g = from; g < g0 + PAGE_GRANULES; g++) if (owners[g] !== 0) return g;
        return -1;
      };
      if (spanLeft > 0) {
        if (cls !== 0 || owner !== spanOwner)
          fail(`page ${page} belongs to a large span but says class ${cls}`);
        if (nonzero(g0) >= 0) fail(`page ${page}, a large span's tail, has an owners entry`);
        spanLeft--;
        continue;
      }
      if (cls < 0) {
        if (owners[g0] !== page) fail(`large span at page ${page} is not live`);
        if (nonzero(g0 + 1) >= 0) fail(`large span at page ${page} has an owners entry past its head`);
        spanLeft = -cls - 1;
        spanOwner = owner;
        continue;
      }
      if (cls === 0) {
        if (owner > 0) continue; // claimed this moment by a worker that is formatting it
        if (nonzero(g0) >= 0) fail(`free page ${page} holds a live block`);
        continue;
      }
      if (HEAP_CLASSES.indexOf(cls) < 0) fail(`page ${page} has class ${cls}, not a class size`);
      for (let g = g0; g < g0 + PAGE_GRANULES; g++) {
        const v = owners[g]!;
        if (v === 0) continue;
        if (v !== page && v !== REMOTE) fail(`page ${page}: owners says page ${v} at granule ${g - g0}`);
        if (((g - g0) << 4) % cls !== 0 || ((g - g0) << 4) + cls > PAGE)
          fail(`page ${page}: an owners entry at granule ${g - g0} is not a slot start of class ${cls}`);
      }
      if (owner === this.owner && this.records[page] === 0)
        fail(`page ${page} is this worker's but has no record`);
    }
  }

  /**
   * Leaves the heap: empty pages go back to the pool, pages with live blocks are abandoned (any worker adopts them
   * later, with the remote frees they collected), and the worker slot is freed. Idempotent.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.memoryRetired(); // the fast path now falls through to the slow path, which refuses
    const meta = this.meta;
    const w = this.words;
    this.forEachPage((r) => {
      this.collect(r);
      const page = meta[r + ID]!;
      this.records[page] = 0;
      if (meta[r + TOP] === meta[r + CAP]) this.freePage(page);
      else {
        Atomics.store(w, this.headers + (page - 1) * H_WORDS + H_OWNER, ABANDONED);
        Atomics.add(w, C_ABANDONED, 1); // every worker scans for it (reclaim does this for one stopped here)
      }
      this.dropPage(r);
    });
    const word = C_WORKERS + (this.workerId >>> 5);
    Atomics.and(w, word, ~(1 << (this.workerId & 31)));
  }

  /**
   * Takes over after a worker that ended without `release()` (a `Worker` terminated, or one that threw): its pages of
   * a class are abandoned for any worker to adopt, the pages it had claimed but not used yet go back to the pool, and
   * its worker slot is freed. Everything it needs is in the shared tables (its free-slot stacks died with it): a slot
   * whose `owners` entry is 0 or `REMOTE` is free, whatever step of an operation the worker was in when it stopped
   * (a slot popped but not yet marked live had not been handed out; a free that cleared the entry is complete).
   * Its live blocks stay live, and any worker may free them. Returns the pages taken over.
   *
   * Call it only once that worker can no longer run (after its `exit` event): a live worker's pages would be taken
   * from under it. O(pages).
   *
   * @throws `AllocError` when `workerId` is not another attached worker's id.
   */
  reclaim(workerId: number): number {
    const w = this.words;
    if (
      !Number.isInteger(workerId) ||
      workerId < 0 ||
      workerId >= MAX_WORKERS ||
      workerId === this.workerId ||
      (Atomics.load(w, C_WORKERS + (workerId >>> 5)) & (1 << (workerId & 31))) === 0
    ) {
      throw new AllocError(
        `ConcurrentHeap.reclaim: ${describePointer(workerId)} is not the id of another worker attached to this heap (0 to ${MAX_WORKERS - 1}, not ${this.workerId}, its own)`,
      );
    }
    const at = ((w[C_SLOTS]! - this.control) >>> 2) + workerId * (SLOT_BYTES >>> 2) + S_RECLAIM;
    if (Atomics.compareExchange(w, at, 0, 1) !== 0)
      throw new AllocError(`ConcurrentHeap.reclaim: worker ${workerId} is being reclaimed by another worker`);
    return this.takeOver(workerId);
  }

  /**
   * Over a memory other processes map (`SharedMmapBacked`): finds the workers whose process has ended (each
   * worker slot records its process's pid and start stamp; a process that is gone, a zombie, or a later process
   * with the same pid counts as ended) and takes over their pages as {@link ConcurrentHeap.reclaim} does. Any
   * worker of any live process may call it, at any time, as often as it likes: two callers never reclaim the same
   * worker, and a slot a new process is claiming this moment is left alone. Returns the worker ids reclaimed
   * (none over a memory only threads share). O(workers + pages).
   */
  reclaimDead(): number[] {
    const sharing = this.sharing;
    const out: number[] = [];
    if (sharing === undefined) return out;
    const w = this.words;
    const slots = (w[C_SLOTS]! - this.control) >>> 2;
    for (let id = 0; id < MAX_WORKERS; id++) {
      if (id === this.workerId || (Atomics.load(w, C_WORKERS + (id >>> 5)) & (1 << (id & 31))) === 0)
        continue;
      const at = slots + id * (SLOT_BYTES >>> 2);
      const pid = Atomics.load(w, at + S_PID);
      const stamp = Atomics.load(w, at + S_STAMP);
      if (pid === 0 || pid === sharing.pid || sharing.alive(pid, stamp)) continue;
      if (Atomics.compareExchange(w, at + S_RECLAIM, 0, 1) !== 0) continue; // another worker is on it
      // A new process that claimed the slot since (after another reclaim) zeroed it before writing its pid: after
      // winning the flag, the slot must still name the dead process, else it is someone else's now.
      if (Atomics.load(w, at + S_PID) !== pid || Atomics.load(w, at + S_STAMP) !== stamp) {
        Atomics.compareExchange(w, at + S_RECLAIM, 1, 0);
        continue;
      }
      this.takeOver(id);
      out.push(id);
    }
    return out;
  }

  /** The work of `reclaim` once this worker holds the slot's reclaim flag: its pages, then the slot. */
  private takeOver(workerId: number): number {
    const w = this.words;
    const dead = workerId + 1;
    const cursor = this.cursorOf("reclaim");
    let taken = this.finishTaking(workerId, cursor);
    for (let page = 1; page <= cursor; page++) {
      const h = this.headers + (page - 1) * H_WORDS;
      const cls = Atomics.load(w, h + H_CLASS);
      if (cls < 0) {
        // A large span stays as it is: live, any worker frees it. (One the worker was making when it stopped was
        // given back by finishTaking above.)
        page += -cls - 1;
        continue;
      }
      // Only reclaim writes the owner word of a page the dead worker owns: no other worker claims or adopts it.
      if (Atomics.load(w, h + H_OWNER) !== dead) continue;
      taken++;
      if (cls === 0)
        this.freePage(page); // claimed, never formatted
      else Atomics.store(w, h + H_OWNER, ABANDONED);
    }
    // Moved on even when nothing was abandoned here: the worker may have been stopped between marking a page
    // abandoned and moving the generation on, and this makes every worker scan for that page too.
    Atomics.add(w, C_ABANDONED, 1);
    Atomics.store(w, ((w[C_SLOTS]! - this.control) >>> 2) + workerId * (SLOT_BYTES >>> 2) + S_PID, 0);
    Atomics.and(w, C_WORKERS + (workerId >>> 5), ~(1 << (workerId & 31)));
    return taken;
  }

  /**
   * Part of `takeOver`: the pages a stopped worker had taken from the cursor (the cursor moved) without writing its
   * id into them yet, named by the intent in its slot. A page of that range still marked never used below the
   * cursor is freed, unless another attached worker's intent covers it (that worker may have won the cursor and be
   * about to mark it; it writes its intent before it moves the cursor, and `cursor` was read before the intents).
   * The owner word is freed by a CAS from never used, so a worker that marks it meanwhile keeps it. Returns the
   * pages freed.
   */
  private finishTaking(workerId: number, cursor: number): number {
    const w = this.words;
    const slots = (w[C_SLOTS]! - this.control) >>> 2;
    const at = slots + workerId * (SLOT_BYTES >>> 2);
    const first = Atomics.load(w, at + S_TAKING);
    const count = Atomics.load(w, at + S_TAKING_N);
    if (first === 0) return 0;
    const covered = (page: number): boolean => {
      for (let id = 0; id < MAX_WORKERS; id++) {
        if (id === workerId || id === this.workerId) continue;
        if ((Atomics.load(w, C_WORKERS + (id >>> 5)) & (1 << (id & 31))) === 0) continue;
        const o = slots + id * (SLOT_BYTES >>> 2);
        const f = Atomics.load(w, o + S_TAKING);
        if (f !== 0 && page >= f && page < f + Atomics.load(w, o + S_TAKING_N)) return true;
      }
      return false;
    };
    let freed = 0;
    for (let page = first; page < first + count && page <= cursor && page <= this.pageCount; page++) {
      const h = this.headers + (page - 1) * H_WORDS;
      if (Atomics.load(w, h + H_OWNER) !== NEVER_USED || covered(page)) continue;
      Atomics.store(w, h + H_CLASS, 0);
      if (Atomics.compareExchange(w, h + H_OWNER, NEVER_USED, 0) === NEVER_USED) freed++;
    }
    // A large block it was making: its head says -count, and the block was not handed out (the intent is cleared
    // right after the block is marked live, before allocate returns), so its pages go back to the pool.
    const head = this.headers + (first - 1) * H_WORDS;
    if (
      first + count - 1 <= this.pageCount &&
      Atomics.load(w, head + H_OWNER) === workerId + 1 &&
      Atomics.load(w, head + H_CLASS) === -count
    ) {
      Atomics.store(this.owners, (first - 1) * PAGE_GRANULES, 0);
      for (let page = first; page < first + count; page++) {
        if (Atomics.load(w, this.headers + (page - 1) * H_WORDS + H_OWNER) !== workerId + 1) continue;
        this.freePage(page);
        freed++;
      }
    }
    Atomics.store(w, at + S_TAKING, 0);
    return freed;
  }

  /** `using` support: `release()`. */
  [Symbol.dispose](): void {
    this.release();
  }

  // ---- the engine's hooks: pages come from the shared pool ----

  protected allocateSlow(size: number, align: number): number {
    if (this.released) throw new AllocError("ConcurrentHeap: this worker released the heap");
    if (size <= MAX_SMALL && align <= 16) return this.refill(classOf(size));
    if (align > 16 && align <= MAX_SMALL && size <= MAX_SMALL) {
      let c = 32;
      while (c < size || c < align) c *= 2; // a power-of-two class: its slots are aligned to it in a 64 KiB page
      return this.popClass(classOf(c));
    }
    return align <= PAGE ? this.allocateLarge(size) : NULL;
  }

  protected freeSlow(block: unknown, what: string): void {
    if (!isInt32(block)) throw this.notLive(what, block);
    const ptr = block;
    const rel = ptr - this.base;
    if (rel >>> 0 >= this.span || (rel & 15) !== 0) throw this.notLive(what, ptr);
    const g = rel >>> 4;
    const page = (rel >>> PAGE_SHIFT) + 1;
    const id = this.owners[g]!;
    if (id !== page) {
      if (id !== 0 && id !== REMOTE)
        this.corrupt(
          what,
          `the owners entry of ${describePointer(ptr)} names page ${id}, not its page ${page}`,
        );
      throw this.notLive(what, ptr);
    }
    const w = this.words;
    const h = this.headers + (page - 1) * H_WORDS;
    const cls = Atomics.load(w, h + H_CLASS);
    if (cls > 0) {
      // another worker's page: mark the block for its owner, who takes it back when it runs out of slots
      if (Atomics.compareExchange(this.owners, g, id, REMOTE) !== id) throw this.notLive(what, ptr);
      Atomics.or(w, this.bits + (g >>> 5), 1 << (g & 31));
      Atomics.add(w, h + H_REMOTE, 1);
      const owner = Atomics.load(w, h + H_OWNER);
      if (owner > 0)
        Atomics.store(
          w,
          ((w[C_SLOTS]! - this.control) >>> 2) + (owner - 1) * (SLOT_BYTES >>> 2) + S_PENDING,
          1,
        );
      w[this.slot + S_FREES]!++;
      w[this.slot + S_REMOTE]!++;
      return;
    }
    if (cls < 0 && (rel & (PAGE - 1)) === 0) {
      // a large span: any worker frees it, then its pages are free for any use
      if (Atomics.compareExchange(this.owners, g, id, 0) !== id) throw this.notLive(what, ptr);
      for (let j = -cls - 1; j >= 0; j--) this.freePage(page + j);
      w[this.slot + S_FREES]!++;
      return;
    }
    throw this.notLive(what, ptr);
  }

  protected deallocateSlow(ptr: number, size: number, align: number): void {
    this.deallocate(ptr, size, align);
  }

  /**
   * Before a refill of class `k`: collect the remote frees of this worker's pages if another worker flagged some
   * (the current page may get slots back: pop one), and adopt abandoned pages.
   */
  protected override beforeRefill(k: number): number {
    const w = this.words;
    if (Atomics.load(w, this.slot + S_PENDING) !== 0) {
      Atomics.store(w, this.slot + S_PENDING, 0);
      this.forEachPage((r) => {
        if (Atomics.load(w, this.headers + (this.meta[r + ID]! - 1) * H_WORDS + H_REMOTE) === 0) return;
        this.collect(r);
        this.settlePage(r);
      });
      const r = this.meta[k]!;
      if (this.meta[r + TOP]! > 0) return this.popClass(k);
    }
    if (Atomics.load(w, C_ABANDONED) !== this.adoptSeen) this.adopt(k);
    return 0;
  }

  protected carvePage(r: number, _bytes: number): boolean {
    let page = this.claimFreePages(1);
    if (page === 0) {
      page = this.bumpPages(1);
      this.endTaking(); // its owner word names this worker now
    }
    if (page === 0) return false;
    const w = this.words;
    const h = this.headers + (page - 1) * H_WORDS;
    Atomics.store(w, h + H_REMOTE, 0);
    Atomics.store(w, h + H_CLASS, this.meta[r + CLS]!);
    const start = this.base + (page - 1) * PAGE;
    if (this.placement !== undefined) this.placement.place(start, PAGE);
    this.meta[r + START] = start;
    this.meta[r + BLK] = start;
    this.meta[r + RECORD.BLK_BYTES] = PAGE;
    this.bindId(r, page);
    return true;
  }

  protected returnPage(r: number): void {
    const page = this.meta[r + ID]!;
    this.records[page] = 0;
    this.freePage(page);
  }

  // ---- internals ----

  /**
   * Takes back the slots of page `r` that other workers freed: each set bit of the page's remote bitmap names a
   * granule, and a slot comes back only where `owners` says `REMOTE` (a bit is a hint: one set late by a slow
   * freer, after the slot came back another way, is ignored). At most the page's capacity is pushed.
   */
  private collect(r: number): void {
    const w = this.words;
    const meta = this.meta;
    const page = meta[r + ID]!;
    if (Atomics.exchange(w, this.headers + (page - 1) * H_WORDS + H_REMOTE, 0) === 0) return;
    const owners = this.owners;
    const g0 = (page - 1) * PAGE_GRANULES;
    const start = meta[r + START]!;
    const cls = meta[r + CLS]!;
    const cap = meta[r + CAP]!;
    for (let j = 0; j < PAGE_BIT_WORDS; j++) {
      const at = this.bits + (g0 >>> 5) + j;
      if (Atomics.load(w, at) === 0) continue;
      for (let v = Atomics.exchange(w, at, 0); v !== 0; v &= v - 1) {
        const g = g0 + (j << 5) + (31 - Math.clz32(v & -v));
        if (owners[g] !== REMOTE) continue;
        const p = this.base + (g << 4);
        if ((p - start) % cls !== 0 || p - start >= cap * cls || meta[r + TOP]! >= cap) {
          this.corruptions++; // a REMOTE entry that is no slot of this page: the owners table was overwritten
          continue;
        }
        Atomics.store(owners, g, 0);
        this.pushSlot(r, p);
      }
    }
  }

  /**
   * Adopts pages that workers abandoned, found by a scan of the page headers (each taken with a CAS of its owner
   * word from abandoned, so two workers never adopt one page): each gets a record of its class, its free slots (0
   * or `REMOTE` in `owners`) on the stack; an empty one goes back to the pool. Stops after the first of class `k`;
   * the next refill resumes the scan there. A scan that reaches the cursor marks the generation it started at as
   * seen: a page abandoned before that generation moved on was found by it (or adopted by another worker).
   * O(pages) per generation; the slow path only.
   */
  private adopt(k: number): void {
    const w = this.words;
    const owners = this.owners;
    if (this.adoptFrom === 0) this.adoptGen = Atomics.load(w, C_ABANDONED);
    const cursor = this.cursorOf("allocate");
    for (; this.adoptFrom < cursor;) {
      const page = ++this.adoptFrom;
      const h = this.headers + (page - 1) * H_WORDS;
      if (Atomics.load(w, h + H_OWNER) !== ABANDONED) continue;
      if (Atomics.compareExchange(w, h + H_OWNER, ABANDONED, this.owner) !== ABANDONED) continue;
      const cls = Atomics.load(w, h + H_CLASS);
      const pk = cls > 0 && cls <= MAX_SMALL ? classOf(cls) : -1;
      if (pk < 0 || HEAP_CLASSES[pk] !== cls) {
        this.corruptions++; // the header was overwritten: the page is kept out of use
        continue;
      }
      Atomics.store(w, h + H_REMOTE, 0);
      for (let j = 0; j < PAGE_BIT_WORDS; j++)
        Atomics.store(w, this.bits + (((page - 1) * PAGE_GRANULES) >>> 5) + j, 0);
      const start = this.base + (page - 1) * PAGE;
      if (this.placement !== undefined) this.placement.place(start, PAGE);
      const r = this.adoptRecord(pk, start, start, PAGE);
      this.bindId(r, page);
      const cap = PAGE_SLOTS[pk]!;
      for (let i = cap - 1; i >= 0; i--) {
        const p = start + i * cls;
        const g = (p - this.base) >>> 4;
        // atomic: a free that raced the abandonment (it saw no owner, so it flagged no one) is seen here
        const v = Atomics.load(owners, g);
        if (v === REMOTE) Atomics.store(owners, g, 0);
        if (v === REMOTE || v === 0) this.pushSlot(r, p);
      }
      this.settlePage(r);
      if (pk === k && this.adoptFrom < cursor) return;
    }
    this.adoptSeen = this.adoptGen;
    this.adoptFrom = 0;
  }

  /**
   * Whole pages for a block above 16 KiB: from the cursor, else a run of freed pages (so freed memory serves large
   * blocks too).
   */
  private allocateLarge(size: number): number {
    const n = Math.ceil(size / PAGE);
    const w = this.words;
    // the intent names the pages until the block is live: a worker stopped before has handed out nothing
    let first = this.bumpPages(n);
    if (first === 0) {
      first = this.claimFreePages(n);
      if (first === 0) return NULL;
      this.beginTaking(first, n);
    }
    for (let j = 0; j < n; j++)
      Atomics.store(w, this.headers + (first - 1 + j) * H_WORDS + H_CLASS, j === 0 ? -n : 0);
    const p = this.base + ((first - 1) << PAGE_SHIFT);
    if (this.placement !== undefined) this.placement.place(p, n * PAGE);
    Atomics.store(this.owners, (first - 1) * PAGE_GRANULES, first);
    this.endTaking();
    return p;
  }

  /**
   * `n` never-used pages from the shared cursor, owned by this worker (the first page's number; 0: none). The
   * pages are named in this worker's intent before the cursor moves, and the caller clears it (`endTaking`) once
   * their owner words name this worker (a large block: once it is live), so `reclaim` can finish the step for a
   * worker stopped in between.
   */
  private bumpPages(n: number): number {
    const w = this.words;
    for (;;) {
      const cur = this.cursorOf("allocate");
      if (cur + n > this.pageCount) {
        this.endTaking();
        return 0;
      }
      this.beginTaking(cur + 1, n);
      if (Atomics.compareExchange(w, C_NEXT_PAGE, cur, cur + n) === cur) {
        for (let j = 0; j < n; j++)
          Atomics.store(w, this.headers + (cur + j) * H_WORDS + H_OWNER, this.owner);
        return cur + 1;
      }
    }
  }

  /** Names pages `[first, first + n)` in this worker's intent (see `bumpPages` and `finishTaking`). */
  private beginTaking(first: number, n: number): void {
    Atomics.store(this.words, this.slot + S_TAKING_N, n);
    Atomics.store(this.words, this.slot + S_TAKING, first);
  }

  /** Clears this worker's intent: the pages it names are marked as this worker's (or were never taken). */
  private endTaking(): void {
    Atomics.store(this.words, this.slot + S_TAKING, 0);
  }

  /**
   * A run of `n` free pages below the cursor, each claimed with a CAS of its owner word 0 -> this worker (a page
   * claimed by another worker mid-run releases the ones taken and the scan goes on). 0 when there is none.
   * O(pages); the slow path only. The scan starts where the last one ended.
   */
  private claimFreePages(n: number): number {
    const w = this.words;
    const cursor = this.cursorOf("allocate");
    if (cursor < n) return 0;
    const hint = Atomics.load(w, C_FREE_HINT); // only where the scan starts: any value outside 0..cursor - 1 is 0
    for (let scanned = 0, start = hint >>> 0 < cursor ? hint : 0; scanned < cursor; scanned++) {
      const first = (start + scanned) % cursor;
      if (first + n > cursor) continue;
      let taken = 0;
      while (
        taken < n &&
        Atomics.compareExchange(w, this.headers + (first + taken) * H_WORDS + H_OWNER, 0, this.owner) === 0
      )
        taken++;
      if (taken === n) {
        Atomics.store(w, C_FREE_HINT, first + n);
        return first + 1;
      }
      for (let j = 0; j < taken; j++) Atomics.store(w, this.headers + (first + j) * H_WORDS + H_OWNER, 0);
    }
    return 0;
  }

  /** Makes a page free for any worker, class or large block (its owner word 0 is what others claim). */
  private freePage(page: number): void {
    const h = this.headers + (page - 1) * H_WORDS;
    Atomics.store(this.words, h + H_CLASS, 0);
    Atomics.store(this.words, h + H_OWNER, 0);
  }

  private claimWorker(): number {
    for (let id = 0; id < MAX_WORKERS; id++) {
      const word = C_WORKERS + (id >>> 5);
      const bit = 1 << (id & 31);
      const old = Atomics.or(this.words, word, bit);
      if ((old & bit) === 0) return id;
    }
    throw new AllocError(`ConcurrentHeap: ${MAX_WORKERS} workers are attached already`);
  }

  /**
   * The page cursor, checked: every page below it has been taken from the pool once, and the page table and the
   * owners table end at the page count, so a cursor outside 0..pageCount (a scribbled control word) would make the
   * scans read and write past them. Raises `CorruptionError` (counted) for one.
   */
  private cursorOf(what: string): number {
    const cursor = Atomics.load(this.words, C_NEXT_PAGE);
    if (cursor >>> 0 > this.pageCount)
      this.corrupt(what, `the page cursor says ${cursor}, outside 0..${this.pageCount}`);
    return cursor;
  }

  /** Counts a corruption and raises it. */
  private corrupt(what: string, detail: string): never {
    this.corruptions++;
    throw new CorruptionError(`ConcurrentHeap.${what}: ${detail} (the heap's tables were overwritten)`);
  }
}
