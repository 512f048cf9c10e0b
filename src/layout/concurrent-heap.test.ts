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

describe("ConcurrentHeap: remote frees and adoption, step by step", () => {
  // The shared tables' offsets, from the control block (see the module documentation).
  const tables = (h: ConcurrentHeap) => {
    const c = h.share().control >>> 2;
    const i32 = h.memory.i32;
    return {
      slots: i32[c + 5]! >>> 2,
      headers: i32[c + 6]! >>> 2,
      owners: i32[c + 7]! >>> 1,
      bits: i32[c + 8]! >>> 2,
      pagesAt: i32[c + 9]!,
    };
  };

  test("a remote free stopped between its CAS and its hint bit, across the owner leaving: the slot comes back once", () => {
    const [a, b] = pair();
    const blocks: number[] = [];
    for (let i = 0; i < 10; i++) blocks.push(a.allocate(64));
    const { slots, headers, owners, bits, pagesAt } = tables(a);
    const u16 = a.memory.u16;
    const victim = blocks[3]!;
    const g = (victim - pagesAt) >>> 4;
    // step 1 of b's free of `victim`: the compare-and-swap to REMOTE (the bit and the count are not written yet)
    assert.equal(Atomics.compareExchange(u16, owners + g, 1, 0xffff), 1);
    assert.throws(() => a.free(victim), InvalidPointerError, "the owner cannot free it now");
    a.release(); // the page is abandoned with the slot in flight
    const c = ConcurrentHeap.attach(a.share());
    const got = new Set<number>();
    for (let i = 0; i < 4096; i++) {
      const p = c.allocate(64);
      if (p === NULL || p >= pagesAt + 65536) break; // only the adopted page's slots
      got.add(p);
    }
    assert.ok(got.has(victim), "the adopter took the in-flight slot as free");
    for (const p of blocks) if (p !== victim) assert.ok(!got.has(p), "no live block handed out");
    // step 2 of b's free, late: the hint bit and the count; the owner of the page collects nothing twice
    const i32 = a.memory.i32;
    Atomics.or(i32, bits + (g >>> 5), 1 << (g & 31));
    Atomics.add(i32, headers + 2, 1); // page 1's count of remote frees to collect
    Atomics.store(i32, slots + c.workerId * 32 + 2, 1); // and its owner's flag: the next refill collects
    c.free(victim);
    let seen = 0;
    for (let p = c.allocate(64); p !== NULL; p = c.allocate(64)) if (p === victim) seen++;
    assert.equal(seen, 1, "freed once, handed out once");
    c.validate();
    b.validate();
  });

  test("a worker that leaves with blocks alive: another adopts its pages, remote frees before and after included", () => {
    const [a, b] = pair(1 << 20);
    const mine: number[] = [];
    for (let i = 0; i < 300; i++) mine.push(a.allocate(48));
    for (let i = 0; i < 100; i++) b.free(mine[i]!); // remote, before a leaves
    a.release();
    for (let i = 100; i < 150; i++) b.free(mine[i]!); // remote, into abandoned pages
    const c = ConcurrentHeap.attach(a.share());
    const fresh = new Set<number>();
    for (let i = 0; i < 150; i++) fresh.add(c.allocate(48));
    assert.equal(fresh.size, 150);
    for (let i = 150; i < 300; i++) assert.ok(!fresh.has(mine[i]!), "a live block is never handed out");
    for (let i = 150; i < 300; i++) c.free(mine[i]!);
    c.validate();
    b.validate();
  });
});

describe("ConcurrentHeap.reclaim: after a worker that never released", () => {
  test("its free slots come back, its live blocks stay live and can be freed, its slot is free again", () => {
    const [a, b] = pair(1 << 21);
    const live: number[] = [];
    const gone: number[] = [];
    for (let i = 0; i < 600; i++) {
      const p = b.allocate(i % 3 === 0 ? 48 : i % 3 === 1 ? 700 : 5000);
      (i % 2 === 0 ? live : gone).push(p);
    }
    const large = b.allocate(100_000);
    for (const p of gone) b.free(p);
    // b stops here, as a terminated worker does: no release()
    assert.throws(() => a.reclaim(a.workerId), AllocError, "not its own");
    assert.throws(() => a.reclaim(63), AllocError, "not a worker that is attached");
    assert.throws(() => a.reclaim(1.5), AllocError);
    assert.ok(a.reclaim(b.workerId) > 0);
    assert.throws(() => a.reclaim(b.workerId), AllocError, "once");
    assert.equal(a.stats().workers, 1);
    a.validate();
    const mine = new Set<number>();
    for (let p = a.allocate(48); p !== NULL; p = a.allocate(48)) mine.add(p);
    for (const p of [...live, large])
      assert.ok(!mine.has(p), "a live block of the dead worker is never handed out");
    for (const p of [...live, large]) a.free(p);
    for (const p of mine) a.free(p);
    a.validate();
    assert.notEqual(a.allocate(1 << 20), NULL, "the whole heap is free again");
  });
});
