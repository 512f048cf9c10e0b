/**
 * `OffsetAllocator`: sub-allocation of a range that JavaScript cannot (or should not) touch: a WebGPU buffer, a
 * file, a wasm module's heap seen from outside, a texture atlas. It hands out offsets in `[0, size)` and takes them
 * back, and keeps every byte of its bookkeeping outside the range, in typed arrays of its own: it never reads or
 * writes the range (it has no `Memory` at all).
 *
 * The layout is a two-level segregated fit (as `Tlsf`): O(1) allocate and free (a bounded bitmap scan), immediate
 * coalescing of free neighbours, splitting, alignment by giving the front of a block back as a free block. Sizes are
 * multiples of 8 bytes; ranges up to 2^53 - 8 bytes (a file of petabytes) are fine, since offsets are doubles,
 * and every size computation is exact integer math up to there (no `Math.log2`): a test walks the sizes around
 * every power of two from 2^30 to 2^53.
 *
 * Differences from the `Allocator` contract, because offset 0 is a valid block here: a failed allocation returns
 * {@link OFFSET_NONE} (-1), not `NULL`; `free` takes the offset alone (the allocator remembers each block's size).
 * Bad input is refused as everywhere: a bad size or alignment is a `LayoutError`, an offset that is not a live
 * block (a double free, a foreign or interior offset) an `InvalidPointerError`, and nothing changes.
 *
 * Complexity: O(1) allocate and free (a scan of at most 48 bitmap words); when no list is certain to hold a request
 * (it would fit only a block of about its own size), allocate looks at the blocks of the few lists in between, so
 * that `OFFSET_NONE` always means that no free block can hold it; `validate()`, `stats()` and `regions()`
 * walk the blocks, O(blocks). Overhead: 37 bytes of out-of-band state per block (free or used) plus a `Map` entry
 * per live block (the arrays and the map grow by doubling, so a call allocates nothing of its own); nothing in the
 * range. Threads: one agent. Composition limits: not an `Allocator` (it has no
 * memory), so no wrapper or layout stacks on it; draw it with `inspect()`.
 *
 * ```text
 *  range:  [0 .................................................................. size)
 *          | used 256 | free 64 | used 4096 | free ...                                |
 *  state:  per block: offset, size (Float64Array); physical prev/next, free-list prev/next (Int32Array); flags
 *          lists: first level floor(log2 size) (sizes below 128 share level 0), 16 second-level steps each
 * ```
 *
 * @example
 * ```ts
 * // Sub-allocate a 256 MiB GPU buffer: only offsets and sizes go to the GPU API, nothing here touches its memory.
 * const gpu = new OffsetAllocator(256 << 20);
 * const vertices = gpu.allocate(1 << 20, 256); // 1 MiB, 256-aligned (a uniform buffer's offset alignment)
 * const indices = gpu.allocate(300_000, 256);
 * gpu.free(vertices);
 * console.log(vertices, indices, gpu.stats().usedBytes); // 0 1048576 300000
 * console.log(gpu.allocate(2 ** 40)); // -1: OFFSET_NONE, it does not fit
 * ```
 *
 * @module
 */
import { AllocError, InvalidPointerError, LayoutError, type Region, checkInteger } from "../core/index.js";
import type { TlsfStats } from "./tlsf.js";
import { TLSF_SL_BITS, TLSF_SMALL_BITS, tlsfBin, tlsfSearchBin } from "./tlsf-levels.js";

/** What {@link OffsetAllocator.allocate} returns when the request does not fit. */
export const OFFSET_NONE = -1;

const GRANULE = 8;
const SL_BITS = TLSF_SL_BITS; // the lists and their mapping are Tlsf's (./tlsf-levels.ts)
const SL_SIZE = 1 << SL_BITS;
const FL_COUNT = 54 - TLSF_SMALL_BITS + 1; // sizes below 2^54
const NONE = -1;

/**
 * Statistics of an {@link OffsetAllocator}: `Tlsf`'s, less the in-band fields (it has no headers and no heap to
 * grow). `usedBytes` counts requests rounded up to 8; alignment fronts are free blocks.
 */
export type OffsetStats = Omit<TlsfStats, "overheadBytes" | "heapBytes">;

/** Sub-allocates offsets of an untouchable range (see the module documentation). */
export class OffsetAllocator {
  /** The size of the range, in bytes: offsets are in `[0, size)`. */
  readonly size: number;
  private offsets: Float64Array;
  private sizes: Float64Array;
  private prevPhys: Int32Array;
  private nextPhys: Int32Array;
  private prevFree: Int32Array;
  private nextFree: Int32Array;
  private isFree: Uint8Array;
  /** Node indices not in use, as a stack. */
  private spare: Int32Array;
  private spareCount: number;
  private readonly heads: Int32Array;
  private readonly slMaps: Int32Array;
  private readonly live: Map<number, number>;
  private first: number;

  /**
   * @param size - the range's size in bytes: a multiple of 8 from 8 to 2^53.
   * @throws `AllocError` for any other size.
   */
  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < GRANULE || size % GRANULE !== 0) {
      throw new AllocError(
        `OffsetAllocator: size ${String(size)} is not valid; expected a multiple of 8 from 8 to 2^53`,
      );
    }
    this.size = size;
    const n = 64;
    this.offsets = new Float64Array(n);
    this.sizes = new Float64Array(n);
    this.prevPhys = new Int32Array(n);
    this.nextPhys = new Int32Array(n);
    this.prevFree = new Int32Array(n);
    this.nextFree = new Int32Array(n);
    this.isFree = new Uint8Array(n);
    this.spare = new Int32Array(n);
    this.spareCount = 0;
    this.heads = new Int32Array(FL_COUNT * SL_SIZE).fill(NONE);
    this.slMaps = new Int32Array(FL_COUNT);
    this.live = new Map();
    this.first = NONE;
    for (let i = n - 1; i >= 0; i--) this.spare[this.spareCount++] = i;
    this.reset();
  }

  /**
   * A block of at least `size` bytes at an offset that is a multiple of `align`, or {@link OFFSET_NONE} when no free
   * block can hold it.
   * @param size - bytes: a positive safe integer (rounded up to a multiple of 8).
   * @param align - a power of two from 1 to 2^30. @defaultValue 8
   * @throws `LayoutError` for a bad size or alignment; nothing changes then.
   */
  allocate(size: number, align = 8): number {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new LayoutError(
        `OffsetAllocator.allocate: size ${String(size)} is not valid; expected a positive safe integer`,
      );
    }
    if (!this.validAlign(align)) {
      throw new LayoutError(
        `OffsetAllocator.allocate: alignment ${String(align)} is not valid; expected a power of two from 1 to 2^30`,
      );
    }
    if (size > this.size) return OFFSET_NONE;
    const need = Math.ceil(size / GRANULE) * GRANULE;
    const slack = align > GRANULE ? align - GRANULE : 0;
    let node = this.findFree(need + slack);
    if (node === NONE) node = this.scanFree(need, align, need + slack);
    if (node === NONE) return OFFSET_NONE;
    this.unlinkFree(node);
    let at = node;
    const offset = this.offsets[node]!;
    const front = align > GRANULE ? (align - (offset % align)) % align : 0;
    if (front > 0) {
      at = this.splitAfter(node, front); // the front stays free
      this.linkFree(node);
    }
    if (this.sizes[at]! - need >= GRANULE) {
      const tail = this.splitAfter(at, need);
      this.insertMerged(tail);
    }
    this.isFree[at] = 0;
    const result = this.offsets[at]!;
    this.live.set(result, at);
    return result;
  }

  /**
   * Frees the block at `offset`, merging it with free neighbours.
   * @throws `InvalidPointerError` when `offset` is not a live block (a double free, an interior or foreign offset);
   *   nothing changes then.
   */
  free(offset: number): void {
    const node = this.live.get(offset);
    if (node === undefined) {
      throw new InvalidPointerError(
        offset,
        `OffsetAllocator.free: ${String(offset)} is not a live block of this allocator ` +
          `(freed already, never allocated, or inside a block)`,
      );
    }
    this.live.delete(offset);
    this.insertMerged(node);
  }

  /** The size of the live block at `offset` (its request rounded up to 8). @throws `InvalidPointerError` otherwise. */
  sizeOf(offset: number): number {
    const node = this.live.get(offset);
    if (node === undefined) {
      throw new InvalidPointerError(offset, `OffsetAllocator.sizeOf: ${String(offset)} is not a live block`);
    }
    return this.sizes[node]!;
  }

  /** Frees everything: the whole range is one free block again. O(live blocks) for the bookkeeping. */
  reset(): void {
    for (let i = this.first; i !== NONE;) {
      const next = this.nextPhys[i]!;
      this.spare[this.spareCount++] = i;
      i = next;
    }
    this.heads.fill(NONE);
    this.slMaps.fill(0);
    this.live.clear();
    const n = this.newNode();
    this.offsets[n] = 0;
    this.sizes[n] = this.size;
    this.prevPhys[n] = NONE;
    this.nextPhys[n] = NONE;
    this.first = n;
    this.linkFree(n);
  }

  /** Live blocks. */
  liveCount(): number {
    return this.live.size;
  }

  /** Totals over the blocks. O(blocks). */
  stats(): OffsetStats {
    let usedBytes = 0;
    let usedBlocks = 0;
    let freeBytes = 0;
    let freeBlocks = 0;
    let largest = 0;
    for (let i = this.first; i !== NONE; i = this.nextPhys[i]!) {
      const s = this.sizes[i]!;
      if (this.isFree[i] === 1) {
        freeBytes += s;
        freeBlocks++;
        if (s > largest) largest = s;
      } else {
        usedBytes += s;
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
    };
  }

  /** Every block as a `used` or `free` region, in offset order (for `inspect()`). O(blocks); allocates. */
  regions(): Region[] {
    const out: Region[] = [];
    for (let i = this.first; i !== NONE; i = this.nextPhys[i]!) {
      out.push({
        offset: this.offsets[i]!,
        size: this.sizes[i]!,
        kind: this.isFree[i] === 1 ? "free" : "used",
      });
    }
    return out;
  }

  /**
   * Checks the invariants: the blocks tile `[0, size)` in order; no two free blocks are adjacent; each free block
   * is in exactly the list of its size and the bitmaps agree; the live map holds exactly the used blocks.
   * @throws `Error` naming the first one broken. O(blocks).
   */
  validate(): void {
    const fail = (what: string): never => {
      throw new Error(`OffsetAllocator.validate: ${what}`);
    };
    let at = 0;
    let prev = NONE;
    let used = 0;
    const free = new Set<number>();
    for (let i = this.first; i !== NONE; i = this.nextPhys[i]!) {
      if (this.prevPhys[i] !== prev) fail(`block ${i} has the wrong physical predecessor`);
      if (this.offsets[i] !== at) fail(`a gap or overlap at ${at}`);
      if (this.sizes[i]! <= 0 || this.sizes[i]! % GRANULE !== 0)
        fail(`block at ${at} has size ${this.sizes[i]}`);
      if (this.isFree[i] === 1) {
        if (prev !== NONE && this.isFree[prev] === 1) fail(`two adjacent free blocks at ${at}`);
        free.add(i);
      } else {
        used++;
        if (this.live.get(at) !== i) fail(`used block at ${at} is not in the live map`);
      }
      at += this.sizes[i]!;
      prev = i;
    }
    if (at !== this.size) fail(`the blocks end at ${at}, not ${this.size}`);
    if (used !== this.live.size) fail(`${this.live.size} live entries for ${used} used blocks`);
    let listed = 0;
    for (let fl = 0; fl < FL_COUNT; fl++) {
      for (let sl = 0; sl < SL_SIZE; sl++) {
        const head = this.heads[fl * SL_SIZE + sl]!;
        if ((head !== NONE) !== (((this.slMaps[fl]! >>> sl) & 1) === 1))
          fail(`bitmap of list (${fl}, ${sl}) disagrees`);
        for (let i = head, p = NONE; i !== NONE; p = i, i = this.nextFree[i]!) {
          if (!free.has(i)) fail(`list (${fl}, ${sl}) holds a block that is not free`);
          if (this.prevFree[i] !== p) fail(`list (${fl}, ${sl}) has a broken back link`);
          if (tlsfBin(this.sizes[i]!) !== fl * SL_SIZE + sl)
            fail(`a block of ${this.sizes[i]} in list (${fl}, ${sl})`);
          listed++;
        }
      }
    }
    if (listed !== free.size) fail(`${listed} listed free blocks for ${free.size} free blocks`);
  }

  private validAlign(align: number): boolean {
    return Number.isInteger(align) && align >= 1 && align <= 2 ** 30 && (align & (align - 1)) === 0;
  }

  /** A free block of at least `size` bytes, or NONE (a good fit: any block of the list found is big enough). */
  private findFree(size: number): number {
    // Round the request up to the next list boundary, so that every block in the list found fits.
    const k = tlsfSearchBin(size);
    let fl = k >>> SL_BITS;
    const sl = k & (SL_SIZE - 1);
    if (fl >= FL_COUNT) return NONE;
    let bits = this.slMaps[fl]! & (~0 << sl);
    while (bits === 0) {
      if (++fl >= FL_COUNT) return NONE;
      bits = this.slMaps[fl]!;
    }
    return this.heads[fl * SL_SIZE + (31 - Math.clz32(bits & -bits))]!;
  }

  /**
   * The slow path when no list is certain to hold the request: look at each block of the lists from `need`'s own up
   * to the one `findFree` started from, for one that holds `need` bytes at an `align`-ed offset. With this, a refusal
   * means that no free block can hold the request. O(blocks in those lists).
   */
  private scanFree(need: number, align: number, upTo: number): number {
    const k0 = tlsfBin(need);
    const k1 = Math.min(tlsfBin(upTo), FL_COUNT * SL_SIZE - 1);
    for (let k = k0; k <= k1; k++) {
      for (let n = this.heads[k]!; n !== NONE; n = this.nextFree[n]!) {
        const offset = this.offsets[n]!;
        const front = (align - (offset % align)) % align;
        if (front + need <= this.sizes[n]!) return n;
      }
    }
    return NONE;
  }

  private linkFree(n: number): void {
    const k = tlsfBin(this.sizes[n]!);
    const fl = k >>> SL_BITS;
    const sl = k & (SL_SIZE - 1);
    const head = this.heads[k]!;
    this.prevFree[n] = NONE;
    this.nextFree[n] = head;
    if (head !== NONE) this.prevFree[head] = n;
    this.heads[k] = n;
    this.slMaps[fl] = this.slMaps[fl]! | (1 << sl);
    this.isFree[n] = 1;
  }

  private unlinkFree(n: number): void {
    const k = tlsfBin(this.sizes[n]!);
    const fl = k >>> SL_BITS;
    const sl = k & (SL_SIZE - 1);
    const p = this.prevFree[n]!;
    const q = this.nextFree[n]!;
    if (p !== NONE) this.nextFree[p] = q;
    else this.heads[k] = q;
    if (q !== NONE) this.prevFree[q] = p;
    if (this.heads[k] === NONE) this.slMaps[fl] = this.slMaps[fl]! & ~(1 << sl);
    this.isFree[n] = 0;
  }

  /** Splits block `n` after its first `keep` bytes; returns the new node (the rest), in no list. */
  private splitAfter(n: number, keep: number): number {
    const m = this.newNode();
    this.offsets[m] = this.offsets[n]! + keep;
    this.sizes[m] = this.sizes[n]! - keep;
    this.sizes[n] = keep;
    const next = this.nextPhys[n]!;
    this.prevPhys[m] = n;
    this.nextPhys[m] = next;
    this.nextPhys[n] = m;
    if (next !== NONE) this.prevPhys[next] = m;
    this.isFree[m] = 0;
    return m;
  }

  /** Makes block `n` free, merged with its free neighbours, and lists it. */
  private insertMerged(n: number): void {
    const next = this.nextPhys[n]!;
    if (next !== NONE && this.isFree[next] === 1) {
      this.unlinkFree(next);
      this.absorbNext(n);
    }
    const prev = this.prevPhys[n]!;
    if (prev !== NONE && this.isFree[prev] === 1) {
      this.unlinkFree(prev);
      this.absorbNext(prev);
      n = prev;
    }
    this.linkFree(n);
  }

  /** Block `n` takes over its physical successor, whose node goes back to the spares. */
  private absorbNext(n: number): void {
    const m = this.nextPhys[n]!;
    this.sizes[n] = this.sizes[n]! + this.sizes[m]!;
    const after = this.nextPhys[m]!;
    this.nextPhys[n] = after;
    if (after !== NONE) this.prevPhys[after] = n;
    this.spare[this.spareCount++] = m;
  }

  private newNode(): number {
    if (this.spareCount === 0) this.growNodes();
    return this.spare[--this.spareCount]!;
  }

  /** Doubles the node arrays (allocation only here, amortised O(1)). */
  private growNodes(): void {
    const old = this.offsets.length;
    const n = checkInteger("OffsetAllocator", "block count", old * 2, 1, 2 ** 30);
    const grow = <T extends Float64Array | Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.offsets = grow(this.offsets, (k) => new Float64Array(k));
    this.sizes = grow(this.sizes, (k) => new Float64Array(k));
    this.prevPhys = grow(this.prevPhys, (k) => new Int32Array(k));
    this.nextPhys = grow(this.nextPhys, (k) => new Int32Array(k));
    this.prevFree = grow(this.prevFree, (k) => new Int32Array(k));
    this.nextFree = grow(this.nextFree, (k) => new Int32Array(k));
    this.isFree = grow(this.isFree, (k) => new Uint8Array(k));
    this.spare = grow(this.spare, (k) => new Int32Array(k));
    for (let i = n - 1; i >= old; i--) this.spare[this.spareCount++] = i;
  }
}
