/**
 * Validation of sizes, alignments and pointers at public entry points (contract I9).
 *
 * The checks follow the measured fast forms (shared/reference/v8-hot-paths.md §2): one compare against the
 * original argument accepts exactly the integers `1 .. MAX_SIZE` and rejects 0, negatives, fractions, NaN,
 * `undefined` and numeric strings such as `"8"`. The throwing half lives out of line, so the hot path stays a
 * few instructions and the error still names the bad value.
 *
 * @module
 */
import { MAX_ALIGN, MAX_MEMORY_BYTES, MAX_SIZE } from "./constants.js";
import { AllocError, LayoutError, describePointer, describeValue } from "./errors.js";

/** Mask used by the one-compare size check: `(((size - 1) & SIZE_MASK) + 1) === size` iff `size` is in `1 .. MAX_SIZE`. */
export const SIZE_MASK: number = MAX_SIZE - 1;
/** Mask used by the one-compare alignment check: `((m & ALIGN_MASK) + 1) === align && (align & m) === 0`, `m = align - 1`. */
export const ALIGN_MASK: number = MAX_ALIGN - 1;

/** True when `size` is an integer in `[1, MAX_SIZE]` (a number, not a string). */
export function isValidSize(size: number): boolean {
  return typeof size === "number" && ((size - 1) & SIZE_MASK) + 1 === size;
}

/** True when `align` is a power of two in `[1, MAX_ALIGN]` (a number, not a string). */
export function isValidAlign(align: number): boolean {
  if (typeof align !== "number") return false; // a BigInt would throw a TypeError in the arithmetic below
  const m = align - 1;
  return (m & ALIGN_MASK) + 1 === align && (align & m) === 0;
}

/** True when both {@link isValidSize} and {@link isValidAlign} hold. */
export function isValidLayout(size: number, align: number): boolean {
  if (typeof size !== "number" || typeof align !== "number") return false;
  const m = align - 1;
  return ((size - 1) & SIZE_MASK) + 1 === size && (m & ALIGN_MASK) + 1 === align && (align & m) === 0;
}

function describe(value: unknown): string {
  return typeof value === "number" ? String(value) : describeValue(value);
}

/**
 * Builds the {@link LayoutError} for a bad `(size, align)` pair, naming the first bad value.
 *
 * @param where - the method, e.g. `"Slab.allocate"`.
 */
export function layoutError(where: string, size: unknown, align: unknown): LayoutError {
  if (!isValidSize(size as number)) {
    return new LayoutError(
      `${where}: size ${describe(size)} is not valid; expected an integer number of bytes from 1 to ${MAX_SIZE}`,
    );
  }
  return new LayoutError(
    `${where}: alignment ${describe(align)} is not valid; expected a power of two from 1 to ${MAX_ALIGN}`,
  );
}

/** Throws {@link layoutError} for `(size, align)` when the pair is not valid; otherwise does nothing. */
export function checkLayout(where: string, size: number, align: number): void {
  if (!isValidLayout(size, align)) throw layoutError(where, size, align);
}

/**
 * Checks a configuration integer (a capacity, a byte count) and returns it.
 *
 * @throws {@link AllocError} when `value` is not an integer in `[min, max]`, naming `what` and the bounds.
 */
export function checkInteger(where: string, what: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new AllocError(
      `${where}: ${what} ${describe(value)} is not valid; expected an integer from ${min} to ${max}`,
    );
  }
  return value;
}

/** Checks a memory size in bytes (see {@link MAX_MEMORY_BYTES}) and returns it. */
export function checkMemoryBytes(where: string, what: string, value: unknown, min: number): number {
  return checkInteger(where, what, value, min, MAX_MEMORY_BYTES);
}

/** Rounds `value` up to a multiple of the power of two `align`. `value` must be a non-negative integer below 2^31. */
export function alignUp(value: number, align: number): number {
  return value + (-value & (align - 1));
}

/** A human-readable pointer for messages; re-exported for layers above. */
export { describePointer };
