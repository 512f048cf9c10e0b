/**
 * The layout check of the checked boundary, in the form V8 compiles best.
 *
 * Same contract as `isValidLayout` in validate.ts (an integer size in `1 .. MAX_SIZE`, a power-of-two alignment in
 * `1 .. MAX_ALIGN`, and `false`, never a `TypeError`, for a BigInt, a Symbol or any other value), with one
 * difference that matters on a hot path: its masks are module-local constants. V8 folds a module-local `const`
 * into the optimised code, but reads an exported binding through the module's cell (with a hole check) on every
 * call: measured, a slab round trip costs 3.4 ns with local masks and 5.0 ns with the exported `SIZE_MASK` and
 * `ALIGN_MASK` (Node 20, same process). The masks equal `MAX_SIZE - 1` and `MAX_ALIGN - 1`; `test/refused-calls`
 * checks that the two functions agree.
 *
 * @internal Meant to become validate.ts's `isValidLayout` itself, so that the check exists once.
 * @module
 */

/** `MAX_SIZE - 1` (2^30 - 1): `((size - 1) & SIZE_BITS) + 1 === size` iff `size` is an integer in `1 .. MAX_SIZE`. */
const SIZE_BITS = 0x3fffffff;
/** `MAX_ALIGN - 1` (2^21 - 1). */
const ALIGN_BITS = 0x1fffff;

/** True when `size` is an integer in `[1, MAX_SIZE]` and `align` a power of two in `[1, MAX_ALIGN]`. @internal */
export function validLayout(size: unknown, align: unknown): boolean {
  if (typeof size !== "number" || typeof align !== "number") return false; // a BigInt would throw below
  const m = align - 1;
  return ((size - 1) & SIZE_BITS) + 1 === size && (m & ALIGN_BITS) + 1 === align && (align & m) === 0;
}
