/**
 * `Wrapper`: what every Layer 3 wrapper shares: it is an `Allocator` over one inner allocator, it forwards every
 * call it does not change, and it forwards `FixedRange` and `OsBacked` exactly when the inner has them (and says so
 * under `WRAPS`, so `isFixedRange`/`isOsBacked` and the carving layouts can tell).
 *
 * One checked boundary: the public methods (`allocate`, `deallocate`, `grow`, ...) validate their arguments once and
 * then use the raw protocol (`RawLayer` in core): this wrapper's own `allocRaw`/`tryFree`/`checkFree`/`resizeRaw`,
 * which reach the inner's raw methods without checking again. So a stack of four wrappers validates once, at the
 * object the user called, and a refusal anywhere below becomes one typed error that names that object. An inner
 * that does not implement the raw protocol is reached through an adapter (`rawLayerOf` in core).
 *
 * Hot calls reach the inner through raw forwarders chosen by the inner's class at construction (`rawForwarders`).
 * A plain `this.inner.allocRaw(...)` is one call site shared by every instance of a wrapper class: once five inner
 * classes pass through it, V8 makes it megamorphic and every call pays a global cache lookup (+17 ns per round
 * trip, measured). The forwarders give each inner class its own call site, so the cost of a stack stays the sum of
 * its layers however many stacks an application builds; see docs/PERFORMANCE.md. For the same reason every
 * concrete wrapper writes out its own `allocate` and `deallocate` (a method shared through this base would be one
 * call site for all of them). A forwarder is still an indirect call once a wrapper class serves several inner
 * classes; `Statistics`, `PoisonOnFree`/`ZeroizeOnFree` and `Canary` therefore call the first inner class they are
 * built over directly (`directInner` in core), a site that stays monomorphic and inlined, and use the forwarders
 * for every other class. `PoisonOnFree`/`ZeroizeOnFree` and `Canary` also give an instance over another class its
 * general methods as its own (`ownMethods`), so the class's methods run only on the direct path.
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
  type AllocRawForwarder,
  type CheckForwarder,
  type FreeForwarder,
  type FreeRawForwarder,
  type RawLayer,
  type ScrubForwarder,
  checkResize,
  faultError,
  hasRegions,
  isValidLayout,
  layoutError,
  rawForwarders,
  rawLayerOf,
  scrubFreeChecked,
  zeroBlock,
  isFixedRange,
  isOsBacked,
} from "../core/index.js";

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

/**
 * The forwarding base of the hardening wrappers. Use the concrete wrappers; subclass it for a wrapper of your own.
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class Wrapper<TInner extends Allocator> implements Allocator, RawLayer, FixedRange, OsBacked {
  /** The wrapped allocator. */
  readonly inner: TInner;
  /** The inner's memory (a wrapper never changes the address space). */
  readonly memory: Memory;
  /** What this wrapper forwards and whether its work happens in `allocate` (see `WRAPS` in core). */
  readonly [WRAPS]: WrapperInfo;
  /** The inner's raw view: the inner itself when it implements the raw protocol, else an adapter. @internal */
  protected readonly raw: RawLayer;
  /** The inner's `allocRaw`, through a forwarder of its class (see the module documentation). @internal */
  protected readonly rawAlloc: AllocRawForwarder;
  /** The inner's `tryFree`, through a forwarder of its class. @internal */
  protected readonly rawTryFree: FreeForwarder;
  /** The inner's `checkFree`, through a forwarder of its class. @internal */
  protected readonly rawCheckFree: CheckForwarder;
  /** The inner's `freeRaw`, through a forwarder of its class. @internal */
  protected readonly rawFreeRaw: FreeRawForwarder;
  /** The inner's `scrubFree`, through a forwarder of its class. @internal */
  protected readonly rawScrubFree: ScrubForwarder;
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
    this.raw = rawLayerOf(inner);
    const f = rawForwarders(this.raw);
    this.rawAlloc = f.alloc;
    this.rawTryFree = f.tryFree;
    this.rawCheckFree = f.checkFree;
    this.rawFreeRaw = f.freeRaw;
    this.rawScrubFree = f.scrubFree;
  }

  /**
   * Gives this instance `methods` as its own (non-enumerable) properties, each in place of the method of the same name
   * on `base` (the prototype of the class that calls this); a method that the instance's class overrides below
   * `base` is left alone, so a subclass's override still runs (its `super` call reaches `base`'s method).
   *
   * For a wrapper whose hot methods are written for one path (the inner class its call sites reach directly):
   * instances that need another path take it through their own methods, so the class's methods run only on the
   * direct path and their type feedback is that path's alone. V8 inlines a call only when it ran in at least 15% of
   * its method's calls (`--min-inlining-frequency`): a method shared with instances over several other inner classes
   * saw the direct call too rarely, and a hot loop compiled early called the inner instead of inlining it (measured
   * in bench/tiers.ts, "6 inner types": see docs/PERFORMANCE.md). Costs one map transition per instance so built,
   * none per call. @internal
   */
  protected ownMethods(base: object, methods: Readonly<Record<string, unknown>>): void {
    const self = this as unknown as Record<string, unknown>;
    const proto = base as Record<string, unknown>;
    for (const name of Object.keys(methods)) {
      if (self[name] !== proto[name]) continue;
      Object.defineProperty(self, name, { value: methods[name], writable: true, configurable: true });
    }
  }

  /** Checked once, then `Wrapper.allocRaw`. @throws `LayoutError` for a bad size or alignment. */
  allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError(`${this.label}.allocate`, size, align);
    return this.allocRaw(size, align);
  }
  /** As `allocate`, with the block's `size` bytes zeroed (I6). */
  allocateZeroed(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError(`${this.label}.allocateZeroed`, size, align);
    const p = this.allocRaw(size, align);
    if (p !== 0) zeroBlock(this.memory, p, size);
    return p;
  }
  /**
   * Checked once, then `Wrapper.tryFree`.
   * @throws `LayoutError`, `InvalidPointerError` or `CorruptionError` naming this wrapper; nothing changes then.
   */
  deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError(`${this.label}.deallocate`, size, align);
    const r = this.tryFree(ptr, size, align);
    if (r !== 0) throw faultError(`${this.label}.deallocate`, r, ptr, size, align);
  }
  /**
   * Checked once (the sizes, and the block with `Wrapper.checkFree`), then `Wrapper.resizeRaw`.
   * @throws as `deallocate`; nothing changes then.
   */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.resize("grow", ptr, oldSize, newSize, align);
  }
  /** As `grow`, smaller. */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.resize("shrink", ptr, oldSize, newSize, align);
  }
  /** Forwarded. */
  reset(): void {
    this.inner.reset();
  }
  /** The usable size of a live block, from `Wrapper.checkFree`. @throws as `deallocate`. */
  usableSize(ptr: number, size: number): number {
    if (!validLayout(size, 1)) throw layoutError(`${this.label}.usableSize`, size, 1);
    const usable = this.checkFree(ptr, size, 1, false);
    if (usable < 0) throw faultError(`${this.label}.usableSize`, usable, ptr, size, 1);
    return usable;
  }

  /** The raw protocol: forwarded to the inner. @internal */
  allocRaw(size: number, align: number): number {
    return this.rawAlloc(this.raw, size, align);
  }
  /** The raw protocol: forwarded to the inner. @internal */
  sizeOf(ptr: unknown): number {
    return this.raw.sizeOf(ptr);
  }
  /** The raw protocol: forwarded to the inner. @internal */
  checkFree(ptr: unknown, size: number, align: number, freeing: boolean): number {
    return this.rawCheckFree(this.raw, ptr, size, align, freeing);
  }
  /** The raw protocol: forwarded to the inner. @internal */
  tryFree(ptr: unknown, size: number, align: number): number {
    return this.rawTryFree(this.raw, ptr, size, align);
  }
  /** The raw protocol: forwarded to the inner. @internal */
  freeRaw(ptr: number, size: number, align: number): void {
    this.rawFreeRaw(this.raw, ptr, size, align);
  }
  /** The raw protocol: `checkFree`, the fill, `freeRaw` (this wrapper's own). @internal */
  scrubFree(ptr: unknown, size: number, align: number, byte: number): number {
    return scrubFreeChecked(this, this.memory, ptr, size, align, byte);
  }
  /** The raw protocol: forwarded to the inner. @internal */
  resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    return this.raw.resizeRaw(ptr, oldSize, newSize, align);
  }

  /** The checked `grow`/`shrink`: the sizes, then the block, then `Wrapper.resizeRaw`. */
  protected resize(what: string, ptr: number, oldSize: number, newSize: number, align: number): number {
    const where = `${this.label}.${what}`;
    checkResize(where, oldSize, newSize, align, what === "grow");
    const usable = this.checkFree(ptr, oldSize, align, false);
    if (usable < 0) throw faultError(where, usable, ptr, oldSize, align);
    return this.resizeRaw(ptr, oldSize, newSize, align);
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
