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
