/**
 * The conformance kit: checks that any allocator (ours or a user's) keeps the contract I1-I11 of
 * `forge-alloc/core`. Runner-agnostic: it throws a {@link ConformanceError} naming the invariant on the first
 * violation, and returns the list of checks it ran.
 *
 * What it checks: a round trip with the `0xCC ^ i` pattern; every alignment 1 .. 4096 and `MAX_ALIGN` (a `NULL`
 * is fine, a misaligned block is not); no two live blocks overlap, over thousands of seeded random operations
 * against a shadow map of live ranges, with every block filled with its own tag byte and checked before it is
 * freed; out of memory returns `NULL` and changes nothing; zeroed allocation over dirty memory; grow and shrink
 * keep the bytes; `reset`; every bad input (size, alignment, pointer, double free, wrong size, a block from
 * another instance) throws the typed error and changes nothing; `validate()` after every random operation when
 * the allocator has one.
 *
 * Allocators that are `Disposable` (OS mappings) are disposed at the end of each check.
 *
 * What it does not check: speed; thread safety (use real workers); hardening behaviour (canaries, poisoning);
 * frees across allocators of one composition (test those by name); allocators that are not deterministic are
 * spared the "changes nothing" comparisons that need a twin.
 *
 * @example
 * ```ts
 * import { runConformance } from "forge-alloc/testing";
 * runConformance(() => new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 64 }), {
 *   frees: true, reset: true, detectsDoubleFree: true, maxSize: 64,
 * });
 * ```
 *
 * @example
 * ```ts
 * // A broken allocator is caught: this one hands out the same block every time.
 * class SameBlock extends Slab {
 *   override allocate(): number {
 *     return 1024;
 *   }
 * }
 * const broken = () => new SameBlock(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 100 });
 * try {
 *   runConformance(broken, { frees: true, maxSize: 64, seed: 7 });
 * } catch (error) {
 *   console.log(error instanceof ConformanceError, (error as ConformanceError).invariant); // true I2
 * }
 * // The seeded generator the kit uses, for reproducible tests of your own:
 * console.log(new SeededRandom(7).int(1, 6) === new SeededRandom(7).int(1, 6)); // true
 * ```
 *
 * @module
 */
import {
  type Allocator,
  InvalidPointerError,
  LayoutError,
  MAX_ALIGN,
  MAX_SIZE,
  Memory,
  NULL,
  RESERVED_LOW_BYTES,
  UnsupportedError,
} from "../core/index.js";
import { SeededRandom } from "./random.js";

/** What an allocator under test promises beyond the core contract; the kit adapts its checks to it. */
export interface ConformanceCapabilities {
  /** `deallocate` makes space reusable (false for bump allocators, whose frees reclaim nothing). */
  frees: boolean;
  /** Frees must come in reverse order of allocation (a stack). @defaultValue false */
  lifo?: boolean;
  /** `reset()` frees everything; when false, `reset()` must throw `UnsupportedError`. */
  reset: boolean;
  /** A double free throws `InvalidPointerError`. */
  detectsDoubleFree: boolean;
  /** Freeing a block issued before `reset()` throws `InvalidPointerError`. @defaultValue same as `reset` */
  detectsStaleAfterReset?: boolean;
  /** The same calls on two fresh instances give the same pointers (enables the twin comparisons). @defaultValue true */
  deterministic?: boolean;
  /** The largest request size used by the random operations (every size up to it must be servable). @defaultValue 256 */
  maxSize?: number;
  /** The largest alignment used by the random operations. @defaultValue 16 */
  maxAlign?: number;
  /** Random operations to run. @defaultValue 3000 */
  operations?: number;
  /** Allocations tried before the kit gives up reaching out-of-memory. @defaultValue 100000 */
  oomLimit?: number;
  /** Seed of the random operations. @defaultValue 0xF0A6E */
  seed?: number;
}

/** A contract violation found by {@link runConformance}. The message starts with the invariant id. */
export class ConformanceError extends Error {
  /** Always `"ConformanceError"`. */
  override name = "ConformanceError";
  /** The invariant or check id, e.g. `"I2"`. */
  readonly invariant: string;
  /** @param invariant - the id; @param message - what was observed. */
  constructor(invariant: string, message: string) {
    super(`${invariant}: ${message}`);
    this.invariant = invariant;
  }
}

/** The result of a passing run. */
export interface ConformanceReport {
  /** The ids of the checks that ran, in order. */
  checks: string[];
  /** Random operations executed. */
  operations: number;
}

interface Live {
  ptr: number;
  size: number;
  align: number;
  tag: number;
}

/** The ids of the kit's checks, in the order `runConformance` runs them: a report whose `checks` differ skipped one. */
export const CONFORMANCE_CHECKS: readonly string[] = Object.freeze([
  "I11 memory",
  "round trip",
  "I1 alignment",
  "I9 bad layout",
  "I4 bad free",
  "I3 out of memory",
  "I6 zeroed over dirty memory",
  "I5 grow and shrink",
  "I7 reset",
  "I2 random operations against a shadow map",
]);

/** Sizes that every public entry must reject with `LayoutError` (I9). */
export const BAD_SIZES: readonly unknown[] = [
  0,
  -1,
  -8,
  1.5,
  NaN,
  Infinity,
  -Infinity,
  MAX_SIZE + 1,
  2 ** 53,
  "8",
  null,
  {},
];
/** Alignments that every public entry must reject with `LayoutError` (I9). `undefined` means the default 8. */
export const BAD_ALIGNS: readonly unknown[] = [0, 3, 6, 12, -8, 1.5, NaN, Infinity, MAX_ALIGN * 2, "8", null];

function fail(invariant: string, message: string): never {
  throw new ConformanceError(invariant, message);
}

function expectThrows(
  invariant: string,
  what: string,
  fn: () => unknown,
  ...types: (new (...a: never[]) => Error)[]
): void {
  try {
    fn();
  } catch (error) {
    if (types.some((t) => error instanceof t)) return;
    fail(
      invariant,
      `${what} threw ${(error as Error)?.name}: ${(error as Error)?.message}; expected ${types.map((t) => t.name).join(" or ")}`,
    );
  }
  fail(invariant, `${what} did not throw; expected ${types.map((t) => t.name).join(" or ")}`);
}

function show(value: unknown): string {
  return typeof value === "number" || value === null || value === undefined
    ? String(value)
    : (JSON.stringify(value) ?? typeof value);
}

/** Checks I1 for a fresh block and fills it with `tag`. */
function checkBlock(a: Allocator, ptr: number, size: number, align: number, tag: number): void {
  if (typeof ptr !== "number" || !Number.isInteger(ptr))
    fail("I1", `allocate returned ${show(ptr)}, not an integer offset`);
  if (ptr % align !== 0) fail("I1", `block 0x${ptr.toString(16)} is not aligned to ${align}`);
  if (ptr < RESERVED_LOW_BYTES)
    fail("I1", `block ${ptr} lies in the reserved low ${RESERVED_LOW_BYTES} bytes`);
  const u8 = a.memory.u8;
  if (ptr + size > u8.length)
    fail("I1", `block [${ptr}, ${ptr + size}) ends beyond the memory's ${u8.length} bytes`);
  u8.fill(tag, ptr, ptr + size);
}

function checkTag(a: Allocator, block: Live, invariant: string): void {
  const u8 = a.memory.u8;
  for (let i = 0; i < block.size; i++) {
    if (u8[block.ptr + i] !== block.tag) {
      fail(
        invariant,
        `byte ${i} of live block 0x${block.ptr.toString(16)} (size ${block.size}) changed from ${block.tag} to ${u8[block.ptr + i]}: another block overlaps it or the allocator wrote into it`,
      );
    }
  }
}

function checkDisjoint(live: Live[], ptr: number, size: number): void {
  for (const b of live) {
    if (ptr < b.ptr + b.size && b.ptr < ptr + size) {
      fail("I2", `new block [${ptr}, ${ptr + size}) overlaps live block [${b.ptr}, ${b.ptr + b.size})`);
    }
  }
}

function validate(a: Allocator, after: string): void {
  const v = (a as { validate?: () => void }).validate;
  if (typeof v === "function") {
    try {
      v.call(a);
    } catch (error) {
      fail("validate", `after ${after}: ${(error as Error).message}`);
    }
  }
}

/** Allocations on both twins must give the same pointers: the bad calls on `a` changed nothing (I3, I4, I9). */
function sameFuture(invariant: string, a: Allocator, b: Allocator, sizes: number[]): void {
  for (const size of sizes) {
    const p = a.allocate(size, 8);
    const q = b.allocate(size, 8);
    if (p !== q)
      fail(
        invariant,
        `after the rejected calls, allocate(${size}) gave ${p} where an untouched twin gave ${q}: state changed`,
      );
  }
}

/**
 * Runs every check against allocators made by `make` (called several times: each check starts fresh).
 *
 * @throws {@link ConformanceError} on the first violation.
 */
export function runConformance(
  make: () => Allocator,
  capabilities: ConformanceCapabilities,
): ConformanceReport {
  const caps = {
    lifo: false,
    detectsStaleAfterReset: capabilities.reset,
    deterministic: true,
    maxSize: 256,
    maxAlign: 16,
    operations: 3000,
    oomLimit: 100_000,
    seed: 0xf0a6e,
    ...capabilities,
  };
  const checks: string[] = [];
  // Every instance a check makes is disposed when the check ends (if it is Disposable), so allocators that hold
  // scarce resources (OS mappings, huge pages, locked memory) do not pile up waiting for the GC.
  const made: Allocator[] = [];
  const build = make;
  make = (): Allocator => {
    const a = build();
    made.push(a);
    return a;
  };
  const release = (a: Allocator): void => {
    made.splice(made.indexOf(a), 1);
    (a as Partial<Disposable>)[Symbol.dispose]?.();
  };
  const run = (id: string, fn: () => void): void => {
    try {
      fn();
    } finally {
      for (const a of made.splice(0)) (a as Partial<Disposable>)[Symbol.dispose]?.();
    }
    checks.push(id);
  };
  const small = Math.min(64, caps.maxSize);

  run("I11 memory", () => {
    const a = make();
    if (!(a.memory instanceof Memory)) fail("I11", "the allocator has no `memory` (a Memory)");
    if (!(a.capacityBytes() > 0))
      fail("I11", `capacityBytes() is ${a.capacityBytes()}, expected a positive number`);
    if (a.corruptionEvents() !== 0)
      fail("I10", `a fresh allocator reports ${a.corruptionEvents()} corruption events`);
  });

  run("round trip", () => {
    const a = make();
    const p = a.allocate(small, 8);
    const q = a.allocate(small, 8);
    if (p === NULL || q === NULL) fail("I1", `two ${small}-byte allocations from a fresh allocator failed`);
    checkBlock(a, p, small, 8, 0);
    checkBlock(a, q, small, 8, 0);
    checkDisjoint([{ ptr: p, size: small, align: 8, tag: 0 }], q, small);
    const u8 = a.memory.u8;
    for (let i = 0; i < small; i++) u8[p + i] = 0xcc ^ i;
    for (let i = 0; i < small; i++)
      if (u8[p + i] !== (0xcc ^ i)) fail("I1", `byte ${i} of a written block reads back wrong`);
    if (a.usableSize(p, small) < small) fail("I8", `usableSize(${p}, ${small}) is below ${small}`);
    const z = a.allocateZeroed(small, 8);
    if (z === NULL) fail("I6", "allocateZeroed failed on a fresh allocator");
    for (let i = 0; i < small; i++)
      if (a.memory.u8[z + i] !== 0) fail("I6", `byte ${i} of a zeroed block is not 0`);
    if (caps.lifo) {
      a.deallocate(z, small, 8);
      a.deallocate(q, small, 8);
      a.deallocate(p, small, 8);
    } else {
      a.deallocate(p, small, 8);
      a.deallocate(q, small, 8);
      a.deallocate(z, small, 8);
    }
  });

  run("I1 alignment", () => {
    for (let align = 1; align <= MAX_ALIGN; align *= 2) {
      const a = make();
      const size = Math.min(small, 64);
      const p = a.allocate(size, align);
      if (p !== NULL) {
        checkBlock(a, p, size, align, 0x5a); // a refusal is fine; a misaligned block is not
        a.deallocate(p, size, align);
      }
      release(a);
    }
  });

  run("I9 bad layout", () => {
    const a = make();
    const b = make();
    for (const size of BAD_SIZES) {
      expectThrows("I9", `allocate(${show(size)})`, () => a.allocate(size as number, 8), LayoutError);
      expectThrows(
        "I9",
        `allocateZeroed(${show(size)})`,
        () => a.allocateZeroed(size as number, 8),
        LayoutError,
      );
    }
    for (const align of BAD_ALIGNS) {
      expectThrows("I9", `allocate(8, ${show(align)})`, () => a.allocate(8, align as number), LayoutError);
    }
    if (caps.deterministic) sameFuture("I9", a, b, [8, small, 1, small]);
  });

  run("I4 bad free", () => {
    const a = make();
    const b = make();
    const p = a.allocate(16, 8);
    const p2 = b.allocate(16, 8);
    if (p === NULL || p2 === NULL) fail("I1", "a 16-byte allocation from a fresh allocator failed");
    // A pointer live in another instance (but not here): the second block of a twin.
    const other = make();
    other.allocate(16, 8);
    const foreign = other.allocate(16, 8);
    const bad: unknown[] = [NULL, p + 1, p + 4, -16, 2 ** 31 + 16, NaN, 1.5, String(p), null, foreign];
    for (const ptr of bad) {
      if (ptr === NULL && p === RESERVED_LOW_BYTES) continue;
      expectThrows(
        "I4",
        `deallocate(${show(ptr)}, 16)`,
        () => a.deallocate(ptr as number, 16, 8),
        InvalidPointerError,
      );
    }
    expectThrows("I9", `deallocate(p, 0)`, () => a.deallocate(p, 0, 8), LayoutError);
    expectThrows("I9", `deallocate(p, 16, 3)`, () => a.deallocate(p, 16, 3), LayoutError);
    expectThrows(
      "I4",
      `deallocate(p, ${MAX_SIZE}) (wrong size)`,
      () => a.deallocate(p, MAX_SIZE, 8),
      LayoutError,
      InvalidPointerError,
    );
    a.deallocate(p, 16, 8); // still live after every rejected call
    if (caps.detectsDoubleFree) {
      expectThrows("I4", "a double free", () => a.deallocate(p, 16, 8), InvalidPointerError);
    }
    b.deallocate(p2, 16, 8);
    if (caps.deterministic) sameFuture("I4", a, b, [16, 8]);
  });

  run("I3 out of memory", () => {
    const a = make();
    const b = make();
    const size = caps.maxSize;
    if (a.capacityBytes() < MAX_SIZE) {
      // A request larger than the whole allocator fails on a fresh instance and leaves no trace.
      if (a.allocate(MAX_SIZE, 8) !== NULL)
        fail("I3", `allocate(${MAX_SIZE}) succeeded with capacity ${a.capacityBytes()}`);
      if (caps.deterministic) sameFuture("I3", a, b, [size, 1]);
    }
    const live: Live[] = [];
    let tag = 1;
    let p = NULL;
    for (let i = 0; ; i++) {
      if (i === caps.oomLimit)
        fail(
          "I3",
          `no NULL after ${caps.oomLimit} allocations of ${size} bytes; give the kit a smaller allocator or raise oomLimit`,
        );
      p = a.allocate(size, 8);
      const q = b.allocate(size, 8);
      if (caps.deterministic && p !== q)
        fail("I3", `twins diverged at allocation ${i}: ${p} vs ${q} (set deterministic: false if intended)`);
      if (p === NULL) break;
      checkBlock(a, p, size, 8, tag);
      live.push({ ptr: p, size, align: 8, tag });
      tag = (tag % 250) + 1;
    }
    if (a.allocate(size, 8) !== NULL)
      fail("I3", "an allocation succeeded right after one of the same size failed");
    if (a.allocate(MAX_SIZE, 8) !== NULL)
      fail("I3", `allocate(${MAX_SIZE}) succeeded on an exhausted allocator`);
    for (const block of live) checkTag(a, block, "I3");
    if (caps.frees && live.length > 0) {
      const last = live.pop()!;
      a.deallocate(last.ptr, last.size, 8);
      b.deallocate(last.ptr, last.size, 8);
      const again = a.allocate(size, 8);
      if (again === NULL)
        fail("I3", "after freeing a block of an exhausted allocator, the same request still fails");
      a.deallocate(again, size, 8);
      b.deallocate(b.allocate(size, 8), size, 8); // the twin does the same, so the comparison below stays fair
    }
    if (caps.deterministic) sameFuture("I3", a, b, [size, 1]);
    if (caps.reset) {
      a.reset();
      if (a.allocate(size, 8) === NULL)
        fail("I7", "allocation failed after reset() of an exhausted allocator");
    }
  });

  run("I6 zeroed over dirty memory", () => {
    const a = make();
    const p = a.allocate(small, 8);
    if (p === NULL) fail("I1", "allocation from a fresh allocator failed");
    a.memory.u8.fill(0xff, p, p + small);
    if (caps.frees) a.deallocate(p, small, 8);
    else if (caps.reset) a.reset();
    const z = a.allocateZeroed(small, 8);
    if (z === NULL) fail("I6", "allocateZeroed failed");
    for (let i = 0; i < small; i++)
      if (a.memory.u8[z + i] !== 0) fail("I6", `byte ${i} of a zeroed block is ${a.memory.u8[z + i]}`);
  });

  run("I5 grow and shrink", () => {
    const a = make();
    const size = Math.max(1, Math.min(32, caps.maxSize >> 1));
    const p = a.allocate(size, 8);
    if (p === NULL) fail("I1", "allocation from a fresh allocator failed");
    const u8 = () => a.memory.u8;
    for (let i = 0; i < size; i++) u8()[p + i] = 0xcc ^ i;
    const bigger = size * 4;
    const g = a.grow(p, size, bigger, 8);
    let cur = p;
    let curSize = size;
    if (g !== NULL) {
      checkBlock(a, g, 0, 8, 0);
      for (let i = 0; i < size; i++) if (u8()[g + i] !== (0xcc ^ i)) fail("I5", `grow lost byte ${i}`);
      cur = g;
      curSize = bigger;
    } else {
      for (let i = 0; i < size; i++)
        if (u8()[p + i] !== (0xcc ^ i)) fail("I5", `a failed grow changed byte ${i} of the old block`);
    }
    const half = Math.max(1, size >> 1);
    const s = a.shrink(cur, curSize, half, 8);
    if (s !== NULL) {
      for (let i = 0; i < half; i++) if (u8()[s + i] !== (0xcc ^ i)) fail("I5", `shrink lost byte ${i}`);
      cur = s;
      curSize = half;
    }
    expectThrows("I9", "grow to a smaller size", () => a.grow(cur, curSize, curSize - 1, 8), LayoutError);
    a.deallocate(cur, curSize, 8);
  });

  run("I7 reset", () => {
    const a = make();
    const p = a.allocate(small, 8);
    if (p === NULL) fail("I1", "allocation from a fresh allocator failed");
    if (!caps.reset) {
      expectThrows("I7", "reset() on an allocator that cannot reset", () => a.reset(), UnsupportedError);
      a.deallocate(p, small, 8);
      return;
    }
    a.reset();
    if (caps.detectsStaleAfterReset) {
      expectThrows(
        "I7",
        "freeing a block issued before reset()",
        () => a.deallocate(p, small, 8),
        InvalidPointerError,
      );
    }
    const q = a.allocate(small, 8);
    if (q === NULL) fail("I7", "allocation failed after reset()");
    a.deallocate(q, small, 8);
  });

  let operations = 0;
  run("I2 random operations against a shadow map", () => {
    const rng = new SeededRandom(caps.seed);
    const a = make();
    const live: Live[] = [];
    let tag = 1;
    for (let op = 0; op < caps.operations; op++) {
      operations++;
      const r = rng.int(0, 99);
      if (r < 55 || live.length === 0) {
        const size = rng.int(1, caps.maxSize);
        const align = rng.powerOfTwo(caps.maxAlign);
        const zeroed = r % 7 === 0;
        const p = zeroed ? a.allocateZeroed(size, align) : a.allocate(size, align);
        if (p === NULL) {
          if (!caps.frees && caps.reset) {
            a.reset();
            live.length = 0;
          } else if (!caps.frees) break;
          continue;
        }
        if (zeroed)
          for (let i = 0; i < size; i++)
            if (a.memory.u8[p + i] !== 0) fail("I6", `byte ${i} of a zeroed block is not 0`);
        checkDisjoint(live, p, size);
        checkBlock(a, p, size, align, tag);
        live.push({ ptr: p, size, align, tag });
        tag = (tag % 250) + 1;
      } else if (r < 90) {
        const i = caps.lifo ? live.length - 1 : rng.int(0, live.length - 1);
        const block = live[i]!;
        checkTag(a, block, "I2");
        a.deallocate(block.ptr, block.size, block.align);
        live[i] = live[live.length - 1]!;
        live.pop();
      } else if (r < 98) {
        const i = caps.lifo ? live.length - 1 : rng.int(0, live.length - 1);
        const block = live[i]!;
        checkTag(a, block, "I2");
        const newSize =
          r < 94 ? Math.min(MAX_SIZE, block.size + rng.int(1, caps.maxSize)) : rng.int(1, block.size);
        const q =
          newSize >= block.size
            ? a.grow(block.ptr, block.size, newSize, block.align)
            : a.shrink(block.ptr, block.size, newSize, block.align);
        if (q === NULL) {
          checkTag(a, block, "I5");
          continue;
        }
        const keep = Math.min(newSize, block.size);
        const moved = { ...block, size: keep };
        if (q !== block.ptr) {
          const u8 = a.memory.u8;
          for (let k = 0; k < keep; k++)
            if (u8[q + k] !== block.tag)
              fail("I5", `resize from 0x${block.ptr.toString(16)} to 0x${q.toString(16)} lost byte ${k}`);
        } else checkTag(a, moved, "I5");
        live.splice(i, 1);
        checkDisjoint(live, q, newSize);
        checkBlock(a, q, newSize, block.align, block.tag);
        live.splice(i, 0, { ptr: q, size: newSize, align: block.align, tag: block.tag });
      } else if (caps.reset) {
        a.reset();
        live.length = 0;
      }
      validate(a, `operation ${op}`);
    }
    for (const block of live) checkTag(a, block, "I2");
  });

  return { checks, operations };
}
