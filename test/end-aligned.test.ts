// Issue 12: HardenedSlab and CryptoSlab place their last block's end against the guard page, so one byte written
// past it traps (SIGSEGV, in a child process), with no slack page in between.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { OS, runChild } from "./helpers/child.js";
import { needs } from "./helpers/host.js";

const overflowOffTheEnd = (make: string): string => `
  const os = await import(${JSON.stringify(OS)});
  const slab = ${make};
  let last = 0;
  for (;;) { const p = slab.allocate(20); if (p === 0) break; last = Math.max(last, p); }
  const u8 = slab.memory.u8;
  const usable = slab.usableSize(last, 20);
  u8.fill(1, last, last + usable); // the whole usable block is writable
  console.log("block ok", usable);
  u8[last + usable] = 1; // one byte past its end
  console.log("survived");`;

describe("end-aligned hardened slabs", needs("linux", "addon"), () => {
  for (const [name, make] of [
    ["HardenedSlab", "new os.HardenedSlab({ blockSize: 20, capacity: 10 })"],
    ["HardenedSlab with 64-byte alignment", "new os.HardenedSlab({ blockSize: 20, capacity: 7, align: 64 })"],
    ["CryptoSlab", "new os.CryptoSlab({ blockSize: 20, capacity: 10 })"],
  ] as const) {
    test(`${name}: one byte past the last block's usable end hits the guard page (SIGSEGV)`, () => {
      const r = runChild(overflowOffTheEnd(make));
      assert.match(r.stdout, /block ok/, r.stderr);
      assert.equal(r.signal, "SIGSEGV", `stdout: ${r.stdout} stderr: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /survived/);
    });
  }

  test("an overflow between neighbours stays inside the slab: the next block's bytes change, nothing traps", () => {
    const r = runChild(`
      const os = await import(${JSON.stringify(OS)});
      const slab = new os.HardenedSlab({ blockSize: 32, capacity: 4 });
      const a = slab.allocate(32), b = slab.allocate(32);
      const u8 = slab.memory.u8;
      u8.fill(7, b, b + 32);
      u8.fill(1, a, a + 40); // 8 bytes into the neighbour
      console.log(b - a, u8[b], u8[b + 8]);`);
    assert.equal(r.signal, null, r.stderr);
    assert.equal(
      r.stdout.trim(),
      "32 1 7",
      "neighbours touch (no guard between them): b's first 8 bytes changed",
    );
  });
});
