/**
 * Keyed MACs for allocator metadata (free-list links, block headers), and the random bytes behind every secret.
 *
 * {@link halfSipHash13} is HalfSipHash-1-3: SipHash's 32-bit variant (64-bit key, 32-bit output), chosen over the
 * Rust crate's SipHash-1-3 because JavaScript has fast 32-bit integer arithmetic and no 64-bit one; a forged
 * 32-bit tag succeeds with odds 2^-32 per try, as with the Rust crate's truncated tag.
 *
 * @module
 */
import { AllocError } from "./errors.js";

/** `n` bytes from the platform's CSPRNG (`crypto.getRandomValues`, in Node 20 and every browser). @internal */
export function randomBytes(n: number): Uint8Array {
  const c = (globalThis as { crypto?: { getRandomValues<T extends ArrayBufferView>(a: T): T } }).crypto;
  if (c === undefined)
    throw new AllocError("forge-alloc: this runtime has no crypto.getRandomValues for secrets");
  return c.getRandomValues(new Uint8Array(n));
}

/** A random non-zero 32-bit integer. @internal */
export function randomWord(): number {
  const b = randomBytes(4);
  const w = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  return w === 0 ? 0x9e3779b9 : w;
}

const rotl = (x: number, b: number): number => (x << b) | (x >>> (32 - b));

/**
 * HalfSipHash-c-d of the two 32-bit little-endian words `(m0, m1)` (an 8-byte message) under the key `(k0, k1)`,
 * with `c` compression and `d` finalisation rounds. Returns an unsigned 32-bit tag. Integer arithmetic only.
 *
 * @internal
 */
export function halfSipHash(c: number, d: number, k0: number, k1: number, m0: number, m1: number): number {
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = (0x6c796765 ^ k0) | 0;
  let v3 = (0x74656462 ^ k1) | 0;
  const b = 8 << 24; // the final block: the message length in the top byte, no tail bytes
  for (let w = 0; w < 3; w++) {
    const m = w === 0 ? m0 : w === 1 ? m1 : b;
    v3 ^= m;
    for (let i = 0; i < c; i++) {
      v0 = (v0 + v1) | 0;
      v1 = rotl(v1, 5);
      v1 ^= v0;
      v0 = rotl(v0, 16);
      v2 = (v2 + v3) | 0;
      v3 = rotl(v3, 8);
      v3 ^= v2;
      v0 = (v0 + v3) | 0;
      v3 = rotl(v3, 7);
      v3 ^= v0;
      v2 = (v2 + v1) | 0;
      v1 = rotl(v1, 13);
      v1 ^= v2;
      v2 = rotl(v2, 16);
    }
    v0 ^= m;
  }
  v2 ^= 0xff;
  for (let i = 0; i < d; i++) {
    v0 = (v0 + v1) | 0;
    v1 = rotl(v1, 5);
    v1 ^= v0;
    v0 = rotl(v0, 16);
    v2 = (v2 + v3) | 0;
    v3 = rotl(v3, 8);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = rotl(v3, 7);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = rotl(v1, 13);
    v1 ^= v2;
    v2 = rotl(v2, 16);
  }
  return (v1 ^ v3) >>> 0;
}

/**
 * HalfSipHash-1-3 of `(m0, m1)` under `(k0, k1)`: the MAC of free-list links and block headers. Straight-line code
 * (the general {@link halfSipHash} with its loops unrolled), equal to `halfSipHash(1, 3, ...)`, which a test checks.
 *
 * @internal
 */
export function halfSipHash13(k0: number, k1: number, m0: number, m1: number): number {
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = (0x6c796765 ^ k0) | 0;
  let v3 = (0x74656462 ^ k1) | 0;
  v3 ^= m0;
  v0 = (v0 + v1) | 0;
  v1 = (v1 << 5) | (v1 >>> 27);
  v1 ^= v0;
  v0 = (v0 << 16) | (v0 >>> 16);
  v2 = (v2 + v3) | 0;
  v3 = (v3 << 8) | (v3 >>> 24);
  v3 ^= v2;
  v0 = (v0 + v3) | 0;
  v3 = (v3 << 7) | (v3 >>> 25);
  v3 ^= v0;
  v2 = (v2 + v1) | 0;
  v1 = (v1 << 13) | (v1 >>> 19);
  v1 ^= v2;
  v2 = (v2 << 16) | (v2 >>> 16);
  v0 ^= m0;
  v3 ^= m1;
  v0 = (v0 + v1) | 0;
  v1 = (v1 << 5) | (v1 >>> 27);
  v1 ^= v0;
  v0 = (v0 << 16) | (v0 >>> 16);
  v2 = (v2 + v3) | 0;
  v3 = (v3 << 8) | (v3 >>> 24);
  v3 ^= v2;
  v0 = (v0 + v3) | 0;
  v3 = (v3 << 7) | (v3 >>> 25);
  v3 ^= v0;
  v2 = (v2 + v1) | 0;
  v1 = (v1 << 13) | (v1 >>> 19);
  v1 ^= v2;
  v2 = (v2 << 16) | (v2 >>> 16);
  v0 ^= m1;
  v3 ^= 0x08000000;
  v0 = (v0 + v1) | 0;
  v1 = (v1 << 5) | (v1 >>> 27);
  v1 ^= v0;
  v0 = (v0 << 16) | (v0 >>> 16);
  v2 = (v2 + v3) | 0;
  v3 = (v3 << 8) | (v3 >>> 24);
  v3 ^= v2;
  v0 = (v0 + v3) | 0;
  v3 = (v3 << 7) | (v3 >>> 25);
  v3 ^= v0;
  v2 = (v2 + v1) | 0;
  v1 = (v1 << 13) | (v1 >>> 19);
  v1 ^= v2;
  v2 = (v2 << 16) | (v2 >>> 16);
  v0 ^= 0x08000000;
  v2 ^= 0xff;
  for (let i = 0; i < 3; i++) {
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
  }
  return (v1 ^ v3) >>> 0;
}

/**
 * Integrity of a free list's links: `sign` tags a link when it is stored, `verify` checks the tag before the link
 * is followed. The Rust `FreelistProtection`. The second word is the context the caller binds to the link, and it
 * must be something an attacker who can write the list cannot make repeat: `Slab` binds a sequence number, fresh
 * for every tag, that it keeps out of the list's memory, so an entry that is moved, or saved and written back after
 * its block was reissued (a replay), fails. Binding only a position would let a replayed entry pass. (`Slab` signs
 * an entry when a later free buries it; until then the top entry is checked against a JS-heap copy.)
 */
export interface FreelistProtection {
  /** A 32-bit tag for the link `next` in context `slot` (a sequence number, or a slot index). */
  sign(next: number, slot: number): number;
  /** True when `tag` is the tag of `(next, slot)`. */
  verify(next: number, slot: number, tag: number): boolean;
}

/**
 * A keyed MAC for free-list links (the Rust `SipHashMAC`, here HalfSipHash-1-3 with a random 64-bit key). The key
 * is never shown by `util.inspect` or `JSON.stringify`; `dispose()` zeroes it (best effort: the engine may have
 * copied it).
 */
export class HalfSipHashMac implements FreelistProtection, Disposable {
  private k0: number;
  private k1: number;

  /** @param key - 8 bytes (for reproducible tests); a random key by default. */
  constructor(key?: Uint8Array) {
    const k = key ?? randomBytes(8);
    if (!(k instanceof Uint8Array) || k.length !== 8)
      throw new AllocError("HalfSipHashMac: the key must be 8 bytes");
    this.k0 = k[0]! | (k[1]! << 8) | (k[2]! << 16) | (k[3]! << 24) | 0;
    this.k1 = k[4]! | (k[5]! << 8) | (k[6]! << 16) | (k[7]! << 24) | 0;
  }

  /** The tag of `(next, slot)`. */
  sign(next: number, slot: number): number {
    return halfSipHash13(this.k0, this.k1, next, slot);
  }

  /** Compares the tag of `(next, slot)` with `tag`. */
  verify(next: number, slot: number, tag: number): boolean {
    return halfSipHash13(this.k0, this.k1, next, slot) === tag >>> 0;
  }

  /** Zeroes the key; the MAC is unusable afterwards (every `verify` of an old tag fails). */
  dispose(): void {
    this.k0 = 0;
    this.k1 = 0;
  }

  /** `using` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Redacted for `JSON.stringify`. */
  toJSON(): { mac: string; key: string } {
    return { mac: "HalfSipHash-1-3", key: "[redacted]" };
  }

  /** Redacted for Node's `util.inspect`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "HalfSipHashMac { key: [redacted] }";
  }
}
