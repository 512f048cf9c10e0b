import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ALIGN_MASK,
  LayoutError,
  SIZE_MASK,
  MAX_ALIGN,
  MAX_SIZE,
  alignUp,
  isValidAlign,
  isValidSize,
  layoutError,
  describePointer,
  describeValue,
} from "./index.js";

describe("layout validation", () => {
  test("accepts exactly the integers 1 .. MAX_SIZE as sizes", () => {
    for (const ok of [1, 2, 7, 4096, MAX_SIZE]) assert.equal(isValidSize(ok), true, String(ok));
    for (const bad of [0, -1, 1.5, NaN, Infinity, MAX_SIZE + 1, 2 ** 32 + 8, "8", null, undefined]) {
      assert.equal(isValidSize(bad as number), false, String(bad));
    }
  });

  test("accepts exactly the powers of two 1 .. MAX_ALIGN as alignments", () => {
    for (let a = 1; a <= MAX_ALIGN; a *= 2) assert.equal(isValidAlign(a), true, String(a));
    for (const bad of [0, 3, 6, 24, -8, 0.5, NaN, MAX_ALIGN * 2, "8", null])
      assert.equal(isValidAlign(bad as number), false, String(bad));
  });

  test("the error names the bad value and what was expected", () => {
    const e = layoutError("X.allocate", 0, 8);
    assert.ok(e instanceof LayoutError);
    assert.match(
      e.message,
      /X\.allocate: size 0 is not valid; expected an integer number of bytes from 1 to/,
    );
    assert.match(layoutError("X", 8, 3).message, /alignment 3 is not valid; expected a power of two/);
    assert.match(layoutError("X", "8", 8).message, /size string "8"/);
  });

  test("alignUp rounds to the next multiple", () => {
    assert.deepEqual([alignUp(0, 8), alignUp(1, 8), alignUp(8, 8), alignUp(17, 16)], [0, 8, 8, 32]);
  });
});

test("the literal masks on the hot paths equal the exported constants", () => {
  // bump-arena.ts, stack-alloc.ts, slab.ts and range-backing.ts inline these two numbers (see PERFORMANCE.md).
  assert.equal(SIZE_MASK, 0x3fffffff);
  assert.equal(ALIGN_MASK, 0x1fffff);
});

test("messages describe any JavaScript value without throwing (BigInt, Symbol, cycles, throwing getters, revoked proxies)", () => {
  const cyclic: { self?: unknown } = {};
  cyclic.self = cyclic;
  const getter = Object.defineProperty({}, "x", {
    enumerable: true,
    get() {
      throw new Error("no");
    },
  });
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  const values: unknown[] = [
    8n,
    Symbol("s"),
    cyclic,
    getter,
    proxy,
    Object.create(null),
    () => 1,
    undefined,
    null,
  ];
  for (const v of values) {
    const e = layoutError("X.allocate", v, 8);
    assert.ok(e instanceof LayoutError);
    assert.match(e.message, /^X\.allocate: size .+ is not valid; expected an integer number of bytes/);
    assert.ok(describePointer(v).length > 0);
  }
  assert.equal(describeValue(8n), "bigint 8n");
  assert.equal(describeValue("8"), 'string "8"');
});
