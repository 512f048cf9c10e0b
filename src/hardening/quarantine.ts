/**
 * `Quarantine`: delays the reuse of freed blocks. A freed block waits in a FIFO ring until `epochs` later frees
 * have happened, and only then is freed in the inner; a use-after-free in that window hits a block nobody else
 * owns yet. A second free of a block still in quarantine throws `InvalidPointerError` (the Rust one does not
 * notice), and so does the free of a pointer the inner does not consider live.
 *
 * Complexity: O(epochs) per free (a scan of the ring for double frees) plus the inner's `checkFree` (one check; nothing is queued when it refuses).
 * Overhead: up to `epochs` blocks held back; the inner still counts them as live, so it can run out earlier (the
 * Rust footgun, kept and documented).
 * Where it may stand: over a layout that reuses blocks (`Slab`); pointless over a bump arena. With mixed sizes put
 * it over a size-classed allocator. To scrub blocks as they enter quarantine, put `ZeroizeOnFree`/`PoisonOnFree`
 * outside it.
 *
 * @example
 * ```ts
 * const backing = new ArrayBufferBacked(1 << 17);
 * const tokens = new Quarantine(new Slab(backing, { blockSize: 64, capacity: 1024 }), 4);
 * const t = tokens.allocate(64);
 * tokens.deallocate(t, 64);
 * console.log(tokens.holds(t), tokens.allocate(64) !== t); // true true: not reused for 4 more frees
 * ```
 *
 * @module
 */
import {
  type Allocator,
  FAULT_NOT_LIVE,
  type Region,
  checkInteger,
  faultError,
  isValidLayout,
  layoutError,
  markContaining,
  moveRaw,
  noteFault,
} from "../core/index.js";
import { Wrapper } from "./wrapper.js";

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

/** Options of {@link Quarantine}. */
export interface QuarantineOptions {
  /** How many later frees a block waits for (1 to 65536). @defaultValue 4 */
  epochs?: number;
}

/**
 * A FIFO of freed blocks held back from reuse (see the module documentation).
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class Quarantine<TInner extends Allocator> extends Wrapper<TInner> {
  /** How many frees a block waits for. */
  readonly epochs: number;
  /** The ring: `[ptr, size, align]` per entry, oldest at `head`. */
  private readonly ring: Int32Array;
  private head: number;
  private count: number;
  private frees: number;

  /** @param epochs - a number, or `{ epochs }`. @throws `AllocError` when it is not an integer in `[1, 65536]`. */
  constructor(inner: TInner, epochs: number | QuarantineOptions = 4) {
    super("Quarantine", inner, true);
    this.epochs = checkInteger(
      "Quarantine",
      "epochs",
      typeof epochs === "object" && epochs !== null ? (epochs.epochs ?? 4) : epochs,
      1,
      65536,
    );
    this.ring = new Int32Array(3 * this.epochs);
    this.head = 0;
    this.count = 0;
    this.frees = 0;
  }

  /** Checked once, then forwarded. @throws `LayoutError` for a bad layout. */
  override allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("Quarantine.allocate", size, align);
    return this.rawAlloc(this.raw, size, align);
  }

  /**
   * Puts the block in quarantine; the oldest one leaves for the inner when the ring is full.
   *
   * @throws `InvalidPointerError` for a block already in quarantine (a double free) or not live in the inner;
   *   `LayoutError` for a bad layout or one the block cannot have (checked by the inner). Nothing changes then.
   */
  override deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError("Quarantine.deallocate", size, align);
    const r = this.tryFree(ptr, size, align);
    if (r !== 0) throw faultError("Quarantine.deallocate", r, ptr, size, align);
  }

  /** The raw protocol: a block in quarantine is not live; anything else as the inner says. @internal */
  override checkFree(ptr: unknown, size: number, align: number, freeing: boolean): number {
    if (this.holds(ptr)) {
      return noteFault(FAULT_NOT_LIVE, "it is already freed (it is still in quarantine): a double free");
    }
    return this.rawCheckFree(this.raw, ptr, size, align, freeing);
  }

  /** The raw protocol: `checkFree`, then `freeRaw`. @internal */
  override tryFree(ptr: unknown, size: number, align: number): number {
    const usable = this.checkFree(ptr, size, align, true);
    if (usable < 0) return usable;
    this.freeRaw(ptr as number, size, align);
    return 0;
  }

  /** The raw protocol: a block in quarantine is not live. @internal */
  override sizeOf(ptr: unknown): number {
    return this.holds(ptr) ? -1 : this.raw.sizeOf(ptr);
  }

  /** The raw protocol: puts a checked block in quarantine; the oldest leaves for the inner when the ring is full. @internal */
  override freeRaw(ptr: number, size: number, align: number): void {
    const n = this.epochs;
    if (this.count === n) {
      const h = this.head;
      this.rawFreeRaw(this.raw, this.ring[3 * h]!, this.ring[3 * h + 1]!, this.ring[3 * h + 2]!);
      this.head = h + 1 === n ? 0 : h + 1;
      this.count--;
    }
    let tail = this.head + this.count;
    if (tail >= n) tail -= n;
    this.ring[3 * tail] = ptr;
    this.ring[3 * tail + 1] = size;
    this.ring[3 * tail + 2] = align;
    this.count++;
    this.frees++;
  }

  /** The raw protocol: moves the block; the old one goes through quarantine (as in Rust). @internal */
  override resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    return moveRaw(this, this.memory.u8, ptr, oldSize, newSize, align);
  }

  /** Empties the ring, then resets the inner (so the quarantined blocks are gone with everything else). */
  override reset(): void {
    this.inner.reset();
    this.head = 0;
    this.count = 0;
  }

  /** Frees every quarantined block in the inner now, oldest first. */
  flush(): void {
    while (this.count > 0) {
      const h = this.head;
      this.rawFreeRaw(this.raw, this.ring[3 * h]!, this.ring[3 * h + 1]!, this.ring[3 * h + 2]!);
      this.head = h + 1 === this.epochs ? 0 : h + 1;
      this.count--;
    }
  }

  /** Blocks waiting in quarantine. */
  pending(): number {
    return this.count;
  }

  /** Frees accepted since construction (the Rust `deallocate_count`). */
  deallocateCount(): number {
    return this.frees;
  }

  /** The inner's regions with each block waiting here marked `quarantined`. O(blocks); allocates. */
  override regions(): Region[] {
    const held: number[] = [];
    const n = this.epochs;
    for (let k = 0, i = this.head; k < this.count; k++, i = i + 1 === n ? 0 : i + 1)
      held.push(this.ring[3 * i]!);
    return markContaining(super.regions(), held, "quarantined");
  }

  /** True when `ptr` is waiting in quarantine. */
  holds(ptr: unknown): boolean {
    const n = this.epochs;
    for (let k = 0, i = this.head; k < this.count; k++, i = i + 1 === n ? 0 : i + 1) {
      if (this.ring[3 * i] === ptr) return true;
    }
    return false;
  }
}
