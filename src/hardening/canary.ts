/**
 * `Canary`: an 8-byte secret word right before and right after every block, checked when the block is freed. A
 * buffer overflow or underflow of even one byte changes a word, and the free throws `CorruptionError` (and counts
 * it in `corruptionEvents()`). The words are zeroed on free.
 *
 * ```text
 *  inner block:  | padding | canary (8) | user block (size) | canary (8) |
 *                                       ^ returned pointer, aligned to max(8, align)
 * ```
 *
 * The secret comes from `crypto.getRandomValues` (or a seed, for replayable tests) and never appears in an error
 * message, `util.inspect` or `JSON.stringify`. One detail of its 64 bits: bits 52..62 (a double's exponent field)
 * are never all zeros or all ones (such a secret has bit 62 flipped), so the words are normal doubles and the
 * common case (`align <= 8`, `size` a multiple of 8) writes and compares each as one 8-byte word. That costs the
 * secret 0.002 bits: an attacker guessing a canary still needs about 2^64 tries.
 *
 * Complexity: O(1) plus the inner's cost; two 8-byte writes per allocation, two compares per free.
 * Overhead per block: `max(8, align) + 8` bytes plus the inner's rounding. `usableSize` is exactly `size` (the
 * post canary sits right after the block).
 * Where it may stand: outside the layout it checks (`new Canary(new Slab(...))`); under a carving layout it would
 * be bypassed and is refused. Over a `Slab`, requests up to `blockSize - max(8, align) - 8` fit; a slab whose
 * blocks cannot hold even one canaried byte is refused at construction (the Rust `Canary<Slab<u64>>` always fails).
 * A corrupted block is not freed (it stays allocated in the inner), as the Rust crate's panic leaves it.
 *
 * @example
 * ```ts
 * const backing = new ArrayBufferBacked(1 << 16);
 * const guarded = new Canary(new Slab(backing, { blockSize: 64, capacity: 256 }));
 * const p = guarded.allocate(40);
 * guarded.memory.u8[p + 40] ^= 0xff; // one byte too far (flipped: it then differs from the canary)
 * try { guarded.deallocate(p, 40); } catch (e) { console.log(e instanceof CorruptionError); } // true
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  type DirectSite,
  type RawLayer,
  directInner,
  FAULT_ARGS,
  FAULT_CORRUPT,
  FAULT_LAYOUT,
  FAULT_NOT_LIVE,
  InvalidPointerError,
  MAX_ALIGN,
  NULL as IMPORTED_NULL,
  describePointer,
  faultError,
  isValidLayout,
  layoutError,
  moveRaw,
  noteFault,
  randomBytes,
  zeroBlock,
} from "../core/index.js";
import { Wrapper } from "./wrapper.js";

// `NULL`, bound module-locally: V8 folds a local constant (an imported binding is a load and a check at every use).
const NULL = IMPORTED_NULL;

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

/** Options of {@link Canary}. */
export interface CanaryOptions {
  /** 8 bytes of secret, for replayable tests; all zeros are replaced. @defaultValue 8 random bytes */
  seed?: Uint8Array;
}

/** The inner class `Canary`'s call sites reach directly (see `directInner` in core). */
const SITE: DirectSite = { inner: undefined };

const CANARY = 8;
/** `MAX_SIZE`, module-local (V8 folds a local constant, not an imported one): the largest inflated request. */
const LARGEST = 0x40000000;

/**
 * `w1` with the top bit of a double's exponent field flipped when that field is all zeros or all ones, so the word
 * `(w0, w1)` is a normal double for every `w0`: it is neither a NaN nor a zero, and two such words compare equal as
 * doubles exactly when their bits are equal. This folds 2 of the 2048 exponent values onto two others: the secret
 * keeps 63.998 of its 64 bits.
 */
function exponentFolded(w1: number): number {
  const exponent = (w1 >>> 20) & 0x7ff;
  return exponent === 0 || exponent === 0x7ff ? (w1 ^ 0x40000000) >>> 0 : w1;
}

/** The double whose little-endian bits are the words `(lo, hi)`. */
function wordAsDouble(lo: number, hi: number): number {
  const words = new Uint32Array([lo, hi]);
  return new Float64Array(words.buffer)[0]!;
}

/**
 * Guard words around every block (see the module documentation).
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class Canary<TInner extends Allocator> extends Wrapper<TInner> {
  private readonly w0: number;
  private readonly w1: number;
  /** The pre word of a block aligned to at most 8 (`w0 ^ 8`, `w1`), as the double with those bits. */
  private readonly preWord: number;
  /** The post word (`w0`, `w1`), as the double with those bits. */
  private readonly postWord: number;
  private corruptions: number;
  /** The inner, when its class is the one these call sites reach directly; else `null` (see `directInner`). */
  private readonly direct: RawLayer | null;

  /** @throws `AllocError` for a seed that is not 8 bytes, or an inner slab too small for a canaried byte. */
  constructor(inner: TInner, options: CanaryOptions = {}) {
    super("Canary", inner, true, true);
    const seed = options.seed ?? randomBytes(8);
    if (!(seed instanceof Uint8Array) || seed.length !== 8)
      throw new AllocError("Canary: the seed must be 8 bytes");
    const w0 = (seed[0]! | (seed[1]! << 8) | (seed[2]! << 16) | (seed[3]! << 24)) >>> 0;
    const w1 = (seed[4]! | (seed[5]! << 8) | (seed[6]! << 16) | (seed[7]! << 24)) >>> 0;
    this.w0 = w0 === 0 && w1 === 0 ? 0xdeadbeef : w0;
    this.w1 = w0 === 0 && w1 === 0 ? 0xcafebabe : exponentFolded(w1);
    this.preWord = wordAsDouble((this.w0 ^ CANARY) >>> 0, this.w1);
    this.postWord = wordAsDouble(this.w0, this.w1);
    this.corruptions = 0;
    this.direct = directInner(SITE, this.raw);
    if (this.direct === null) {
      // Another inner class: this instance takes the general path through methods of its own, so the class's
      // methods keep the direct path's type feedback (see `ownMethods`).
      this.ownMethods(Canary.prototype, {
        allocate: this.allocateGeneral,
        allocRaw: this.allocPadded,
        deallocate: this.deallocateGeneral,
        tryFree: this.tryFreePadded,
      });
    }
    const blockSize = (inner as { blockSize?: unknown }).blockSize;
    if (typeof blockSize === "number" && blockSize < 2 * CANARY + 1) {
      throw new AllocError(
        `Canary: the inner's ${blockSize}-byte blocks cannot hold one byte between two ${CANARY}-byte canaries, so ` +
          `every allocation would fail; give it blocks of at least ${2 * CANARY + 1} bytes (size + ${2 * CANARY})`,
      );
    }
  }

  /** Checked once, then `Canary.allocRaw`. @throws `LayoutError` for a bad layout. */
  override allocate(size: number, align = 8): number {
    // The shape of the fast path (alignment 8, a size that is a multiple of 8 below 2^30) is a valid layout by
    // itself; only other shapes take the full check. V8 then leaves that check out of line in a loop that allocates
    // the fast shape, which keeps this method, `allocRaw` and the slab's within what it inlines into one caller.
    if (
      (align !== 8 || typeof size !== "number" || (size & 0x3ffffff8) !== size || size === 0) &&
      !validLayout(size, align)
    )
      throw layoutError("Canary.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /**
   * `allocate` of an instance over an inner class other than the direct one (see the constructor): checked, then
   * the instance's `allocRaw` (its own `allocPadded`, or a subclass's override).
   */
  private allocateGeneral(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("Canary.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /**
   * The raw protocol: allocates `size + max(8, align) + 8` bytes from the inner and writes both canaries. `NULL`
   * when the inner refuses. In the common case (`align <= 8`, `size` a multiple of 8) each word is one 8-byte
   * store. @internal
   */
  override allocRaw(size: number, align: number): number {
    // Literals for CANARY (8), LARGEST - 2 * CANARY and NULL (0): each use of a module constant costs V8 a hole
    // check in the bytecode, and this path (with `allocate` and the slab's) is at the size V8 inlines into a caller.
    if (align > 8 || (size & 7) !== 0 || size > 0x3ffffff0) return this.allocPadded(size, align);
    const d = this.direct;
    if (d === null) return this.allocPadded(size, align); // a subclass's instance over another inner class
    const block = d.allocRaw(size + 16, 8);
    if (block === 0) return 0;
    const f64 = this.memory.f64;
    f64[block >>> 3] = this.preWord;
    f64[(block + 8 + size) >>> 3] = this.postWord;
    return block + 8;
  }

  /**
   * `allocRaw` for any layout and any inner: the pre word records the padding, the post word may be unaligned. For
   * `align <= 8` and a size that is a multiple of 8 it writes the same words as `allocRaw`'s direct path.
   */
  private allocPadded(size: number, align: number): number {
    const pre = align > CANARY ? align : CANARY;
    if (pre + size + CANARY > LARGEST) return NULL; // the inflated request is larger than any allocator serves
    const block = this.rawAlloc(this.raw, pre + size + CANARY, pre);
    if (block === NULL) return NULL;
    const p = block + pre;
    this.writeWords(p, size, pre);
    return p;
  }

  /** Writes both canaries (the pre word at an 8-aligned offset; the post word by words when aligned). */
  private writeWords(p: number, size: number, pre: number): void {
    const u32 = this.memory.u32;
    u32[(p - 8) >>> 2] = (this.w0 ^ pre) >>> 0; // the pre word also records the padding before it
    u32[(p - 4) >>> 2] = this.w1;
    const q = p + size;
    if ((q & 3) !== 0) return this.writePostUnaligned(q);
    u32[q >>> 2] = this.w0;
    u32[(q + 4) >>> 2] = this.w1;
  }

  /** The post word at an offset that is not a multiple of 4 (a size that is not). */
  private writePostUnaligned(q: number): void {
    const dv = this.memory.dataView;
    dv.setUint32(q, this.w0, true);
    dv.setUint32(q + 4, this.w1, true);
  }

  /**
   * Checks both canaries, zeroes them, and frees the inner block.
   *
   * @throws `CorruptionError` (counted) when a canary changed; `InvalidPointerError` when `ptr` is not a live block
   *   (a double free, a foreign pointer); `LayoutError` for a bad layout. Nothing changes then (but the count).
   */
  override deallocate(ptr: number, size: number, align = 8): void {
    // As in `allocate`, the fast path's shape passes without the full layout check; the check shares the refusal's
    // throw (-4 is FAULT_ARGS, a literal: an imported binding costs a hole check). Both keep this method, `tryFree`
    // and the slab's free within what V8 inlines into one caller.
    const r =
      (align === 8 && typeof size === "number" && (size & 0x3ffffff8) === size && size !== 0) ||
      validLayout(size, align)
        ? this.tryFree(ptr, size, align)
        : -4;
    if (r !== 0) throw faultError("Canary.deallocate", r, ptr, size, align);
  }

  /**
   * `deallocate` of an instance over an inner class other than the direct one (see the constructor): checked, then
   * the instance's `tryFree` (its own `tryFreePadded`, or a subclass's override).
   */
  private deallocateGeneral(ptr: number, size: number, align = 8): void {
    const r = validLayout(size, align) ? this.tryFree(ptr, size, align) : FAULT_ARGS;
    if (r !== 0) throw faultError("Canary.deallocate", r, ptr, size, align);
  }

  /**
   * The raw protocol: checks both canaries, zeroes them, and frees the inner block; a refusal (here or by the
   * inner) restores the words and returns its code. In the common case (as in `allocRaw`) the words are compared
   * and zeroed as 8-byte words; anything else (another layout, a changed word, a pointer that is not an 8-aligned
   * integer) takes `tryFreePadded`, which says why. A word outside the memory reads `undefined`, which no canary
   * equals. @internal
   */
  override tryFree(ptr: unknown, size: number, align: number): number {
    // Literals for CANARY (8), as in `allocRaw`.
    const d = this.direct;
    if (d !== null && typeof ptr === "number" && (ptr & -8) === ptr && align <= 8 && (size & 7) === 0) {
      const f64 = this.memory.f64;
      const pre = (ptr >>> 3) - 1;
      const post = (ptr + size) >>> 3;
      if (f64[pre] === this.preWord && f64[post] === this.postWord) {
        // Zero the words before the inner frees the block (a scrubbing wrapper inside must see the final bytes),
        // and restore them if the inner refuses the free, so a refused free changes nothing.
        f64[pre] = 0;
        f64[post] = 0;
        const r = d.tryFree(ptr - 8, size + 16, 8);
        return r === 0 ? 0 : this.refused(ptr, size, 8, r);
      }
    }
    return this.tryFreePadded(ptr, size, align);
  }

  /** `tryFree` for any layout and any inner, and for every refusal. */
  private tryFreePadded(ptr: unknown, size: number, align: number): number {
    const pre = align > CANARY ? align : CANARY;
    if (!this.intact(ptr, size, pre)) return this.failure(ptr, size, pre, true);
    const p = ptr as number;
    this.clearWords(p, size);
    const r = this.rawTryFree(this.raw, p - pre, pre + size + CANARY, pre);
    return r === 0 ? 0 : this.refused(p, size, pre, r);
  }

  /** The raw protocol: `size` when both canaries are intact on a block the inner holds, else a fault code. @internal */
  override checkFree(ptr: unknown, size: number, align: number, freeing: boolean): number {
    const pre = align > CANARY ? align : CANARY;
    if (!this.intact(ptr, size, pre)) return this.failure(ptr, size, pre, freeing);
    const r = this.rawCheckFree(this.raw, (ptr as number) - pre, pre + size + CANARY, pre, freeing);
    return r < 0 ? this.innerFault(r) : size;
  }

  /** The raw protocol: zeroes the canaries of a checked block and frees it. @internal */
  override freeRaw(ptr: number, size: number, align: number): void {
    const pre = align > CANARY ? align : CANARY;
    this.clearWords(ptr, size);
    this.rawFreeRaw(this.raw, ptr - pre, pre + size + CANARY, pre);
  }

  /** The raw protocol: the largest size whose post canary fits the inner block, or -1. @internal */
  override sizeOf(ptr: unknown): number {
    if (typeof ptr !== "number") return -1;
    const pre = this.preOf(ptr);
    const u32 = this.memory.u32;
    if (u32[(ptr - 8) >>> 2] !== (this.w0 ^ pre) >>> 0 || u32[(ptr - 4) >>> 2] !== this.w1) return -1;
    const usable = this.raw.sizeOf(ptr - pre);
    return usable < pre + CANARY + 1 ? -1 : usable - pre - CANARY;
  }

  /** The raw protocol: moves the block to a new canaried block (the post canary must sit right after the new end). @internal */
  override resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    return moveRaw(this, this.memory.u8, ptr, oldSize, newSize, align);
  }

  private clearWords(p: number, size: number): void {
    const u32 = this.memory.u32;
    u32[(p - 8) >>> 2] = 0;
    u32[(p - 4) >>> 2] = 0;
    const q = p + size;
    if ((q & 3) !== 0) return zeroBlock(this.memory, q, CANARY);
    u32[q >>> 2] = 0;
    u32[(q + 4) >>> 2] = 0;
  }

  /** The inner refused the free: put the words back, so nothing changed, and pass its code on. */
  private refused(p: number, size: number, pre: number, code: number): number {
    this.writeWords(p, size, pre);
    return this.innerFault(code);
  }

  /** A refusal of the inner block: a block the inner does not hold is not a live canaried block. */
  private innerFault(code: number): number {
    return code === FAULT_NOT_LIVE
      ? noteFault(code, "its canaries are intact but the inner allocator does not hold the block")
      : code;
  }

  /**
   * Exactly `size`: the post canary starts right after the block. A query, so it has no side effects: a block whose
   * canaries are not intact is reported as `InvalidPointerError` and not counted (free it to have it counted).
   */
  override usableSize(ptr: number, size: number): number {
    if (!validLayout(size, 1)) throw layoutError("Canary.usableSize", size, 1);
    const pre = typeof ptr === "number" ? this.preOf(ptr) : CANARY;
    if (
      !this.intact(ptr, size, pre) ||
      this.rawCheckFree(this.raw, ptr - pre, pre + size + CANARY, 1, false) < 0
    ) {
      throw new InvalidPointerError(
        ptr,
        `Canary.usableSize: ${describePointer(ptr)} (size ${size}) is not an intact live canaried block`,
      );
    }
    return size;
  }

  /** Corruptions this canary detected plus the inner's (I10). */
  override corruptionEvents(): number {
    return this.corruptions + this.inner.corruptionEvents();
  }

  /**
   * Checks the canaries of a live block without freeing it. A probe: a corruption it finds is reported, not counted
   * in `corruptionEvents()` (the free of the block counts it, as for `usableSize`).
   *
   * @throws `CorruptionError` or `InvalidPointerError`, as `deallocate`.
   */
  check(what: string, ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError(`Canary.${what}`, size, align);
    const r = this.checkFree(ptr, size, align, false);
    if (r < 0) throw faultError(`Canary.${what}`, r, ptr, size, align);
  }

  /**
   * The canary word (the Rust `canary_value()`): the 8 secret bytes as an unsigned 64-bit `BigInt`, little-endian,
   * for tests that need to forge or check a canary. It never appears in a message or in `JSON.stringify`.
   */
  canaryValue(): bigint {
    return (BigInt(this.w1) << 32n) | BigInt(this.w0);
  }

  /** Redacted for `JSON.stringify`: the secret is never serialised. */
  toJSON(): { wrapper: string; secret: string } {
    return { wrapper: "Canary", secret: "[redacted]" };
  }

  /** Redacted for Node's `util.inspect`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Canary { secret: [redacted], corruptionEvents: ${this.corruptions} }`;
  }

  /**
   * Both words of a block in place. A word past the end of the memory reads `undefined` from the view, which no
   * canary equals, so the range needs no check of its own.
   */
  private intact(ptr: unknown, size: number, pre: number): boolean {
    if (typeof ptr !== "number" || (ptr | 0) !== ptr || (ptr & 7) !== 0 || ptr < CANARY) return false;
    const u32 = this.memory.u32;
    if (u32[(ptr - 8) >>> 2] !== (this.w0 ^ pre) >>> 0 || u32[(ptr - 4) >>> 2] !== this.w1) return false;
    const q = ptr + size;
    if ((q & 3) !== 0) return this.postIntactUnaligned(q);
    return u32[q >>> 2] === this.w0 && u32[(q + 4) >>> 2] === this.w1;
  }

  private postIntactUnaligned(q: number): boolean {
    if (q + CANARY > this.memory.byteLength) return false;
    const dv = this.memory.dataView;
    return dv.getUint32(q, true) === this.w0 && dv.getUint32(q + 4, true) === this.w1;
  }

  /** The padding recorded in a block's pre word (8, or the alignment above 8), or 8 when it is not plausible. */
  private preOf(ptr: number): number {
    if ((ptr | 0) !== ptr || ptr < CANARY || ptr > this.memory.byteLength) return CANARY;
    const pre = (this.memory.dataView.getUint32(ptr - 8, true) ^ this.w0) >>> 0;
    return pre >= CANARY && pre <= MAX_ALIGN && (pre & (pre - 1)) === 0 ? pre : CANARY;
  }

  /**
   * A changed canary, as a fault code. Both words wrong: not a live canaried block (never issued, freed already: its
   * words were zeroed, or a wrong pointer). One word wrong on a block the inner holds: corruption (counted when
   * `count`: a free, not a probe).
   */
  private failure(ptr: unknown, size: number, pre: number, count: boolean): number {
    if (typeof ptr !== "number") return noteFault(FAULT_NOT_LIVE, "a pointer is a number");
    const dv = this.memory.dataView;
    const inRange = (ptr | 0) === ptr && ptr >= CANARY && ptr + size + CANARY <= this.memory.byteLength;
    const stored = this.preOf(ptr);
    const before =
      inRange &&
      (dv.getUint32(ptr - 8, true) !== (this.w0 ^ stored) >>> 0 || dv.getUint32(ptr - 4, true) !== this.w1);
    const after =
      inRange &&
      (dv.getUint32(ptr + size, true) !== this.w0 || dv.getUint32(ptr + size + 4, true) !== this.w1);
    if (inRange && !before && !after && stored !== pre) {
      return noteFault(
        FAULT_LAYOUT,
        `it was allocated with alignment ${stored === CANARY ? "<= 8" : stored}, not ${pre === CANARY ? "<= 8" : pre}`,
      );
    }
    // the block's start: by the padding stored before it when the word holding it is intact (a free may name a
    // smaller alignment than the allocation's), else by the caller's
    const live = inRange && !(before && after) && this.raw.sizeOf(ptr - (before ? pre : stored)) >= 0;
    if (!live) {
      return noteFault(
        FAULT_NOT_LIVE,
        `it is not a live canaried block of size ${size}: never issued, freed already, or freed with another size`,
      );
    }
    if (count) this.corruptions++;
    return noteFault(
      FAULT_CORRUPT,
      `the guard word ${before ? "before" : "after"} block ${describePointer(ptr)} (size ${size}) ` +
        `was overwritten: a buffer ${before ? "underflow" : "overflow"} (or a free with a size other than the ` +
        `allocation's). The block is not freed.`,
    );
  }
}
