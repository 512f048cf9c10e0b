/**
 * `PoisonOnFree` and `ZeroizeOnFree`: overwrite a block when it is freed (the whole usable size, so rounding slack
 * is covered), so a use after free reads garbage instead of stale data. `PoisonOnFree` writes a pattern (0xDE by
 * default) and can check, when a block is reused, that nothing wrote into it while it was free. `ZeroizeOnFree`
 * writes zeros, for secrets, and also zeroes every live block on `reset()` (the Rust one does not scrub on reset),
 * over any inner whose blocks it can find (see `ZeroizeOnFree`); it refuses the others at construction.
 *
 * Complexity: O(usable size) per free; with `checkOnReuse`, O(usable size) per reuse and a `Map` entry per freed
 * block. Overhead: none in the memory.
 *
 * `checkOnReuse` covers every byte of a freed block. Over a `Tlsf` or a `Heap` (whose large blocks are `Tlsf`'s),
 * which write an 8-byte header before each block they hand out, a freed block that a later allocation may have
 * written into (one that covers its start, one whose header lands on its first 8 bytes, or any allocation aligned
 * above 8) is no longer checked, so the check never reports a write the layout made itself. Over any other layout
 * that writes into free blocks, a freed block that does not hold the pattern throughout is not checked.
 * Where it may stand: outside the layout whose frees it scrubs. Under `Quarantine` the block is scrubbed only when
 * it leaves quarantine; put it outside (`new ZeroizeOnFree(new Quarantine(slab))`) to scrub at once. `grow` and
 * `shrink` move the block, so the old one is scrubbed too (as in Rust).
 *
 * @example
 * ```ts
 * const backing = new ArrayBufferBacked(1 << 16);
 * const pool = new PoisonOnFree(new Slab(backing, { blockSize: 64, capacity: 100 }), { checkOnReuse: true });
 * const secrets = new ZeroizeOnFree(new Slab(backing, { blockSize: 32, capacity: 16 }));
 * const k = secrets.allocate(32);
 * secrets.memory.u8.fill(7, k, k + 32);
 * secrets.deallocate(k, 32);
 * console.log(secrets.memory.u8[k], pool.allocate(64) > 0); // 0 true
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  CorruptionError,
  type DirectSite,
  type RawLayer,
  directInner,
  type FixedRange,
  NULL as IMPORTED_NULL,
  describePointer,
  FAULT_ARGS,
  faultError,
  type HasRegions,
  hasRegions,
  isFixedRange,
  isValidLayout,
  layoutError,
  moveRaw,
  wrapperChain,
} from "../core/index.js";
import { Heap, Tlsf } from "../layout/index.js";
import { Wrapper } from "./wrapper.js";

// `NULL`, bound module-locally: V8 folds a local constant (an imported binding is a load and a check at every use).
const NULL = IMPORTED_NULL;

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

/** The inner class the call sites of `PoisonOnFree` (and `ZeroizeOnFree`) reach directly (see `directInner` in core). */
const SITE: DirectSite = { inner: undefined };

/** The Rust crate's default poison byte. */
export const DEFAULT_POISON = 0xde;

/** Options of {@link PoisonOnFree}. */
export interface PoisonOptions {
  /** The byte written over freed blocks (0 to 255). @defaultValue 0xDE */
  pattern?: number;
  /**
   * Check, when a freed block is handed out again, that the bytes the new request covers still hold only the
   * pattern (and check whole free blocks with `verifyFreed()`). Costs a `Map` entry per freed block.
   * @defaultValue false
   */
  checkOnReuse?: boolean;
}

/**
 * Fills freed blocks with a pattern (see the module documentation).
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class PoisonOnFree<TInner extends Allocator> extends Wrapper<TInner> {
  /** The byte written over freed blocks. */
  readonly pattern: number;
  /** Whether reuse is checked. */
  readonly checkOnReuse: boolean;
  /** Freed blocks not yet handed out again: `usable * 256 + the byte they hold` (only with `checkOnReuse`). */
  private readonly poisoned: Map<number, number>;
  private corruptions: number;
  /**
   * True when the layout under it is a `Tlsf` or a `Heap`, which write a header before each block they hand out,
   * possibly inside a recorded block: a recorded block is then forgotten once an allocation may have written into it.
   */
  private readonly inBand: boolean;
  /** With `inBand`: one bit per 8 bytes of memory, set at the offsets of `poisoned`'s entries. */
  private starts: Uint32Array;
  /** `ZeroizeOnFree` over an inner it must track: each live block it issued, with its usable size; else `null`. */
  protected tracked: Map<number, number> | null;
  /**
   * True when an allocation or free has work after the inner's (a reuse check, or tracking): one branch. Tested
   * with `=== true`, a pointer compare (a plain `if` of a field V8 types only as "heap object" is a dozen
   * instructions of ToBoolean).
   */
  protected after: boolean;
  /** The inner, when its class is the one these call sites reach directly; else `null` (see `directInner`). */
  private readonly direct: RawLayer | null;
  /** `direct` when no call has work after the inner's (`after` is false); else `null` (see `specialize`). */
  private fast: RawLayer | null;

  /** @throws `AllocError` for a pattern that is not a byte. */
  constructor(inner: TInner, options: PoisonOptions = {}, label = "PoisonOnFree") {
    super(label, inner, true, true);
    const pattern = options.pattern ?? DEFAULT_POISON;
    if (!Number.isInteger(pattern) || pattern < 0 || pattern > 255) {
      throw new AllocError(`${label}: pattern ${String(pattern)} is not a byte (0 to 255)`);
    }
    this.pattern = pattern;
    this.checkOnReuse = options.checkOnReuse === true;
    const writer = this.checkOnReuse ? wrapperChain(inner).find((w) => w.writesBlocks) : undefined;
    if (writer !== undefined) {
      throw new AllocError(
        `${label}: checkOnReuse needs the blocks to hold the pattern until they are reused, but ${writer.name} ` +
          `inside writes into blocks; put ${label} with checkOnReuse directly over the layout, and ${writer.name} outside it`,
      );
    }
    this.poisoned = new Map();
    this.corruptions = 0;
    let layout: unknown = inner;
    while (wrapperChain(layout).length > 0) layout = (layout as { inner?: unknown }).inner;
    this.inBand = this.checkOnReuse && (layout instanceof Tlsf || layout instanceof Heap);
    this.starts = new Uint32Array(0);
    this.tracked = null;
    this.after = this.checkOnReuse;
    this.direct = directInner(SITE, this.raw);
    this.fast = null;
    this.specialize();
  }

  /**
   * Checked once, then the inner's `allocRaw`; with `checkOnReuse`, a reused block is first checked for writes made
   * while it was free. @throws `LayoutError` for a bad layout.
   */
  override allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw this.badLayout("allocate", size, align);
    const f = this.fast;
    return f !== null ? f.allocRaw(size, align) : this.allocRawGeneral(size, align);
  }

  /** The raw protocol: forwarded (see `allocate`). @internal */
  override allocRaw(size: number, align: number): number {
    const f = this.fast;
    return f !== null ? f.allocRaw(size, align) : this.allocRawGeneral(size, align);
  }

  /** `allocate` on the general path (see `specialize`). */
  private allocateGeneral(size: number, align = 8): number {
    if (!validLayout(size, align)) throw this.badLayout("allocate", size, align);
    return this.allocRawGeneral(size, align);
  }

  /** `allocRaw` on the general path (see `specialize`): with `checkOnReuse`, a reused block is first checked. */
  private allocRawGeneral(size: number, align: number): number {
    const d = this.direct;
    const p = d !== null ? d.allocRaw(size, align) : this.rawAlloc(this.raw, size, align);
    if (this.after === true) this.afterAllocate(p, size, align);
    return p;
  }

  /** The `LayoutError` of `method`, off the hot path (a template literal there costs inlining budget). */
  private badLayout(method: string, size: number, align: number): AllocError {
    return layoutError(`${this.label}.${method}`, size, align);
  }

  /** The error of a free (or resize) the inner refused with `code`, off the hot path. */
  private refusal(method: string, code: number, ptr: unknown, size: number, align: number): AllocError {
    return faultError(`${this.label}.${method}`, code, ptr, size, align);
  }

  /** The work after an allocation (none after a `NULL`): the reuse check, and tracking for `ZeroizeOnFree`. */
  private afterAllocate(p: number, size: number, align: number): void {
    if (p === NULL) return;
    if (this.checkOnReuse) {
      this.checkReuse(p, size);
      if (this.inBand) this.forgetInside(p, align);
    }
    if (this.tracked !== null) this.tracked.set(p, this.raw.sizeOf(p));
  }

  /**
   * Checks the whole call first, then writes the pattern over the block's usable size and frees it.
   *
   * @throws `LayoutError`, `InvalidPointerError` or `CorruptionError` naming this wrapper, for a call the inner
   *   would refuse; nothing is written then.
   */
  override deallocate(ptr: number, size: number, align = 8): void {
    // The layout check shares the refusal's throw (FAULT_ARGS): one call site less keeps this method, the slab's
    // scrubFree and the allocate beside it within what V8 inlines into one caller.
    const f = this.fast;
    if (f === null) return this.deallocateGeneral(ptr, size, align);
    const usable = !validLayout(size, align) ? FAULT_ARGS : f.scrubFree(ptr, size, align, this.pattern);
    if (usable < 0) throw this.refusal("deallocate", usable, ptr, size, align);
  }

  /** The raw protocol: the inner checks the free first; only then is the block scrubbed and freed. @internal */
  override tryFree(ptr: unknown, size: number, align: number): number {
    const f = this.fast;
    if (f === null) return this.tryFreeGeneral(ptr, size, align);
    const usable = f.scrubFree(ptr, size, align, this.pattern);
    return usable < 0 ? usable : 0;
  }

  /** The raw protocol: scrubs and frees a checked block. @internal */
  override freeRaw(ptr: number, size: number, align: number): void {
    const f = this.fast;
    if (f === null) this.freeRawGeneral(ptr, size, align);
    else f.scrubFree(ptr, size, align, this.pattern);
  }

  /** `deallocate` on the general path (see `specialize`). */
  private deallocateGeneral(ptr: number, size: number, align = 8): void {
    const usable = !validLayout(size, align) ? FAULT_ARGS : this.scrubFreeGeneral(ptr, size, align);
    if (usable < 0) throw this.refusal("deallocate", usable, ptr, size, align);
    if (this.after === true) this.afterFree(ptr, usable);
  }

  /** `tryFree` on the general path (see `specialize`). */
  private tryFreeGeneral(ptr: unknown, size: number, align: number): number {
    const usable = this.scrubFreeGeneral(ptr, size, align);
    if (usable < 0) return usable;
    if (this.after === true) this.afterFree(ptr as number, usable);
    return 0;
  }

  /** `freeRaw` on the general path (see `specialize`). */
  private freeRawGeneral(ptr: number, size: number, align: number): void {
    const usable = this.scrubFreeGeneral(ptr, size, align);
    if (this.after === true) this.afterFree(ptr, usable);
  }

  /** The inner's `scrubFree`, directly or through the forwarder. */
  private scrubFreeGeneral(ptr: unknown, size: number, align: number): number {
    const d = this.direct;
    return d !== null
      ? d.scrubFree(ptr, size, align, this.pattern)
      : this.rawScrubFree(this.raw, ptr, size, align, this.pattern);
  }

  /**
   * Chooses the paths of this instance. The class's methods take the direct path (the inner's method called
   * directly, nothing after it) when `fast` is set, else the general one. An instance that needs the general path
   * (an inner these call sites do not reach directly, or work after each call: the reuse check, tracking) gets the
   * general methods as its own (`ownMethods`), so the class's methods keep the direct path's type feedback (measured
   * in bench/tiers.ts: ZeroizeOnFree at 8 bytes with six inner types, +3 or +7 ns by process before, now +3).
   * @internal
   */
  protected specialize(): void {
    this.fast = this.after ? null : this.direct;
    if (this.fast !== null) return;
    this.ownMethods(PoisonOnFree.prototype, {
      allocate: this.allocateGeneral,
      allocRaw: this.allocRawGeneral,
      deallocate: this.deallocateGeneral,
      tryFree: this.tryFreeGeneral,
      freeRaw: this.freeRawGeneral,
    });
  }

  /** The work after a free: record the block for the reuse check, forget a tracked one. */
  private afterFree(ptr: number, usable: number): void {
    if (this.checkOnReuse) this.record(ptr, usable);
    if (this.tracked !== null) this.tracked.delete(ptr);
  }

  /** The raw protocol: moves the block, so the old one is scrubbed. @internal */
  override resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    return moveRaw(this, this.memory.u8, ptr, oldSize, newSize, align);
  }

  /** Forwarded (blocks are not scrubbed; `ZeroizeOnFree` scrubs the range). */
  override reset(): void {
    this.inner.reset();
    this.poisoned.clear();
    this.starts.fill(0);
  }

  /** Writes-after-free detected plus the inner's (I10). */
  override corruptionEvents(): number {
    return this.corruptions + this.inner.corruptionEvents();
  }

  /**
   * Checks every freed block that was not handed out again (needs `checkOnReuse`). Returns how many were checked.
   *
   * @throws `CorruptionError` (counted) at the first block that was written while free.
   */
  verifyFreed(): number {
    if (!this.checkOnReuse) throw new AllocError(`${this.label}.verifyFreed: needs { checkOnReuse: true }`);
    for (const [ptr, entry] of this.poisoned) {
      this.verifyBlock(ptr, 0, Math.floor(entry / 256), entry);
    }
    return this.poisoned.size;
  }

  /**
   * Checks the part of a reused block that the new request covers. Bytes beyond it are not checked at reuse: an
   * inner wrapper (a `Canary`, `CacheJitter`) may legitimately have written its metadata there while allocating.
   * `verifyFreed()` checks whole blocks while they are free.
   */
  private checkReuse(p: number, size: number): void {
    const entry = this.poisoned.get(p);
    if (entry === undefined) return;
    this.forget(p);
    const usable = Math.floor(entry / 256);
    this.verifyBlock(p, 0, usable < size ? usable : size, entry);
  }

  /**
   * Over a `Tlsf` or a `Heap`: forgets the recorded blocks that this allocation may have written into: the one
   * starting at `p - 8` (the new block's header, when a split placed it on the first bytes of a recorded block) and
   * those starting in `(p, p + usable)`, the new block's interior. (The one at `p` itself is checked and forgotten
   * by `checkReuse`. A block starting at `p + usable` is a neighbour: nothing is written there until it is handed
   * out itself, and over a `Heap` the next slot starts there; forgetting it would stop checking that slot.) An
   * aligned allocation may free a front piece anywhere before `p`, so it forgets every recorded block. A free writes
   * nothing into the memory, so a recorded block that a free merged into a neighbour keeps its bytes.
   */
  private forgetInside(p: number, align: number): void {
    if (align > 8) {
      this.poisoned.clear();
      this.starts.fill(0);
      return;
    }
    const end = p + this.raw.sizeOf(p);
    const starts = this.starts;
    for (let g = (p >>> 3) - 1, last = Math.min((end - 1) >>> 3, starts.length * 32 - 1); g <= last; g++) {
      const word = starts[g >>> 5]!;
      if (word === 0) {
        g |= 31; // skip the rest of an empty word
        continue;
      }
      if ((word & (1 << (g & 31))) !== 0) this.forget(g << 3);
    }
  }

  /** Drops a recorded block. */
  private forget(ptr: number): void {
    this.poisoned.delete(ptr);
    if (this.inBand) {
      const g = ptr >>> 3;
      if (g >>> 5 < this.starts.length) this.starts[g >>> 5]! &= ~(1 << (g & 31));
    }
  }

  /**
   * Remembers a freed block for the reuse check, by the byte it holds once the inner has freed it (the pattern, or
   * what an inner scrubber wrote over it). A block the inner left non-uniform cannot be checked and is skipped.
   */
  private record(ptr: number, usable: number): void {
    const u8 = this.memory.u8;
    const byte = u8[ptr]!;
    for (let i = ptr + 1, to = ptr + usable; i < to; i++) {
      if (u8[i] !== byte) {
        this.forget(ptr);
        return;
      }
    }
    this.poisoned.set(ptr, usable * 256 + byte);
    if (this.inBand) {
      const g = ptr >>> 3;
      if (g >>> 5 >= this.starts.length) {
        const grown = new Uint32Array(Math.max((g >>> 5) + 1, (this.memory.byteLength >>> 8) + 1));
        grown.set(this.starts);
        this.starts = grown;
      }
      this.starts[g >>> 5]! |= 1 << (g & 31);
    }
  }

  /** Checks bytes `[from, to)` of the block at `ptr` against the byte in `entry`'s low 8 bits. */
  private verifyBlock(ptr: number, from: number, to: number, entry: number): void {
    const u8 = this.memory.u8;
    const pattern = entry & 255;
    for (let i = from; i < to; i++) {
      if (u8[ptr + i] !== pattern) {
        this.corruptions++;
        this.forget(ptr);
        throw new CorruptionError(
          `${this.label}: byte ${i} of the freed block ${describePointer(ptr)} was written while the block was free ` +
            `(a use after free); the block is withheld from reuse`,
        );
      }
    }
  }
}

/** How {@link ZeroizeOnFree} finds every live block on `reset()`. */
const SCRUB_RANGE = 0; // the inner is a FixedRange: zero its whole committed range
const SCRUB_REGIONS = 1; // the inner lists its regions: zero the used and quarantined ones
const SCRUB_TRACKED = 2; // neither: remember each live block it issued (a Map entry per live block)

/** True when `inner.regions()` really lists regions (a wrapper over an inner that cannot would throw). */
function listsRegions(inner: Allocator): boolean {
  if (!hasRegions(inner)) return false;
  try {
    inner.regions();
    return true;
  } catch {
    return false;
  }
}

/**
 * Fills freed blocks with zeros, and on `reset()` zeroes every block that is still live before the inner forgets
 * them (see the module documentation).
 *
 * How it finds the live blocks, chosen at construction: over a `FixedRange` inner it zeroes the whole committed
 * range; over an inner that lists its regions (`Heap`, a `Quarantine`) the used and quarantined ones; over any
 * other inner in unshared memory (a `WithFallback`, say) it remembers the blocks it issued, at the cost of a `Map`
 * entry per live block and one `usableSize` call per allocation. Over a shared-memory inner of none of these
 * kinds (`SharedBumpArena`, `ConcurrentHeap`: other workers' blocks are out of its sight) it refuses to be built.
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class ZeroizeOnFree<TInner extends Allocator> extends PoisonOnFree<TInner> {
  /** `SCRUB_RANGE`, `SCRUB_REGIONS` or `SCRUB_TRACKED` (then `tracked` holds each live block it issued). */
  private readonly scrub: number;

  /**
   * Zeroes freed blocks.
   *
   * @throws `AllocError` over an inner whose live blocks `reset()` could not all find (see the class documentation).
   */
  constructor(inner: TInner) {
    super(inner, { pattern: 0 }, "ZeroizeOnFree");
    if (isFixedRange(inner)) this.scrub = SCRUB_RANGE;
    else if (listsRegions(inner)) this.scrub = SCRUB_REGIONS;
    else if (!inner.memory.shared) this.scrub = SCRUB_TRACKED;
    else {
      throw new AllocError(
        `ZeroizeOnFree: cannot scrub the live blocks of ${inner.constructor.name} on reset(): it is neither a ` +
          "FixedRange nor lists its regions, and other workers may hold blocks of its shared memory; zero " +
          "secrets before freeing them, or put ZeroizeOnFree over a layout of your own worker's memory",
      );
    }
    if (this.scrub === SCRUB_TRACKED) {
      this.tracked = new Map();
      this.after = true;
      this.specialize();
    }
  }

  /** Zeroes every live block (see the class documentation), then resets the inner. */
  override reset(): void {
    const u8 = this.memory.u8;
    if (this.scrub === SCRUB_RANGE) {
      const range = this.inner as unknown as FixedRange;
      const end = Math.min(range.base() + range.size(), this.memory.byteLength);
      if (end > range.base()) u8.fill(0, range.base(), end);
    } else if (this.scrub === SCRUB_REGIONS) {
      for (const r of (this.inner as unknown as HasRegions).regions()) {
        if (r.kind === "used" || r.kind === "quarantined") u8.fill(0, r.offset, r.offset + r.size);
      }
    } else {
      for (const [p, usable] of this.tracked!) u8.fill(0, p, p + usable);
      this.tracked!.clear();
    }
    super.reset();
  }
}
