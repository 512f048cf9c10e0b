/**
 * `ArenaPool`: recycles bump arenas, so a program that makes a short-lived arena per task (a request, a query, a
 * frame) stops paying for new memory each time: `checkout()` hands out a reset arena, `giveBack()` keeps it for the
 * next one (up to `capacity` idle arenas; beyond that it is dropped). Over OS memory, `releaseIdle()` gives the idle
 * arenas' pages back to the OS while keeping their mappings.
 *
 * Complexity: O(1) checkout and give back. Overhead: up to `capacity` idle ranges. Threads: one agent.
 * Composition limits: the factory must make a fresh range each time (not share one); `giveBack` refuses an arena
 * this pool did not hand out.
 *
 * @example
 * ```ts
 * const pool = new ArenaPool(() => new ArrayBufferBacked(1 << 20), { capacity: 4 });
 * const arena = pool.checkout();
 * arena.allocate(256);
 * pool.giveBack(arena); // reset and kept
 * ```
 *
 * @module
 */
import { AllocError, type FixedRange, type OsBacked, checkInteger, isOsBacked } from "../core/index.js";
import { BumpArena } from "./bump-arena.js";

/** Options of {@link ArenaPool}. */
export interface ArenaPoolOptions {
  /** The most idle arenas kept (0 to 2^16). @defaultValue 8 */
  capacity?: number;
}

/** Recycled bump arenas (see the module documentation). */
export class ArenaPool<TRange extends FixedRange = FixedRange> {
  /** The most idle arenas kept. */
  readonly capacity: number;
  private readonly factory: () => TRange;
  private readonly idle: BumpArena[];
  private readonly issued: WeakSet<BumpArena>;

  /** @throws `AllocError` for a bad capacity or a factory that is not a function. */
  constructor(factory: () => TRange, options: ArenaPoolOptions = {}) {
    if (typeof factory !== "function")
      throw new AllocError("ArenaPool: the factory must be a function returning a range");
    this.factory = factory;
    this.capacity = checkInteger("ArenaPool", "capacity", options.capacity ?? 8, 0, 1 << 16);
    this.idle = [];
    this.issued = new WeakSet();
  }

  /** An idle arena (reset), or a new one from the factory. @throws what the factory or `BumpArena` throws. */
  checkout(): BumpArena {
    const arena = this.idle.pop() ?? new BumpArena(this.factory());
    this.issued.add(arena);
    return arena;
  }

  /**
   * Resets the arena and keeps it for the next `checkout` (or drops it when `capacity` are idle already).
   *
   * @throws `AllocError` for an arena this pool did not hand out, or one given back twice.
   */
  giveBack(arena: BumpArena): void {
    if (!this.issued.has(arena)) {
      throw new AllocError(
        "ArenaPool.giveBack: this arena was not checked out of this pool (or was given back already)",
      );
    }
    this.issued.delete(arena);
    arena.reset();
    if (this.idle.length < this.capacity) this.idle.push(arena);
  }

  /** Makes up to `n` arenas ahead of time (stopping at `capacity`). Returns how many are idle now. */
  prewarm(n: number): number {
    const want = checkInteger("ArenaPool.prewarm", "n", n, 0, 1 << 16);
    while (this.idle.length < Math.min(want, this.capacity)) this.idle.push(new BumpArena(this.factory()));
    return this.idle.length;
  }

  /** Idle arenas now. */
  idleCount(): number {
    return this.idle.length;
  }

  /** Drops every idle arena. */
  clear(): void {
    this.idle.length = 0;
  }

  /**
   * Gives the pages of every idle arena whose range is an OS mapping back to the OS (`releasePages`), keeping the
   * mappings. Returns how many arenas it released.
   */
  releaseIdle(): number {
    let released = 0;
    for (const arena of this.idle) {
      const range = arena.backing as unknown as OsBacked;
      if (isOsBacked(range)) {
        range.releasePages(range.basePtr(), range.regionSize());
        released++;
      }
    }
    return released;
  }
}
