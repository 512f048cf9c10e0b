/**
 * `Statistics`: counts what passes through: allocations, frees, failures, bytes live and their peak, and mirrors
 * the inner's corruption count. It counts the sizes its callers ask for (put it outermost, so wrappers inside that
 * inflate sizes, such as `Canary`, are not counted).
 *
 * Complexity: O(1): a few counter updates per call. Overhead: none in the memory.
 * Where it may stand: anywhere; outermost for user-visible sizes. A free that the inner rejects is not counted.
 * Threads: the counters are this agent's (statistics readable by other workers belong to the worker issue).
 *
 * @example
 * ```ts
 * const backing = new ArrayBufferBacked(1 << 17);
 * const tokens = new Statistics(new Quarantine(new Slab(backing, { blockSize: 64, capacity: 1024 }), 4));
 * tokens.deallocate(tokens.allocate(40), 40);
 * console.log(tokens.stats()); // { totalAllocations: 1, totalDeallocations: 1, currentBytes: 0, peakBytes: 40, ... }
 * ```
 *
 * @module
 */
import {
  type Allocator,
  DOUBLE_FIELD as IMPORTED_DOUBLE_FIELD,
  type DirectSite,
  NULL as IMPORTED_NULL,
  type RawLayer,
  directInner,
  faultError,
  layoutError,
  isValidLayout,
} from "../core/index.js";
import { Wrapper } from "./wrapper.js";

// `NULL`, bound module-locally: V8 folds a local constant (an imported binding is a load and a check at every use).
const NULL = IMPORTED_NULL;
const DOUBLE_FIELD = IMPORTED_DOUBLE_FIELD;

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

/** A snapshot of {@link Statistics}. */
export interface AllocStats {
  /** Successful allocations (including zeroed ones and moves by `grow`/`shrink`). */
  readonly totalAllocations: number;
  /** Accepted frees. */
  readonly totalDeallocations: number;
  /** Bytes requested by live blocks. */
  readonly currentBytes: number;
  /** The highest `currentBytes` seen. */
  readonly peakBytes: number;
  /** Allocations that returned `NULL`. */
  readonly failures: number;
  /** Live blocks: allocations minus frees (reset to 0 by `reset()`). */
  readonly liveCount: number;
  /** The inner's corruption count, mirrored. */
  readonly corruptionEvents: number;
}

/** The inner class `Statistics`' call sites reach directly (see `directInner` in core). */
const SITE: DirectSite = { inner: undefined };

/**
 * Counters over an allocator (see the module documentation).
 *
 * The counters are fields of the double representation (see `DOUBLE_FIELD` in core): an update is a load, an add
 * and a store into the field's own number box, with no Smi tag check, no overflow check, and no new heap number
 * once a count passes 2^31. Every count is exact to 2^53. (Two typed arrays, measured before, cost half as much
 * again over the inner: each access also loads the array's data pointer and checks its bounds.)
 *
 * Each counter is written once per allocate+free pair: the live bytes are the bytes allocated minus the bytes
 * freed, two counters, not one counter that both calls update. A counter's update waits for its previous one (a
 * store, then a load of the same field), so a single live-bytes counter chained two of those waits into every
 * round trip and was most of this wrapper's cost: +3.2 ns per pair over the slab, against +2.1 to +2.3 ns with
 * two totals (docs/PERFORMANCE.md, the tier table). The totals are rebased (both lowered by the bytes freed) once
 * they pass 2^52, so they stay exact however long the program runs.
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class Statistics<TInner extends Allocator> extends Wrapper<TInner> {
  /** Successful allocations. */
  private allocations: number;
  /** Accepted frees. */
  private deallocations: number;
  /** Allocations that returned `NULL`. */
  private failures: number;
  /** `allocations - deallocations` at the last `reset()`: live blocks are counted without a counter of their own. */
  private liveBase: number;
  /** Bytes requested by accepted allocations since the last `reset()` or rebase. */
  private allocated: number;
  /** Bytes of accepted frees since the last `reset()` or rebase: the live bytes are `allocated - freed`. */
  private freed: number;
  /** The highest live byte count seen. */
  private peak: number;
  /** The inner, when its class is the one these call sites reach directly; else `null` (see `directInner`). */
  private readonly direct: RawLayer | null;

  /** Counts calls to `inner`. */
  constructor(inner: TInner) {
    super("Statistics", inner, true);
    // representation hints first (see DOUBLE_FIELD), then the values
    this.allocations = DOUBLE_FIELD;
    this.deallocations = DOUBLE_FIELD;
    this.failures = DOUBLE_FIELD;
    this.liveBase = DOUBLE_FIELD;
    this.allocated = DOUBLE_FIELD;
    this.freed = DOUBLE_FIELD;
    this.peak = DOUBLE_FIELD;
    this.allocations = 0;
    this.deallocations = 0;
    this.failures = 0;
    this.liveBase = 0;
    this.allocated = 0;
    this.freed = 0;
    this.peak = 0;
    this.direct = directInner(SITE, this.raw);
  }

  /** Checked once, then counted. @throws `LayoutError` for a bad size or alignment (nothing is counted then). */
  override allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("Statistics.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /** The raw protocol: forwarded and counted. @internal */
  override allocRaw(size: number, align: number): number {
    const d = this.direct;
    const p = d !== null ? d.allocRaw(size, align) : this.rawAlloc(this.raw, size, align);
    if (p === NULL) return this.failed();
    this.allocations += 1;
    const bytes = this.allocated + size;
    this.allocated = bytes;
    if (bytes - this.freed > this.peak || bytes > 4503599627370496) this.settle();
    return p;
  }

  /**
   * Off the hot path: records a new peak, and rebases the byte totals once the allocated total passes 2^52 (both
   * drop by the bytes freed, so their difference, the live bytes, is unchanged and every total stays below 2^53).
   */
  private settle(): void {
    const live = this.allocated - this.freed;
    if (live > this.peak) this.peak = live;
    if (this.allocated > 4503599627370496) {
      this.allocated = live;
      this.freed = 0;
    }
  }

  /** Counts a failed allocation (off the hot path) and returns `NULL`. */
  private failed(): number {
    this.failures += 1;
    return NULL;
  }

  /**
   * Checked once, forwarded, and counted when accepted.
   * @throws `LayoutError`, `InvalidPointerError` or `CorruptionError` naming `Statistics`; nothing is counted then.
   */
  override deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError("Statistics.deallocate", size, align);
    const d = this.direct;
    const r = d !== null ? d.tryFree(ptr, size, align) : this.rawTryFree(this.raw, ptr, size, align);
    if (r !== 0) throw faultError("Statistics.deallocate", r, ptr, size, align);
    this.deallocations += 1;
    this.freed += size;
  }

  /** The raw protocol: forwarded; counted when the inner accepts it. @internal */
  override tryFree(ptr: unknown, size: number, align: number): number {
    const d = this.direct;
    const r = d !== null ? d.tryFree(ptr, size, align) : this.rawTryFree(this.raw, ptr, size, align);
    if (r === 0) {
      this.deallocations += 1;
      this.freed += size;
    }
    return r;
  }

  /** The raw protocol: forwarded and counted. @internal */
  override freeRaw(ptr: number, size: number, align: number): void {
    this.rawFreeRaw(this.raw, ptr, size, align);
    this.deallocations += 1;
    this.freed += size;
  }

  /** The raw protocol: forwarded; the byte count follows the new size. @internal */
  override resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    const q = this.raw.resizeRaw(ptr, oldSize, newSize, align);
    if (q === NULL) return this.failed();
    if (q !== ptr) {
      this.allocations += 1;
      this.deallocations += 1;
    }
    // as a free of the old size and an allocation of the new one
    const bytes = this.allocated + newSize;
    this.allocated = bytes;
    this.freed += oldSize;
    if (bytes - this.freed > this.peak || bytes > 4503599627370496) this.settle();
    return q;
  }

  /** Forwarded; live blocks and bytes drop to 0, the totals stay. */
  override reset(): void {
    this.inner.reset();
    this.liveBase = this.allocations - this.deallocations;
    this.allocated = 0;
    this.freed = 0;
  }

  /** The counters now. O(1). */
  stats(): AllocStats {
    return {
      totalAllocations: this.allocations,
      totalDeallocations: this.deallocations,
      currentBytes: this.allocated - this.freed,
      peakBytes: this.peak,
      failures: this.failures,
      liveCount: this.allocations - this.deallocations - this.liveBase,
      corruptionEvents: this.inner.corruptionEvents(),
    };
  }
}
