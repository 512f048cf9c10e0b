/**
 * A small seeded PRNG (mulberry32) so that every conformance run is reproducible from its seed.
 *
 * @module
 */

/** A seeded 32-bit pseudo-random generator. Not cryptographic. */
export class SeededRandom {
  private state: number;

  /** @param seed - any 32-bit integer; the same seed gives the same sequence. */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next value in `[0, 2^32)`. */
  nextU32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in `[min, max]`. */
  int(min: number, max: number): number {
    return min + (this.nextU32() % (max - min + 1));
  }

  /** A power of two in `[1, max]` (max a power of two). */
  powerOfTwo(max: number): number {
    return 1 << this.int(0, 31 - Math.clz32(max));
  }
}
