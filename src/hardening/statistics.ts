/**
 * `Statistics`: counts what passes through: allocations, frees, failures, bytes live and their peak, and mirrors
 * the inner's corruption count. It counts the sizes its callers ask for (put it outermost, so wrappers inside that
 * inflate sizes, such as `Canary`, are not counted).
 *
 * Complexity: O(1): a few field updates per call. Overhead: none in the memory.
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
import { type Allocator, NULL, TAGGED_FIELD, faultError, layoutError, isValidLayout } from "../core/index.js";
import { Wrapper } from "./wrapper.js";

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

/**
 * Counters over an allocator (see the module documentation).
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class Statistics<TInner extends Allocator> extends Wrapper<TInner> {
  private allocations: number;
  private deallocations: number;
  private bytes: number;
  private peak: number;
  private failures: number;
  /** `allocations - deallocations` at the last `reset()`: live blocks are counted without a counter of their own. */
  private liveBase: number;

  /** Counts calls to `inner`. */
  constructor(inner: TInner) {
    super("Statistics", inner, true);
    // representation hints: these counters change on every call (see TAGGED_FIELD)
    this.allocations = TAGGED_FIELD;
    this.deallocations = TAGGED_FIELD;
    this.bytes = TAGGED_FIELD;
    this.allocations = 0;
    this.deallocations = 0;
    this.bytes = 0;
    this.peak = 0;
    this.failures = 0;
    this.liveBase = 0;
  }

  /** Checked once, then counted. @throws `LayoutError` for a bad size or alignment (nothing is counted then). */
  override allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("Statistics.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /** The raw protocol: forwarded and counted. @internal */
  override allocRaw(size: number, align: number): number {
    const p = this.rawAlloc(this.raw, size, align);
    if (p === NULL) {
      this.failures++;
      return NULL;
    }
    this.allocations++;
    const bytes = this.bytes + size;
    this.bytes = bytes;
    if (bytes > this.peak) this.peak = bytes;
    return p;
  }

  /**
   * Checked once, forwarded, and counted when accepted.
   * @throws `LayoutError`, `InvalidPointerError` or `CorruptionError` naming `Statistics`; nothing is counted then.
   */
  override deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError("Statistics.deallocate", size, align);
    const r = this.tryFree(ptr, size, align);
    if (r !== 0) throw faultError("Statistics.deallocate", r, ptr, size, align);
  }

  /** The raw protocol: forwarded; counted when the inner accepts it. @internal */
  override tryFree(ptr: unknown, size: number, align: number): number {
    const r = this.rawTryFree(this.raw, ptr, size, align);
    if (r === 0) {
      this.deallocations++;
      this.bytes -= size;
    }
    return r;
  }

  /** The raw protocol: forwarded and counted. @internal */
  override freeRaw(ptr: number, size: number, align: number): void {
    this.rawFreeRaw(this.raw, ptr, size, align);
    this.deallocations++;
    this.bytes -= size;
  }

  /** The raw protocol: forwarded; the byte count follows the new size. @internal */
  override resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    const q = this.raw.resizeRaw(ptr, oldSize, newSize, align);
    if (q === NULL) {
      this.failures++;
      return NULL;
    }
    if (q !== ptr) {
      this.allocations++;
      this.deallocations++;
    }
    this.bytes += newSize - oldSize;
    if (this.bytes > this.peak) this.peak = this.bytes;
    return q;
  }

  /** Forwarded; live blocks and bytes drop to 0, the totals stay. */
  override reset(): void {
    this.inner.reset();
    this.liveBase = this.allocations - this.deallocations;
    this.bytes = 0;
  }

  /** The counters now. O(1). */
  stats(): AllocStats {
    return {
      totalAllocations: this.allocations,
      totalDeallocations: this.deallocations,
      currentBytes: this.bytes,
      peakBytes: this.peak,
      failures: this.failures,
      liveCount: this.allocations - this.deallocations - this.liveBase,
      corruptionEvents: this.inner.corruptionEvents(),
    };
  }
}
