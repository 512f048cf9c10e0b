import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, ArrayBufferBacked, InvalidPointerError } from "../index.js";
import { GenerationalSlab, type Handle } from "./index.js";

describe("GenerationalSlab pool ids", () => {
  test("ids never collide: a handle of one pool is never accepted by another, however many pools are made", () => {
    const backing = new ArrayBufferBacked(1 << 20);
    const first = new GenerationalSlab<string>(backing, { capacity: 4 });
    const h = first.insert("first");
    const pools: GenerationalSlab<string>[] = [];
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      try {
        const p = new GenerationalSlab<string>(new ArrayBufferBacked(1 << 10), { capacity: 1 });
        p.insert(`pool ${i}`);
        pools.push(p);
      } catch (e) {
        assert.ok(e instanceof AllocError && /pool ids belong to live pools/.test(e.message));
        refused++;
      }
    }
    assert.equal(new Set([first, ...pools].map((p) => p.poolId)).size, pools.length + 1, "all ids distinct");
    assert.equal(pools.length, 4094, "4,095 pools alive at most (the first one included)");
    assert.equal(refused, 5000 - 4094);
    for (const p of pools) assert.throws(() => p.get(h), InvalidPointerError, `pool ${p.poolId}`);
    assert.equal(first.get(h), "first");
    for (const p of pools) p.dispose();
  });

  test("a disposed pool's id is given again with higher generations: its old handles stay stale", () => {
    const pools: GenerationalSlab<string>[] = [];
    // Use up every id not used yet (the other tests of this file may have used some), keeping them alive.
    for (;;) {
      try {
        pools.push(new GenerationalSlab<string>(new ArrayBufferBacked(1 << 10), { capacity: 2 }));
      } catch {
        break;
      }
    }
    const old = pools[0]!;
    const a = old.insert("old a");
    old.remove(a);
    const b = old.insert("old b"); // generation 1 of slot 0
    old.dispose();
    assert.throws(() => old.get(b), /disposed/);
    assert.throws(() => old.insert("x"), AllocError);
    const reused = new GenerationalSlab<string>(new ArrayBufferBacked(1 << 10), { capacity: 2 });
    assert.equal(reused.poolId, old.poolId, "the disposed pool's id");
    const c = reused.insert("new c");
    assert.equal(reused.get(b), undefined, "the old pool's handle is stale here, never the new value");
    assert.equal(reused.get(a), undefined);
    assert.equal(reused.get(c), "new c");
    assert.ok((c as number) > (b as number), "the new generation is above every old one");
    for (const p of [...pools, reused]) p.dispose();
  });

  test("a disposed pool refuses every call", () => {
    const p = new GenerationalSlab<number>(new ArrayBufferBacked(1 << 10), { capacity: 2 });
    const h = p.insert(1);
    p.dispose();
    p.dispose();
    for (const f of [() => p.get(h), () => p.remove(h), () => p.ptr(h), () => p.set(h, 2)]) {
      assert.throws(f, InvalidPointerError);
    }
    assert.throws(() => p.get(12345 as Handle), InvalidPointerError);
  });
});
