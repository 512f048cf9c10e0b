import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  InvalidPointerError,
  LayoutError,
  NULL,
  SharedArrayBufferBacked,
} from "../index.js";
import { GenerationalSlab, Heap, SizeClassed, Tlsf } from "./index.js";

describe("SizeClassed", () => {
  test("small requests come from class slabs, large ones from the inner; frees are routed back", () => {
    const tlsf = new Tlsf(new ArrayBufferBacked(1 << 18));
    const sc = new SizeClassed(tlsf, { slotsPerClass: 4 });
    const small = sc.allocate(24);
    assert.equal(sc.classOf(small), 2, "the 32-byte class");
    const big = sc.allocate(5000);
    assert.equal(sc.classOf(big), -1);
    assert.deepEqual(sc.classUsage().slice(0, 3), [0, 0, 1]);
    sc.deallocate(small, 24);
    sc.free(big);
    assert.deepEqual(sc.classUsage().slice(0, 3), [0, 0, 0]);
    tlsf.validate();
  });

  test("a full class overflows into the inner, and memory parked in classes is bounded", () => {
    const sc = new SizeClassed(new Tlsf(new ArrayBufferBacked(1 << 18)), { slotsPerClass: 2 });
    const ptrs = [sc.allocate(8), sc.allocate(8), sc.allocate(8)];
    assert.deepEqual(
      ptrs.map((p) => sc.classOf(p)),
      [0, 0, -1],
    );
    for (const p of ptrs) sc.deallocate(p, 8);
    assert.throws(() => sc.deallocate(ptrs[0]!, 8), InvalidPointerError, "a double free reaches the slab");
  });

  test("rejects bad classes", () => {
    const tlsf = new Tlsf(new ArrayBufferBacked(1 << 14));
    for (const classes of [[], [4], [8, 8], [24], [16, 8]])
      assert.throws(() => new SizeClassed(tlsf, { classes }), AllocError, JSON.stringify(classes));
  });
});

describe("Heap", () => {
  test("malloc / calloc / realloc / free, and typed views freed by view", () => {
    const heap = new Heap(new SharedArrayBufferBacked({ size: 1 << 14, maxSize: 1 << 22 }));
    const p = heap.malloc(100);
    heap.memory.u8.fill(5, p, p + 100);
    const q = heap.realloc(p, 4000);
    assert.equal(heap.memory.u8[q + 99], 5);
    const z = heap.calloc(10, 8);
    assert.deepEqual([...heap.memory.u8.subarray(z, z + 80)], new Array(80).fill(0));
    const xs = heap.allocArray(Float64Array, 1000);
    xs[999] = 1.5;
    assert.equal(xs.length, 1000);
    heap.free(xs);
    heap.free(q);
    heap.free(z);
    assert.equal(heap.realloc(NULL, 16) > 0, true, "realloc(NULL, n) is malloc(n)");
    heap.tlsf.validate();
  });

  test("throws AllocError when out of memory and refuses foreign views and bad sizes", () => {
    const heap = new Heap(new ArrayBufferBacked(1 << 14));
    assert.throws(
      () => heap.malloc(1 << 20),
      (e: unknown) => e instanceof AllocError && /out of memory: 1048576 bytes/.test((e as Error).message),
    );
    assert.throws(() => heap.free(new Float64Array(4)), InvalidPointerError);
    assert.throws(() => heap.malloc(0), LayoutError);
    assert.throws(() => heap.calloc(2 ** 20, 2 ** 20), LayoutError);
    const p = heap.malloc(8);
    heap.free(p);
    assert.throws(() => heap.free(p), InvalidPointerError);
  });

  test("grows its memory as it fills, and offsets stay valid", () => {
    const heap = new Heap(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 24 }));
    const first = heap.malloc(16);
    heap.memory.u32[first >>> 2] = 77;
    const blocks = Array.from({ length: 200 }, (_, i) => heap.malloc(64 + (i % 7) * 900));
    assert.ok(heap.memory.byteLength > 100_000);
    assert.equal(heap.memory.u32[first >>> 2], 77);
    for (const b of blocks) heap.free(b);
    heap.tlsf.validate();
  });
});

describe("GenerationalSlab", () => {
  test("insert, get, remove; a stale handle returns undefined instead of the slot's next value", () => {
    const pool = new GenerationalSlab<string>(new ArrayBufferBacked(1 << 14), { capacity: 4 });
    const a = pool.insert("alice");
    assert.equal(pool.get(a), "alice");
    assert.equal(pool.remove(a), "alice");
    const b = pool.insert("bob"); // reuses the slot
    assert.equal(pool.get(a), undefined);
    assert.equal(pool.get(b), "bob");
    assert.equal(pool.contains(a), false);
    assert.equal(pool.remove(a), undefined);
    assert.notEqual(pool.ptr(b), NULL);
    assert.equal(pool.ptr(a), NULL);
  });

  test("a handle from another pool is refused; a full pool throws", () => {
    const one = new GenerationalSlab<number>(new ArrayBufferBacked(1 << 12), { capacity: 1 });
    const two = new GenerationalSlab<number>(new ArrayBufferBacked(1 << 12), { capacity: 1 });
    const h = one.insert(1);
    assert.throws(
      () => two.get(h),
      (e: unknown) => e instanceof InvalidPointerError && /belongs to pool/.test((e as Error).message),
    );
    assert.throws(() => one.insert(2), /all 1 slots are taken/);
    assert.throws(() => one.get(1.5 as never), InvalidPointerError);
  });

  test("a slot whose generation would wrap is retired", () => {
    const pool = new GenerationalSlab(new ArrayBufferBacked(1 << 12), { capacity: 1 });
    for (let i = 0; i < (1 << 20) - 1; i++) pool.remove(pool.insert());
    const last = pool.insert();
    pool.remove(last);
    assert.equal(pool.retired(), 1);
    assert.throws(() => pool.insert(), /1 retired/);
  });
});

describe("Heap's page engine", () => {
  const fresh = (): Heap => new Heap(new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 24 }));

  test("double frees, interior, foreign and page-block pointers are refused by Heap, naming itself; nothing changes", () => {
    const heap = fresh();
    const p = heap.malloc(40);
    const q = heap.malloc(40);
    heap.free(p);
    for (const bad of [p, q + 16, q + 1, 0, -16, 1 << 30, 1.5, "16"]) {
      assert.throws(
        () => heap.free(bad as number),
        (e: unknown) => e instanceof InvalidPointerError && /^Heap\.free: /.test((e as Error).message),
        String(bad),
      );
    }
    // the Tlsf block that holds a page is not a block of the heap's user
    const before = heap.stats();
    assert.ok(
      heap.tlsf.regions().some((r) => r.kind === "used"),
      "the page is a used Tlsf block",
    );
    for (const r of heap.tlsf.regions())
      if (r.kind === "used") assert.throws(() => heap.free(r.offset), InvalidPointerError);
    assert.deepEqual(heap.stats(), before);
    heap.validate();
  });

  test("a wrong layout on deallocate is a LayoutError, and the block stays live", () => {
    const heap = fresh();
    const p = heap.allocate(40);
    assert.throws(() => heap.deallocate(p, 100), LayoutError);
    assert.throws(() => heap.deallocate(p, 40, 64), LayoutError);
    heap.deallocate(p, 40);
    heap.validate();
  });

  test("a page whose blocks are all freed goes back to the Tlsf, except the current page and one kept for its class", () => {
    const heap = fresh();
    const first = Array.from({ length: 2000 }, () => heap.malloc(32)); // four 32-byte pages (512 slots each)
    assert.equal(heap.stats().pages, 4);
    for (const p of first) heap.free(p);
    const after = heap.stats();
    assert.equal(after.pages, 2, "the current page and the kept one stay");
    assert.equal(after.keptPages, 1);
    assert.equal(after.smallBlocks, 0);
    heap.validate();
    // the kept page serves the class again: no page is carved
    const tlsfBlocks = heap.stats().usedBlocks;
    const again = Array.from({ length: 1000 }, () => heap.malloc(32));
    assert.equal(
      heap.stats().usedBlocks,
      tlsfBlocks,
      "the second page is the kept one, not a new Tlsf block",
    );
    assert.equal(heap.stats().keptPages, 0);
    for (const p of again) heap.free(p);
    heap.validate();
  });

  test("kept empty pages go back to the Tlsf before a request fails", () => {
    const heap = new Heap(new ArrayBufferBacked(1 << 18)); // a fixed 256 KiB: no growth
    const small = Array.from({ length: 1500 }, () => heap.malloc(32)); // three 32-byte pages
    for (const p of small) heap.free(p);
    assert.equal(heap.stats().keptPages, 1);
    // large blocks until the memory is exhausted: the kept page's memory is among what they get
    const big: number[] = [];
    for (let p = heap.allocate(17_000); p !== NULL; p = heap.allocate(17_000)) {
      big.push(p);
      heap.validate();
    }
    const s = heap.stats();
    assert.equal(s.keptPages, 0, "no page is kept when a request fails");
    assert.equal(s.pages, 1, "only the current page is left");
    // the first page (its slots were handed out lowest first) emptied first, and was the one kept
    const [from, to] = [small[0]!, small[0]! + 512 * 32];
    assert.ok(
      big.some((p) => p < to && p + 17_000 > from),
      "a large block lies where the kept page was",
    );
    for (const p of big) heap.free(p);
    heap.validate();
  });

  test("realloc: in place within the class; a block that outgrows its class moves to a larger one, then to the Tlsf, and keeps its bytes", () => {
    const heap = fresh();
    const p = heap.malloc(20);
    heap.memory.u8.fill(7, p, p + 20);
    assert.equal(heap.realloc(p, 32), p, "the 32-byte class holds it");
    const q = heap.realloc(p, 3000);
    assert.notEqual(q, p);
    for (let i = 0; i < 20; i++) assert.equal(heap.memory.u8[q + i], 7);
    assert.equal(heap.sizeOf(q), 3072, "now a slot of the 3 KiB class");
    const big = heap.realloc(q, 20_000);
    for (let i = 0; i < 20; i++) assert.equal(heap.memory.u8[big + i], 7);
    assert.equal(heap.sizeOf(big), heap.tlsf.sizeOf(big), "above 16 KiB: a Tlsf block");
    const r = heap.realloc(big, 26_000); // the last Tlsf block grows in place
    for (let i = 0; i < 20; i++) assert.equal(heap.memory.u8[r + i], 7);
    heap.free(r);
    heap.validate();
  });
});
