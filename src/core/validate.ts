/**
 * Validation of sizes, alignments, pointers and options at public entry points (contract I9): the one place these
 * checks are written. Layers call these functions instead of repeating the arithmetic.
 *
 * The checks follow the measured fast forms (shared/reference/v8-hot-paths.md §2): after a `typeof` test (which
 * keeps a BigInt, a Symbol or an object from reaching the arithmetic, where it would throw a raw `TypeError` or run
 * a user's `valueOf`), one compare against the original argument accepts exactly the integers `1 .. MAX_SIZE` and
 * rejects 0, negatives, fractions, NaN, Infinity, `undefined` and numeric strings such as `"8"`. The masks are
 * written as literals (V8 does not constant-fold an imported binding); a test checks them against
 * {@link MAX_SIZE} and {@link MAX_ALIGN}. The functions are small enough for TurboFan to inline: in an isolated
 * bump-allocator microbenchmark they cost the same as the arithmetic written out inline (within 1-2%, the noise);
 * `ArrayBufferBacked.allocate` before and after showed no consistent difference on a loaded machine. The throwing
 * half ({@link layoutError}) lives out of line, so the hot path stays a few instructions and the error still names
 * the bad value: check the common case cheaply, classify on the slow path.
 *
 * ```text
 * allocate(size: number, align = 8): number {
 *   if (!isValidLayout(size, align)) throw layoutError("Slab.allocate", size, align); // every JS value: LayoutError
 *   const m = align - 1; // safe: align is a number now
 *   ...
 * }
 * ```
 *
 * @internal Everything here serves forge-alloc's own layers; it is not exported from the package entries.
 * @module
 */
import { MAX_ALIGN, MAX_MEMORY_BYTES, MAX_SIZE } from "./constants.js";
import { AllocError, LayoutError, describePointer, describeValue } from "./errors.js";

/** Mask used by the one-compare size check: `(((size - 1) & SIZE_MASK) + 1) === size` iff `size` is in `1 .. MAX_SIZE`. @internal */
export const SIZE_MASK: number = MAX_SIZE - 1;
/** Mask used by the one-compare alignment check: `((m & ALIGN_MASK) + 1) === align && (align & m) === 0`, `m = align - 1`. @internal */
export const ALIGN_MASK: number = MAX_ALIGN - 1;

/**
 * True when `size` is an integer in `[1, MAX_SIZE]`: a number, not a string, a BigInt or an object. Never throws,
 * whatever the value. Inlined by TurboFan; the mask is `SIZE_MASK` as a literal.
 *
 * @internal
 */
export function isValidSize(size: unknown): size is number {
  return typeof size === "number" && ((size - 1) & 0x3fffffff) + 1 === size;
}

/**
 * True when `align` is a power of two in `[1, MAX_ALIGN]`: a number, not a string, a BigInt or an object. Never
 * throws, whatever the value.
 *
 * @internal
 */
export function isValidAlign(align: unknown): align is number {
  return typeof align === "number" && ((align - 1) & 0x1fffff) + 1 === align && (align & (align - 1)) === 0;
}

/**
 * True when both {@link isValidSize} and {@link isValidAlign} hold: the one layout check of every `allocate`.
 * Never throws, whatever the values (the `typeof` tests come first); as fast as the arithmetic written inline.
 *
 * @internal
 */
export function isValidLayout(size: unknown, align: unknown): boolean {
  return (
    typeof size === "number" &&
    typeof align === "number" &&
    ((size - 1) & 0x3fffffff) + 1 === size &&
    ((align - 1) & 0x1fffff) + 1 === align &&
    (align & (align - 1)) === 0
  );
}

/**
 * True when `value` is an integer number in the int32 range, the form of every offset forge-alloc hands out
 * (`(value | 0) === value`, after a `typeof` test so that a BigInt or a Symbol gives `false` instead of a
 * `TypeError`). The caller still checks the range, alignment and liveness.
 *
 * @internal
 */
export function isInt32(value: unknown): value is number {
  return typeof value === "number" && (value | 0) === value;
}

function describe(value: unknown): string {
  return typeof value === "number" ? String(value) : describeValue(value);
}

/**
 * Builds the {@link LayoutError} for a bad `(size, align)` pair, naming the first bad value.
 *
 * @param where - the method, e.g. `"Slab.allocate"`.
 *
 * @internal
 */
export function layoutError(where: string, size: unknown, align: unknown): LayoutError {
  if (!isValidSize(size)) {
    return new LayoutError(
      `${where}: size ${describe(size)} is not valid; expected an integer number of bytes from 1 to ${MAX_SIZE}`,
    );
  }
  return new LayoutError(
    `${where}: alignment ${describe(align)} is not valid; expected a power of two from 1 to ${MAX_ALIGN}`,
  );
}

/** Throws {@link layoutError} for `(size, align)` when the pair is not valid; otherwise does nothing. @internal */
export function checkLayout(where: string, size: unknown, align: unknown): void {
  if (!isValidLayout(size, align)) throw layoutError(where, size, align);
}

/**
 * Checks a configuration integer (a capacity, a byte count) and returns it.
 *
 * @throws {@link AllocError} when `value` is not an integer in `[min, max]`, naming `what` and the bounds.
 *
 * @internal
 */
export function checkInteger(where: string, what: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new AllocError(
      `${where}: ${what} ${describe(value)} is not valid; expected an integer from ${min} to ${max}`,
    );
  }
  return value;
}

/**
 * Checks a power-of-two configuration value (an alignment, a line or page size, a ring capacity) and returns it.
 *
 * @throws {@link AllocError} when `value` is not a power of two in `[min, max]` (NaN, Infinity, a string, a BigInt,
 *   any object included), naming `what` and the bounds. `min` and `max` are powers of two up to 2^30.
 *
 * @internal
 */
export function checkPowerOfTwo(
  where: string,
  what: string,
  value: unknown,
  min: number,
  max: number,
): number {
  if (
    typeof value !== "number" ||
    !Number.isInteger(value) ||
    value < min ||
    value > max ||
    (value & (value - 1)) !== 0
  ) {
    throw new AllocError(
      `${where}: ${what} ${describe(value)} is not valid; expected a power of two from ${min} to ${max}`,
    );
  }
  return value;
}

/** Checks a memory size in bytes (see {@link MAX_MEMORY_BYTES}) and returns it. @internal */
export function checkMemoryBytes(where: string, what: string, value: unknown, min: number): number {
  return checkInteger(where, what, value, min, MAX_MEMORY_BYTES);
}

/** Rounds `value` up to a multiple of the power of two `align`. `value` must be a non-negative integer below 2^31. @internal */
export function alignUp(value: number, align: number): number {
  return value + (-value & (align - 1));
}

/** A human-readable pointer for messages; re-exported for layers above. */
export { describePointer };
