// A FixedRange of the tests' own that commits exactly what it is asked for, for tests of how much a heap asks for.
import { Memory } from "../../src/index.js";

/**
 * A FixedRange over a resizable ArrayBuffer that commits exactly what it is asked for (the library's backings round
 * growth up, which would hide how much the heap asks for): `[base, base + size)`, the first `initial` bytes of the
 * buffer committed; every commit request is recorded in `commits`.
 */
export const exactRange = (base: number, size: number, initial: number) => {
  const buffer = new ArrayBuffer(initial, { maxByteLength: base + size });
  const commits: [number, number][] = [];
  return {
    memory: Memory.of(buffer),
    base: () => base,
    size: () => size,
    commit: (p: number, n: number): boolean => {
      commits.push([p, n]);
      if (p + n > base + size) return false;
      if (p + n > buffer.byteLength) buffer.resize(p + n);
      return true;
    },
    contains: (p: number) => p >= base && p < base + size,
    commits,
  };
};
