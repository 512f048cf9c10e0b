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

/** White-box: sets a slot's generation (and the pool's record of the highest), as if removed that many times. */
function age(pool: GenerationalSlab<unknown>, slot: number, generation: number): void {
  const inside = pool as unknown as { generation: Float64Array; record: Float64Array };
  inside.generation[slot] = generation;
  inside.record[1] = Math.max(inside.record[1]!, generation);
}

/**
 * Takes every pool id a one-slot pool with 41-bit generations can have (the widest: any id not spent), kept alive,
 * so the next pool must reuse one disposed after this.
 */
function takeAllIds(): GenerationalSlab<string>[] {
  const pools: GenerationalSlab<string>[] = [];
  for (;;) {
    try {
      pools.push(
        new GenerationalSlab<string>(new ArrayBufferBacked(1 << 10), { capacity: 1, generationBits: 41 }),
      );
    } catch {
      return pools;
    }
  }
}

describe("GenerationalSlab generation widths (the Rust G = u32 / u64)", () => {
  test("generationBits goes up to 41 - ceil(log2(capacity)): the handle stays one safe integer", () => {
    const limits: [number, number][] = [
      [1, 41],
      [2, 40],
      [512, 32],
      [513, 31],
      [1024, 31],
      [1 << 21, 20],
    ];
    for (const [capacity, widest] of limits) {
      const pool = new GenerationalSlab(new ArrayBufferBacked(capacity * 8 + 64), {
        capacity,
        generationBits: widest,
      });
      assert.equal(pool.generationBits, widest);
      pool.dispose();
      assert.throws(
        () =>
          new GenerationalSlab(new ArrayBufferBacked(capacity * 8 + 64), {
            capacity,
            generationBits: widest + 1,
          }),
        (e: unknown) =>
          e instanceof AllocError &&
          e.message.includes(
            `generationBits number ${widest + 1} is not valid for a capacity of ${capacity}`,
          ) &&
          e.message.includes(`from 1 to ${widest}`),
        `capacity ${capacity}`,
      );
    }
    for (const bad of [0, 1.5, "8", Number.NaN]) {
      assert.throws(
        () =>
          new GenerationalSlab(new ArrayBufferBacked(1 << 10), { capacity: 4, generationBits: bad as never }),
        AllocError,
        String(bad),
      );
    }
    const byDefault = new GenerationalSlab(new ArrayBufferBacked(1 << 10), { capacity: 4 });
    assert.equal(byDefault.generationBits, 20);
    byDefault.dispose();
  });

  for (const [capacity, bits] of [
    [1, 41],
    [512, 32],
    [1 << 21, 20],
  ] as const) {
    test(`the widest handles (${capacity} slots, ${bits}-bit generations) are exact up to 2^53 - 1, then the slot retires`, () => {
      const pool = new GenerationalSlab<string>(new ArrayBufferBacked(capacity * 8 + 64), {
        capacity,
        generationBits: bits,
      });
      const fillers = Array.from({ length: capacity }, () => pool.insert("filler")); // every slot carved
      const last = capacity - 1;
      pool.remove(fillers[last]!); // the slot goes on the free stack (LIFO: the next insert takes it)
      age(pool, last, 2 ** bits - 1); // as if removed that often: its final generation
      const top = pool.insert("top");
      // (2^bits - 1) * 2^indexBits + last = 2^41 - 1, so the handle is the largest one: 2^53 - 4096 + pool id.
      assert.equal(top, 2 ** 53 - 4096 + pool.poolId);
      assert.ok(Number.isSafeInteger(top));
      assert.equal(pool.get(top), "top");
      assert.equal(pool.get(fillers[last]!), undefined);
      pool.remove(top); // would wrap: retired, never reused
      assert.equal(pool.retired(), 1);
      assert.equal(pool.get(top), undefined);
      pool.dispose();
    });
  }

  test("narrow generations: every slot retires after 2^bits removes, and no handle is ever issued twice", () => {
    const pool = new GenerationalSlab<number>(new ArrayBufferBacked(1 << 10), {
      capacity: 4,
      generationBits: 3,
    });
    const seen = new Set<number>();
    let n = 0;
    for (;;) {
      let h: Handle;
      try {
        h = pool.insert(n);
      } catch (e) {
        assert.ok(e instanceof AllocError && /4 retired/.test(e.message));
        break;
      }
      assert.ok(!seen.has(h), "a handle issued twice");
      seen.add(h);
      pool.remove(h);
      n++;
    }
    // A reused pool id starts its slots above generation 0 (see the module documentation): each slot serves the
    // generations from the first one up to 2^3 - 1.
    const first = Math.floor(Math.min(...seen) / 4096 / 4);
    assert.equal(n, 4 * (8 - first));
    for (const h of seen) assert.equal(pool.get(h as Handle), undefined);
    pool.dispose();
  });

  test("a reused pool id starts above every handle of the old pool, whatever the two pools' widths", () => {
    const pools = takeAllIds();
    const old = pools.pop()!; // one slot, 41-bit generations
    const a = old.insert("a");
    old.remove(a);
    const b = old.insert("b");
    old.remove(b);
    age(old, 0, 2 ** 25); // far along: the new pool must start above it
    const c = old.insert("c");
    old.dispose();
    const reused = new GenerationalSlab<string>(new ArrayBufferBacked(1 << 14), {
      capacity: 1024,
      generationBits: 20,
    });
    assert.equal(reused.poolId, old.poolId);
    const fresh = Array.from({ length: 1024 }, (_, i) => reused.insert(`new ${i}`));
    assert.ok(Math.min(...fresh) > Math.max(a, b, c));
    for (const h of [a, b, c]) assert.equal(reused.get(h), undefined);
    reused.dispose();
    for (const p of pools) p.dispose();
  });

  test("an id whose generations are spent for a width is not given to a pool of that width", () => {
    const pools = takeAllIds();
    const old = pools.pop()!;
    age(old, 0, 2 ** 41 - 2 ** 20);
    old.insert("far along"); // one slot at generation 2^41 - 2^20: not spent for 41-bit generations
    old.dispose();
    // A pool of 2^21 slots would have to start at generation (2^41 - 2^20) / 2^21 + 1 = 2^20: no 20-bit one left.
    assert.throws(
      () => new GenerationalSlab(new ArrayBufferBacked(1 << 25), { capacity: 1 << 21 }),
      (e: unknown) => e instanceof AllocError && /no 20-bit generations left/.test((e as Error).message),
    );
    // A pool of one slot with 41-bit generations fits above it.
    const fits = new GenerationalSlab(new ArrayBufferBacked(1 << 10), { capacity: 1, generationBits: 41 });
    assert.equal(fits.poolId, old.poolId);
    fits.dispose();
    for (const p of pools) p.dispose();
  });
});
