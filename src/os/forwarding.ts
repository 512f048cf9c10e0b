/**
 * The forwarding bases of the OS layer's wrappers (`NumaLocal`, `SplitMetadata`, `HugePageAligned`): every call
 * goes to one target allocator unchanged, and a subclass overrides only what it changes. The hardening `Wrapper`
 * plays this part one layer up; the OS layer may use only core, so it has its own.
 *
 * Not on a hot path: layouts carve these wrappers once, at construction, and allocate inside their own range.
 * Overhead: one forwarded call per operation; no state of their own.
 *
 * @example
 * ```ts
 * // An OS wrapper of your own: it counts the pages released and forwards everything else.
 * class CountingReleases extends OsRangeForwarder<MmapBacked> {
 *   released = 0;
 *   constructor(inner: MmapBacked) {
 *     super("CountingReleases", inner, "the inner allocator");
 *   }
 *   override releasePages(ptr: number, size: number): void {
 *     this.released += size;
 *     super.releasePages(ptr, size);
 *   }
 * }
 * using mapping = new MmapBacked(1 << 16);
 * const counted = new CountingReleases(mapping);
 * counted.releasePages(counted.basePtr(), 4096);
 * console.log(counted.released, counted.size()); // 4096 65536
 * // OsRangeForwarder adds the FixedRange calls to OsForwarder; extend OsForwarder for a wrapper that must not look
 * // like a FixedRange (as HugePageAligned, whose alignment a carving layout would bypass).
 * console.log(counted instanceof OsForwarder); // true
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  type FixedRange,
  type Memory,
  type OsBacked,
  type ProtectFlags,
  isFixedRange,
} from "../core/index.js";

/**
 * Forwards every `Allocator` and `OsBacked` call to `target`. The `OsBacked` calls throw an `AllocError` naming the
 * wrapper when the target is not `OsBacked`.
 *
 * @typeParam TTarget - the allocator every call goes to.
 */
export class OsForwarder<TTarget extends Allocator> implements Allocator, OsBacked {
  /** The target's memory. */
  readonly memory: Memory;
  /** The allocator every call goes to. */
  protected readonly target: TTarget;
  /** The wrapper's name, for messages. */
  protected readonly label: string;
  /** What the target is called in messages, e.g. `"the inner allocator"`. */
  protected readonly role: string;

  /**
   * @param label - the wrapper's name; @param target - where calls go; @param role - how messages call the target.
   */
  constructor(label: string, target: TTarget, role: string) {
    this.label = label;
    this.target = target;
    this.role = role;
    this.memory = target.memory;
  }

  /** Forwarded. */
  allocate(size: number, align?: number): number {
    return this.target.allocate(size, align);
  }
  /** Forwarded. */
  allocateZeroed(size: number, align?: number): number {
    return this.target.allocateZeroed(size, align);
  }
  /** Forwarded. */
  deallocate(ptr: number, size: number, align?: number): void {
    this.target.deallocate(ptr, size, align);
  }
  /** Forwarded. */
  grow(ptr: number, oldSize: number, newSize: number, align?: number): number {
    return this.target.grow(ptr, oldSize, newSize, align);
  }
  /** Forwarded. */
  shrink(ptr: number, oldSize: number, newSize: number, align?: number): number {
    return this.target.shrink(ptr, oldSize, newSize, align);
  }
  /** Forwarded. */
  reset(): void {
    this.target.reset();
  }
  /** Forwarded: the target's slack stays visible to wrappers above. */
  usableSize(ptr: number, size: number): number {
    return this.target.usableSize(ptr, size);
  }
  /** Forwarded. */
  capacityBytes(): number {
    return this.target.capacityBytes();
  }
  /** Forwarded. */
  corruptionEvents(): number {
    return this.target.corruptionEvents();
  }
  /** Forwarded. @throws `AllocError` when the target is not `OsBacked`. */
  basePtr(): number {
    return this.os().basePtr();
  }
  /** Forwarded. */
  regionSize(): number {
    return this.os().regionSize();
  }
  /** Forwarded. */
  releasePages(ptr: number, size: number): void {
    this.os().releasePages(ptr, size);
  }
  /** Forwarded. */
  protect(ptr: number, size: number, flags: ProtectFlags): void {
    this.os().protect(ptr, size, flags);
  }

  private os(): OsBacked {
    const t = this.target as unknown as Partial<OsBacked>;
    if (typeof t.basePtr !== "function") throw new AllocError(`${this.label}: ${this.role} is not OsBacked`);
    return this.target as unknown as OsBacked;
  }
}

/**
 * An {@link OsForwarder} that forwards the `FixedRange` calls too, `commit` included (so a commit-aware layout above
 * reaches the target). They throw an `AllocError` naming the wrapper when the target is not a `FixedRange`.
 *
 * @typeParam TTarget - the allocator every call goes to.
 */
export class OsRangeForwarder<TTarget extends Allocator> extends OsForwarder<TTarget> implements FixedRange {
  /** Forwarded. @throws `AllocError` when the target is not a `FixedRange`. */
  base(): number {
    return this.range().base();
  }
  /** Forwarded. */
  size(): number {
    return this.range().size();
  }
  /** Forwarded. */
  commit(ptr: number, length: number): boolean {
    return this.range().commit(ptr, length);
  }
  /** Forwarded. */
  contains(ptr: number): boolean {
    return this.range().contains(ptr);
  }

  private range(): FixedRange {
    if (!isFixedRange(this.target)) throw new AllocError(`${this.label}: ${this.role} is not a FixedRange`);
    return this.target;
  }
}
