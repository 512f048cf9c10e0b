// Tlsf, third round: the mutants that survived the Tlsf group with tlsf.mutation and tlsf.mutation2
// (docs/TESTING.md, `npm run mutate -- tlsf`). A new file, so that Stryker's incremental mode keeps the results the
// first two earned.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, ArrayBufferBacked, NULL, Statistics, WasmMemoryBacked } from "../index.js";
import { Tlsf } from "./tlsf.js";
import { isError } from "../../test/helpers/assertions.js";
import { exactRange } from "../../test/helpers/exact-range.js";

const GiB = 2 ** 30;

describe("Tlsf: the largest heaps and requests", () => {
  // A heap of 1.25 GiB: an ArrayBuffer that large costs address space only (Tlsf writes a few headers and keeps a
  // start bitmap of 20 MiB); its first free block, of 1.25 GiB, is in the last first level a block below 2^31 can
  // be in (fl 24).
  const big = (): Tlsf => new Tlsf(new ArrayBufferBacked(GiB + GiB / 4));

  test("a free block of more than 1 GiB is on a list: the largest request is served from it", () => {
    const t = big();
    const p = t.allocate(GiB);
    assert.notEqual(p, NULL);
    assert.equal(t.sizeOf(p), GiB);
    t.validate();
    t.free(p);
    assert.equal(t.stats().freeBlocks, 1, "one free block again");
    assert.equal(t.stats().largestFreeBlock, t.stats().heapBytes - 8, "the whole heap but its header");
    t.validate();
  });

  test("the largest request with the largest alignment is served when the heap has room for it", () => {
    // allocateAligned asks for the size, the alignment and a split's worth more: exactly 2^30 bytes for the first
    // size, which was served before too; 2^30 + 8 and 2^30 + 2^21 + 24 for the others, which a bound of 2^30 on
    // that sum had refused (the heap has room for them: a search rounds the request up to the next list, 2^30 +
    // 2^26 bytes here, and the free block holds 1.25 GiB)
    for (const size of [GiB - (1 << 21) - 24, GiB - (1 << 21) - 16, GiB]) {
      const t = big();
      const p = t.allocate(size, 1 << 21);
      assert.notEqual(p, NULL, `${size} bytes aligned to 2 MiB`);
      assert.equal(p % (1 << 21), 0);
      assert.equal(t.sizeOf(p), size);
      t.validate();
      t.free(p);
      t.validate();
    }
  });
});

describe("Tlsf: splits and growth that reuse records", () => {
  test("a split whose rest belongs to a smaller list files the rest there, whatever the records around it hold", () => {
    // [a 5,000][b 5,000][c 8,192][d 5,000][free]: c is freed (to its list: it is above the quick cache's sizes),
    // then a request takes c's front and leaves a rest of 24 to 136 bytes, whose list is not c's. Each rest is
    // then asked for: it must be found in its own list (and not cut from the large free block at the end).
    for (let rest = 24; rest <= 136; rest += 8) {
      const t = new Tlsf(new ArrayBufferBacked(1 << 16));
      t.allocate(5000);
      t.allocate(5000);
      const c = t.allocate(8192);
      t.allocate(5000);
      t.free(c);
      assert.equal(t.allocate(8192 - rest), c, `the front of c, leaving ${rest} bytes`);
      t.validate();
      assert.equal(t.allocate(rest - 8), c + 8192 - rest + 8, `the rest of ${rest} bytes, from its list`);
      t.validate();
    }
  });

  test("a record a merge set free serves the block a growth appends after a used last block", () => {
    // [a 5,000][b 4,864][c 200]: the whole heap (b's request is the first size of its list, so the search finds the
    // 5,072 bytes left after a; c takes what is left after b exactly). b is freed, then a, which takes b in: b's
    // record is spare and still names c as the block after it. A request of 20,000 bytes appends a free block
    // after c (used, the last) on that record, which must end the chain.
    const base = 16;
    const end = base + 8 + 5000 + 8 + 4864 + 8 + 200;
    const range = exactRange(base, (1 << 20) - base, end);
    const t = new Tlsf(range as never);
    const a = t.allocate(5000);
    const b = t.allocate(4864);
    const c = t.allocate(200);
    assert.equal(c, end - 200, "the heap is full");
    assert.equal(t.memory.byteLength, end, "nothing grew");
    t.free(b);
    t.free(a);
    const d = t.allocate(20_000);
    assert.equal(d, end + 8, "appended after c");
    t.validate();
    assert.deepEqual(
      t.regions().map((r) => r.kind),
      ["metadata", "free", "metadata", "used", "metadata", "used", "metadata", "free"],
    );
    t.free(d);
    t.validate();
  });
});

describe("Tlsf: the view of the memory", () => {
  test("after another user grew a WebAssembly memory, a block handed out before is still found by its header", () => {
    const t = new Tlsf(new WasmMemoryBacked({ initial: 1, maximum: 4 }));
    const p = t.allocate(5000);
    (t.memory.source as WebAssembly.Memory).grow(1); // detaches the buffer Tlsf's view was taken of
    assert.equal(t.sizeOf(p), 5000);
    t.free(p);
    assert.equal(t.corruptionEvents(), 0);
    t.validate();
  });

  test("a wrapper as the range is refused, naming Tlsf", () => {
    assert.throws(
      () => new Tlsf(new Statistics(new ArrayBufferBacked(1 << 16)) as never),
      isError(
        AllocError,
        /^Tlsf: Statistics as the range under Tlsf would do nothing: Tlsf carves the range/,
      ),
    );
  });
});
