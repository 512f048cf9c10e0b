/**
 * Hints to the JavaScript engine, measured on Node 20 (V8 11.3). Internal to the layers; not part of the contract.
 *
 * @module
 */

/**
 * Assign this to a hot, mutable numeric field in the constructor before its real value, so V8 gives the field the
 * tagged representation instead of the Smi one. On Node 20 a cursor or counter stored on every call runs about
 * 1.8x faster as a tagged field (measured: a bump loop at 1.7 ns/op instead of 3.1). It is a representation hint
 * only: the field always holds a number once the constructor returns.
 *
 * @internal
 */
export const TAGGED_FIELD: number = undefined as unknown as number;

/**
 * Assign this to a numeric counter field in the constructor before its real value, so V8 gives the field the double
 * representation from the start: an update is then a load, a floating-point add and a store into the field's own
 * number box, with no tag check, no overflow check, and no new heap number when the count passes 2^31 (a Smi or
 * tagged field boxes a fresh number on every store from then on). Measured on Node 20 in `Statistics`: 30
 * instructions per allocate and free pair over the bare inner, against 46 with the same counters in typed arrays.
 *
 * @internal
 */
export const DOUBLE_FIELD: number = -0;
