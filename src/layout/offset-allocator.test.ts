import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { InvalidPointerError, LayoutError } from "../core/index.js";
import { OFFSET_NONE, OffsetAllocator } from "./offset-allocator.js";

test("against a shadow model: in range, aligned, never overlapping; validate() after every step", () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("alloc" as const),
      size: fc.integer({ min: 1, max: 9000 }),
      alignLog: fc.nat(12),
    }),
    fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1 << 13 }), fc.array(op, { maxLength: 120 }), (units, ops) => {
      const size = units * 8;
      const a = new OffsetAllocator(size);
      const live = new Map<number, number>(); // offset -> requested size
      for (const o of ops) {
        if (o.kind === "alloc") {
          const align = 1 << o.alignLog;
          const p = a.allocate(o.size, align);
          if (p === OFFSET_NONE) {
            // An honest refusal: no free block can hold it at an aligned offset.
            const need = Math.ceil(o.size / 8) * 8;
            const fits = a
              .regions()
              .some(
                (r) => r.kind === "free" && Math.ceil(r.offset / align) * align + need <= r.offset + r.size,
              );
            assert.ok(!fits, `refused ${o.size} (align ${align}) though a free block holds it`);
          } else {
            assert.ok(p >= 0 && p + o.size <= size, `block [${p}, ${p + o.size}) outside [0, ${size})`);
            assert.equal(p % align, 0);
            for (const [q, n] of live)
              assert.ok(p + o.size <= q || q + n <= p, `overlap with [${q}, ${q + n})`);
            assert.ok(a.sizeOf(p) >= o.size);
            live.set(p, o.size);
          }
        } else if (live.size > 0) {
          const p = [...live.keys()][o.pick % live.size]!;
          a.free(p);
          live.delete(p);
          assert.throws(() => a.free(p), InvalidPointerError); // a double free is refused ...
        }
        a.validate(); // ... and changed nothing
        assert.equal(a.liveCount(), live.size);
      }
      for (const p of live.keys()) a.free(p);
      const s = a.stats();
      assert.deepEqual([s.freeBlocks, s.freeBytes, s.usedBlocks], [1, size, 0]); // everything coalesced
    }),
    { numRuns: 300 },
  );
});

test("bad input gets a typed error and changes nothing", () => {
  const a = new OffsetAllocator(1 << 16);
  const p = a.allocate(100);
  const before = JSON.stringify(a.regions());
  for (const size of [0, -8, 1.5, Number.NaN, 2 ** 60, "8" as unknown as number]) {
    assert.throws(() => a.allocate(size), LayoutError, String(size));
  }
  for (const align of [0, 3, 12, 2 ** 31, 0.5]) assert.throws(() => a.allocate(8, align), LayoutError);
  for (const bad of [p + 8, 12345, -1, Number.NaN]) assert.throws(() => a.free(bad), InvalidPointerError);
  assert.equal(JSON.stringify(a.regions()), before);
  assert.equal(a.allocate((1 << 16) + 8), OFFSET_NONE); // too big for the range: NONE, not an error
  for (const size of [0, 4, 12, 2 ** 54, Number.NaN])
    assert.throws(() => new OffsetAllocator(size), /not valid/);
});

test("it never touches the range: no memory at all, and ranges far beyond any ArrayBuffer work", () => {
  const file = new OffsetAllocator(2 ** 45); // 32 TiB, a sparse file, say
  assert.ok(!("memory" in file));
  const blocks = Array.from({ length: 40 }, () => file.allocate(2 ** 40, 4096));
  assert.equal(blocks.filter((b) => b === OFFSET_NONE).length, 40 - 32); // exactly 32 TiB fit
  assert.equal(blocks[31], 31 * 2 ** 40); // offsets past 2^32 are exact
  file.free(blocks[5]!);
  assert.equal(file.allocate(2 ** 40), 5 * 2 ** 40);
  file.validate();
  file.reset();
  assert.deepEqual(file.regions(), [{ offset: 0, size: 2 ** 45, kind: "free" }]);
});

test("alignment gives the front back as a free block, and freeing merges it again", () => {
  const a = new OffsetAllocator(1 << 20);
  const small = a.allocate(24);
  const big = a.allocate(1000, 4096);
  assert.equal(big, 4096);
  assert.deepEqual(
    a.regions().map((r) => [r.offset, r.size, r.kind]),
    [
      [0, 24, "used"],
      [24, 4096 - 24, "free"],
      [4096, 1000, "used"],
      [5096, (1 << 20) - 5096, "free"],
    ],
  );
  a.free(big);
  a.free(small);
  assert.equal(a.regions().length, 1);
});

test("exact integer math up to the documented limit (2^53 - 8): every edge size fits where it should", () => {
  const edges: number[] = [];
  for (let k = 30; k <= 52; k++) edges.push(2 ** k - 8, 2 ** k, 2 ** k + 8);
  edges.push(2 ** 53 - 16, 2 ** 53 - 8, Number.MAX_SAFE_INTEGER - 7);
  for (const size of edges) {
    const a = new OffsetAllocator(size);
    assert.equal(a.allocate(size), 0, `the whole range of ${size} bytes`);
    assert.equal(a.allocate(8), OFFSET_NONE);
    a.free(0);
    const half = Math.floor(size / 16) * 8;
    const p = a.allocate(half, 8);
    const q = a.allocate(size - half, 8);
    assert.deepEqual([p, q], [0, half], `two halves of ${size}`);
    a.validate();
    a.free(p);
    assert.equal(a.allocate(half - 8), 0, "a block just smaller than the free one fits");
    a.validate();
    a.free(0);
    a.free(q);
    assert.deepEqual(a.stats().freeBlocks, 1);
    // Blocks of every size around a power of two land in lists where they fit, and come back.
    const around = [size - 8, size, size + 8].filter((n) => n <= 2 ** 53 - 8);
    const got = around.map((n) => {
      const b = new OffsetAllocator(2 ** 53 - 8);
      b.allocate(8); // the rest is one free block at offset 8
      const x = b.allocate(n, 4096);
      b.validate();
      return x;
    });
    const fits = (n: number): number => (4096 + n <= 2 ** 53 - 8 ? 4096 : OFFSET_NONE);
    assert.deepEqual(got, around.map(fits), `${size}`);
  }
});

test("the largest range: aligned requests near 2^53 are served or refused honestly, never undefined", () => {
  const a = new OffsetAllocator(2 ** 53 - 8);
  const p = a.allocate(2 ** 52, 2 ** 30);
  assert.equal(p, 0);
  const q = a.allocate(2 ** 52 - 2 ** 30, 2 ** 30);
  assert.equal(q, 2 ** 52);
  const r = a.allocate(2 ** 30 - 8, 8);
  assert.equal(r, 2 ** 53 - 2 ** 30);
  assert.equal(a.allocate(8), OFFSET_NONE, "the range is exactly full");
  a.validate();
  a.free(q);
  assert.equal(a.allocate(2 ** 52 - 2 ** 30 + 8), OFFSET_NONE, "8 bytes more than the hole");
  assert.equal(a.allocate(2 ** 52 - 2 ** 30), 2 ** 52);
  a.validate();
});
