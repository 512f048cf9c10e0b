/**
 * `CacheJitter`: moves each block forward by a random number of cache lines (0 to `assoc - 1`), so blocks of the
 * same size do not all map to the same cache sets, and an attacker cannot predict a block's offset from its
 * neighbours. An 8-byte header before the block stores the displacement and a keyed 48-bit MAC over
 * (block, displacement), checked on free: a smashed header throws `CorruptionError` and is counted.
 *
 * ```text
 *  inner block: | line | r lines | header (8: disp 16 bits, MAC 48 bits) | user block | ... rest of the prefix
 *                                                                         ^ returned, aligned to `line`
 * ```
 *
 * Meaningful over OS memory (`forge-alloc/os`), where offsets are real addresses with real cache sets; over a
 * JavaScript buffer the base address is unknown, so it randomises layout but not cache placement. The RNG
 * (xorshift32, seeded from `crypto.getRandomValues`) is not cryptographic; the MAC key (HalfSipHash-1-3) is.
 *
 * Complexity: two MACs per allocation and per free. Overhead per block: `line * assoc` bytes (512 at 64/8).
 * Requests aligned above `line` pass through unjittered (and are freed the same way). Where it may stand: outside
 * the layout; refused under a carving layout. Two `CacheJitter`s in one stack need different keys: with the same
 * `seed` they share a MAC key, so one takes the other's header for its own (a double free through both is then
 * reported as corruption instead of a bad pointer). The default, a random key per instance, never collides.
 *
 * @example
 * ```ts
 * const jittered = new CacheJitter(new BumpArena(new MmapBacked(1 << 20)), { line: 64, assoc: 8 });
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  CorruptionError,
  InvalidPointerError,
  MAX_SIZE,
  NULL,
  checkInteger,
  checkResize,
  describePointer,
  halfSipHash13,
  isValidLayout,
  layoutError,
  moveBlock,
  randomWord,
  zeroBlock,
} from "../core/index.js";
import { Wrapper } from "./wrapper.js";

/** Options of {@link CacheJitter}. */
export interface CacheJitterOptions {
  /** The cache line size: a power of two from 8 to 4096. @defaultValue 64 */
  line?: number;
  /** How many line offsets to choose from (1 to 65535). @defaultValue 8 */
  assoc?: number;
  /** A seed for the RNG and the MAC key, for replayable tests. @defaultValue random */
  seed?: number;
}

/**
 * Cache-line displacement with a keyed header (see the module documentation).
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class CacheJitter<TInner extends Allocator> extends Wrapper<TInner> {
  /** The cache line size. */
  readonly line: number;
  /** The number of line offsets. */
  readonly assoc: number;
  private readonly k0: number;
  private readonly k1: number;
  private rng: number;
  private corruptions: number;

  /** @throws `AllocError` for a line that is not a power of two in `[8, 4096]` or an assoc outside `[1, 65535]`. */
  constructor(inner: TInner, options: CacheJitterOptions = {}) {
    super("CacheJitter", inner, true, true);
    const line = options.line ?? 64;
    if (typeof line !== "number" || line < 8 || line > 4096 || (line & (line - 1)) !== 0) {
      throw new AllocError(
        `CacheJitter: line ${String(line)} is not valid; expected a power of two from 8 to 4096`,
      );
    }
    this.line = line;
    this.assoc = checkInteger("CacheJitter", "assoc", options.assoc ?? 8, 1, 65535);
    const seed = options.seed === undefined ? randomWord() : options.seed >>> 0 || 0x9e3779b9;
    this.rng = seed;
    this.k0 = options.seed === undefined ? randomWord() : Math.imul(seed, 0x85ebca6b) >>> 0;
    this.k1 = options.seed === undefined ? randomWord() : Math.imul(seed ^ 0xc2b2ae35, 0x27d4eb2f) >>> 0;
    this.corruptions = 0;
  }

  /** Allocates `size + line * assoc` bytes and returns a block displaced by a random number of lines. */
  override allocate(size: number, align = 8): number {
    if (!isValidLayout(size, align)) throw layoutError("CacheJitter.allocate", size, align);
    const line = this.line;
    if (align > line) return this.innerAllocate(this.inner, size, align);
    if (size + line * this.assoc > MAX_SIZE) return NULL; // the inflated request is larger than any allocator serves
    const block = this.innerAllocate(this.inner, size + line * this.assoc, line);
    if (block === NULL) return NULL;
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x >>> 0;
    const disp = (x >>> 0) % this.assoc;
    const p = block + line + disp * line;
    const u32 = this.memory.u32;
    u32[(p - 8) >>> 2] = (disp | (halfSipHash13(this.k1, this.k0, p, disp) << 16)) >>> 0;
    u32[(p - 4) >>> 2] = halfSipHash13(this.k0, this.k1, p, disp);
    return p;
  }

  /** As {@link CacheJitter.allocate}, zeroed. */
  override allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /**
   * Checks the header's MAC, zeroes it, and frees the inner block.
   *
   * @throws `CorruptionError` (counted) for a header that fails its MAC on a live block; `InvalidPointerError`
   *   for a pointer that is not a live jittered block.
   */
  override deallocate(ptr: number, size: number, align = 8): void {
    if (!isValidLayout(size, align)) throw layoutError("CacheJitter.deallocate", size, align);
    const line = this.line;
    if (align > line) return this.innerDeallocate(this.inner, ptr, size, align);
    const disp = this.verified("deallocate", ptr, size);
    // Zero the header before the inner frees the block (a scrubbing wrapper inside must see the final bytes), and
    // put it back if the inner refuses, so a refused free changes nothing.
    const u32 = this.memory.u32;
    const h0 = u32[(ptr - 8) >>> 2]!;
    const h1 = u32[(ptr - 4) >>> 2]!;
    zeroBlock(this.memory, ptr - 8, 8);
    try {
      this.innerDeallocate(this.inner, ptr - line - disp * line, size + line * this.assoc, line);
    } catch (error) {
      u32[(ptr - 8) >>> 2] = h0;
      u32[(ptr - 4) >>> 2] = h1;
      throw error;
    }
  }

  /** Moves the block (checking the old header). */
  override grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("CacheJitter.grow", oldSize, newSize, align, true);
    if (align <= this.line) this.verified("grow", ptr, oldSize);
    return moveBlock(this, ptr, oldSize, newSize, align);
  }

  /** Moves the block (checking the old header). */
  override shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("CacheJitter.shrink", oldSize, newSize, align, false);
    if (align <= this.line) this.verified("shrink", ptr, oldSize);
    return moveBlock(this, ptr, oldSize, newSize, align);
  }

  /** Exactly `size` (the rest of the inner block belongs to the prefix). A query: a bad header counts nothing. */
  override usableSize(ptr: number, size: number): number {
    this.verified("usableSize", ptr, size, false);
    return size;
  }

  /** Headers that failed their MAC, plus the inner's (I10). */
  override corruptionEvents(): number {
    return this.corruptions + this.inner.corruptionEvents();
  }

  /** Redacted for `JSON.stringify`. */
  toJSON(): { wrapper: string; line: number; assoc: number; key: string } {
    return { wrapper: "CacheJitter", line: this.line, assoc: this.assoc, key: "[redacted]" };
  }

  /** Redacted for Node's `util.inspect`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `CacheJitter { line: ${this.line}, assoc: ${this.assoc}, key: [redacted] }`;
  }

  /** The displacement of a live jittered block, after its MAC checks out. */
  private verified(what: string, ptr: number, size: number, count = true): number {
    const line = this.line;
    if ((ptr | 0) === ptr && ptr >= 8 && (ptr & (line - 1)) === 0 && ptr <= this.memory.byteLength) {
      const u32 = this.memory.u32;
      const w0 = u32[(ptr - 8) >>> 2]!;
      const disp = w0 & 0xffff;
      if (
        disp < this.assoc &&
        w0 >>> 16 === (halfSipHash13(this.k1, this.k0, ptr, disp) & 0xffff) &&
        u32[(ptr - 4) >>> 2] === halfSipHash13(this.k0, this.k1, ptr, disp)
      ) {
        return disp;
      }
    }
    // Not a valid header: a bad pointer, unless the inner holds a live block that this could be.
    for (let disp = 0; (ptr | 0) === ptr && disp < this.assoc; disp++) {
      const block = ptr - line - disp * line;
      try {
        this.inner.usableSize(block, size + line * this.assoc);
      } catch {
        continue;
      }
      if (!count) break; // a query (usableSize) reports a bad header as a bad pointer and counts nothing
      this.corruptions++;
      return this.fail(
        new CorruptionError(
          `CacheJitter.${what}: the header of block ${describePointer(ptr)} failed its MAC: it was overwritten`,
        ),
      );
    }
    return this.fail(
      new InvalidPointerError(
        ptr,
        `CacheJitter.${what}: ${describePointer(ptr)} is not a live jittered block`,
      ),
    );
  }

  private fail(error: Error): never {
    throw error;
  }
}
