/**
 * `PoisonOnFree` and `ZeroizeOnFree`: overwrite a block when it is freed (the whole usable size, so rounding slack
 * is covered), so a use after free reads garbage instead of stale data. `PoisonOnFree` writes a pattern (0xDE by
 * default) and can check, when a block is reused, that nothing wrote into it while it was free. `ZeroizeOnFree`
 * writes zeros, for secrets, and also zeroes the inner's whole range on `reset()` (the Rust one does not scrub on
 * reset).
 *
 * Complexity: O(usable size) per free; with `checkOnReuse`, O(usable size) per reuse and a `Map` entry per freed
 * block. Overhead: none in the memory.
 * Where it may stand: outside the layout whose frees it scrubs. Under `Quarantine` the block is scrubbed only when
 * it leaves quarantine; put it outside (`new ZeroizeOnFree(new Quarantine(slab))`) to scrub at once. `grow` and
 * `shrink` move the block, so the old one is scrubbed too (as in Rust).
 *
 * @example
 * ```ts
 * const backing = new ArrayBufferBacked(1 << 16);
 * const pool = new PoisonOnFree(new Slab(backing, { blockSize: 64, capacity: 100 }), { checkOnReuse: true });
 * const secrets = new ZeroizeOnFree(new Slab(backing, { blockSize: 32, capacity: 16 }));
 * const k = secrets.allocate(32);
 * secrets.memory.u8.fill(7, k, k + 32);
 * secrets.deallocate(k, 32);
 * console.log(secrets.memory.u8[k], pool.allocate(64) > 0); // 0 true
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  CorruptionError,
  type FixedRange,
  NULL,
  checkResize,
  describePointer,
  fillBytes,
  isFixedRange,
  layoutError,
  moveBlock,
  wrapperChain,
  zeroBlock,
} from "../core/index.js";
import { Wrapper } from "./wrapper.js";

/** The Rust crate's default poison byte. */
export const DEFAULT_POISON = 0xde;

/** Options of {@link PoisonOnFree}. */
export interface PoisonOptions {
  /** The byte written over freed blocks (0 to 255). @defaultValue 0xDE */
  pattern?: number;
  /**
   * Check, when a freed block is handed out again, that the bytes the new request covers still hold only the
   * pattern (and check whole free blocks with `verifyFreed()`). Costs a `Map` entry per freed block.
   * @defaultValue false
   */
  checkOnReuse?: boolean;
}

/**
 * Fills freed blocks with a pattern (see the module documentation).
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class PoisonOnFree<TInner extends Allocator> extends Wrapper<TInner> {
  /** The byte written over freed blocks. */
  readonly pattern: number;
  /** Whether reuse is checked. */
  readonly checkOnReuse: boolean;
  /** Freed blocks not yet handed out again: `usable * 256 + the byte they hold` (only with `checkOnReuse`). */
  private readonly poisoned: Map<number, number>;
  private corruptions: number;

  /** @throws `AllocError` for a pattern that is not a byte. */
  constructor(inner: TInner, options: PoisonOptions = {}, label = "PoisonOnFree") {
    super(label, inner, true, true);
    const pattern = options.pattern ?? DEFAULT_POISON;
    if (!Number.isInteger(pattern) || pattern < 0 || pattern > 255) {
      throw new AllocError(`${label}: pattern ${String(pattern)} is not a byte (0 to 255)`);
    }
    this.pattern = pattern;
    this.checkOnReuse = options.checkOnReuse === true;
    const writer = this.checkOnReuse ? wrapperChain(inner).find((w) => w.writesBlocks) : undefined;
    if (writer !== undefined) {
      throw new AllocError(
        `${label}: checkOnReuse needs the blocks to hold the pattern until they are reused, but ${writer.name} ` +
          `inside writes into blocks; put ${label} with checkOnReuse directly over the layout, and ${writer.name} outside it`,
      );
    }
    this.poisoned = new Map();
    this.corruptions = 0;
  }

  /** Forwarded; with `checkOnReuse`, a reused block is first checked for writes made while it was free. */
  override allocate(size: number, align = 8): number {
    const p = this.innerAllocate(this.inner, size, align);
    if (this.checkOnReuse && p !== NULL) this.checkReuse(p, size);
    return p;
  }

  /** As `allocate`, zeroed. */
  override allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /**
   * Writes the pattern over the block's usable size, then frees it.
   *
   * @throws what the inner's `usableSize` throws for a block that is not live (nothing is written then).
   */
  override deallocate(ptr: number, size: number, align = 8): void {
    const m = align - 1;
    if (((size - 1) & 0x3fffffff) + 1 !== size || (m & 0x1fffff) + 1 !== align || (align & m) !== 0) {
      throw layoutError(`${this.label}.deallocate`, size, align);
    }
    const usable = this.inner.usableSize(ptr, size); // validates ptr before anything is written
    fillBytes(this.memory, this.pattern, ptr, ptr + usable);
    this.innerDeallocate(this.inner, ptr, size, align);
    if (this.checkOnReuse) this.record(ptr, usable);
  }

  /** Moves the block, so the old one is scrubbed. */
  override grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize(`${this.label}.grow`, oldSize, newSize, align, true);
    this.inner.usableSize(ptr, oldSize);
    return moveBlock(this, ptr, oldSize, newSize, align);
  }

  /** Moves the block, so the old one is scrubbed. */
  override shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize(`${this.label}.shrink`, oldSize, newSize, align, false);
    this.inner.usableSize(ptr, oldSize);
    return moveBlock(this, ptr, oldSize, newSize, align);
  }

  /** Forwarded (blocks are not scrubbed; `ZeroizeOnFree` scrubs the range). */
  override reset(): void {
    this.inner.reset();
    this.poisoned.clear();
  }

  /** Writes-after-free detected plus the inner's (I10). */
  override corruptionEvents(): number {
    return this.corruptions + this.inner.corruptionEvents();
  }

  /**
   * Checks every freed block that was not handed out again (needs `checkOnReuse`). Returns how many were checked.
   *
   * @throws `CorruptionError` (counted) at the first block that was written while free.
   */
  verifyFreed(): number {
    if (!this.checkOnReuse) throw new AllocError(`${this.label}.verifyFreed: needs { checkOnReuse: true }`);
    for (const [ptr, entry] of this.poisoned) this.verifyBlock(ptr, Math.floor(entry / 256), entry & 255);
    return this.poisoned.size;
  }

  /**
   * Checks the part of a reused block that the new request covers. Bytes beyond it are not checked at reuse: an
   * inner wrapper (a `Canary`, `CacheJitter`) may legitimately have written its metadata there while allocating.
   * `verifyFreed()` checks whole blocks while they are free.
   */
  private checkReuse(p: number, size: number): void {
    const entry = this.poisoned.get(p);
    if (entry === undefined) return;
    this.poisoned.delete(p);
    const usable = Math.floor(entry / 256);
    this.verifyBlock(p, usable < size ? usable : size, entry & 255);
  }

  /**
   * Remembers a freed block for the reuse check, by the byte it holds once the inner has freed it (the pattern, or
   * what an inner scrubber wrote over it). A block the inner left non-uniform cannot be checked and is skipped.
   */
  private record(ptr: number, usable: number): void {
    const u8 = this.memory.u8;
    const byte = u8[ptr]!;
    for (let i = 1; i < usable; i++) {
      if (u8[ptr + i] !== byte) {
        this.poisoned.delete(ptr);
        return;
      }
    }
    this.poisoned.set(ptr, usable * 256 + byte);
  }

  private verifyBlock(ptr: number, usable: number, pattern: number): void {
    const u8 = this.memory.u8;
    for (let i = 0; i < usable; i++) {
      if (u8[ptr + i] !== pattern) {
        this.corruptions++;
        this.poisoned.delete(ptr);
        throw new CorruptionError(
          `${this.label}: byte ${i} of the freed block ${describePointer(ptr)} was written while the block was free ` +
            `(a use after free); the block is withheld from reuse`,
        );
      }
    }
  }
}

/**
 * Fills freed blocks with zeros, and zeroes the inner's whole range on `reset()` (see the module documentation).
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class ZeroizeOnFree<TInner extends Allocator> extends PoisonOnFree<TInner> {
  /** Zeroes freed blocks. */
  constructor(inner: TInner) {
    super(inner, { pattern: 0 }, "ZeroizeOnFree");
  }

  /** Resets the inner, then zeroes its whole committed range when it is a `FixedRange`. */
  override reset(): void {
    super.reset();
    if (isFixedRange(this.inner)) {
      const range = this.inner as unknown as FixedRange;
      const end = Math.min(range.base() + range.size(), this.memory.byteLength);
      if (end > range.base()) this.memory.u8.fill(0, range.base(), end);
    }
  }
}
