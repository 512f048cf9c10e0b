import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { AllocError, CorruptionError, InvalidPointerError, NULL, SharedArrayBufferBacked } from "../index.js";
import { ConcurrentHeap } from "./concurrent-heap.js";

// Two workers in one thread: attach() gives the second its own worker slot, exactly as in another worker.
function pair(bytes = 1 << 20): [ConcurrentHeap, ConcurrentHeap] {
  const owner = new ConcurrentHeap(new SharedArrayBufferBacked(bytes));
  return [owner, ConcurrentHeap.attach(owner.share())];
}

describe("ConcurrentHeap: memory comes back, whoever frees it", () => {
  test("blocks freed remotely from full pages are collected: a heap emptied by another worker allocates again", () => {
    const [a, b] = pair();
    const blocks: number[] = [];
    for (let p = a.allocate(64); p !== NULL; p = a.allocate(64)) blocks.push(p);
    assert.ok(blocks.length > 100);
    for (const p of blocks) b.free(p); // every free is remote: a's pages are full, on no list
    assert.equal(a.stats().remoteFrees, blocks.length);
    const again: number[] = [];
    for (let p = a.allocate(64); p !== NULL; p = a.allocate(64)) again.push(p);
    assert.equal(again.length, blocks.length, "every block came back");
  });

  test("pages emptied by frees serve other classes and large blocks", () => {
    const [a] = pair();
    const small: number[] = [];
    for (let p = a.allocate(48); p !== NULL; p = a.allocate(48)) small.push(p);
    assert.equal(a.allocate(100_000), NULL, "full");
    for (const p of small) a.free(p);
    const large = a.allocate(100_000);
    assert.notEqual(large, NULL, "the freed pages make a run for a large block");
    a.free(large);
    const other: number[] = [];
    for (let p = a.allocate(1000); p !== NULL; p = a.allocate(1000)) other.push(p);
    assert.ok(other.length * 1000 > small.length * 48 * 0.8, "and pages for another class");
  });

  test("after release() nothing is allocated, not even from a page with free blocks", () => {
    const [a] = pair();
    a.free(a.allocate(64)); // the current page has a free block: the fast path could serve it
    a.release();
    assert.throws(() => a.allocate(64), AllocError);
    assert.throws(() => a.malloc(64), AllocError);
  });

  test("the owner's free and a remote free of one block: exactly one succeeds", () => {
    const [a, b] = pair();
    const p = a.allocate(64);
    const q = a.allocate(64);
    a.free(p);
    assert.throws(() => b.free(p), InvalidPointerError);
    b.free(q);
    assert.throws(() => a.free(q), InvalidPointerError);
  });

  test("writes into freed blocks steer nothing: no link lives in a block, so nothing is handed out twice", () => {
    const [a, b] = pair();
    const blocks: number[] = [];
    for (let p = a.allocate(64); p !== NULL; p = a.allocate(64)) blocks.push(p);
    b.free(blocks[0]!); // remote
    a.free(blocks[1]!); // local
    for (const p of [blocks[0]!, blocks[1]!]) a.memory.i32.fill(blocks[2]!, p >>> 2, (p + 64) >>> 2); // write after free
    const got: number[] = [];
    for (let p = a.allocate(64); p !== NULL; p = a.allocate(64)) got.push(p);
    assert.deepEqual(
      got.sort((x, y) => x - y),
      [blocks[0]!, blocks[1]!].sort((x, y) => x - y),
    );
    assert.equal(a.corruptionEvents(), 0);
    a.validate();
  });

  test("an overwritten owners entry is refused as corruption (counted), never followed", () => {
    const [a, b] = pair();
    const p = a.allocate(64);
    const i32 = a.memory.i32;
    const owners = i32[(a.share().control >>> 2) + 7]!; // the control block's owners offset
    const pagesAt = i32[(a.share().control >>> 2) + 9]!;
    const g = (p - pagesAt) >>> 4;
    a.memory.u16[(owners >>> 1) + g] = 7; // names page 7, which p is not in
    assert.throws(() => b.free(p), CorruptionError);
    assert.equal(b.corruptionEvents(), 1);
    a.memory.u16[(owners >>> 1) + g] = 1;
    b.free(p); // restored: the remote free goes through
    a.validate();
  });

  test("formatting memory that holds a heap with attached workers is refused; attach joins it", () => {
    const backing = new SharedArrayBufferBacked(1 << 20);
    const a = new ConcurrentHeap(backing);
    const p = a.allocate(64);
    assert.throws(() => new ConcurrentHeap(backing), /attach/);
    const b = ConcurrentHeap.attach(a.share());
    b.free(p);
    a.release();
    b.release();
    assert.doesNotThrow(
      () => new ConcurrentHeap(backing),
      "once every worker left, it may be formatted again",
    );
  });
});

describe("ConcurrentHeap against a shadow model", () => {
  test("random allocate / free / remote free / grow by two workers: blocks disjoint, contents kept, validate() after each step", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.integer({ min: 0, max: 9 }),
            size: fc.oneof(fc.integer({ min: 1, max: 256 }), fc.integer({ min: 1, max: 100_000 })),
            pick: fc.nat(),
            worker: fc.boolean(),
          }),
          { maxLength: 120 },
        ),
        (ops) => {
          const [a, b] = pair(1 << 21);
          const live: { ptr: number; size: number; tag: number; by: ConcurrentHeap }[] = [];
          let tag = 1;
          for (const op of ops) {
            const w = op.worker ? a : b;
            if (op.kind < 5 || live.length === 0) {
              const p = w.allocate(op.size);
              if (p === NULL) continue;
              for (const o of live) assert.ok(p + op.size <= o.ptr || o.ptr + o.size <= p, "I2: disjoint");
              w.memory.u8.fill(tag, p, p + op.size);
              live.push({ ptr: p, size: op.size, tag, by: w });
              tag = (tag % 250) + 1;
            } else if (op.kind < 9) {
              const i = op.pick % live.length;
              const x = live[i]!;
              for (let k = 0; k < x.size; k++) assert.equal(w.memory.u8[x.ptr + k], x.tag, "contents kept");
              w.free(x.ptr); // by its owner or remotely
              live.splice(i, 1);
            } else {
              const i = op.pick % live.length;
              const x = live[i]!;
              const q = x.by.grow(x.ptr, x.size, x.size + 100);
              if (q === NULL) continue;
              for (let k = 0; k < x.size; k++)
                assert.equal(w.memory.u8[q + k], x.tag, "I5: grow kept the bytes");
              w.memory.u8.fill(x.tag, q, q + x.size + 100);
              live[i] = { ...x, ptr: q, size: x.size + 100 };
            }
            a.validate();
            b.validate();
          }
          for (const x of live) x.by.free(x.ptr);
          a.validate();
          b.validate();
        },
      ),
      { numRuns: 60, seed: 42 },
    );
  });
});
