/**
 * The two-level size mapping of a two-level segregated fit, shared by `Tlsf` and `OffsetAllocator` (one
 * implementation, so the two cannot drift apart).
 *
 * ```text
 *  size (a multiple of 8)      first level fl                 second level sl            list (bin) = fl * 16 + sl
 *  below 128                   0                              size / 8  (0 .. 15)        0 .. 15
 *  2^f .. 2^(f+1) - 1, f >= 7  f - 6  (1 .. 47 up to 2^53)    16 steps of 2^(f-4) each
 * ```
 * `tlsfBin` files a free block; `tlsfSearchBin` is the first list whose every block fits a request (the request
 * rounded up to the next step), so a search never walks a list. Exact integer math up to 2^53 (no `Math.log2`):
 * 32-bit operations below 2^31, a division by a power of two above.
 *
 * The numbers are written out in the functions on purpose: V8 folds literals, not constants read from another
 * module, and these run on the allocators' hot paths.
 *
 * @internal Not part of the public API.
 * @module
 */

/** Bits of the second level: 16 lists per first level. */
export const TLSF_SL_BITS = 4;
/** Sizes below 2^TLSF_SMALL_BITS (128) share first level 0, in steps of 8. */
export const TLSF_SMALL_BITS = 7;

/**
 * `floor(log2(size))` of a positive integer below 2^64, exactly: from its high 32 bits when it has any (dividing by
 * a power of two and flooring is exact for integers up to 2^53), never through `Math.log2`, whose rounding gives 53
 * for 2^53 - 8.
 */
export function log2Floor(size: number): number {
  return size < 2 ** 32 ? 31 - Math.clz32(size >>> 0) : 63 - Math.clz32(Math.floor(size / 2 ** 32));
}

/** {@link tlsfBin} for a size below 2^31: 32-bit operations only (`Tlsf`'s sizes). */
export function tlsfBin32(size: number): number {
  if (size < 128) return size >>> 3;
  const f = 31 - Math.clz32(size);
  return ((f - 6) << 4) + ((size >>> (f - 4)) ^ 16);
}

/** {@link tlsfSearchBin} for a size below 2^31: 32-bit operations only (`Tlsf`'s sizes). */
export function tlsfSearchBin32(size: number): number {
  if (size < 128) return size >>> 3;
  const f = 31 - Math.clz32(size);
  const bin = ((f - 6) << 4) + ((size >>> (f - 4)) ^ 16);
  return (size & ((1 << (f - 4)) - 1)) === 0 ? bin : bin + 1;
}

/** The list of a free block of `size` bytes (a multiple of 8, at least 8, below 2^53): `fl * 16 + sl`. */
export function tlsfBin(size: number): number {
  if (size < 0x80000000) return tlsfBin32(size);
  const f = log2Floor(size);
  return (f - 6) * 16 + (Math.floor(size / 2 ** (f - 4)) - 16);
}

/**
 * The first list whose blocks all hold `size` bytes (a multiple of 8, at least 8, below 2^53): `size`'s own list
 * when `size` is on a step boundary, else the next one (which may be the first list of the next first level).
 */
export function tlsfSearchBin(size: number): number {
  if (size < 0x80000000) return tlsfSearchBin32(size);
  const f = log2Floor(size);
  const step = 2 ** (f - 4);
  const bin = (f - 6) * 16 + (Math.floor(size / step) - 16);
  return size % step === 0 ? bin : bin + 1;
}
