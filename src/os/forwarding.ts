/**
 * The forwarding bases of the OS layer's wrappers (`NumaLocal`, `SplitMetadata`, `HugePageAligned`): every call
 * goes to one target allocator unchanged, and a subclass overrides only what it changes. The hardening `Wrapper`
 * plays this part one layer up; the OS layer may use only core, so it has its own.
 *
 * Capabilities are forwarded exactly: the `OsBacked` and `FixedRange` methods (`commit` included) exist on a
 * wrapper if and only if its target has them, and the wrapper reports the same under `WRAPS`, so `isFixedRange` and
 * `isOsBacked` give the target's answer. A wrapper whose work is in `allocate` (and any pass-through above one)
 * says so, so a carving layout (`BumpArena`, `GuardPage`, ...) refuses it instead of bypassing it.
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
 * console.log(counted.released, counted.size()); // 4096 65520
 * // OsRangeForwarder adds the FixedRange calls to OsForwarder when the target has them; extend OsForwarder for a
 * // wrapper that must never look like a FixedRange.
 * console.log(counted instanceof OsForwarder, isFixedRange(counted)); // true true
 * ```
 *
 * @module
 */
import {
  type Allocator,
  type FixedRange,
  type Memory,
  type OsBacked,
  type ProtectFlags,
  WRAPS,
  type WrapperInfo,
  isFixedRange,
  isOsBacked,
  wrapperChain,
} from "../core/index.js";

const OS_BACKED_METHODS = ["basePtr", "regionSize", "releasePages", "protect"] as const;
const FIXED_RANGE_METHODS = ["base", "size", "commit", "contains"] as const;

/** Hides methods the target lacks: own `undefined` properties over the prototype's forwarders. */
function hide(self: object, names: readonly string[]): void {
  for (const name of names) {
    Object.defineProperty(self, name, {
      value: undefined,
      writable: false,
      enumerable: false,
      configurable: false,
    });
  }
}

/**
 * Forwards every `Allocator` call to `target`, and the `OsBacked` calls when the target is `OsBacked`: when it is
 * not, `basePtr`, `regionSize`, `releasePages` and `protect` are absent (`undefined`), `isOsBacked` is false, and
 * {@link WRAPS} says so.
 *
 * @typeParam TTarget - the allocator every call goes to.
 */
export class OsForwarder<TTarget extends Allocator> implements Allocator, OsBacked {
  /** The target's memory. */
  readonly memory: Memory;
  /** What this wrapper forwards (see `WRAPS` in core): `isFixedRange` and `isOsBacked` honour it. */
  readonly [WRAPS]: WrapperInfo;
  /** The allocator every call goes to. */
  protected readonly target: TTarget;
  /** The wrapper's name, for messages. */
  protected readonly label: string;
  /** What the target is called in messages, e.g. `"the inner allocator"`. */
  protected readonly role: string;

  /**
   * @param label - the wrapper's name; @param target - where calls go; @param role - how messages call the target;
   * @param actsOnAllocate - whether this wrapper's work happens in `allocate` (a carving layout must then refuse
   *   it); it is also true when any wrapper below does, so a pass-through cannot hide one from a carver.
   */
  constructor(label: string, target: TTarget, role: string, actsOnAllocate = false) {
    this.label = label;
    this.target = target;
    this.role = role;
    this.memory = target.memory;
    const osBacked = isOsBacked(target);
    this[WRAPS] = Object.freeze({
      name: label,
      fixedRange: this.forwardsFixedRange(),
      osBacked,
      actsOnAllocate: actsOnAllocate || wrapperChain(target).some((w) => w.actsOnAllocate),
      writesBlocks: false,
    });
    if (!osBacked) hide(this, OS_BACKED_METHODS);
  }

  /** Whether this class forwards `FixedRange` for its target; `false` here. @internal */
  protected forwardsFixedRange(): boolean {
    return false;
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
  /** Forwarded; absent when the target is not `OsBacked`. */
  basePtr(): number {
    return (this.target as unknown as OsBacked).basePtr();
  }
  /** Forwarded; absent when the target is not `OsBacked`. */
  regionSize(): number {
    return (this.target as unknown as OsBacked).regionSize();
  }
  /** Forwarded; absent when the target is not `OsBacked`. */
  releasePages(ptr: number, size: number): void {
    (this.target as unknown as OsBacked).releasePages(ptr, size);
  }
  /** Forwarded; absent when the target is not `OsBacked`. */
  protect(ptr: number, size: number, flags: ProtectFlags): void {
    (this.target as unknown as OsBacked).protect(ptr, size, flags);
  }
}

/**
 * An {@link OsForwarder} that forwards the `FixedRange` calls too, `commit` included (so a commit-aware layout above
 * reaches the target), exactly when the target is a `FixedRange`, as the seed's `impl<I: FixedRange> FixedRange`:
 * when it is not, `base`, `size`, `commit` and `contains` are absent (`undefined`) and `isFixedRange` is false.
 *
 * @typeParam TTarget - the allocator every call goes to.
 */
export class OsRangeForwarder<TTarget extends Allocator> extends OsForwarder<TTarget> implements FixedRange {
  /**
   * @param label - the wrapper's name
   * @param target - where calls go
   * @param role - how messages call the target
   * @param actsOnAllocate - whether its work happens in `allocate` (see {@link OsForwarder})
   */
  constructor(label: string, target: TTarget, role: string, actsOnAllocate = false) {
    super(label, target, role, actsOnAllocate);
    if (!isFixedRange(target)) hide(this, FIXED_RANGE_METHODS);
  }

  /** True when the target is a `FixedRange`. @internal */
  protected override forwardsFixedRange(): boolean {
    return isFixedRange(this.target);
  }

  /** Forwarded; absent when the target is not a `FixedRange`. */
  base(): number {
    return (this.target as unknown as FixedRange).base();
  }
  /** Forwarded; absent when the target is not a `FixedRange`. */
  size(): number {
    return (this.target as unknown as FixedRange).size();
  }
  /** Forwarded; absent when the target is not a `FixedRange`. */
  commit(ptr: number, length: number): boolean {
    return (this.target as unknown as FixedRange).commit(ptr, length);
  }
  /** Forwarded; absent when the target is not a `FixedRange`. */
  contains(ptr: number): boolean {
    return (this.target as unknown as FixedRange).contains(ptr);
  }
}
