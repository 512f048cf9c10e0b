import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, ArrayBufferBacked, InvalidPointerError, LayoutError, NULL } from "../index.js";
import { StackAlloc } from "./index.js";

describe("StackAlloc", () => {
  test("frees in reverse order and gives the padding back", () => {
    const stack = new StackAlloc(new ArrayBufferBacked(1 << 12));
    const a = stack.allocate(3, 1);
    const b = stack.allocate(8, 64);
    assert.equal(b, 64);
    stack.deallocate(b, 8, 64);
    assert.equal(stack.allocate(1, 1), a + 3, "the padding before b was reclaimed");
  });

  test("an out-of-order free throws, names the depth, and changes nothing", () => {
    const stack = new StackAlloc(new ArrayBufferBacked(1 << 12));
    const a = stack.allocate(16);
    const b = stack.allocate(16);
    assert.throws(
      () => stack.deallocate(a, 16),
      (e: unknown) =>
        e instanceof InvalidPointerError &&
        /not the newest block \(depth 1 of 2\)/.test((e as Error).message),
    );
    stack.deallocate(b, 16);
    stack.deallocate(a, 16);
    assert.equal(stack.liveCount(), 0);
  });

  test("a double free and a wrong size throw", () => {
    const stack = new StackAlloc(new ArrayBufferBacked(1 << 12));
    const a = stack.allocate(16);
    assert.throws(
      () => stack.deallocate(a, 8),
      (e: unknown) => e instanceof LayoutError && /has size 16, not 8/.test((e as Error).message),
    );
    stack.deallocate(a, 16);
    assert.throws(() => stack.deallocate(a, 16), /not a live block/);
  });

  test("grows the newest block in place; an older block cannot grow (NULL) but can shrink", () => {
    const stack = new StackAlloc(new ArrayBufferBacked(1 << 12));
    const a = stack.allocate(16);
    const b = stack.allocate(16);
    assert.equal(stack.grow(b, 16, 100), b);
    assert.equal(stack.grow(a, 16, 32), NULL);
    assert.equal(stack.shrink(a, 16, 8), a);
    stack.validate();
    stack.deallocate(b, 100);
    stack.validate(); // the top is back at a's shrunk end: its tail is reusable (found by the debug level)
    assert.equal(stack.allocate(8), a + 8, "the shrunk tail of the block below is handed out again");
    stack.validate();
    stack.reset();
    assert.equal(stack.allocated(), 0);
  });

  test("a full frame table refuses with NULL", () => {
    const stack = new StackAlloc(new ArrayBufferBacked(1 << 12), { maxDepth: 2 });
    stack.allocate(8);
    stack.allocate(8);
    assert.equal(stack.allocate(8), NULL);
    assert.throws(() => new StackAlloc(new ArrayBufferBacked(64), { maxDepth: 0 }), AllocError);
  });
});
