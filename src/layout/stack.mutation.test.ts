// StackAlloc: its constructor's checks, the frame table's limit, commits on demand and their refusal, frees and
// resizes checked against the newest frame (size, alignment, order), where the top goes after each, and the
// invariant check. Written to kill the mutants that survived the stack's group (docs/TESTING.md,
// `npm run mutate -- stack`).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  Memory,
  InvalidPointerError,
  LayoutError,
  NULL,
  WasmMemoryBacked,
} from "../index.js";
import { StackAlloc } from "./stack-alloc.js";

const stack = (bytes = 4096, maxDepth?: number): StackAlloc =>
  new StackAlloc(new ArrayBufferBacked(bytes), maxDepth === undefined ? {} : { maxDepth });

/**
 * A FixedRange of our own: `size` bytes from offset 64 of a 64 KiB memory that cannot grow (a plain ArrayBuffer),
 * so a block past its first page cannot be committed. `kind` "os" makes a memory that can be retired.
 */
const customRange = (size: number, kind?: "os") => {
  const memory = Memory.of(new ArrayBuffer(1 << 16), kind);
  return {
    memory,
    base: () => 64,
    size: () => size,
    commit: () => false,
    contains: (p: number) => p >= 64 && p < 64 + size,
  };
};

const names = (what: string) => (e: unknown) => e instanceof Error && e.message.startsWith(what);

test("StackAlloc's constructor: a FixedRange with a range, maxDepth an integer in [1, 2^24]", () => {
  assert.throws(
    () => new StackAlloc({} as never),
    (e: unknown) => e instanceof AllocError && e.message === "StackAlloc: the backing must be a FixedRange",
  );
  assert.throws(
    () => new StackAlloc(customRange(0) as never),
    (e: unknown) =>
      e instanceof AllocError && /StackAlloc: the backing's range is empty \(size 0\)/.test(e.message),
  );
  assert.equal(new StackAlloc(customRange(8) as never).allocate(8), 64, "an 8-byte range holds one block");
  assert.equal(stack().maxDepth, 1024, "the default");
  assert.equal(stack(4096, 1).maxDepth, 1);
  assert.equal(stack(4096, 1 << 24).maxDepth, 1 << 24);
  for (const bad of [0, -1, 1.5, (1 << 24) + 1]) {
    assert.throws(
      () => stack(4096, bad),
      (e: unknown) => e instanceof AllocError && /^StackAlloc: maxDepth .* is not valid/.test(e.message),
      `maxDepth ${bad}`,
    );
  }
});

test("StackAlloc: maxDepth blocks exactly, NULL after, and a pop makes room again", () => {
  const s = stack(4096, 3);
  const blocks = [s.allocate(8), s.allocate(8), s.allocate(8)];
  assert.ok(blocks.every((p) => p !== NULL));
  assert.equal(s.allocate(8), NULL, "the frame table is full");
  assert.equal(s.liveCount(), 3);
  assert.equal(s.allocated(), 24, "the refusal moved nothing");
  s.deallocate(blocks[2]!, 8);
  assert.equal(s.allocate(8), blocks[2], "room for one more, at the same place");
  s.validate();
});

test("StackAlloc refuses bad layouts with a LayoutError naming the call", () => {
  const s = stack();
  const p = s.allocate(16);
  for (const [size, align] of [
    [0, 8],
    [16, 3],
    [1.5, 8],
  ] as const) {
    assert.throws(() => s.allocate(size, align), names("StackAlloc.allocate"));
    assert.throws(() => s.deallocate(p, size, align), names("StackAlloc.deallocate"));
    assert.throws(() => s.grow(p, size, 32, align), names("StackAlloc.grow"));
    assert.throws(() => s.shrink(p, 16, size, align), names("StackAlloc.shrink"));
    if (size !== 16) assert.throws(() => s.usableSize(p, size), names("StackAlloc.usableSize"));
  }
  assert.equal(s.liveCount(), 1);
  assert.equal(s.usableSize(p, 16), 16);
});

test("StackAlloc over a growable memory: commits on demand up to the range's end, NULL past it", () => {
  const s = new StackAlloc(new WasmMemoryBacked({ initial: 1, maximum: 2 }));
  const end = s.base() + s.size();
  assert.equal(s.memory.byteLength, 1 << 16);
  const p = s.allocate(end - s.base() - 16);
  assert.equal(p, s.base());
  assert.equal(s.memory.byteLength, 2 << 16, "committed the second page");
  assert.equal(s.allocate(32), NULL, "past the range's end");
  assert.equal(s.liveCount(), 1, "a refusal pushes no frame");
  const q = s.allocate(16);
  assert.equal(q, end - 16, "the last 16 bytes");
  s.validate();
  s.deallocate(q, 16);
  // grow the newest block to the range's end, not past it
  assert.equal(s.grow(p, end - s.base() - 16, end - s.base() + 8), NULL);
  assert.equal(s.grow(p, end - s.base() - 16, end - s.base()), p);
  s.validate();
});

test("StackAlloc over a growable memory: a grow of the newest block commits what it needs", () => {
  const s = new StackAlloc(new WasmMemoryBacked({ initial: 1, maximum: 2 }));
  const p = s.allocate(64);
  assert.equal(s.memory.byteLength, 1 << 16);
  const to = (1 << 16) + 64 - s.base();
  assert.equal(s.grow(p, 64, to), p);
  assert.equal(s.memory.byteLength, 2 << 16, "the second page is committed");
  s.memory.i32[(p + to - 4) >> 2] = 7; // the block's last word is there
  assert.equal(s.usableSize(p, to), to);
  s.validate();
});

test("a FixedRange longer than its memory can ever be: a block past the memory's end is refused", () => {
  // 128 KiB of range over a 64 KiB ArrayBuffer that cannot grow: commitTo grows to min(range end, maximum,
  // 2 x length) = 64 KiB, which "succeeds" (nothing to do), and the block [64, 64 KiB + 64) is handed out.
  const memory = Memory.of(new ArrayBuffer(1 << 16));
  const range = { memory, base: () => 64, size: () => 2 << 16, commit: () => false, contains: () => true };
  const s = new StackAlloc(range as never);
  assert.equal(s.allocate(1 << 16), NULL);
});

test("StackAlloc over a retired memory throws the disposed error instead of returning NULL", () => {
  const range = customRange(1 << 12, "os");
  const s = new StackAlloc(range as never);
  assert.notEqual(s.allocate(16), NULL);
  range.memory.retire();
  assert.throws(
    () => s.allocate(16),
    (e: unknown) =>
      e instanceof AllocError && /StackAlloc\.allocate: its memory was disposed/.test(e.message),
  );
});

test("StackAlloc.deallocate: the newest block only, with its size and an alignment its offset has", () => {
  const s = stack();
  const a = s.allocate(24, 16);
  const b = s.allocate(40, 64);
  assert.throws(
    () => s.deallocate(b, 40, 128),
    (e: unknown) => e instanceof LayoutError && /has size 40, not 40, aligned to its offset/.test(e.message),
    "b's offset (64) is not 128-aligned",
  );
  assert.throws(() => s.deallocate(b, 48, 64), LayoutError);
  assert.throws(
    () => s.deallocate(a, 24, 16),
    (e: unknown) =>
      e instanceof InvalidPointerError && /not the newest block \(depth 1 of 2\)/.test(e.message),
  );
  assert.throws(
    () => s.deallocate(b + 8, 40, 8),
    (e: unknown) => e instanceof InvalidPointerError && /not a live block of the stack/.test(e.message),
  );
  assert.equal(s.liveCount(), 2, "nothing changed");
  s.validate();
  s.deallocate(b, 40, 64);
  assert.equal(s.allocated(), 24, "the top is back at a's end (b's padding given back)");
  s.deallocate(a, 24, 16);
  assert.equal(s.allocated(), 0);
  assert.equal(s.liveCount(), 0);
  s.validate();
});

test("StackAlloc: an out-of-order free names the block's depth; a pointer that is not live names what it may be", () => {
  const s = stack();
  const blocks = [s.allocate(8), s.allocate(8), s.allocate(8)];
  assert.throws(
    () => s.deallocate(blocks[1]!, 8),
    (e: unknown) =>
      e instanceof InvalidPointerError &&
      /it is live but not the newest block \(depth 2 of 3\); a stack frees in reverse order of allocation/.test(
        e.message,
      ),
  );
  for (const [what, call] of [
    ["grow", () => s.grow(blocks[2]! + 8, 8, 16)],
    ["shrink", () => s.shrink(blocks[2]! + 8, 8, 4)],
    ["usableSize", () => s.usableSize(blocks[2]! + 8, 8)],
  ] as const) {
    assert.throws(
      call,
      (e: unknown) =>
        e instanceof InvalidPointerError &&
        new RegExp(
          `^StackAlloc\\.${what}: .* is not a live block \\(never issued, already freed, or issued before reset\\(\\)\\)$`,
        ).test(e.message),
      what,
    );
  }
});

test("StackAlloc.deallocate: the first block's pop goes back to where the stack was, padding included", () => {
  const s = stack();
  const a = s.allocate(3, 1);
  s.deallocate(a, 3, 1);
  const b = s.allocate(8, 64); // pushed from the start of the range: padding before it
  s.deallocate(b, 8, 64);
  assert.equal(s.allocated(), 0, "the padding before the only block is given back");
  assert.equal(s.allocate(1, 1), s.base());
});

test("StackAlloc.deallocate after the block below was shrunk: the top goes to its shrunk end", () => {
  const s = stack();
  const a = s.allocate(64);
  const b = s.allocate(16);
  assert.equal(s.shrink(a, 64, 8), a);
  assert.equal(s.allocated(), b - s.base() + 16, "an older block's shrink leaves the top");
  s.deallocate(b, 16);
  assert.equal(s.allocated(), 8);
  assert.equal(s.allocate(8), a + 8);
  s.validate();
});

test("StackAlloc.grow and shrink: the newest block in place, an older one shrinks only", () => {
  const s = stack();
  const a = s.allocate(16);
  const b = s.allocate(16);
  assert.equal(s.grow(b, 16, 16), b, "the same size is the same block");
  assert.equal(s.grow(a, 16, 16), a, "even for an older block");
  assert.equal(s.grow(a, 16, 24), NULL, "an older block cannot grow");
  assert.equal(s.usableSize(a, 16), 16);
  assert.equal(s.grow(b, 16, 48), b);
  assert.equal(s.allocated(), b + 48 - s.base(), "the top follows the newest block");
  assert.equal(s.usableSize(b, 48), 48);
  assert.throws(() => s.usableSize(b, 16), LayoutError, "the old size is wrong now");
  assert.equal(s.shrink(b, 48, 8), b);
  assert.equal(s.allocated(), b + 8 - s.base(), "the newest block's tail is free at once");
  assert.equal(s.usableSize(b, 8), 8);
  assert.equal(s.shrink(a, 16, 4), a);
  assert.equal(s.allocated(), b + 8 - s.base(), "an older block's shrink leaves the top");
  s.validate();
  assert.throws(
    () => s.grow(a + 1, 4, 8),
    (e: unknown) =>
      e instanceof InvalidPointerError && /StackAlloc\.grow: .* is not a live block/.test(e.message),
  );
  assert.throws(
    () => s.shrink(b, 16, 4),
    (e: unknown) =>
      e instanceof LayoutError &&
      /^StackAlloc\.shrink: block .* has size 8, not 16; pass the size it was allocated \(or last resized\) with$/.test(
        e.message,
      ),
  );
  assert.throws(() => s.grow(b, 8, 16, 128), LayoutError, "b is not 128-aligned");
  assert.throws(() => s.usableSize(0.5, 8), InvalidPointerError);
});

test("StackAlloc's raw protocol: sizeOf, checkFree while not freeing, and resizeRaw", () => {
  const s = stack();
  const a = s.allocate(16);
  const b = s.allocate(24);
  assert.equal(s.sizeOf(a), 16);
  assert.equal(s.sizeOf(b), 24);
  assert.equal(s.sizeOf(b + 8), -1);
  assert.equal(s.checkFree(a, 16, 8, false), 16, "an older block is live: fine when not freeing");
  assert.ok(s.checkFree(a, 16, 8, true) < 0, "but not to free");
  assert.equal(s.checkFree(b, 24, 8, true), 24);
  assert.ok(s.checkFree(b + 0, 24, 64, false) < 0, "b (offset 32) is not 64-aligned");
  assert.equal(s.resizeRaw(b, 24, 40, 8), b);
  assert.equal(s.sizeOf(b), 40);
  assert.equal(s.resizeRaw(b, 40, 8, 8), b);
  assert.equal(s.sizeOf(b), 8);
  assert.equal(s.allocated(), b + 8 - s.base());
  assert.equal(s.resizeRaw(a, 16, 32, 8), NULL, "an older block cannot grow");
  assert.equal(s.resizeRaw(a, 16, 8, 8), a);
  assert.equal(s.sizeOf(a), 8);
  assert.equal(s.tryFree(a, 8, 8), s.checkFree(a, 8, 8, true), "refused as checkFree refuses");
  assert.equal(s.tryFree(b, 8, 8), 0);
  assert.equal(s.liveCount(), 1);
});

test("StackAlloc.reset frees every block and starts again at the base", () => {
  const s = stack();
  s.allocate(16);
  s.allocate(16);
  s.reset();
  assert.equal(s.liveCount(), 0);
  assert.equal(s.allocated(), 0);
  assert.equal(s.allocate(8), s.base());
  s.validate();
});

test("StackAlloc.validate names a broken frame and a broken top", () => {
  const s = stack();
  const a = s.allocate(16);
  s.allocate(16);
  s.validate();
  const fields = s as unknown as { frames: Int32Array; top: number };
  const check = (what: string, corrupt: () => void, pattern: RegExp): void => {
    const saved = { frames: fields.frames.slice(), top: fields.top };
    corrupt();
    assert.throws(
      () => s.validate(),
      (e: unknown) => e instanceof Error && pattern.test(e.message),
      what,
    );
    fields.frames.set(saved.frames);
    fields.top = saved.top;
    s.validate();
  };
  check(
    "frame 1 starts before frame 0 ends",
    () => (fields.frames[3 + 2] = a + 8),
    /frame 1 .* does not follow/,
  );
  check(
    "frame 1's block before its previous top",
    () => (fields.frames[3] = a + 8),
    /frame 1 .* does not follow/,
  );
  check("frame 0 before the base", () => (fields.frames[2] = s.base() - 8), /frame 0 .* does not follow/);
  check("a block past the range", () => (fields.frames[4] = 1 << 20), /frame 1 .* does not follow/);
  check("the top", () => (fields.top += 8), /top .* is not the newest end/);
  check("the top below", () => (fields.top -= 8), /top .* is not the newest end/);
  // the exact edges are fine: a block that ends at the range's end
  const full = stack(256);
  full.allocate(full.size());
  full.validate();
});
