/**
 * `Statistics`: counts what passes through: allocations, frees, failures, bytes live and their peak, and mirrors
 * the inner's corruption count. It counts the sizes its callers ask for (put it outermost, so wrappers inside that
 * inflate sizes, such as `Canary`, are not counted).
 *
 * Complexity: O(1): a few counter updates per call (one `Float64Array`). Overhead: none in the memory.
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
  NULL as IMPORTED_NULL,
  faultError,
  layoutError,
  isValidLayout,
} from "../core/index.js";
import { Wrapper } from "./wrapper.js";

// `NULL`, bound module-locally: V8 folds a local constant (an imported binding is a load and a check at every use).
const NULL = IMPORTED_NULL;

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

/** Indices into {@link Statistics}'s counters: one `Float64Array`, so a hot update is a plain load and store. */
const ALLOCATIONS = 0;
const DEALLOCATIONS = 1;
const BYTES = 2;
const PEAK = 3;
const FAILURES = 4;
/** `allocations - deallocations` at the last `reset()`: live blocks are counted without a counter of their own. */
const LIVE_BASE = 5;
const COUNTERS = 6;

/**
 * Counters over an allocator (see the module documentation).
 *
 * The counters live in one `Float64Array`: an update is a load, an add and a store of a double, with no Smi tag
 * check, no overflow check and no heap number when a count passes 2^31 (a tagged field would box it from then
 * on). A double counts exactly up to 2^53.
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class Statistics<TInner extends Allocator> extends Wrapper<TInner> {
  /** The counters, indexed by `ALLOCATIONS` .. `LIVE_BASE`. */
  private readonly counts: Float64Array;

  /** Counts calls to `inner`. */
  constructor(inner: TInner) {
    super("Statistics", inner, true);
    this.counts = new Float64Array(COUNTERS);
  }

  /** Checked once, then counted. @throws `LayoutError` for a bad size or alignment (nothing is counted then). */
  override allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("Statistics.allocate", size, align);
    const p = this.rawAlloc(this.raw, size, align);
    if (p === NULL) return this.failed();
    const c = this.counts;
    c[ALLOCATIONS]! += 1;
    const bytes = c[BYTES]! + size;
    c[BYTES] = bytes;
    if (bytes > c[PEAK]!) c[PEAK] = bytes;
    return p;
  }

  /** The raw protocol: forwarded and counted. @internal */
  override allocRaw(size: number, align: number): number {
    const p = this.rawAlloc(this.raw, size, align);
    if (p === NULL) return this.failed();
    const c = this.counts;
    c[ALLOCATIONS]! += 1;
    const bytes = c[BYTES]! + size;
    c[BYTES] = bytes;
    if (bytes > c[PEAK]!) c[PEAK] = bytes;
    return p;
  }

  /** Counts a failed allocation (off the hot path) and returns `NULL`. */
  private failed(): number {
    this.counts[FAILURES]! += 1;
    return NULL;
  }

  /**
   * Checked once, forwarded, and counted when accepted.
   * @throws `LayoutError`, `InvalidPointerError` or `CorruptionError` naming `Statistics`; nothing is counted then.
   */
  override deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError("Statistics.deallocate", size, align);
    const r = this.rawTryFree(this.raw, ptr, size, align);
    if (r !== 0) throw faultError("Statistics.deallocate", r, ptr, size, align);
    const c = this.counts;
    c[DEALLOCATIONS]! += 1;
    c[BYTES]! -= size;
  }

  /** The raw protocol: forwarded; counted when the inner accepts it. @internal */
  override tryFree(ptr: unknown, size: number, align: number): number {
    const r = this.rawTryFree(this.raw, ptr, size, align);
    if (r === 0) {
      const c = this.counts;
      c[DEALLOCATIONS]! += 1;
      c[BYTES]! -= size;
    }
    return r;
  }

  /** The raw protocol: forwarded and counted. @internal */
  override freeRaw(ptr: number, size: number, align: number): void {
    this.rawFreeRaw(this.raw, ptr, size, align);
    const c = this.counts;
    c[DEALLOCATIONS]! += 1;
    c[BYTES]! -= size;
  }

  /** The raw protocol: forwarded; the byte count follows the new size. @internal */
  override resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    const q = this.raw.resizeRaw(ptr, oldSize, newSize, align);
    if (q === NULL) return this.failed();
    const c = this.counts;
    if (q !== ptr) {
      c[ALLOCATIONS]! += 1;
      c[DEALLOCATIONS]! += 1;
    }
    const bytes = c[BYTES]! + newSize - oldSize;
    c[BYTES] = bytes;
    if (bytes > c[PEAK]!) c[PEAK] = bytes;
    return q;
  }

  /** Forwarded; live blocks and bytes drop to 0, the totals stay. */
  override reset(): void {
    this.inner.reset();
    const c = this.counts;
    c[LIVE_BASE] = c[ALLOCATIONS]! - c[DEALLOCATIONS]!;
    c[BYTES] = 0;
  }

  /** The counters now. O(1). */
  stats(): AllocStats {
    const c = this.counts;
    return {
      totalAllocations: c[ALLOCATIONS]!,
      totalDeallocations: c[DEALLOCATIONS]!,
      currentBytes: c[BYTES]!,
      peakBytes: c[PEAK]!,
      failures: c[FAILURES]!,
      liveCount: c[ALLOCATIONS]! - c[DEALLOCATIONS]! - c[LIVE_BASE]!,
      corruptionEvents: this.inner.corruptionEvents(),
    };
  }
}
