// Property-based tests (fast-check): random operation sequences against an exact reference model of each layout.
// The model predicts every pointer and every NULL, so any divergence (not only an overlap) fails, and fast-check
// shrinks it to a minimal sequence. Every block carries a tag byte that must survive until it is freed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type Allocator,
  ArrayBufferBacked,
  BumpArena,
  InvalidPointerError,
  NULL,
  SharedArrayBufferBacked,
  Slab,
  StackAlloc,
  StaticBacked,
  WasmMemoryBacked,
  WithFallback,
  CacheJitter,
  Canary,
  Faulty,
  PoisonOnFree,
  Quarantine,
  SeededFailures,
  Statistics,
  Watermark,
  ZeroizeOnFree,
  Tlsf,
  Heap,
} from "../src/index.js";
import { alignUp } from "../src/core/validate.js";
import { wrapperChain } from "../src/core/wrapping.js";
import { DEBUG_LEVEL, debugChecksEnabled } from "../src/debug.js";

interface Block {
  ptr: number;
  size: number;
  align: number;
  tag: number;
}

/** A reference model: predicts the pointer (or NULL) of each call. */
interface Model {
  alloc(size: number, align: number): number;
  free(block: Block): void;
  /** The predicted result of growing/shrinking `block` to `size`, or undefined when the model does not predict it. */
  resize(block: Block, size: number): number | undefined;
  reset(): void;
}

class BumpModel implements Model {
  private top: number;
  constructor(
    private readonly base: number,
    private readonly end: number,
  ) {
    this.top = base;
  }
  alloc(size: number, align: number): number {
    const p = alignUp(this.top, align);
    if (p + size > this.end) return NULL;
    this.top = p + size;
    return p;
  }
  free(): void {}
  resize(block: Block, size: number): number {
    if (block.ptr + block.size === this.top) {
      if (block.ptr + size > this.end) return NULL;
      this.top = block.ptr + size;
      return block.ptr;
    }
    if (size <= block.size) return block.ptr;
    return this.alloc(size, block.align);
  }
  reset(): void {
    this.top = this.base;
  }
}

class StackModel implements Model {
  private frames: { ptr: number; prev: number }[] = [];
  private top: number;
  constructor(
    private readonly base: number,
    private readonly end: number,
  ) {
    this.top = base;
  }
  alloc(size: number, align: number): number {
    const p = alignUp(this.top, align);
    if (p + size > this.end) return NULL;
    this.frames.push({ ptr: p, prev: this.top });
    this.top = p + size;
    return p;
  }
  free(block: Block): void {
    const f = this.frames.pop()!;
    assert.equal(f.ptr, block.ptr);
    this.top = f.prev;
  }
  resize(block: Block, size: number): number | undefined {
    const newest = this.frames[this.frames.length - 1]!;
    if (newest.ptr !== block.ptr) return size <= block.size ? block.ptr : NULL;
    if (block.ptr + size > this.end) return NULL;
    this.top = block.ptr + size;
    return block.ptr;
  }
  reset(): void {
    this.frames = [];
    this.top = this.base;
  }
  isNewest(block: Block): boolean {
    return this.frames[this.frames.length - 1]?.ptr === block.ptr;
  }
}

class SlabModel implements Model {
  private free_: number[] = [];
  private carved = 0;
  constructor(
    private readonly base: number,
    private readonly stride: number,
    private readonly capacity: number,
    private readonly blockSize: number,
    private readonly align: number,
  ) {}
  alloc(size: number, align: number): number {
    if (size > this.blockSize || align > this.align) return NULL;
    const idx = this.free_.length > 0 ? this.free_.pop()! : this.carved < this.capacity ? this.carved++ : -1;
    return idx < 0 ? NULL : this.base + idx * this.stride;
  }
  free(block: Block): void {
    this.free_.push((block.ptr - this.base) / this.stride);
  }
  resize(block: Block, size: number): number {
    return size <= this.blockSize && block.align <= this.align ? block.ptr : NULL;
  }
  reset(): void {
    this.free_ = [];
    this.carved = 0;
  }
  owns(ptr: number): boolean {
    return ptr >= this.base && ptr < this.base + this.capacity * this.stride;
  }
}

class FallbackModel implements Model {
  constructor(
    private readonly primary: SlabModel,
    private readonly secondary: BumpModel,
  ) {}
  alloc(size: number, align: number): number {
    const p = this.primary.alloc(size, align);
    return p !== NULL ? p : this.secondary.alloc(size, align);
  }
  free(block: Block): void {
    if (this.primary.owns(block.ptr)) this.primary.free(block);
  }
  resize(block: Block, size: number): number {
    const owner = this.primary.owns(block.ptr) ? this.primary : this.secondary;
    const r = owner.resize(block, size);
    if (r !== NULL || size < block.size) return r;
    // The owner refused to grow: WithFallback moves the block through its own allocate (primary first).
    const q = this.alloc(size, block.align);
    if (q !== NULL && owner === this.primary) this.primary.free(block);
    return q;
  }
  reset(): void {
    this.primary.reset();
    this.secondary.reset();
  }
}

type Op =
  | { kind: "alloc"; size: number; alignLog: number; zeroed: boolean }
  | { kind: "free"; pick: number }
  | { kind: "resize"; pick: number; size: number }
  | { kind: "reset" }
  | { kind: "badFree"; pick: number; delta: number };

const opArb = (maxSize: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant("alloc" as const),
        size: fc.integer({ min: 1, max: maxSize }),
        alignLog: fc.integer({ min: 0, max: 6 }),
        zeroed: fc.boolean(),
      }),
    },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("resize" as const),
        pick: fc.nat(),
        size: fc.integer({ min: 1, max: maxSize * 2 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("badFree" as const),
        pick: fc.nat(),
        delta: fc.integer({ min: 1, max: 7 }),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "reset" as const }) },
  );

function checkTag(a: Allocator, b: Block): void {
  const u8 = a.memory.u8;
  for (let i = 0; i < b.size; i++)
    if (u8[b.ptr + i] !== b.tag) assert.fail(`block ${b.ptr}+${i}: tag ${b.tag} became ${u8[b.ptr + i]}`);
}

function runOps(
  a: Allocator,
  model: Model,
  ops: Op[],
  options: { lifo?: boolean; frees: boolean; isNewest?: (b: Block) => boolean },
): void {
  const live: Block[] = [];
  let tag = 1;
  for (const op of ops) {
    if (op.kind === "alloc") {
      const align = 1 << op.alignLog;
      const expected = model.alloc(op.size, align);
      const p = op.zeroed ? a.allocateZeroed(op.size, align) : a.allocate(op.size, align);
      assert.equal(p, expected, `allocate(${op.size}, ${align})`);
      if (p === NULL) continue;
      const u8 = a.memory.u8;
      if (op.zeroed) for (let i = 0; i < op.size; i++) assert.equal(u8[p + i], 0);
      for (const b of live) assert.ok(p + op.size <= b.ptr || b.ptr + b.size <= p, "I2: overlap");
      u8.fill(tag, p, p + op.size);
      live.push({ ptr: p, size: op.size, align, tag });
      tag = (tag % 250) + 1;
    } else if (op.kind === "free" && live.length > 0) {
      const i = options.lifo ? live.length - 1 : op.pick % live.length;
      const b = live[i]!;
      checkTag(a, b);
      a.deallocate(b.ptr, b.size, b.align);
      model.free(b);
      live.splice(i, 1);
      if (options.frees)
        assert.throws(() => a.deallocate(b.ptr, b.size, b.align), InvalidPointerError, "double free");
    } else if (op.kind === "resize" && live.length > 0) {
      const i = options.lifo ? live.length - 1 : op.pick % live.length;
      const b = live[i]!;
      checkTag(a, b);
      const expected = model.resize(b, op.size);
      const q =
        op.size >= b.size
          ? a.grow(b.ptr, b.size, op.size, b.align)
          : a.shrink(b.ptr, b.size, op.size, b.align);
      if (expected !== undefined) assert.equal(q, expected, `resize ${b.ptr} ${b.size} -> ${op.size}`);
      if (q === NULL) {
        checkTag(a, b);
        continue;
      }
      const keep = Math.min(b.size, op.size);
      const u8 = a.memory.u8;
      for (let k = 0; k < keep; k++) assert.equal(u8[q + k], b.tag, "I5: resize lost a byte");
      live.splice(i, 1);
      for (const o of live)
        assert.ok(q + op.size <= o.ptr || o.ptr + o.size <= q, "I2: overlap after resize");
      u8.fill(b.tag, q, q + op.size);
      live.splice(i, 0, { ...b, ptr: q, size: op.size });
    } else if (op.kind === "badFree" && live.length > 0 && options.frees) {
      // A bump allocator cannot tell an interior pointer from a block; only freeing layouts are asked.
      const b = live[op.pick % live.length]!;
      if (live.some((o) => o.ptr === b.ptr + op.delta)) continue; // that would be another live block
      assert.throws(() => a.deallocate(b.ptr + op.delta, b.size, b.align), InvalidPointerError);
    } else if (op.kind === "reset") {
      a.reset();
      model.reset();
      for (const b of live)
        if (options.frees) assert.throws(() => a.deallocate(b.ptr, b.size, b.align), InvalidPointerError);
      live.length = 0;
    }
    (a as { validate?: () => void }).validate?.();
  }
  for (const b of live) checkTag(a, b);
}

const RUNS = { numRuns: 300 };

// `npm test` runs this file twice: as it is, and under the debug level (FORGE_ALLOC_DEBUG=1 with forge-alloc/debug
// preloaded, see scripts/run-tests.mjs), where every operation below is followed by the invariant checks.
test("runs under the debug level exactly when FORGE_ALLOC_DEBUG asks for it", () => {
  assert.equal(debugChecksEnabled(), DEBUG_LEVEL === 1);
  assert.equal(DEBUG_LEVEL, process.env.FORGE_ALLOC_DEBUG === "1" ? 1 : 0);
});

describe("property: random operation sequences match the reference model", () => {
  const backings = {
    ArrayBufferBacked: () => new ArrayBufferBacked(1 << 13),
    "ArrayBufferBacked (resizable)": () => new ArrayBufferBacked({ size: 256, maxSize: 1 << 13 }),
    "SharedArrayBufferBacked (growable)": () => new SharedArrayBufferBacked({ size: 256, maxSize: 1 << 13 }),
    "WasmMemoryBacked (growable)": () => new WasmMemoryBacked({ initial: 1, maximum: 2 }),
    StaticBacked: () => new StaticBacked(new Uint8Array(1 << 13)),
  };

  for (const [name, make] of Object.entries(backings)) {
    test(`${name} bumps exactly as the model`, () => {
      fc.assert(
        fc.property(fc.array(opArb(512), { maxLength: 120 }), (ops) => {
          const b = make();
          runOps(b, new BumpModel(b.base(), b.base() + b.size()), ops, { frees: false });
        }),
        RUNS,
      );
    });

    test(`BumpArena<${name}> bumps exactly as the model`, () => {
      fc.assert(
        fc.property(fc.array(opArb(512), { maxLength: 120 }), (ops) => {
          const arena = new BumpArena(make());
          runOps(arena, new BumpModel(arena.base(), arena.base() + arena.size()), ops, { frees: false });
        }),
        RUNS,
      );
    });
  }

  test("StackAlloc pushes and pops exactly as the model", () => {
    fc.assert(
      fc.property(fc.array(opArb(512), { maxLength: 120 }), (ops) => {
        const stack = new StackAlloc(new ArrayBufferBacked({ size: 256, maxSize: 1 << 13 }));
        const model = new StackModel(stack.base(), stack.base() + stack.size());
        runOps(stack, model, ops, { frees: true, lifo: true });
      }),
      RUNS,
    );
  });

  test("Slab allocates and frees exactly as the model (LIFO reuse, lazy carving, NULL when full or too big)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(opArb(128), { maxLength: 150 }),
        (blockSize, capacity, alignLog, ops) => {
          const align = 1 << alignLog;
          const slab = new Slab(new ArrayBufferBacked(1 << 14), { blockSize, capacity, align });
          runOps(slab, new SlabModel(slab.base(), slab.stride, capacity, blockSize, align), ops, {
            frees: true,
          });
        },
      ),
      RUNS,
    );
  });

  test("WithFallback<Slab, BumpArena> chooses the part as the model and routes every free", () => {
    fc.assert(
      fc.property(fc.array(opArb(128), { maxLength: 150 }), (ops) => {
        const backing = new ArrayBufferBacked(1 << 14);
        const slab = new Slab(backing, { blockSize: 32, capacity: 8, align: 16 });
        const arena = new BumpArena(StaticBacked.carve(backing, 4096));
        const alloc = new WithFallback(slab, arena);
        const model = new FallbackModel(
          new SlabModel(slab.base(), slab.stride, 8, 32, 16),
          new BumpModel(arena.base(), arena.base() + arena.size()),
        );
        runOps(
          alloc,
          model,
          ops.filter((o) => o.kind !== "badFree"),
          { frees: false },
        );
      }),
      RUNS,
    );
  });
});

describe("property: random stacks of wrappers keep the shadow model's invariants", () => {
  const layers = [
    "Canary",
    "PoisonOnFree",
    "ZeroizeOnFree",
    "Quarantine",
    "Statistics",
    "Watermark",
    "Faulty",
    "CacheJitter",
  ] as const;
  type Layer = (typeof layers)[number];
  const wrap = (layer: Layer, inner: Allocator, seed: number): Allocator => {
    switch (layer) {
      case "Canary":
        return new Canary(inner);
      case "PoisonOnFree":
        return new PoisonOnFree(inner, { checkOnReuse: !wrapperChain(inner).some((w) => w.writesBlocks) });
      case "ZeroizeOnFree":
        return new ZeroizeOnFree(inner);
      case "Quarantine":
        return new Quarantine(inner, 1 + (seed % 5));
      case "Statistics":
        return new Statistics(inner);
      case "Watermark":
        return new Watermark(inner, {});
      case "Faulty":
        return new Faulty(inner, new SeededFailures({ seed, probability: 0.1 }));
      case "CacheJitter":
        return new CacheJitter(inner, { line: 64, assoc: 4, seed });
    }
  };

  test("over a Slab: aligned, disjoint, bytes kept, frees accepted, double frees refused", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...layers), { maxLength: 4 }),
        fc.nat(),
        fc.array(
          fc.record({
            kind: fc.integer({ min: 0, max: 9 }),
            size: fc.integer({ min: 1, max: 200 }),
            alignLog: fc.integer({ min: 0, max: 4 }),
            pick: fc.nat(),
          }),
          { maxLength: 120 },
        ),
        (stack, seed, ops) => {
          let a: Allocator = new Slab(new ArrayBufferBacked(1 << 17), {
            blockSize: 1024,
            capacity: 96,
            align: 64,
          });
          // Each layer its own seed: two CacheJitters with one seed share a MAC key and cannot tell their headers
          // apart (documented on CacheJitter), which a double free through both then reports as corruption.
          stack.forEach((layer, depth) => {
            a = wrap(layer, a, seed + depth);
          });
          const live: Block[] = [];
          let tag = 1;
          for (const op of ops) {
            if (op.kind < 6 || live.length === 0) {
              const align = 1 << op.alignLog;
              const p = a.allocate(op.size, align);
              if (p === NULL) continue;
              assert.equal(p % align, 0, "I1: aligned");
              assert.ok(p >= 16 && p + op.size <= a.memory.byteLength, "I1: in range");
              for (const b of live) assert.ok(p + op.size <= b.ptr || b.ptr + b.size <= p, "I2: disjoint");
              a.memory.u8.fill(tag, p, p + op.size);
              live.push({ ptr: p, size: op.size, align, tag });
              tag = (tag % 250) + 1;
            } else {
              const i = op.pick % live.length;
              const b = live[i]!;
              checkTag(a, b);
              a.deallocate(b.ptr, b.size, b.align);
              live.splice(i, 1);
              assert.throws(
                () => a.deallocate(b.ptr, b.size, b.align),
                InvalidPointerError,
                `double free through ${stack.join("<")}`,
              );
            }
          }
          for (const b of live) checkTag(a, b);
          const outer = a as { stats?: () => { liveCount: number } };
          if (stack[stack.length - 1] === "Statistics") assert.equal(outer.stats!().liveCount, live.length);
          assert.equal(a.corruptionEvents(), 0, "no false corruption reports");
        },
      ),
      RUNS,
    );
  });
});

describe("property: Tlsf keeps every heap invariant (validate() after every step) and the shadow model's", () => {
  test("random allocate / free / realloc / aligned requests over a growable memory", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.integer({ min: 0, max: 9 }),
            size: fc.integer({ min: 1, max: 3000 }),
            alignLog: fc.integer({ min: 0, max: 8 }),
            pick: fc.nat(),
          }),
          { maxLength: 150 },
        ),
        (ops) => {
          const t = new Tlsf(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 19 }));
          const live: Block[] = [];
          let tag = 1;
          for (const op of ops) {
            if (op.kind < 5 || live.length === 0) {
              const align = op.kind === 4 ? 1 << op.alignLog : 8;
              const p = t.allocate(op.size, align);
              if (p === NULL) continue;
              assert.equal(p % align, 0);
              for (const b of live) assert.ok(p + op.size <= b.ptr || b.ptr + b.size <= p, "I2: disjoint");
              t.memory.u8.fill(tag, p, p + op.size);
              live.push({ ptr: p, size: op.size, align, tag });
              tag = (tag % 250) + 1;
            } else if (op.kind < 8) {
              const i = op.pick % live.length;
              const b = live[i]!;
              checkTag(t, b);
              if (op.kind === 7) t.free(b.ptr);
              else t.deallocate(b.ptr, b.size, b.align);
              live.splice(i, 1);
            } else {
              const i = op.pick % live.length;
              const b = live[i]!;
              if (b.align > 8) continue;
              checkTag(t, b);
              const q = t.realloc(b.ptr, op.size);
              if (q === NULL) {
                checkTag(t, b);
                continue;
              }
              const keep = Math.min(op.size, b.size);
              for (let k = 0; k < keep; k++)
                assert.equal(t.memory.u8[q + k], b.tag, "I5: realloc kept the bytes");
              live.splice(i, 1);
              for (const o of live)
                assert.ok(q + op.size <= o.ptr || o.ptr + o.size <= q, "I2 after realloc");
              t.memory.u8.fill(b.tag, q, q + op.size);
              live.push({ ...b, ptr: q, size: op.size });
            }
            t.validate();
          }
          for (const b of live) checkTag(t, b);
          for (const b of live) t.free(b.ptr);
          t.validate();
          t.flushCache(); // small blocks wait in the quick cache until then
          t.validate();
          assert.equal(t.stats().freeBlocks, 1, "everything coalesced back into one block");
        },
      ),
      RUNS,
    );
  });
});

describe("property: Heap (size classes over a Tlsf) keeps the invariants, with malloc / free / realloc and growth", () => {
  test("random malloc / free / realloc; the heap validates after every step", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.integer({ min: 0, max: 9 }),
            size: fc.integer({ min: 1, max: 2500 }),
            pick: fc.nat(),
          }),
          { maxLength: 150 },
        ),
        (ops) => {
          const heap = new Heap(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 20 }));
          const live: Block[] = [];
          let tag = 1;
          for (const op of ops) {
            if (op.kind < 5 || live.length === 0) {
              const p = heap.malloc(op.size);
              assert.equal(p % 8, 0);
              for (const b of live) assert.ok(p + op.size <= b.ptr || b.ptr + b.size <= p, "I2: disjoint");
              heap.memory.u8.fill(tag, p, p + op.size);
              live.push({ ptr: p, size: op.size, align: 8, tag });
              tag = (tag % 250) + 1;
            } else if (op.kind < 8) {
              const i = op.pick % live.length;
              checkTag(heap, live[i]!);
              heap.free(live[i]!.ptr);
              live.splice(i, 1);
            } else {
              const i = op.pick % live.length;
              const b = live[i]!;
              checkTag(heap, b);
              const q = heap.realloc(b.ptr, op.size);
              const keep = Math.min(op.size, b.size);
              for (let k = 0; k < keep; k++)
                assert.equal(heap.memory.u8[q + k], b.tag, "I5: realloc kept the bytes");
              live.splice(i, 1);
              for (const o of live)
                assert.ok(q + op.size <= o.ptr || o.ptr + o.size <= q, "I2 after realloc");
              heap.memory.u8.fill(b.tag, q, q + op.size);
              live.push({ ...b, ptr: q, size: op.size });
            }
            heap.validate();
          }
          for (const b of live) checkTag(heap, b);
          for (const b of live) heap.free(b.ptr);
          heap.validate();
          const stats = heap.stats();
          assert.deepEqual(
            stats.classUsage.filter((n) => n > 0),
            [],
          );
          assert.ok(
            stats.pages <= 1 + new Set(ops.map((o) => o.size)).size,
            "at most one empty page per class",
          );
        },
      ),
      RUNS,
    );
  });
});
