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
  type Allocator,
  type FixedRange,
  type Memory,
  NULL,
  checkResize,
  checkSameMemory,
  isFixedRange,
  moveBlock,
  zeroBlock,
} from "../core/index.js";

/**
 * Primary-then-secondary allocation with provenance-routed frees (see the module documentation).
 *
 * @typeParam TPrimary - the allocator tried first; a `FixedRange`, so it can claim its pointers.
 * @typeParam TSecondary - the allocator that takes what the primary refuses.
 */
export class WithFallback<
  TPrimary extends Allocator & FixedRange,
  TSecondary extends Allocator,
> implements Allocator {
  /** The shared memory of both parts. */
  readonly memory: Memory;
  /** True once {@link WithFallback.intoParts} handed the parts back. */
  private parted = false;
  /** Tried first; owns every pointer inside its range. */
  readonly primary: TPrimary;
  /** Tried when the primary returns `NULL`; owns every other pointer. */
  readonly secondary: TSecondary;

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
  }

  /** The primary's block, else the secondary's, else `NULL` (I3). */
  allocate(size: number, align = 8): number {
    if (this.parted) throw this.partedError("allocate");
    const p = this.primary.allocate(size, align);
    return p !== NULL ? p : this.secondary.allocate(size, align);
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

  /** Frees through the part whose range holds `ptr` (the primary's), else through the secondary. */
  deallocate(ptr: number, size: number, align = 8): void {
    if (this.primary.contains(ptr)) this.primary.deallocate(ptr, size, align);
    else this.secondary.deallocate(ptr, size, align);
  }

  /** Asks the owner to grow in place or move; when it refuses, moves the block through `allocate` (I5). */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("WithFallback.grow", oldSize, newSize, align, true);
    const owner = this.ownerOf(ptr);
    owner.usableSize(ptr, oldSize); // throws when ptr is not live there
    const q = owner.grow(ptr, oldSize, newSize, align);
    return q !== NULL ? q : moveBlock(this, ptr, oldSize, newSize, align);
  }

  /** Asks the owner to shrink (I5). */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.ownerOf(ptr).shrink(ptr, oldSize, newSize, align);
  }

  /**
   * Resets both parts (I7): the secondary first, then the primary. A part that cannot reset throws
   * `UnsupportedError`; when the secondary throws, nothing changed.
   */
  reset(): void {
    this.secondary.reset();
    this.primary.reset();
  }

  /** The owner's usable size (I8). */
  usableSize(ptr: number, size: number): number {
    return this.ownerOf(ptr).usableSize(ptr, size);
  }

  /** Both parts' capacities added. */
  capacityBytes(): number {
    return this.primary.capacityBytes() + this.secondary.capacityBytes();
  }

  /** Both parts' corruption counts added (I10). */
  corruptionEvents(): number {
    return this.primary.corruptionEvents() + this.secondary.corruptionEvents();
  }

  private ownerOf(ptr: number): Allocator {
    return this.primary.contains(ptr) ? this.primary : this.secondary;
  }
}
