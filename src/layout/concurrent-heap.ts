/**
 * `ConcurrentHeap`: `malloc`/`free` for several workers over one shared memory, after mimalloc: each worker
 * allocates from pages it owns (64 KiB, one size class each), so its common path is a pop from the page's free list
 * with no lock; a free by the owner is one compare-and-swap of the block's state byte (so it and a remote free of
 * the same block cannot both pass), and a block freed by another worker is pushed (one more CAS) onto its page's
 * remote list, which the owner takes back in one `Atomics.exchange` when its own list runs dry, or from any page it
 * owns when it would otherwise take a new page. A page whose blocks are all freed is free for any worker, class or
 * large block: a worker claims a free page with a CAS of its owner word, else takes fresh pages from a shared cursor.
 * A worker that leaves (`release()`) frees its empty pages and abandons the others, which any worker adopts.
 *
 * ```text
 *  control (256 B) | worker slots (64 x 128 B, a cache line pair each: no false sharing) | page headers (128 B per page) | block states (1 byte per 16 B) |
 *  pages (64 KiB each, 64 KiB-aligned) ...
 *  control: magic | pages | cursor | free-page scan hint | abandoned stack | region offsets | attached-worker bitmap
 *  page header (128 B: words of 4 B, the rest padding): owner | class size | capacity | used | local free head |
 *    remote free head | bump | next (abandoned stack)
 *  block state: 0 free, 1 live; every free turns it 1 -> 0 with a CAS, so a double free is refused
 * ```
 *
 * Metadata that fails closed: the free-list links live in freed blocks, where a write after free can reach them, so
 * every link is checked before it is followed (a slot of the same page, below its bump mark, in the free state),
 * and `collect` walks at most a page's capacity, marking what it visits so a cycle stops it. A forged link raises
 * `CorruptionError` (counted in `corruptionEvents()`) and the forged list is dropped, never handed out.
 *
 * Classes: 16 .. 32 KiB in four steps per power of two (16-byte aligned; a power-of-two class for larger
 * alignments); larger blocks take whole pages. Everything shared lives in the memory; `share()` / `attach()` hand
 * it to another worker, and formatting a range that holds a heap with attached workers is refused. Statistics are
 * per-worker slots in the memory, summed by `stats()` in any worker.
 *
 * Complexity: O(1) allocate and free; taking a page when none is at hand scans the page headers (O(pages)).
 * Overhead: 1 byte of state per 16 bytes of pages, a 128-byte header per page, rounding to the class (at most 25%).
 * Composition limits: frees must come from a worker attached to this heap.
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
  InvalidPointerError,
  LayoutError,
  Memory,
  NULL,
  UnsupportedError,
  checkCarvable,
  checkResize,
  describePointer,
  isFixedRange,
  isValidLayout,
  layoutError,
  moveBlock,
  zeroBlock,
} from "../core/index.js";
import { StaticBacked } from "../backing/index.js";

const PAGE_SHIFT = 16;
const PAGE = 1 << PAGE_SHIFT;
const MAX_SMALL = 32768;
const MAX_WORKERS = 64;
const SLOT_BYTES = 128; // a worker's counters get their own cache lines
const MAGIC = 0x6368_6561; // "chea"
// control words
const C_MAGIC = 0;
const C_PAGES = 1; // page count
const C_NEXT_PAGE = 2; // bump cursor (pages)
const C_FREE_HINT = 3; // where the next scan for a free page starts
const C_ABANDONED = 4; // tagged stack head
const C_SLOTS = 5; // byte offsets of the regions
const C_HEADERS = 6;
const C_STATES = 7;
const C_PAGES_AT = 8;
const C_WORKERS = 9; // claimed worker-slot bitmap (64 bits: two words)
// worker slot words
const S_ALLOCS = 0;
const S_FREES = 1;
const S_REMOTE = 2;
const S_PENDING = 3; // set by a worker that pushed a remote free onto one of this worker's pages
// page header words
const H_OWNER = 0; // worker id + 1; 0 = free page; -1 = abandoned; -2 = never used (past the cursor)
const H_CLASS = 1; // class size, or -pages for a large span head
const H_CAPACITY = 2;
const H_USED = 3;
const H_LOCAL = 4;
const H_REMOTE = 5;
const H_BUMP = 6;
const H_NEXT = 7;
const H_WORDS = 32; // 128 bytes: two workers' page headers never share a cache line pair
const ABANDONED = -1;
/** The owner word of a page the cursor has not reached yet. */
const NEVER_USED = -2;
/** A block state used only inside `collect` (by the owner, on free blocks no other worker touches). */
const VISITED = 2;

/** The class sizes: 16 .. 32 KiB, four per power of two. */
export const CONCURRENT_CLASSES: readonly number[] = (() => {
  const out = [16, 32, 48, 64, 80, 96, 112, 128];
  for (let p = 128; p < MAX_SMALL; p *= 2) for (let q = 1; q <= 4; q++) out.push(p + (p / 4) * q);
  return Object.freeze(out);
})();
/** `1 / class size`, for the exact slot test `Math.round(off * inv) * cls === off` (no division on the hot path). */
const CLASS_INV = Float64Array.from(CONCURRENT_CLASSES, (c) => 1 / c);
const CLASS_OF = new Uint8Array((MAX_SMALL >>> 4) + 1);
for (let n = 1, k = 0; n <= MAX_SMALL >>> 4; n++) {
  while (CONCURRENT_CLASSES[k]! < n * 16) k++;
  CLASS_OF[n] = k;
}

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
  /** Allocations by all workers. */
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
}

/** A heap for many workers (see the module documentation). */
export class ConcurrentHeap implements Allocator {
  /** The shared memory. */
  readonly memory: Memory;
  /** This worker's id in the heap (0 to 63). */
  readonly workerId: number;
  private readonly control: number;
  private readonly c: number;
  private readonly slot: number;
  private readonly headers: number;
  private readonly states: number;
  private readonly pagesAt: number;
  private readonly pageCount: number;
  private readonly owner: number;
  /** The page each class allocates from now (0 = none), by class. */
  private readonly current: Int32Array;
  /** Pages of each class with free blocks that are not current. */
  private readonly partial: number[][];
  private released: boolean;
  private corruptions: number;

  /**
   * Formats a heap over `backing`'s range (`attaching` is internal: `attach` uses it) and joins it as a worker.
   *
   * @throws `AllocError` when the memory is not shared, the range holds no page, or 64 workers are attached.
   */
  constructor(backing: FixedRange, attaching = false) {
    if (!isFixedRange(backing)) throw new AllocError("ConcurrentHeap: the backing must be a FixedRange");
    checkCarvable("ConcurrentHeap", backing);
    const memory = backing.memory;
    if (!memory.shared)
      throw new AllocError(
        "ConcurrentHeap: the memory must be shared (SharedArrayBufferBacked or a shared WebAssembly memory)",
      );
    this.memory = memory;
    this.control = (backing.base() + 255) & ~255;
    this.c = this.control >>> 2;
    const i32 = () => memory.i32;
    if (
      !attaching &&
      memory.byteLength >= this.control + 256 &&
      Atomics.load(i32(), this.c + C_MAGIC) === MAGIC &&
      (Atomics.load(i32(), this.c + C_WORKERS) | Atomics.load(i32(), this.c + C_WORKERS + 1)) !== 0
    ) {
      throw new AllocError(
        "ConcurrentHeap: the range holds a heap that workers are attached to; join it with ConcurrentHeap.attach(heap.share()) instead of formatting it again",
      );
    }
    if (!attaching) {
      const end = backing.base() + backing.size();
      const slots = this.control + 256;
      const headers = slots + MAX_WORKERS * SLOT_BYTES;
      // pages: n * (64 KiB page + 64 B header + 4 KiB of states) must fit after the headers, pages 64 KiB-aligned
      let n = Math.floor((end - headers) / (PAGE + H_WORDS * 4 + PAGE / 16));
      let states = headers + n * H_WORDS * 4;
      let pagesAt = (states + n * (PAGE / 16) + PAGE - 1) & ~(PAGE - 1);
      while (n > 0 && pagesAt + n * PAGE > end) {
        n--;
        states = headers + n * H_WORDS * 4;
        pagesAt = (states + n * (PAGE / 16) + PAGE - 1) & ~(PAGE - 1);
      }
      if (n < 1) throw new AllocError("ConcurrentHeap: the range is too small for one 64 KiB page");
      if (!backing.commit(this.control, pagesAt + n * PAGE - this.control)) {
        throw new AllocError(
          "ConcurrentHeap: the backing cannot commit the heap (a growable memory must be able to grow to its range)",
        );
      }
      memory.u8.fill(0, this.control, pagesAt);
      const w = i32();
      w[this.c + C_PAGES] = n;
      w[this.c + C_SLOTS] = slots;
      w[this.c + C_HEADERS] = headers;
      w[this.c + C_STATES] = states;
      w[this.c + C_PAGES_AT] = pagesAt;
      // Pages past the cursor are NEVER_USED, not free: a worker that bumps the cursor owns them before it has
      // written its id into them, and a scan for free pages (owner 0) must not take them in that moment.
      for (let p = 0; p < n; p++) w[(headers >>> 2) + p * H_WORDS + H_OWNER] = NEVER_USED;
      Atomics.store(w, this.c + C_MAGIC, MAGIC);
    } else if (Atomics.load(i32(), this.c + C_MAGIC) !== MAGIC) {
      throw new AllocError("ConcurrentHeap.attach: no heap is formatted at that offset");
    }
    const w = i32();
    this.pageCount = w[this.c + C_PAGES]!;
    this.headers = w[this.c + C_HEADERS]!;
    this.states = w[this.c + C_STATES]!;
    this.pagesAt = w[this.c + C_PAGES_AT]!;
    this.workerId = this.claimWorker();
    this.owner = this.workerId + 1;
    this.slot = (w[this.c + C_SLOTS]! + this.workerId * SLOT_BYTES) >>> 2;
    for (let k = 0; k < 8; k++) w[this.slot + k] = 0;
    this.current = new Int32Array(CONCURRENT_CLASSES.length);
    this.partial = CONCURRENT_CLASSES.map(() => []);
    this.released = false;
    this.corruptions = 0;
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

  /** A structured-cloneable description for `attach` in another worker. */
  share(): ConcurrentHeapDescriptor {
    return {
      kind: "ConcurrentHeap",
      source: this.memory.source as SharedArrayBuffer | WebAssembly.Memory,
      control: this.control,
    };
  }

  /** `size` bytes (16-aligned), or `NULL` when the memory is full (I3). */
  allocate(size: number, align = 8): number {
    const m = align - 1;
    if (((size - 1) & 0x3fffffff) + 1 !== size || (m & 0x1fffff) + 1 !== align || (align & m) !== 0) {
      throw layoutError("ConcurrentHeap.allocate", size, align);
    }
    if (size <= MAX_SMALL && align <= 16) {
      const k = CLASS_OF[(size + 15) >>> 4]!;
      const page = this.current[k]!;
      if (page !== 0) {
        const i32 = this.memory.i32;
        const h = (this.headers >>> 2) + (page - 1) * H_WORDS;
        const p = i32[h + H_LOCAL]!;
        if (p !== NULL) {
          // The link lives in the free block, where a write after free can reach it: it must name a free slot of
          // this page below its bump mark before it becomes the head.
          const next = i32[p >>> 2]!;
          const off = next - (p - ((p - this.pagesAt) & (PAGE - 1)));
          const u8 = this.memory.u8;
          if (
            next !== NULL &&
            (off >>> 0 >= i32[h + H_BUMP]! * CONCURRENT_CLASSES[k]! ||
              Math.round(off * CLASS_INV[k]!) * CONCURRENT_CLASSES[k]! !== off ||
              u8[this.states + ((next - this.pagesAt) >>> 4)] !== 0)
          ) {
            return this.corruptList(h, p);
          }
          i32[h + H_LOCAL] = next;
          i32[h + H_USED]!++;
          u8[this.states + ((p - this.pagesAt) >>> 4)] = 1;
          i32[this.slot + S_ALLOCS]!++;
          return p;
        }
      }
    }
    return this.allocateSlow(size, align);
  }

  /** `malloc`: as `allocate`, but out of memory throws `AllocError`. */
  malloc(size: number): number {
    const p = this.allocate(size, 16);
    if (p === NULL) throw new AllocError(`ConcurrentHeap.malloc: out of memory: ${size} bytes requested`);
    return p;
  }

  /** As {@link ConcurrentHeap.allocate}, zeroed. */
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /**
   * Frees a block from any worker: onto its page's local list when this worker owns the page, else onto the page's
   * remote list (one CAS).
   *
   * @throws `InvalidPointerError` for a double free or a pointer that is not a block of this heap.
   */
  free(ptr: number): void {
    const page = ((ptr - this.pagesAt) >>> PAGE_SHIFT) + 1;
    if ((ptr | 0) !== ptr || ptr < this.pagesAt || page > this.pageCount) throw this.notABlock("free", ptr);
    const i32 = this.memory.i32;
    const h = (this.headers >>> 2) + (page - 1) * H_WORDS;
    const cls = i32[h + H_CLASS]!;
    const off = ptr - this.pagesAt - ((page - 1) << PAGE_SHIFT);
    if (cls <= 0 || Math.round(off * CLASS_INV[CLASS_OF[(cls + 15) >>> 4]!]!) * cls !== off)
      return this.freeSlow(ptr, page, cls, off);
    const s = this.states + ((ptr - this.pagesAt) >>> 4);
    if (i32[h + H_OWNER] === this.owner) {
      // A compare-and-swap even for the owner: a remote free of the same block may race this one, and exactly one
      // of them may win.
      if (Atomics.compareExchange(this.memory.u8, s, 1, 0) !== 1) throw this.notABlock("free", ptr);
      i32[ptr >>> 2] = i32[h + H_LOCAL]!;
      i32[h + H_LOCAL] = ptr;
      const used = i32[h + H_USED]! - 1;
      i32[h + H_USED] = used;
      i32[this.slot + S_FREES]!++;
      if (
        (used === 0 || used === i32[h + H_CAPACITY]! - 1) &&
        this.current[CLASS_OF[(cls + 15) >>> 4]!] !== page
      ) {
        this.afterLocalFree(page, h, cls, used);
      }
      return;
    }
    this.freeRemote(ptr, h, s);
  }

  /** Sized free (I4): as `free`, and `size` must fit the block. */
  deallocate(ptr: number, size: number, align = 8): void {
    if (!isValidLayout(size, align)) throw layoutError("ConcurrentHeap.deallocate", size, align);
    const usable = this.usable(ptr);
    if (size > usable)
      throw new LayoutError(
        `ConcurrentHeap.deallocate: block ${describePointer(ptr)} holds ${usable} bytes, not ${size}`,
      );
    this.free(ptr);
  }

  /** Moves the block to a larger class (in place when it already fits). */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("ConcurrentHeap.grow", oldSize, newSize, align, true);
    const usable = this.usable(ptr);
    if (oldSize > usable)
      throw new LayoutError(`ConcurrentHeap.grow: block ${describePointer(ptr)} holds ${usable} bytes`);
    return newSize <= usable ? ptr : moveBlock(this, ptr, oldSize, newSize, align);
  }

  /** In place. */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("ConcurrentHeap.shrink", oldSize, newSize, align, false);
    if (oldSize > this.usable(ptr))
      throw new LayoutError(`ConcurrentHeap.shrink: ${describePointer(ptr)} is smaller than ${oldSize}`);
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
    const usable = this.usable(ptr);
    if (size > usable)
      throw new LayoutError(`ConcurrentHeap.usableSize: block ${describePointer(ptr)} holds ${usable} bytes`);
    return usable;
  }

  /** Bytes of pages in all. */
  capacityBytes(): number {
    return this.pageCount * PAGE;
  }

  /** Forged free-list links this worker found (and refused to follow). */
  corruptionEvents(): number {
    return this.corruptions;
  }

  /** The counters of every worker, summed; readable in any worker. */
  stats(): ConcurrentHeapStats {
    const i32 = this.memory.i32;
    const slots = i32[this.c + C_SLOTS]! >>> 2;
    let allocations = 0;
    let frees = 0;
    let remoteFrees = 0;
    for (let k = 0; k < MAX_WORKERS; k++) {
      const at = slots + k * (SLOT_BYTES >>> 2);
      allocations += Atomics.load(i32, at + S_ALLOCS);
      frees += Atomics.load(i32, at + S_FREES);
      remoteFrees += Atomics.load(i32, at + S_REMOTE);
    }
    let inUse = 0;
    const cursor = Atomics.load(i32, this.c + C_NEXT_PAGE);
    for (let p = 0; p < cursor; p++)
      if (Atomics.load(i32, (this.headers >>> 2) + p * H_WORDS + H_OWNER) !== 0) inUse++; // below the cursor: used or free
    const bits = Atomics.load(i32, this.c + C_WORKERS);
    const bits2 = Atomics.load(i32, this.c + C_WORKERS + 1);
    const popcount = (x: number): number => {
      let n = 0;
      for (let v = x >>> 0; v !== 0; v &= v - 1) n++;
      return n;
    };
    return {
      allocations,
      frees,
      remoteFrees,
      pagesInUse: inUse,
      pages: this.pageCount,
      workers: popcount(bits) + popcount(bits2),
    };
  }

  /**
   * Checks the heap's invariants while no worker is using it (a snapshot; run it when the workers are quiet):
   * pages past the cursor are never used; per page of a class, live blocks + blocks on the local list + blocks on the
   * remote list + slots past the bump mark = capacity, and `used` counts the live and remote ones; every list link
   * is a slot of its page in the free state, with no cycle; a large span's head is live and its tail pages are its
   * owner's; a free page holds no live block. Throws an `Error` naming the first one broken. O(heap / 16).
   */
  validate(): void {
    const fail = (what: string): never => {
      throw new Error(`ConcurrentHeap.validate: ${what}`);
    };
    const i32 = this.memory.i32;
    const u8 = this.memory.u8;
    const h0 = this.headers >>> 2;
    const cursor = Atomics.load(i32, this.c + C_NEXT_PAGE);
    const stateOf = (p: number): number => u8[this.states + ((p - this.pagesAt) >>> 4)]!;
    let spanLeft = 0;
    let spanOwner = 0;
    for (let page = 1; page <= this.pageCount; page++) {
      const h = h0 + (page - 1) * H_WORDS;
      const owner = i32[h + H_OWNER]!;
      const cls = i32[h + H_CLASS]!;
      const start = this.pagesAt + ((page - 1) << PAGE_SHIFT);
      if (page > cursor) {
        if (owner !== NEVER_USED) fail(`page ${page} is past the cursor ${cursor} but has owner ${owner}`);
        continue;
      }
      if (owner === NEVER_USED) fail(`page ${page} is below the cursor but marked never used`);
      if (spanLeft > 0) {
        if (cls !== 0 || owner !== spanOwner)
          fail(`page ${page} belongs to a large span but says class ${cls}`);
        spanLeft--;
        continue;
      }
      if (cls < 0) {
        if (stateOf(start) !== 1) fail(`large span at page ${page} is not live`);
        spanLeft = -cls - 1;
        spanOwner = owner;
        continue;
      }
      if (cls === 0) {
        if (owner > 0) continue; // claimed this moment by a worker that is formatting it
        for (let g = 0; g < PAGE >>> 4; g++)
          if (u8[this.states + (((page - 1) << PAGE_SHIFT) >>> 4) + g] !== 0)
            fail(`free page ${page} holds a live block`);
        continue;
      }
      const cap = i32[h + H_CAPACITY]!;
      const bump = i32[h + H_BUMP]!;
      if (cap !== Math.floor(PAGE / cls) || bump < 0 || bump > cap)
        fail(`page ${page}: capacity ${cap}, bump ${bump}`);
      let live = 0;
      for (let k = 0; k < bump; k++) if (stateOf(start + k * cls) === 1) live++;
      const walk = (head: number, what: string): number => {
        let n = 0;
        const seen = new Set<number>();
        for (let p = head; p !== NULL; p = i32[p >>> 2]!) {
          const off = p - start;
          if (off < 0 || off >= bump * cls || off % cls !== 0)
            fail(`page ${page}: ${what} list holds ${p}, not a slot`);
          if (stateOf(p) !== 0) fail(`page ${page}: ${what} list holds the live block ${p}`);
          if (seen.has(p)) fail(`page ${page}: ${what} list has a cycle at ${p}`);
          seen.add(p);
          n++;
        }
        return n;
      };
      const local = walk(i32[h + H_LOCAL]!, "local");
      const remote = walk(Atomics.load(i32, h + H_REMOTE), "remote");
      if (live + local + remote + (cap - bump) !== cap)
        fail(
          `page ${page}: ${live} live + ${local} local + ${remote} remote + ${cap - bump} unused != ${cap}`,
        );
      if (i32[h + H_USED] !== live + remote)
        fail(`page ${page}: used says ${i32[h + H_USED]}, ${live + remote} counted`);
    }
  }

  /**
   * Leaves the heap: empty pages go back to the shared free-page stack, pages with live blocks are abandoned (any
   * worker adopts them later, with the remote frees they collected), and the worker slot is freed. Idempotent.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.current.fill(0); // the fast path now falls through to the slow path, which refuses
    for (const list of this.partial) list.length = 0;
    const i32 = this.memory.i32;
    const h0 = this.headers >>> 2;
    const cursor = Atomics.load(i32, this.c + C_NEXT_PAGE);
    for (let page = 1; page <= cursor; page++) {
      const h = h0 + (page - 1) * H_WORDS;
      if (i32[h + H_OWNER] !== this.owner || i32[h + H_CLASS]! <= 0) continue;
      this.collect(h);
      if (i32[h + H_USED] === 0) this.freePage(page);
      else {
        Atomics.store(i32, h + H_OWNER, ABANDONED);
        this.pushStack(C_ABANDONED, page);
      }
    }
    const word = this.c + C_WORKERS + (this.workerId >>> 5);
    Atomics.and(i32, word, ~(1 << (this.workerId & 31)));
  }

  /** `using` support: `release()`. */
  [Symbol.dispose](): void {
    this.release();
  }

  // ---- slow paths ----

  private allocateSlow(size: number, align: number): number {
    if (this.released) throw new AllocError("ConcurrentHeap: this worker released the heap");
    if (size > MAX_SMALL || align > 16) {
      if (align > 16 && align <= MAX_SMALL && size <= MAX_SMALL) {
        let c = 16;
        while (c < size || c < align) c *= 2; // a power-of-two class keeps its blocks aligned to it
        return this.allocateSmall(CONCURRENT_CLASSES.indexOf(c), c);
      }
      return align <= PAGE ? this.allocateLarge(size) : NULL;
    }
    const k = CLASS_OF[(size + 15) >>> 4]!;
    return this.allocateSmall(k, CONCURRENT_CLASSES[k]!);
  }

  private allocateSmall(k: number, cls: number): number {
    const i32 = this.memory.i32;
    const h0 = this.headers >>> 2;
    for (;;) {
      const page = this.current[k]!;
      if (page !== 0) {
        const h = h0 + (page - 1) * H_WORDS;
        if (i32[h + H_LOCAL] === NULL) this.collect(h);
        let p = i32[h + H_LOCAL]!;
        if (p !== NULL) return this.allocate(cls, 16); // the fast path validates the link
        if (i32[h + H_BUMP]! < i32[h + H_CAPACITY]!) {
          const b = i32[h + H_BUMP]!;
          i32[h + H_BUMP] = b + 1;
          p = this.pagesAt + ((page - 1) << PAGE_SHIFT) + b * cls;
          i32[h + H_USED]!++;
          this.memory.u8[this.states + ((p - this.pagesAt) >>> 4)] = 1;
          i32[this.slot + S_ALLOCS]!++;
          return p;
        }
      }
      const next =
        this.nextPartial(k, cls) || this.collectOwned(k, cls) || this.adopt(cls) || this.newPage(cls);
      if (next === 0) return NULL;
      this.current[k] = next;
    }
  }

  /** A page of this worker's partial list of class `k` that still is one (entries go stale when a page empties). */
  private nextPartial(k: number, cls: number): number {
    const i32 = this.memory.i32;
    const list = this.partial[k]!;
    while (list.length > 0) {
      const page = list.pop()!;
      const h = (this.headers >>> 2) + (page - 1) * H_WORDS;
      if (i32[h + H_OWNER] === this.owner && i32[h + H_CLASS] === cls && page !== this.current[k])
        return page;
    }
    return 0;
  }

  /**
   * Remote frees collected from every page this worker owns: a page that filled up and then had its blocks freed by
   * other workers is on no list, so without this its memory would never come back. Empty pages go back to the
   * heap; the first page of class `cls` with room is returned (0: none). O(pages); the slow path only.
   */
  private collectOwned(k: number, cls: number): number {
    const i32 = this.memory.i32;
    if (Atomics.exchange(i32, this.slot + S_PENDING, 0) === 0) return 0; // no remote free since the last scan
    const h0 = this.headers >>> 2;
    const cursor = Atomics.load(i32, this.c + C_NEXT_PAGE);
    let found = 0;
    for (let page = 1; page <= cursor; page++) {
      const h = h0 + (page - 1) * H_WORDS;
      if (i32[h + H_OWNER] !== this.owner || i32[h + H_CLASS]! <= 0 || Atomics.load(i32, h + H_REMOTE) === 0)
        continue;
      this.collect(h);
      const pk = CLASS_OF[(i32[h + H_CLASS]! + 15) >>> 4]!;
      if (i32[h + H_USED] === 0 && this.current[pk] !== page) this.freePage(page);
      else if (found === 0 && i32[h + H_CLASS] === cls && page !== this.current[k]) found = page;
      else if (this.current[pk] !== page) this.partial[pk]!.push(page);
    }
    return found;
  }

  /** After a local free left `used` blocks in a page that is not current: room again, or empty. */
  private afterLocalFree(page: number, h: number, cls: number, used: number): void {
    const k = CLASS_OF[(cls + 15) >>> 4]!;
    if (used === 0) {
      this.collect(h);
      if (this.memory.i32[h + H_USED] === 0) {
        this.freePage(page); // any class, or a large block, can have it now
        return;
      }
    }
    this.partial[k]!.push(page);
  }

  /**
   * Takes the page's remote frees back (one exchange) onto its local list. Each link is checked (a free slot of
   * this page) and the walk is bounded by the page's capacity: a forged link stops it, counted, and the rest of
   * that list is dropped rather than followed.
   */
  private collect(h: number): void {
    const i32 = this.memory.i32;
    const r = Atomics.exchange(i32, h + H_REMOTE, 0);
    if (r === 0) return;
    const cls = i32[h + H_CLASS]!;
    const cap = i32[h + H_CAPACITY]!;
    const k = CLASS_OF[(cls + 15) >>> 4]!;
    const u8 = this.memory.u8;
    let n = 0;
    let last = 0;
    for (let p = r; p !== 0;) {
      const off = p - (this.pagesAt + (((p - this.pagesAt) >>> PAGE_SHIFT) << PAGE_SHIFT));
      const page = ((p - this.pagesAt) >>> PAGE_SHIFT) + 1;
      if (
        (p | 0) !== p ||
        p < this.pagesAt ||
        page > this.pageCount ||
        h !== (this.headers >>> 2) + (page - 1) * H_WORDS ||
        Math.round(off * CLASS_INV[k]!) * cls !== off ||
        off >= i32[h + H_BUMP]! * cls ||
        u8[this.states + ((p - this.pagesAt) >>> 4)] !== 0 ||
        n >= cap
      ) {
        this.corruptions++; // a forged link, or a cycle back to a block already walked (marked below)
        if (last !== 0) i32[last >>> 2] = 0; // keep what was checked, drop the forged rest
        break;
      }
      u8[this.states + ((p - this.pagesAt) >>> 4)] = VISITED;
      n++;
      last = p;
      p = i32[p >>> 2]!;
    }
    for (let q = r, j = 0; j < n; j++, q = i32[q >>> 2]!) u8[this.states + ((q - this.pagesAt) >>> 4)] = 0;
    if (n === 0) return;
    i32[last >>> 2] = i32[h + H_LOCAL]!;
    i32[h + H_LOCAL] = r;
    i32[h + H_USED] = i32[h + H_USED]! - n;
  }

  /** The page's local list has a forged link after `p`: drop the list (count it), never hand out what it names. */
  private corruptList(h: number, p: number): number {
    this.corruptions++;
    this.memory.i32[h + H_LOCAL] = NULL;
    throw new CorruptionError(
      `ConcurrentHeap.allocate: the free-list link in freed block ${describePointer(p)} was overwritten (a write after free); the page's free list is dropped`,
    );
  }

  /** A page abandoned by a worker that left, adopted for class `cls` (0: none left). */
  private adopt(cls: number): number {
    const i32 = this.memory.i32;
    for (;;) {
      const page = this.popStack(C_ABANDONED);
      if (page === 0) return 0;
      const h = (this.headers >>> 2) + (page - 1) * H_WORDS;
      Atomics.store(i32, h + H_OWNER, this.owner);
      this.collect(h); // the frees that arrived while it was abandoned
      if (i32[h + H_USED] === 0) {
        this.freePage(page); // empty now: any class can have it
        continue;
      }
      if (i32[h + H_CLASS] !== cls) {
        this.partial[CLASS_OF[(i32[h + H_CLASS]! + 15) >>> 4]!]!.push(page); // keep it for its own class
        continue;
      }
      return page;
    }
  }

  /** A fresh page for class `cls`: a free page (claimed with a CAS), else one from the cursor; 0 when full. */
  private newPage(cls: number): number {
    const i32 = this.memory.i32;
    let page = this.claimFreePages(1);
    if (page === 0) page = this.bumpPages(1);
    if (page === 0) return 0;
    const h = (this.headers >>> 2) + (page - 1) * H_WORDS;
    i32[h + H_CAPACITY] = Math.floor(PAGE / cls);
    i32[h + H_USED] = 0;
    i32[h + H_LOCAL] = 0;
    i32[h + H_BUMP] = 0;
    Atomics.store(i32, h + H_REMOTE, 0);
    Atomics.store(i32, h + H_CLASS, cls);
    return page;
  }

  /**
   * Whole pages for a block above 32 KiB: from the cursor, else a run of freed pages (so freed memory serves large
   * blocks too).
   */
  private allocateLarge(size: number): number {
    const n = Math.ceil(size / PAGE);
    const i32 = this.memory.i32;
    let first = this.bumpPages(n);
    if (first === 0) first = this.claimFreePages(n);
    if (first === 0) return NULL;
    const h0 = this.headers >>> 2;
    for (let j = 0; j < n; j++)
      Atomics.store(i32, h0 + (first - 1 + j) * H_WORDS + H_CLASS, j === 0 ? -n : 0);
    const p = this.pagesAt + ((first - 1) << PAGE_SHIFT);
    Atomics.store(this.memory.u8, this.states + ((p - this.pagesAt) >>> 4), 1);
    i32[this.slot + S_ALLOCS]!++;
    return p;
  }

  /** `n` never-used pages from the shared cursor, owned by this worker (the first page's number; 0: none). */
  private bumpPages(n: number): number {
    const i32 = this.memory.i32;
    for (;;) {
      const cur = Atomics.load(i32, this.c + C_NEXT_PAGE);
      if (cur + n > this.pageCount) return 0;
      if (Atomics.compareExchange(i32, this.c + C_NEXT_PAGE, cur, cur + n) === cur) {
        for (let j = 0; j < n; j++)
          Atomics.store(i32, (this.headers >>> 2) + (cur + j) * H_WORDS + H_OWNER, this.owner);
        return cur + 1;
      }
    }
  }

  /**
   * A run of `n` free pages below the cursor, each claimed with a CAS of its owner word 0 -> this worker (a page
   * claimed by another worker mid-run releases the ones taken and the scan goes on). 0 when there is none.
   * O(pages); the slow path only. The scan starts where the last one ended.
   */
  private claimFreePages(n: number): number {
    const i32 = this.memory.i32;
    const h0 = this.headers >>> 2;
    const cursor = Atomics.load(i32, this.c + C_NEXT_PAGE);
    if (cursor < n) return 0;
    const hint = Atomics.load(i32, this.c + C_FREE_HINT);
    for (let scanned = 0, start = hint < cursor ? hint : 0; scanned < cursor; scanned++) {
      const first = (start + scanned) % cursor;
      if (first + n > cursor) continue;
      let taken = 0;
      while (
        taken < n &&
        Atomics.compareExchange(i32, h0 + (first + taken) * H_WORDS + H_OWNER, 0, this.owner) === 0
      )
        taken++;
      if (taken === n) {
        Atomics.store(i32, this.c + C_FREE_HINT, first + n);
        return first + 1;
      }
      for (let j = 0; j < taken; j++) Atomics.store(i32, h0 + (first + j) * H_WORDS + H_OWNER, 0);
    }
    return 0;
  }

  private freeSlow(ptr: number, page: number, cls: number, off: number): void {
    if (cls < 0 && off === 0) {
      // a large span: any worker frees it with a CAS on its state, then its pages are free for any use
      if (Atomics.compareExchange(this.memory.u8, this.states + ((ptr - this.pagesAt) >>> 4), 1, 0) !== 1)
        throw this.notABlock("free", ptr);
      for (let j = -cls - 1; j >= 0; j--) this.freePage(page + j);
      this.memory.i32[this.slot + S_FREES]!++;
      return;
    }
    throw this.notABlock("free", ptr);
  }

  private freeRemote(ptr: number, h: number, s: number): void {
    if (Atomics.compareExchange(this.memory.u8, s, 1, 0) !== 1) throw this.notABlock("free", ptr);
    const i32 = this.memory.i32;
    for (;;) {
      const head = Atomics.load(i32, h + H_REMOTE);
      i32[ptr >>> 2] = head;
      if (Atomics.compareExchange(i32, h + H_REMOTE, head, ptr) === head) break;
    }
    // Tell the owner that one of its pages has a remote free to collect (its slow path scans only then).
    const owner = Atomics.load(i32, h + H_OWNER);
    if (owner > 0)
      Atomics.store(i32, ((i32[this.c + C_SLOTS]! + (owner - 1) * SLOT_BYTES) >>> 2) + S_PENDING, 1);
    i32[this.slot + S_FREES]!++;
    i32[this.slot + S_REMOTE]!++;
  }

  /** Makes a page free for any worker, class or large block (its owner word 0 is what others claim). */
  private freePage(page: number): void {
    const i32 = this.memory.i32;
    const h = (this.headers >>> 2) + (page - 1) * H_WORDS;
    Atomics.store(i32, h + H_CLASS, 0);
    Atomics.store(i32, h + H_OWNER, 0);
  }

  /** A tagged Treiber stack of pages (the abandoned ones): head = tag << 16 | page (1-based). */
  private pushStack(word: number, page: number): void {
    const i32 = this.memory.i32;
    const h = (this.headers >>> 2) + (page - 1) * H_WORDS;
    for (;;) {
      const old = Atomics.load(i32, this.c + word);
      i32[h + H_NEXT] = old & 0xffff;
      const next = ((((old >>> 16) + 1) & 0x7fff) << 16) | page;
      if (Atomics.compareExchange(i32, this.c + word, old, next) === old) return;
    }
  }

  private popStack(word: number): number {
    const i32 = this.memory.i32;
    for (;;) {
      const old = Atomics.load(i32, this.c + word);
      const page = old & 0xffff;
      if (page === 0) return 0;
      const nextPage = i32[(this.headers >>> 2) + (page - 1) * H_WORDS + H_NEXT]!;
      const next = ((((old >>> 16) + 1) & 0x7fff) << 16) | nextPage;
      if (Atomics.compareExchange(i32, this.c + word, old, next) === old) return page;
    }
  }

  private claimWorker(): number {
    const i32 = this.memory.i32;
    for (let id = 0; id < MAX_WORKERS; id++) {
      const word = this.c + C_WORKERS + (id >>> 5);
      const bit = 1 << (id & 31);
      const old = Atomics.or(i32, word, bit);
      if ((old & bit) === 0) return id;
    }
    throw new AllocError(`ConcurrentHeap: ${MAX_WORKERS} workers are attached already`);
  }

  private usable(ptr: number): number {
    const page = ((ptr - this.pagesAt) >>> PAGE_SHIFT) + 1;
    if ((ptr | 0) !== ptr || ptr < this.pagesAt || page > this.pageCount)
      throw this.notABlock("usableSize", ptr);
    const i32 = this.memory.i32;
    const cls = i32[(this.headers >>> 2) + (page - 1) * H_WORDS + H_CLASS]!;
    const off = ptr - this.pagesAt - ((page - 1) << PAGE_SHIFT);
    const live = this.memory.u8[this.states + ((ptr - this.pagesAt) >>> 4)] === 1;
    if (cls > 0 && off % cls === 0 && live) return cls;
    if (cls < 0 && off === 0 && live) return -cls * PAGE;
    throw this.notABlock("usableSize", ptr);
  }

  private notABlock(what: string, ptr: number): InvalidPointerError {
    return new InvalidPointerError(
      ptr,
      `ConcurrentHeap.${what}: ${describePointer(ptr)} is not a live block of this heap (a double free, or not a block)`,
    );
  }
}
