/**
 * `Wrapper`: what every Layer 3 wrapper shares: it is an `Allocator` over one inner allocator, it forwards every
 * call it does not change, and it forwards `FixedRange` and `OsBacked` exactly when the inner has them (and says so
 * under `WRAPS`, so `isFixedRange`/`isOsBacked` and the carving layouts can tell).
 *
 * Hot calls reach the inner through forwarders chosen by the inner's class at construction (`innerAllocate`,
 * `innerDeallocate`; see `dispatch.ts` in core). A plain `this.inner.allocate(...)` is one call site shared by every instance
 * of a wrapper class: once five inner classes pass through it, V8 makes it megamorphic and every call pays a global
 * cache lookup (+17 ns per round trip, measured). The dispatch gives each inner class its own call site, so the cost
 * of a stack stays the sum of its layers however many stacks an application builds; see docs/PERFORMANCE.md.
 *
 * @example
 * ```ts
 * // A wrapper of your own: it forwards everything it does not override.
 * class CountingAllocations<T extends Allocator> extends Wrapper<T> {
 *   calls = 0;
 *   constructor(inner: T) {
 *     super("CountingAllocations", inner, true);
 *   }
 *   override allocate(size: number, align = 8): number {
 *     this.calls++;
 *     return super.allocate(size, align);
 *   }
 * }
 * const counted = new CountingAllocations(new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 8 }));
 * counted.deallocate(counted.allocate(64), 64);
 * console.log(counted.calls); // 1
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  type FixedRange,
  Memory,
  type OsBacked,
  type ProtectFlags,
  type Region,
  UnsupportedError,
  WRAPS,
  type WrapperInfo,
  type AllocateForwarder,
  type DeallocateForwarder,
  allocateForwarder,
  deallocateForwarder,
  dispatchKind,
  hasRegions,
  isFixedRange,
  isOsBacked,
} from "../core/index.js";

/**
 * The forwarding base of the hardening wrappers. Use the concrete wrappers; subclass it for a wrapper of your own.
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class Wrapper<TInner extends Allocator> implements Allocator, FixedRange, OsBacked {
  /** The wrapped allocator. */
  readonly inner: TInner;
  /** The inner's memory (a wrapper never changes the address space). */
  readonly memory: Memory;
  /** What this wrapper forwards and whether its work happens in `allocate` (see `WRAPS` in core). */
  readonly [WRAPS]: WrapperInfo;
  /** The inner's `allocate`, through a forwarder of its class (see the module documentation). */
  protected readonly innerAllocate: AllocateForwarder;
  /** The inner's `deallocate`, through a forwarder of its class. */
  protected readonly innerDeallocate: DeallocateForwarder;
  /** The class name, for messages. */
  protected readonly label: string;

  /**
   * @param label - the wrapper's name; @param inner - the allocator to wrap; @param actsOnAllocate - whether its
   *   work happens in `allocate`/`deallocate` (then a carving layout must not sit over it); @param writesBlocks -
   *   whether it writes into blocks' memory (canaries, headers, scrubbing).
   * @throws `AllocError` when `inner` is not an `Allocator` with a `memory`.
   */
  constructor(label: string, inner: TInner, actsOnAllocate: boolean, writesBlocks = false) {
    if (
      typeof inner?.allocate !== "function" ||
      typeof inner.deallocate !== "function" ||
      !((inner as { memory?: unknown }).memory instanceof Memory)
    ) {
      throw new AllocError(`${label}: the inner must be an Allocator (allocate, deallocate, memory, ...)`);
    }
    this.inner = inner;
    this.memory = inner.memory;
    this.label = label;
    this[WRAPS] = Object.freeze({
      name: label,
      fixedRange: isFixedRange(inner),
      osBacked: isOsBacked(inner),
      actsOnAllocate,
      writesBlocks,
    });
    const kind = dispatchKind(inner);
    this.innerAllocate = allocateForwarder(kind);
    this.innerDeallocate = deallocateForwarder(kind);
  }

  /** Forwarded. */
  allocate(size: number, align = 8): number {
    return this.innerAllocate(this.inner, size, align);
  }
  /** Forwarded. */
  allocateZeroed(size: number, align = 8): number {
    return this.inner.allocateZeroed(size, align);
  }
  /** Forwarded. */
  deallocate(ptr: number, size: number, align = 8): void {
    this.innerDeallocate(this.inner, ptr, size, align);
  }
  /** Forwarded. */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.inner.grow(ptr, oldSize, newSize, align);
  }
  /** Forwarded. */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.inner.shrink(ptr, oldSize, newSize, align);
  }
  /** Forwarded. */
  reset(): void {
    this.inner.reset();
  }
  /** Forwarded. */
  usableSize(ptr: number, size: number): number {
    return this.inner.usableSize(ptr, size);
  }
  /** Forwarded. */
  capacityBytes(): number {
    return this.inner.capacityBytes();
  }
  /** Forwarded. */
  corruptionEvents(): number {
    return this.inner.corruptionEvents();
  }
  /** Forwarded when the inner is a `FixedRange`. @throws `AllocError` otherwise. */
  base(): number {
    return this.range().base();
  }
  /** Forwarded when the inner is a `FixedRange`. */
  size(): number {
    return this.range().size();
  }
  /** Forwarded when the inner is a `FixedRange`. */
  commit(ptr: number, length: number): boolean {
    return this.range().commit(ptr, length);
  }
  /** Forwarded when the inner is a `FixedRange`. */
  contains(ptr: number): boolean {
    return this.range().contains(ptr);
  }
  /** Forwarded when the inner is `OsBacked`. @throws `AllocError` otherwise. */
  basePtr(): number {
    return this.os().basePtr();
  }
  /** Forwarded when the inner is `OsBacked`. */
  regionSize(): number {
    return this.os().regionSize();
  }
  /** Forwarded when the inner is `OsBacked`. */
  releasePages(ptr: number, size: number): void {
    this.os().releasePages(ptr, size);
  }
  /** Forwarded when the inner is `OsBacked`. */
  protect(ptr: number, size: number, flags: ProtectFlags): void {
    this.os().protect(ptr, size, flags);
  }

  /**
   * The inner's regions (see `HasRegions`), unchanged; a wrapper that knows better overrides it.
   * @throws `UnsupportedError` when the inner cannot list its regions.
   */
  regions(): Region[] {
    if (!hasRegions(this.inner)) {
      throw new UnsupportedError(
        `${this[WRAPS].name}.regions: the inner allocator (${this.inner.constructor.name}) cannot list its regions`,
      );
    }
    return this.inner.regions();
  }

  private range(): FixedRange {
    if (!this[WRAPS].fixedRange)
      throw new AllocError(`${this.label}: the inner allocator is not a FixedRange`);
    return this.inner as unknown as FixedRange;
  }

  private os(): OsBacked {
    if (!this[WRAPS].osBacked) throw new AllocError(`${this.label}: the inner allocator is not OsBacked`);
    return this.inner as unknown as OsBacked;
  }
}
