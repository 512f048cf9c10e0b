// The MAC module's edges: `randomWord` never returns 0 (its callers use 0 as "no value"), a runtime without
// `crypto.getRandomValues` gets an AllocError that says so, and `using` disposes the key. Written to kill the mutants
// no other test reached (docs/TESTING.md, `npm run mutate -- mac`). The runtime's crypto is replaced only inside a
// test and restored in `finally`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AllocError } from "./errors.js";
import { HalfSipHashMac, randomBytes, randomWord } from "./mac.js";

/** Runs `body` with `globalThis.crypto` replaced by `replacement` (or removed when `undefined`). */
function withCrypto(replacement: unknown, body: () => void): void {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  Object.defineProperty(globalThis, "crypto", { value: replacement, configurable: true, writable: true });
  try {
    body();
  } finally {
    if (saved === undefined) delete (globalThis as { crypto?: unknown }).crypto;
    else Object.defineProperty(globalThis, "crypto", saved);
  }
}

/** A crypto whose random bytes are the given ones, repeated. */
const fixedCrypto = (bytes: number[]) => ({
  getRandomValues<T extends ArrayBufferView>(a: T): T {
    const u8 = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < u8.length; i++) u8[i] = bytes[i % bytes.length]!;
    return a;
  },
});

test("randomWord: four random bytes as an unsigned word, and never 0", () => {
  withCrypto(fixedCrypto([0x01, 0x02, 0x03, 0x84]), () => assert.equal(randomWord(), 0x84030201));
  withCrypto(fixedCrypto([0, 0, 0, 0]), () => assert.notEqual(randomWord(), 0));
  withCrypto(fixedCrypto([0, 0, 0, 0]), () => assert.equal(randomWord(), 0x9e3779b9));
});

test("without crypto.getRandomValues, secrets are refused with an AllocError that says why", () => {
  withCrypto(undefined, () => {
    for (const make of [() => randomBytes(8), () => randomWord(), () => new HalfSipHashMac()]) {
      assert.throws(
        make,
        (e: unknown) => e instanceof AllocError && /no crypto\.getRandomValues/.test(e.message),
      );
    }
  });
  assert.equal(randomBytes(8).length, 8, "crypto is back");
});

test("HalfSipHashMac: `using` zeroes the key at the end of the block (old tags no longer verify)", () => {
  const key = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  let escaped: HalfSipHashMac;
  let tag: number;
  {
    using mac = new HalfSipHashMac(key);
    escaped = mac;
    tag = mac.sign(64, 1);
    assert.ok(mac.verify(64, 1, tag));
  }
  assert.ok(!escaped.verify(64, 1, tag), "the key was zeroed");
  assert.equal(escaped.sign(64, 1), new HalfSipHashMac(new Uint8Array(8)).sign(64, 1));
});
