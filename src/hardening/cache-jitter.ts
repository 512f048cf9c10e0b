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
  FAULT_CORRUPT,
  FAULT_LAYOUT,
  FAULT_NOT_LIVE,
  MAX_SIZE,
  NULL as IMPORTED_NULL,
  checkInteger,
  describePointer,
  faultError,
  halfSipHash13,
  isValidLayout,
  layoutError,
  moveRaw,
  noteFault,
  randomWord,
  zeroBlock,
} from "../core/index.js";
import { Wrapper } from "./wrapper.js";

// `NULL`, bound module-locally: V8 folds a local constant (an imported binding is a load and a check at every use).
const NULL = IMPORTED_NULL;

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

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
    if (!Number.isInteger(line) || !(line >= 8 && line <= 4096) || (line & (line - 1)) !== 0) {
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

  /** Checked once, then `CacheJitter.allocRaw`. @throws `LayoutError` for a bad layout. */
  override allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("CacheJitter.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /** The raw protocol: allocates `size + line * assoc` bytes and returns a block displaced by a random number of lines. @internal */
  override allocRaw(size: number, align: number): number {
    const line = this.line;
    if (align > line) return this.rawAlloc(this.raw, size, align);
    if (size + line * this.assoc > MAX_SIZE) return NULL; // the inflated request is larger than any allocator serves
    const block = this.rawAlloc(this.raw, size + line * this.assoc, line);
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

  /**
   * Checks the header's MAC, zeroes it, and frees the inner block.
   *
   * @throws `CorruptionError` (counted) for a header that fails its MAC on a live block; `InvalidPointerError`
   *   for a pointer that is not a live jittered block; `LayoutError` for a bad layout. Nothing changes then.
   */
  override deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError("CacheJitter.deallocate", size, align);
    const r = this.tryFree(ptr, size, align);
    if (r !== 0) throw faultError("CacheJitter.deallocate", r, ptr, size, align);
  }

  /** The raw protocol: checks the header, zeroes it and frees the inner block; a refusal restores it. @internal */
  override tryFree(ptr: unknown, size: number, align: number): number {
    const line = this.line;
    if (align > line) return this.unjittered(this.rawTryFree(this.raw, ptr, size, align), ptr);
    const disp = this.verified(ptr, size, true);
    if (disp < 0) return disp;
    const p = ptr as number;
    // Zero the header before the inner frees the block (a scrubbing wrapper inside must see the final bytes), and
    // put it back if the inner refuses, so a refused free changes nothing.
    const u32 = this.memory.u32;
    const h0 = u32[(p - 8) >>> 2]!;
    const h1 = u32[(p - 4) >>> 2]!;
    u32[(p - 8) >>> 2] = 0;
    u32[(p - 4) >>> 2] = 0;
    const r = this.rawTryFree(this.raw, p - line - disp * line, size + line * this.assoc, line);
    if (r !== 0) {
      u32[(p - 8) >>> 2] = h0;
      u32[(p - 4) >>> 2] = h1;
    }
    return r;
  }

  /** The raw protocol: `size` for a live jittered block whose header checks out, else a fault code. @internal */
  override checkFree(ptr: unknown, size: number, align: number, freeing: boolean): number {
    const line = this.line;
    if (align > line) return this.unjittered(this.rawCheckFree(this.raw, ptr, size, align, freeing), ptr);
    const disp = this.verified(ptr, size, freeing);
    if (disp < 0) return disp;
    const r = this.rawCheckFree(
      this.raw,
      (ptr as number) - line - disp * line,
      size + line * this.assoc,
      line,
      freeing,
    );
    return r < 0 ? r : size;
  }

  /** The raw protocol: zeroes the header of a checked block and frees it. @internal */
  override freeRaw(ptr: number, size: number, align: number): void {
    const line = this.line;
    if (align > line) return this.rawFreeRaw(this.raw, ptr, size, align);
    const disp = this.memory.u32[(ptr - 8) >>> 2]! & 0xffff;
    zeroBlock(this.memory, ptr - 8, 8);
    this.rawFreeRaw(this.raw, ptr - line - disp * line, size + line * this.assoc, line);
  }

  /** The raw protocol: the bytes after a live jittered block's start, or -1. @internal */
  override sizeOf(ptr: unknown): number {
    const disp = this.verified(ptr, 1, false);
    if (disp < 0) return -1;
    const line = this.line;
    const usable = this.raw.sizeOf((ptr as number) - line - disp * line);
    return usable < 0 ? -1 : usable - line - disp * line;
  }

  /** The raw protocol: moves the block. @internal */
  override resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    return moveRaw(this, this.memory.u8, ptr, oldSize, newSize, align);
  }

  /** A block above `line` alignment that the inner refuses: a live jittered block was freed with the wrong alignment. */
  private unjittered(code: number, ptr: unknown): number {
    if (code !== FAULT_NOT_LIVE || this.verified(ptr, 1, false) < 0) return code;
    return noteFault(FAULT_LAYOUT, `it was allocated with an alignment of at most ${this.line} (jittered)`);
  }

  /** Exactly `size` (the rest of the inner block belongs to the prefix). A query: a bad header counts nothing. */
  override usableSize(ptr: number, size: number): number {
    if (!validLayout(size, 1)) throw layoutError("CacheJitter.usableSize", size, 1);
    const disp = this.verified(ptr, size, false);
    if (disp < 0) throw faultError("CacheJitter.usableSize", disp, ptr, size, 1);
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

  /**
   * The displacement of a live jittered block, after its MAC checks out; else a fault code: `FAULT_CORRUPT`
   * (counted when `count`) for a bad header on a block the inner holds, `FAULT_NOT_LIVE` otherwise.
   */
  private verified(ptr: unknown, size: number, count: boolean): number {
    if (typeof ptr !== "number") return noteFault(FAULT_NOT_LIVE, "a pointer is a number");
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
    for (let disp = 0; count && (ptr | 0) === ptr && disp < this.assoc; disp++) {
      const block = ptr - line - disp * line;
      if (this.rawCheckFree(this.raw, block, size + line * this.assoc, line, false) < 0) continue;
      this.corruptions++;
      return noteFault(
        FAULT_CORRUPT,
        `the CacheJitter header of block ${describePointer(ptr)} failed its MAC: it was overwritten`,
      );
    }
    return noteFault(FAULT_NOT_LIVE, `it is not a live jittered block (size ${size})`);
  }
}
