import assert from "node:assert/strict";
import { inspect } from "node:util";
import { test } from "node:test";
import { HalfSipHashMac, halfSipHash, halfSipHash13, randomBytes } from "./index.js";

test("HalfSipHash matches the reference vector (2-4, 32-bit, key 00..07, message 00..07)", () => {
  assert.equal(halfSipHash(2, 4, 0x03020100, 0x07060504, 0x03020100, 0x07060504), 0x8f84b8d0);
});

test("the straight-line HalfSipHash-1-3 equals the general one with 1 and 3 rounds", () => {
  for (const [k0, k1, m0, m1] of [
    [0, 0, 0, 0],
    [1, 2, 3, 4],
    [-1, 0x7fffffff, 0x80000000, 12345],
    [0x03020100, 0x07060504, 16, 7],
  ]) {
    assert.equal(halfSipHash13(k0!, k1!, m0!, m1!), halfSipHash(1, 3, k0!, k1!, m0!, m1!));
  }
});

test("HalfSipHash-1-3 depends on every key and message bit", () => {
  const base = halfSipHash13(1, 2, 3, 4);
  for (let bit = 0; bit < 32; bit++) {
    assert.notEqual(halfSipHash13(1 ^ (1 << bit), 2, 3, 4), base);
    assert.notEqual(halfSipHash13(1, 2, 3, 4 ^ (1 << bit)), base);
  }
});

test("the MAC verifies its own tags, rejects others, and never shows its key", () => {
  const mac = new HalfSipHashMac(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  const tag = mac.sign(100, 7);
  assert.equal(mac.verify(100, 7, tag), true);
  assert.equal(mac.verify(101, 7, tag), false);
  assert.equal(mac.verify(100, 8, tag), false);
  assert.equal(JSON.stringify(mac), '{"mac":"HalfSipHash-1-3","key":"[redacted]"}');
  assert.equal(inspect(mac), "HalfSipHashMac { key: [redacted] }");
  mac.dispose();
  assert.equal(mac.verify(100, 7, tag), false, "a zeroed key no longer verifies old tags");
  assert.throws(() => new HalfSipHashMac(new Uint8Array(4)), /8 bytes/);
  assert.equal(randomBytes(16).length, 16);
});
