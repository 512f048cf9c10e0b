import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ArrayBufferBacked } from "../backing/index.js";
import {
  ALIGN_MASK,
  AllocError,
  InvalidPointerError,
  LayoutError,
  checkInteger,
  checkPowerOfTwo,
  isInt32,
  isValidLayout,
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

/** Every kind of JavaScript value that is not a valid size, alignment or pointer. */
function strangeValues(): unknown[] {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return [
    8n,
    -8n,
    Symbol("8"),
    "8",
    "",
    NaN,
    Infinity,
    -Infinity,
    -8,
    0.5,
    2 ** 31,
    2 ** 53,
    null,
    undefined,
    true,
    {},
    [8],
    { valueOf: () => 8 },
    {
      valueOf() {
        throw new Error("valueOf must not run");
      },
    },
    proxy,
    () => 8,
  ];
}

test("the shared checks answer false for every JavaScript value that is not valid, and never throw or run valueOf", () => {
  for (const v of strangeValues()) {
    assert.equal(isValidSize(v), false, describeValue(v));
    assert.equal(isValidAlign(v), false, describeValue(v));
    assert.equal(isValidLayout(v, 8), false, describeValue(v));
    assert.equal(isValidLayout(8, v), false, describeValue(v));
    if (typeof v !== "number" || !Number.isInteger(v) || v > 2 ** 31 - 1) assert.equal(isInt32(v), false);
    assert.throws(() => checkPowerOfTwo("X", "line", v, 8, 4096), AllocError);
    assert.throws(() => checkInteger("X", "capacity", v, 1, 100), AllocError);
  }
  assert.equal(isValidLayout(MAX_SIZE, MAX_ALIGN), true);
  assert.equal(isInt32(-16), true, "an int32 (the range check is the caller's)");
  assert.equal(checkPowerOfTwo("X", "line", 64, 8, 4096), 64);
  assert.match(
    (() => {
      try {
        checkPowerOfTwo("CacheJitter", "line", NaN, 8, 4096);
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    })(),
    /^CacheJitter: line NaN is not valid; expected a power of two from 8 to 4096$/,
  );
});

test("a backing (RangeBacking) refuses every JavaScript value with a typed error and changes nothing", () => {
  const backing = new ArrayBufferBacked(1 << 12);
  const p = backing.allocate(64);
  backing.memory.u8.fill(0xab, p, p + 64);
  const state = () => [
    backing.allocated(),
    backing.memory.byteLength,
    backing.memory.u8.slice(p, p + 64).join(),
  ];
  const before = state();
  for (const v of strangeValues()) {
    const n = v as number;
    const calls: [string, () => unknown, new (...a: never[]) => Error][] = [
      ["allocate(v)", () => backing.allocate(n), LayoutError],
      ["allocate(8, v)", () => backing.allocate(8, n), LayoutError],
      ["allocateZeroed(v)", () => backing.allocateZeroed(n), LayoutError],
      ["deallocate(v, 64)", () => backing.deallocate(n, 64), InvalidPointerError],
      ["deallocate(p, v)", () => backing.deallocate(p, n), LayoutError],
      ["usableSize(v, 64)", () => backing.usableSize(n, 64), InvalidPointerError],
      ["grow(p, 64, v)", () => backing.grow(p, 64, n), LayoutError],
      ["grow(v, 64, 128)", () => backing.grow(n, 64, 128), InvalidPointerError],
      ["shrink(p, v, 8)", () => backing.shrink(p, n, 8), LayoutError],
    ];
    for (const [what, call, type] of calls) {
      if (v === undefined && what === "allocate(8, v)") continue; // the default alignment
      assert.throws(call, type, `${what} with ${describeValue(v)}`);
    }
    assert.equal(backing.contains(n), false);
    assert.equal(backing.commit(n, 8), false);
  }
  assert.deepEqual(state(), before);
  const e = (() => {
    try {
      backing.allocate(8n as unknown as number);
    } catch (error) {
      return error as LayoutError;
    }
    return undefined;
  })();
  assert.equal(e?.code, "ERR_LAYOUT");
  assert.match(e?.message ?? "", /ArrayBufferBacked\.allocate: size bigint 8n is not valid/);
});
