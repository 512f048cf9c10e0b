/**
 * `Statistics`: counts what passes through: allocations, frees, failures, bytes live and their peak, and mirrors
 * the inner's corruption count. It counts the sizes its callers ask for (put it outermost, so wrappers inside that
 * inflate sizes, such as `Canary`, are not counted).
 *
 * Complexity: O(1): a few counter updates per call (in two typed arrays). Overhead: none in the memory.
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

/** Indices into {@link Statistics}'s `counts`. */
const ALLOCATIONS = 0;
const DEALLOCATIONS = 1;
const FAILURES = 2;
/** `allocations - deallocations` at the last `reset()`: live blocks are counted without a counter of their own. */
const LIVE_BASE = 3;
/** Indices into {@link Statistics}'s `bytes`. */
const CURRENT = 0;
const PEAK = 1;

/**
 * Counters over an allocator (see the module documentation).
 *
 * The counters live in two typed arrays, so an update is a plain load, add and store: no Smi tag check, no
 * overflow check, and no heap number once a count passes 2^31 (a tagged field would box it from then on). The
 * totals are doubles (exact to 2^53). The live and peak bytes are int32: the live blocks of one memory
 * (`MAX_MEMORY_BYTES` < 2^31) never overlap (I2), so their requested bytes fit, and an integer add is on the
 * chain that links one call to the next (a double add takes four times as long).
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class Statistics<TInner extends Allocator> extends Wrapper<TInner> {
  /** Allocations, deallocations, failures and the live base (see `LIVE_BASE`), as doubles. */
  private readonly counts: Float64Array;
  /** The bytes requested by live blocks, and their peak. */
  private readonly bytes: Int32Array;
  /** The inner, when its class is the one these call sites reach directly; else `null` (see `directInner`). */
  private readonly direct: RawLayer | null;

  /** Counts calls to `inner`. */
  constructor(inner: TInner) {
    super("Statistics", inner, true);
    this.counts = new Float64Array(4);
    this.bytes = new Int32Array(2);
    this.direct = directInner(SITE, this.raw);
  }

  /** Checked once, then counted. @throws `LayoutError` for a bad size or alignment (nothing is counted then). */
  override allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("Statistics.allocate", size, align);
    const d = this.direct;
    const p = d !== null ? d.allocRaw(size, align) : this.rawAlloc(this.raw, size, align);
    if (p === NULL) return this.failed();
    this.counts[ALLOCATIONS]! += 1;
    const b = this.bytes;
    const live = (b[CURRENT]! + size) | 0;
    b[CURRENT] = live;
    if (live > b[PEAK]!) b[PEAK] = live;
    return p;
  }

  /** The raw protocol: forwarded and counted. @internal */
  override allocRaw(size: number, align: number): number {
    const d = this.direct;
    const p = d !== null ? d.allocRaw(size, align) : this.rawAlloc(this.raw, size, align);
    if (p === NULL) return this.failed();
    this.counts[ALLOCATIONS]! += 1;
    const b = this.bytes;
    const live = (b[CURRENT]! + size) | 0;
    b[CURRENT] = live;
    if (live > b[PEAK]!) b[PEAK] = live;
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
    const d = this.direct;
    const r = d !== null ? d.tryFree(ptr, size, align) : this.rawTryFree(this.raw, ptr, size, align);
    if (r !== 0) throw faultError("Statistics.deallocate", r, ptr, size, align);
    this.counts[DEALLOCATIONS]! += 1;
    this.bytes[CURRENT] = (this.bytes[CURRENT]! - size) | 0;
  }

  /** The raw protocol: forwarded; counted when the inner accepts it. @internal */
  override tryFree(ptr: unknown, size: number, align: number): number {
    const d = this.direct;
    const r = d !== null ? d.tryFree(ptr, size, align) : this.rawTryFree(this.raw, ptr, size, align);
    if (r === 0) {
      this.counts[DEALLOCATIONS]! += 1;
      this.bytes[CURRENT] = (this.bytes[CURRENT]! - size) | 0;
    }
    return r;
  }

  /** The raw protocol: forwarded and counted. @internal */
  override freeRaw(ptr: number, size: number, align: number): void {
    this.rawFreeRaw(this.raw, ptr, size, align);
    this.counts[DEALLOCATIONS]! += 1;
    this.bytes[CURRENT] = (this.bytes[CURRENT]! - size) | 0;
  }

  /** The raw protocol: forwarded; the byte count follows the new size. @internal */
  override resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    const q = this.raw.resizeRaw(ptr, oldSize, newSize, align);
    if (q === NULL) return this.failed();
    if (q !== ptr) {
      this.counts[ALLOCATIONS]! += 1;
      this.counts[DEALLOCATIONS]! += 1;
    }
    const b = this.bytes;
    const live = (b[CURRENT]! + newSize - oldSize) | 0;
    b[CURRENT] = live;
    if (live > b[PEAK]!) b[PEAK] = live;
    return q;
  }

  /** Forwarded; live blocks and bytes drop to 0, the totals stay. */
  override reset(): void {
    this.inner.reset();
    const c = this.counts;
    c[LIVE_BASE] = c[ALLOCATIONS]! - c[DEALLOCATIONS]!;
    this.bytes[CURRENT] = 0;
  }

  /** The counters now. O(1). */
  stats(): AllocStats {
    const c = this.counts;
    return {
      totalAllocations: c[ALLOCATIONS]!,
      totalDeallocations: c[DEALLOCATIONS]!,
      currentBytes: this.bytes[CURRENT]!,
      peakBytes: this.bytes[PEAK]!,
      failures: c[FAILURES]!,
      liveCount: c[ALLOCATIONS]! - c[DEALLOCATIONS]! - c[LIVE_BASE]!,
      corruptionEvents: this.inner.corruptionEvents(),
    };
  }
}
