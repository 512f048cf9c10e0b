/**
 * `WithFallback`: try a primary allocator, and when it returns `NULL` try a secondary one. Frees are routed by
 * provenance: a pointer inside the primary's range goes to the primary, any other to the secondary.
 *
 * Complexity: one `contains` check per free plus the chosen allocator's cost. Overhead: none per block.
 * Required parts: a primary that is an `Allocator` and a `FixedRange` (so provenance can be decided), and any
 * secondary `Allocator`; both over the same memory (I11). Threads: as the parts.
 *
 * The constructor is checked: it rejects parts over different memories and, when the secondary is a `FixedRange`
 * too, ranges that overlap (the Rust `new` accepts both and then misroutes frees).
 *
 * `capacityBytes` is the sum of both parts; `corruptionEvents` too. `reset` resets both (or throws, changing
 * nothing, when either cannot). `usableSize`, `grow` and `shrink` go to the part that owns the block; a `grow` the
 * owner refuses moves the block through `allocate`, so it can cross to the secondary.
 *
 * Composition limits: `Watermark` or `Statistics` over a `WithFallback` see both parts together.
 *
 * @example
 * ```ts
 * const backing = new ArrayBufferBacked(1 << 22);
 * const pool = new Slab(backing, { blockSize: 64, capacity: 1024 });
 * const big = new BumpArena(StaticBacked.carve(backing, 1 << 21));
 * const alloc = new WithFallback(pool, big); // 64-byte requests from the slab, the rest from the arena
 * ```
 *
 * @module
 */
import {
  AllocError,
  type AllocRawForwarder,
  type Allocator,
  type FixedRange,
  type FreeForwarder,
  type Memory,
  NULL,
  type RawLayer,
  checkResize,
  checkSameMemory,
  faultError,
  isFixedRange,
  isValidLayout,
  layoutError,
  moveRaw,
  rawForwarders,
  rawLayerOf,
  zeroBlock,
} from "../core/index.js";

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

/**
 * Primary-then-secondary allocation with provenance-routed frees (see the module documentation).
 *
 * @typeParam TPrimary - the allocator tried first; a `FixedRange`, so it can claim its pointers.
 * @typeParam TSecondary - the allocator that takes what the primary refuses.
 */
export class WithFallback<TPrimary extends Allocator & FixedRange, TSecondary extends Allocator>
  implements Allocator, RawLayer
{
  /** The shared memory of both parts. */
  readonly memory: Memory;
  /** True once {@link WithFallback.intoParts} handed the parts back. */
  private parted = false;
  /** Tried first; owns every pointer inside its range. */
  readonly primary: TPrimary;
  /** Tried when the primary returns `NULL`; owns every other pointer. */
  readonly secondary: TSecondary;
  /** The parts' raw views (see `rawLayerOf` in core) and their hot forwarders. */
  private readonly primaryRaw: RawLayer;
  private readonly secondaryRaw: RawLayer;
  private readonly primaryAlloc: AllocRawForwarder;
  private readonly secondaryAlloc: AllocRawForwarder;
  private readonly primaryTryFree: FreeForwarder;
  private readonly secondaryTryFree: FreeForwarder;

  /**
   * @throws `AllocError` when the primary is not a `FixedRange`, the parts serve different memories, or both are
   *   `FixedRange`s whose ranges overlap.
   */
  constructor(primary: TPrimary, secondary: TSecondary) {
    if (!isFixedRange(primary)) {
      throw new AllocError(
        "WithFallback: the primary must be a FixedRange (so frees can be routed by address); swap the parts or " +
          "use a primary with base/size/contains",
      );
    }
    checkSameMemory("WithFallback", primary, secondary);
    if (isFixedRange(secondary)) {
      const a0 = primary.base();
      const a1 = a0 + primary.size();
      const b0 = secondary.base();
      const b1 = b0 + secondary.size();
      if (a0 < b1 && b0 < a1) {
        throw new AllocError(
          `WithFallback: the primary's range [${a0}, ${a1}) overlaps the secondary's [${b0}, ${b1}); frees could ` +
            `not be routed. Give each part its own range (StaticBacked.carve)`,
        );
      }
    }
    this.memory = primary.memory;
    this.primary = primary;
    this.secondary = secondary;
    this.primaryRaw = rawLayerOf(primary);
    this.secondaryRaw = rawLayerOf(secondary);
    const p = rawForwarders(this.primaryRaw);
    const q = rawForwarders(this.secondaryRaw);
    this.primaryAlloc = p.alloc;
    this.secondaryAlloc = q.alloc;
    this.primaryTryFree = p.tryFree;
    this.secondaryTryFree = q.tryFree;
  }

  /** The primary's block, else the secondary's, else `NULL` (I3). @throws `LayoutError` for a bad layout. */
  allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("WithFallback.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /** The raw protocol (see `RawLayer` in core): `allocate` for a layout the caller checked. @internal */
  allocRaw(size: number, align: number): number {
    if (this.parted) throw this.partedError("allocate");
    const p = this.primaryAlloc(this.primaryRaw, size, align);
    return p !== NULL ? p : this.secondaryAlloc(this.secondaryRaw, size, align);
  }

  /**
   * Hands the two parts back (the Rust `into_parts`): from then on this object refuses to allocate
   * (`AllocError`), so blocks are not issued behind the back of whoever owns the parts now. Frees still route.
   */
  intoParts(): { primary: TPrimary; secondary: TSecondary } {
    this.parted = true;
    return { primary: this.primary, secondary: this.secondary };
  }

  private partedError(what: string): AllocError {
    return new AllocError(
      `WithFallback.${what}: the parts were handed back by intoParts(); allocate from them directly`,
    );
  }

  /** As {@link WithFallback.allocate}, zeroed (I6). */
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /**
   * Frees through the part whose range holds `ptr` (the primary's), else through the secondary.
   * @throws `InvalidPointerError` or `LayoutError` naming `WithFallback`; nothing changes then.
   */
  deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError("WithFallback.deallocate", size, align);
    const r = this.tryFree(ptr, size, align);
    if (r !== 0) throw faultError("WithFallback.deallocate", r, ptr, size, align);
  }

  /** The raw protocol: the owner's. @internal */
  tryFree(ptr: unknown, size: number, align: number): number {
    return this.inPrimary(ptr)
      ? this.primaryTryFree(this.primaryRaw, ptr, size, align)
      : this.secondaryTryFree(this.secondaryRaw, ptr, size, align);
  }

  /** The raw protocol: the owner's. @internal */
  checkFree(ptr: unknown, size: number, align: number, freeing: boolean): number {
    return (this.inPrimary(ptr) ? this.primaryRaw : this.secondaryRaw).checkFree(ptr, size, align, freeing);
  }

  /** The raw protocol: the owner's. @internal */
  scrubFree(ptr: unknown, size: number, align: number, byte: number): number {
    return (this.inPrimary(ptr) ? this.primaryRaw : this.secondaryRaw).scrubFree(ptr, size, align, byte);
  }

  /** The raw protocol: the owner's. @internal */
  sizeOf(ptr: unknown): number {
    return (this.inPrimary(ptr) ? this.primaryRaw : this.secondaryRaw).sizeOf(ptr);
  }

  /** The raw protocol: the owner's. @internal */
  freeRaw(ptr: number, size: number, align: number): void {
    (this.inPrimary(ptr) ? this.primaryRaw : this.secondaryRaw).freeRaw(ptr, size, align);
  }

  /** The raw protocol: the owner resizes; a grow it refuses moves the block through `allocRaw` (I5). @internal */
  resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    const q = (this.inPrimary(ptr) ? this.primaryRaw : this.secondaryRaw).resizeRaw(
      ptr,
      oldSize,
      newSize,
      align,
    );
    if (q !== NULL || newSize <= oldSize) return q;
    return moveRaw(this, this.memory.u8, ptr, oldSize, newSize, align);
  }

  /** Asks the owner to grow in place or move; when it refuses, moves the block through `allocate` (I5). */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.resize("grow", ptr, oldSize, newSize, align);
  }

  /** Asks the owner to shrink (I5). */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.resize("shrink", ptr, oldSize, newSize, align);
  }

  private resize(what: string, ptr: number, oldSize: number, newSize: number, align: number): number {
    checkResize(`WithFallback.${what}`, oldSize, newSize, align, what === "grow");
    const usable = this.checkFree(ptr, oldSize, align, false);
    if (usable < 0) throw faultError(`WithFallback.${what}`, usable, ptr, oldSize, align);
    return this.resizeRaw(ptr, oldSize, newSize, align);
  }

  /**
   * Resets both parts (I7): the secondary first, then the primary. A part that cannot reset throws
   * `UnsupportedError`; when the secondary throws, nothing changed.
   */
  reset(): void {
    this.secondary.reset();
    this.primary.reset();
  }

  /** The owner's usable size (I8). @throws as `deallocate`. */
  usableSize(ptr: number, size: number): number {
    if (!validLayout(size, 1)) throw layoutError("WithFallback.usableSize", size, 1);
    const usable = this.checkFree(ptr, size, 1, false);
    if (usable < 0) throw faultError("WithFallback.usableSize", usable, ptr, size, 1);
    return usable;
  }

  /** Both parts' capacities added. */
  capacityBytes(): number {
    return this.primary.capacityBytes() + this.secondary.capacityBytes();
  }

  /** Both parts' corruption counts added (I10). */
  corruptionEvents(): number {
    return this.primary.corruptionEvents() + this.secondary.corruptionEvents();
  }

  private inPrimary(ptr: unknown): boolean {
    return typeof ptr === "number" && this.primary.contains(ptr);
  }
}
