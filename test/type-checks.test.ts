// Compositions the types refuse: the TypeScript stand-in for the Rust crate's compile_fail doctests (STYLE §16).
// Each `@ts-expect-error` line below must fail to type-check (`npm run check` and the build run tsc over this file;
// an expectation that no longer fails is itself a compile error). The functions are never called: each refused
// composition also has a run-time test here that shows what happens when the types are bypassed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  BumpArena,
  ExtendableSlab,
  GenerationalSlab,
  type Handle,
  Heap,
  type OsBacked,
  SharedArrayBufferBacked,
  SharedBumpArena,
  SizeClassed,
  Slab,
  StackAlloc,
  Tlsf,
  WithFallback,
  defineStruct,
} from "../src/index.js";
import {
  GuardPage,
  HugePageAligned,
  MmapBacked,
  NodeSet,
  NumaLocal,
  NumaPolicy,
  SplitMetadata,
} from "../src/os.js";
import { needs } from "./helpers/host.js";

/** `BumpArena<B>` is `OsBacked` exactly when `B` is (the Rust `impl<B: OsBacked> OsBacked for BumpArena<B>`). */
export function bumpArenaOsBacked(): void {
  const os = new BumpArena(new MmapBacked(1 << 16));
  const n: number = os.basePtr() + os.regionSize();
  const asOs: OsBacked = os;
  new GuardPage(os);
  const js = new BumpArena(new ArrayBufferBacked(1 << 16));
  // @ts-expect-error an arena over a JavaScript buffer has no basePtr
  js.basePtr();
  // @ts-expect-error nor is it OsBacked
  const notOs: OsBacked = js;
  // @ts-expect-error so GuardPage refuses it
  new GuardPage(js);
  // Every BumpArena<X> is a BumpArena; a plain BumpArena may or may not be OsBacked, so the types refuse it too.
  const general: BumpArena = os;
  const alsoGeneral: BumpArena = js;
  // @ts-expect-error maybe not OsBacked
  new GuardPage(general);
  void [n, asOs, notOs, alsoGeneral];
}

/** The carving layouts need a `FixedRange` (the Rust `B: FixedRange` bounds): a general allocator is not one. */
export function carvingNeedsAFixedRange(): void {
  const general = new SizeClassed(new Tlsf(new ArrayBufferBacked(1 << 16)));
  // @ts-expect-error SizeClassed has no range of its own
  new BumpArena(general);
  // @ts-expect-error nor for a stack
  new StackAlloc(general);
  // @ts-expect-error nor for a Tlsf
  new Tlsf(general);
  // @ts-expect-error nor for a Heap
  new Heap(general);
  // @ts-expect-error nor for an ExtendableSlab, which grows by committing more of its range
  new ExtendableSlab(general, { blockSize: 64 });
  // @ts-expect-error nor for a SharedBumpArena
  new SharedBumpArena(general);
}

/** `WithFallback`'s primary routes frees by address, so it must be a `FixedRange` (Rust compatibility item 5). */
export function fallbackPrimaryIsAFixedRange(): void {
  const backing = new ArrayBufferBacked(1 << 16);
  const slab = new Slab(backing, { blockSize: 64, capacity: 16 });
  const general = new SizeClassed(new Tlsf(new ArrayBufferBacked(1 << 16)));
  new WithFallback(slab, general); // the general allocator as the secondary: fine
  // @ts-expect-error but not as the primary
  new WithFallback(general, slab);
}

/** The OS wrappers need an `OsBacked` inner (`GuardPage<I: OsBacked>`, `HugePageAligned`, `NumaLocal`). */
export function osWrappersNeedAMapping(): void {
  const js = new ArrayBufferBacked(1 << 16);
  // @ts-expect-error a JavaScript buffer cannot be protected
  new GuardPage(js);
  // @ts-expect-error nor aligned to huge pages
  new HugePageAligned(js);
  // @ts-expect-error nor bound to a NUMA node
  new NumaLocal(js, NumaPolicy.bind(NodeSet.single(0)!));
  // @ts-expect-error GuardPage is not OsBacked itself (as in Rust: HugePageAligned<GuardPage<..>> does not compile)
  new HugePageAligned(new GuardPage(new MmapBacked(1 << 16)));
  new SplitMetadata(js, { metaSize: 4096 }); // SplitMetadata takes any allocator, and is OsBacked only over a mapping
}

/** A generational handle is a branded number: a plain number (an offset, an index) is not one. */
export function handlesAreBranded(): void {
  const pool = new GenerationalSlab<string>(new ArrayBufferBacked(1 << 12), { capacity: 4 });
  const h: Handle = pool.insert("a");
  pool.get(h);
  // @ts-expect-error an offset is not a handle
  pool.get(16);
  // @ts-expect-error nor is the pool's value type anything but string
  pool.insert(42);
}

/** A struct record's fields have their declared types (64-bit integers are bigints, the rest numbers). */
export function recordFieldsAreTyped(): void {
  const Order = defineStruct({ id: "u32", total: "u64", price: "f64" });
  const order = Order.alloc(new Heap(new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 20 })));
  order.id = 7;
  order.total = 7n;
  // @ts-expect-error a u64 field holds a bigint
  order.total = 7;
  // @ts-expect-error an f64 field holds a number
  order.price = "9.5";
  // @ts-expect-error no such field
  order.qty = 1;
  // @ts-expect-error a record's block is fixed
  order.ptr = 64;
}

/** A shared arena needs shared memory, which the types cannot tell: this one fails only at run time (below). */
export function sharedArenaOverAPlainBuffer(): SharedBumpArena {
  return new SharedBumpArena(new ArrayBufferBacked(1 << 16));
}

describe("compositions the types refuse are refused at run time too", () => {
  test("the carving layouts over an allocator without a range", () => {
    const general = new SizeClassed(new Tlsf(new ArrayBufferBacked(1 << 16)));
    for (const make of [
      () => new BumpArena(general as never),
      () => new StackAlloc(general as never),
      () => new Tlsf(general as never),
      () => new ExtendableSlab(general as never, { blockSize: 64 }),
      () => new SharedBumpArena(general as never),
    ]) {
      assert.throws(make, AllocError);
    }
  });

  test("WithFallback with a primary that has no range", () => {
    const backing = new ArrayBufferBacked(1 << 16);
    const slab = new Slab(backing, { blockSize: 64, capacity: 16 });
    const general = new SizeClassed(new Tlsf(new ArrayBufferBacked(1 << 16)));
    assert.throws(() => new WithFallback(general as never, slab), AllocError);
  });

  test("the OS wrappers over a JavaScript buffer", () => {
    const js = new ArrayBufferBacked(1 << 16);
    assert.throws(() => new GuardPage(js as never), AllocError);
    assert.throws(() => new HugePageAligned(js as never), AllocError);
    assert.throws(() => new NumaLocal(js as never, NumaPolicy.bind(NodeSet.single(0)!)), AllocError);
  });

  test("what the types cannot tell: a SharedBumpArena over memory that is not shared", () => {
    assert.throws(
      sharedArenaOverAPlainBuffer,
      (e: unknown) => e instanceof AllocError && /not shared/.test(String(e)),
    );
    assert.ok(new SharedBumpArena(new SharedArrayBufferBacked(1 << 16)).allocate(8) > 0);
  });

  test("GuardPage over a BumpArena of a JavaScript buffer", () => {
    const js = new BumpArena(new ArrayBufferBacked(1 << 16));
    assert.throws(() => new GuardPage(js as never), AllocError);
  });

  test("and accepts the arena over a mapping, as the types do", needs("linux", "addon"), () => {
    const guarded = new GuardPage(new BumpArena(new MmapBacked(1 << 16)));
    assert.notEqual(guarded.allocate(64), 0);
  });
});
