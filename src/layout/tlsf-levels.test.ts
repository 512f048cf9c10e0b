import assert from "node:assert/strict";
import { test } from "node:test";
import { log2Floor, tlsfBin, tlsfSearchBin } from "./tlsf-levels.js";

/** The mapping written with BigInt, as the reference: exact at every size. */
function referenceBin(size: number): number {
  if (size < 128) return size / 8;
  const n = BigInt(size);
  const f = n.toString(2).length - 1;
  return (f - 6) * 16 + Number(n >> BigInt(f - 4)) - 16;
}

/** The smallest size filed in list `bin`. */
function smallestOf(bin: number): number {
  if (bin < 16) return bin * 8;
  const fl = Math.floor(bin / 16);
  const f = fl + 6;
  return 2 ** f + (bin % 16) * 2 ** (f - 4);
}

const sizes: number[] = [];
for (let s = 8; s <= 4096; s += 8) sizes.push(s);
for (let k = 7; k <= 53; k++) {
  for (const d of [-16, -8, 0, 8, 16]) {
    const s = 2 ** k + d;
    if (s >= 8 && s <= 2 ** 53 - 8) sizes.push(s);
  }
  sizes.push(2 ** k + 3 * 2 ** (k - 4) - 8, 2 ** k + 3 * 2 ** (k - 4));
}

test("tlsfBin matches the exact reference at every small size and around every power of two up to 2^53", () => {
  for (const s of sizes) {
    assert.equal(tlsfBin(s), referenceBin(s), String(s));
    assert.equal(log2Floor(s), BigInt(s).toString(2).length - 1, String(s));
  }
});

test("tlsfSearchBin names the first list whose every block holds the size", () => {
  for (const s of sizes) {
    const k = tlsfSearchBin(s);
    assert.ok(smallestOf(k) >= s, `list ${k} starts at ${smallestOf(k)} < ${s}`);
    assert.ok(k === 0 || smallestOf(k - 1) < s, `list ${k - 1} would do for ${s}`);
    assert.ok(k - tlsfBin(s) <= 1);
  }
});
