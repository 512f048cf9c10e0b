// BumpArena: bad layouts, marks at and past their bounds, scopes after a reset, the typed helpers' error names, the
// invariant check, and commits that cannot be made. Written to kill the mutants that survived the arena's group
// (docs/TESTING.md, `npm run mutate -- bump-arena`).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  InvalidPointerError,
  LayoutError,
  NULL,
  WasmMemoryBacked,
} from "../index.js";
import { BumpArena } from "./bump-arena.js";

const arena = (bytes = 256): BumpArena => new BumpArena(new ArrayBufferBacked(bytes));

test("BumpArena.allocate refuses every bad size and alignment with a LayoutError naming it, and moves nothing", () => {
  const a = arena();
  const mark = a.mark();
  const bad: [number, number][] = [
    [0, 8],
    [-8, 8],
    [1.5, 8],
    [Number.NaN, 8],
    [0x40000001, 8],
    [16, 0],
    [16, 3],
    [16, 24],
    [16, 1 << 22],
    [16, -8],
  ];
  for (const [size, align] of bad) {
    assert.throws(
      () => a.allocate(size, align),
      (e: unknown) => e instanceof LayoutError && e.message.startsWith("BumpArena.allocate"),
      `size ${size}, align ${align}`,
    );
  }
  assert.equal(a.mark(), mark);
});

test("BumpArena.rewindTo accepts marks from its start to its cursor and refuses the rest", () => {
  const a = arena();
  const start = a.mark();
  a.allocate(16);
  const middle = a.mark();
  a.allocate(16);
  const top = a.mark();
  for (const bad of [start - 8, top + 8, middle + 0.5, Number.NaN]) {
    assert.throws(
      () => a.rewindTo(bad),
      (e: unknown) => e instanceof InvalidPointerError && e.message.startsWith("BumpArena.rewindTo: mark"),
      `mark ${bad}`,
    );
    assert.equal(a.mark(), top, "a refused rewind moves nothing");
  }
  a.rewindTo(top); // the cursor itself is a valid mark
  assert.equal(a.mark(), top);
  a.rewindTo(middle);
  assert.equal(a.mark(), middle);
  a.rewindTo(start); // so is the arena's start
  assert.equal(a.mark(), start);
});

test("BumpArena: a scope opened before reset does not rewind the arena when disposed after it", () => {
  const a = arena();
  a.allocate(32);
  const scope = a.scope();
  scope.allocate(16);
  a.reset();
  const p = a.allocate(64);
  scope.dispose();
  assert.equal(a.mark(), p + 64, "the old scope's mark belongs to the arena before its reset");
  // Two resets: the epoch moves forward each time, so a scope from any earlier epoch never matches.
  const s2 = a.scope();
  a.reset();
  a.reset();
  a.allocate(8);
  const after = a.mark();
  s2.dispose();
  assert.equal(a.mark(), after);
});

test("BumpArena: disposing a scope whose mark is at or above the cursor leaves the cursor", () => {
  const a = arena();
  a.allocate(16);
  const scope = a.scope();
  const m = a.mark();
  scope.dispose(); // nothing was allocated in it
  assert.equal(a.mark(), m);
  const outer = a.scope();
  a.allocate(16);
  const inner = a.scope();
  a.allocate(16);
  outer.dispose(); // rewinds past the inner scope's mark
  const rewound = a.mark();
  inner.dispose(); // its mark is now above the cursor: it must not move the cursor up
  assert.equal(a.mark(), rewound);
});

test("BumpScope: a disposed scope refuses allocations with an AllocError that says so", () => {
  const a = arena();
  const scope = a.scope();
  scope.dispose();
  assert.throws(
    () => scope.allocate(8),
    (e: unknown) => e instanceof AllocError && /BumpScope: this scope was disposed/.test(e.message),
  );
});

test("BumpArena's typed helpers name themselves when out of memory", () => {
  const a = arena(64);
  const cases: [string, () => unknown][] = [
    ["BumpArena.allocArray", () => a.allocArray(Float64Array, 1000)],
    ["BumpArena.allocBytes", () => a.allocBytes(1000)],
    ["BumpArena.allocDataView", () => a.allocDataView(1000)],
    ["BumpArena.allocUtf8", () => a.allocUtf8("x".repeat(1000))],
  ];
  for (const [name, call] of cases) {
    assert.throws(call, (e: unknown) => e instanceof AllocError && e.message.startsWith(name), name);
  }
});

test("BumpArena.validate reports a cursor outside the committed range", () => {
  const a = arena();
  a.allocate(16);
  a.validate();
  const fields = a as unknown as { top: number; committed: number; rangeBase: number; rangeEnd: number };
  const saved = { top: fields.top, committed: fields.committed };
  for (const broken of [
    { top: fields.rangeBase - 8, committed: saved.committed },
    { top: saved.committed + 8, committed: saved.committed },
    { top: saved.top, committed: fields.rangeEnd + 8 },
  ]) {
    fields.top = broken.top;
    fields.committed = broken.committed;
    assert.throws(() => a.validate(), /BumpArena\.validate: cursor/, JSON.stringify(broken));
  }
  fields.top = saved.top;
  fields.committed = saved.committed;
  a.validate();
});

test("BumpArena over a growable memory: blocks up to the range's end, NULL past it, and it commits on demand", () => {
  const backing = new WasmMemoryBacked({ initial: 1, maximum: 2 });
  const a = new BumpArena(backing);
  const end = a.base() + a.size();
  const p = a.allocate(end - a.base() - 8);
  assert.notEqual(p, NULL);
  assert.equal(a.allocate(16), NULL, "past the range's end");
  assert.notEqual(a.allocate(8), NULL, "the last 8 bytes");
  assert.equal(a.allocate(8), NULL);
  a.validate();
});

test("BumpScope: disposing a scope twice does not rewind what was allocated after the first dispose", () => {
  const a = arena();
  const scope = a.scope();
  scope.allocate(16);
  scope.dispose();
  const p = a.allocate(16);
  const after = a.mark();
  scope.dispose();
  assert.equal(a.mark(), after, `the block at ${p} is still allocated`);
  assert.equal(scope.isOpen, false);
});

/** A FixedRange of our own over a real memory: `size` bytes from offset 64, and a `commit` that says `commits`. */
const customRange = (size: number, commits: boolean) => {
  const memory = new WasmMemoryBacked({ initial: 1, maximum: 2 }).memory;
  return {
    memory,
    base: () => 64,
    size: () => size,
    commit: () => commits,
    contains: (p: number) => p >= 64 && p < 64 + size,
  };
};

test("BumpArena refuses a FixedRange whose range is empty with an AllocError that says so", () => {
  assert.throws(
    () => new BumpArena(customRange(0, true) as never),
    (e: unknown) =>
      e instanceof AllocError && /BumpArena: the backing's range is empty \(size 0\)/.test(e.message),
  );
  assert.equal(
    new BumpArena(customRange(8, true) as never).allocate(8),
    64,
    "one byte's worth of range is enough",
  );
});

test("BumpArena: a backing that cannot commit more makes allocate return NULL and leaves the arena as it was", () => {
  const range = customRange(2 << 16, false); // two pages of range, one page of memory, and no growth
  const a = new BumpArena(range as never);
  const before = a.mark();
  assert.equal(a.allocate(1 << 16), NULL, "the block would end past the committed page");
  assert.equal(a.mark(), before);
  assert.equal(range.memory.byteLength, 1 << 16);
  a.validate();
  assert.equal(a.allocate((1 << 16) - 64), 64, "the committed part is still there");
});

test("BumpArena: one block that ends exactly at the range's end commits the rest and is served", () => {
  const a = new BumpArena(new WasmMemoryBacked({ initial: 1, maximum: 2 }));
  assert.equal(a.memory.byteLength, 1 << 16);
  const p = a.allocate(a.size());
  assert.equal(p, a.base());
  assert.equal(a.memory.byteLength, 2 << 16);
  a.validate();
});

test("BumpArena's errors from the range it extends name BumpArena", () => {
  const a = arena();
  const p = a.allocate(16);
  const cases: [string, () => unknown][] = [
    ["BumpArena.deallocate", () => a.deallocate(p + 64, 16)],
    ["BumpArena.grow", () => a.grow(p, 16, 0)],
    ["BumpArena.shrink", () => a.shrink(p, 16, 32)],
    ["BumpArena.usableSize", () => a.usableSize(p + 64, 16)],
  ];
  for (const [name, call] of cases) {
    assert.throws(call, (e: unknown) => e instanceof Error && e.message.startsWith(name), name);
  }
});
