// The refused-call matrix: every public method of every slab layout and hardening wrapper, driven with every bad
// JavaScript value and every refused case of issue #11, must throw the typed error, name the public class the user
// called, and leave the allocator's observable state (live blocks, counters, the bytes of memory, its size) as it was.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  type Allocator,
  ArrayBufferBacked,
  BumpArena,
  CacheJitter,
  Canary,
  CorruptionError,
  Faulty,
  InvalidPointerError,
  LayoutError,
  NULL,
  NeverFail,
  PoisonOnFree,
  Quarantine,
  SharedArrayBufferBacked,
  SizeClassed,
  Slab,
  SlabOwner,
  StackAlloc,
  StaticBacked,
  Statistics,
  Tlsf,
  SharedBumpArena,
  SlabRemote,
  Heap,
  ConcurrentHeap,
  ExtendableSlab,
  Watermark,
  WithFallback,
  UnsupportedError,
  ZeroizeOnFree,
} from "../src/index.js";
import { isValidLayout } from "../src/core/validate.js";

/** The stable `code` each error class carries (src/core/errors.ts). */
const CODES = new Map<new (...args: never[]) => Error, string>([
  [AllocError, "ERR_ALLOC"],
  [LayoutError, "ERR_LAYOUT"],
  [InvalidPointerError, "ERR_INVALID_POINTER"],
  [CorruptionError, "ERR_CORRUPTION"],
  [UnsupportedError, "ERR_UNSUPPORTED"],
]);

/** Every kind of bad value a size, an alignment or a pointer may be given. */
const BAD_VALUES: readonly [string, unknown][] = [
  ["a BigInt", 8n],
  ["a Symbol", Symbol("eight")],
  ["an object", { size: 8 }],
  ["a string", "8"],
  ["null", null],
  ["NaN", NaN],
  ["Infinity", Infinity],
  ["a negative number", -8],
  ["a fraction", 8.5],
  ["a huge number", 2 ** 40],
];

const slab = (blockSize = 64, capacity = 64): Slab =>
  new Slab(new ArrayBufferBacked(1 << 16), { blockSize, capacity });

interface Subject {
  /** The public class the user calls, as messages must name it. */
  readonly name: string;
  readonly make: () => Allocator;
}

const SUBJECTS: readonly Subject[] = [
  { name: "Slab", make: () => slab() },
  { name: "Tlsf", make: () => new Tlsf(new ArrayBufferBacked(1 << 16)) },
  { name: "Heap", make: () => new Heap(new ArrayBufferBacked(1 << 18)) },
  { name: "ConcurrentHeap", make: () => new ConcurrentHeap(new SharedArrayBufferBacked(1 << 18)) },
  {
    name: "SlabOwner",
    make: () => new SlabOwner(new SharedArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 16 }),
  },
  {
    name: "ExtendableSlab",
    make: () => new ExtendableSlab(new ArrayBufferBacked(1 << 16), { blockSize: 64, initialCapacity: 16 }),
  },
  { name: "SizeClassed", make: () => new SizeClassed(new Tlsf(new ArrayBufferBacked(1 << 16))) },
  { name: "StackAlloc", make: () => new StackAlloc(new ArrayBufferBacked(1 << 16)) },
  {
    name: "WithFallback",
    make: () => {
      const backing = new ArrayBufferBacked(1 << 16);
      return new WithFallback(
        new Slab(backing, { blockSize: 64, capacity: 16 }),
        new Tlsf(StaticBacked.carve(backing, 1 << 14)),
      );
    },
  },
  { name: "Statistics", make: () => new Statistics(slab()) },
  { name: "Watermark", make: () => new Watermark(slab()) },
  { name: "PoisonOnFree", make: () => new PoisonOnFree(slab(), { checkOnReuse: true }) },
  { name: "ZeroizeOnFree", make: () => new ZeroizeOnFree(slab()) },
  { name: "Quarantine", make: () => new Quarantine(slab(), 4) },
  { name: "Canary", make: () => new Canary(slab()) },
  {
    name: "CacheJitter",
    make: () =>
      new CacheJitter(new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 512, capacity: 16, align: 64 }), {
        line: 64,
        assoc: 4,
        seed: 7,
      }),
  },
  { name: "Faulty", make: () => new Faulty(slab(), new NeverFail()) },
  // A stack: every refusal below must name the outermost object, never an inner one.
  { name: "Statistics", make: () => new Statistics(new PoisonOnFree(new Quarantine(new Canary(slab()), 2))) },
];

/** What a user can observe of an allocator without changing it. */
function observe(a: Allocator, live: readonly number[]): unknown {
  const x = a as unknown as Record<string, unknown>;
  // a method's answer; undefined where `a` has no such method (a field of that name is not called)
  const ask = (name: string): unknown => {
    const f = x[name];
    return typeof f === "function" ? (f as () => unknown).call(a) : undefined;
  };
  let regions: unknown = "none";
  try {
    regions = ask("regions") ?? "none";
  } catch {
    regions = "cannot list";
  }
  // the queries first: one may publish counts into the memory (SharedBumpArena.stats() flushes its own), so the
  // bytes are read after them, the same way before and after the refused call
  const stats = ask("stats");
  const watermark = ask("allocatedBytes");
  const pending = ask("pending");
  const liveCount = ask("liveCount");
  return {
    byteLength: a.memory.byteLength,
    bytes: Buffer.from(a.memory.u8).toString("base64"),
    usable: live.map((p) => a.usableSize(p, 8)),
    corruption: a.corruptionEvents(),
    capacity: a.capacityBytes(),
    stats,
    watermark,
    pending,
    liveCount,
    regions,
  };
}

/** Two live blocks with distinct bytes: the state every refused call must leave as it found it. */
function setUp(subject: Subject): { a: Allocator; live: number[] } {
  const a = subject.make();
  const live = [a.allocate(8), a.allocate(8)];
  for (const p of live) {
    assert.notEqual(p, NULL);
    for (let i = 0; i < 8; i++) a.memory.u8[p + i] = (p + i) & 255;
  }
  return { a, live };
}

/** Calls `call` on `a`, which must throw `type` naming `name`, and checks that nothing observable changed. */
function expectRefusal(
  name: string,
  a: Allocator,
  live: number[],
  what: string,
  type: new (...args: never[]) => Error,
  call: (a: Allocator, live: number[]) => unknown,
): void {
  const before = observe(a, live);
  assert.throws(
    () => call(a, live),
    (e: unknown) => {
      assert.ok(e instanceof type, `${name}: ${what}: expected ${type.name}, got ${String(e)}`);
      assert.equal(
        (e as { code?: unknown }).code,
        CODES.get(type),
        `${name}: ${what}: the error's stable code`,
      );
      assert.ok(
        (e as Error).message.startsWith(`${name}.`),
        `${name}: ${what}: the message must name ${name}: ${(e as Error).message}`,
      );
      return true;
    },
    `${name}: ${what} was accepted`,
  );
  assert.deepEqual(observe(a, live), before, `${name}: ${what} changed the allocator`);
  // ... and it still works: the live blocks free (newest first, for the stack), and a new one can be had.
  for (const p of [...live].reverse()) a.deallocate(p, 8);
  const q = a.allocate(8);
  assert.notEqual(q, NULL);
  a.deallocate(q, 8);
}

/** {@link expectRefusal} on a fresh subject with two live blocks. */
function refuses(
  subject: Subject,
  what: string,
  type: new (...args: never[]) => Error,
  call: (a: Allocator, live: number[]) => unknown,
): void {
  const { a, live } = setUp(subject);
  expectRefusal(subject.name, a, live, what, type, call);
}

for (const subject of SUBJECTS) {
  describe(`${subject.name} (${subject.make().constructor.name} over ...) refuses`, () => {
    test("every bad size and alignment in allocate and allocateZeroed with LayoutError", () => {
      for (const [label, bad] of [...BAD_VALUES, ["zero", 0] as [string, unknown]]) {
        refuses(subject, `allocate(${label})`, LayoutError, (a) => a.allocate(bad as number));
        refuses(subject, `allocateZeroed(${label})`, LayoutError, (a) => a.allocateZeroed(bad as number));
        refuses(subject, `allocate(8, ${label})`, LayoutError, (a) => a.allocate(8, bad as number));
      }
      refuses(subject, "allocate(8, 3)", LayoutError, (a) => a.allocate(8, 3));
    });

    test("every bad pointer in deallocate, grow, shrink and usableSize with InvalidPointerError", () => {
      const pointers: [string, unknown][] = [
        ...BAD_VALUES,
        ["0 (NULL)", 0],
        ["an interior offset", "interior"],
      ];
      for (const [label, value] of pointers) {
        const ptr = (live: number[]): number => (value === "interior" ? live[1]! + 4 : (value as number));
        refuses(subject, `deallocate(${label})`, InvalidPointerError, (a, l) => a.deallocate(ptr(l), 8));
        refuses(subject, `grow(${label})`, InvalidPointerError, (a, l) => a.grow(ptr(l), 8, 16));
        refuses(subject, `shrink(${label})`, InvalidPointerError, (a, l) => a.shrink(ptr(l), 8, 4));
        refuses(subject, `usableSize(${label})`, InvalidPointerError, (a, l) => a.usableSize(ptr(l), 8));
      }
    });

    test("a double free, and a resize or query of a freed block, with InvalidPointerError", () => {
      const calls: [string, (a: Allocator, freed: number) => unknown][] = [
        ["a double free", (a, freed) => a.deallocate(freed, 8)],
        ["a grow of a freed block", (a, freed) => a.grow(freed, 8, 16)],
        ["a shrink of a freed block", (a, freed) => a.shrink(freed, 8, 4)],
        ["usableSize of a freed block", (a, freed) => a.usableSize(freed, 8)],
      ];
      for (const [what, call] of calls) {
        const { a, live } = setUp(subject);
        const freed = live.pop()!;
        a.deallocate(freed, 8);
        expectRefusal(subject.name, a, live, what, InvalidPointerError, (b) => call(b, freed));
      }
    });

    test("every bad size and alignment on a live block with LayoutError", () => {
      for (const [label, bad] of BAD_VALUES) {
        const b = bad as number;
        refuses(subject, `deallocate(p, ${label})`, LayoutError, (a, l) => a.deallocate(l[1]!, b));
        refuses(subject, `deallocate(p, 8, ${label})`, LayoutError, (a, l) => a.deallocate(l[1]!, 8, b));
        refuses(subject, `grow(p, ${label}, 16)`, LayoutError, (a, l) => a.grow(l[1]!, b, 16));
        refuses(subject, `grow(p, 8, ${label})`, LayoutError, (a, l) => a.grow(l[1]!, 8, b));
        refuses(subject, `grow(p, 8, 16, ${label})`, LayoutError, (a, l) => a.grow(l[1]!, 8, 16, b));
        refuses(subject, `shrink(p, 8, ${label})`, LayoutError, (a, l) => a.shrink(l[1]!, 8, b));
        refuses(subject, `usableSize(p, ${label})`, LayoutError, (a, l) => a.usableSize(l[1]!, b));
      }
      refuses(subject, "grow to a smaller size", LayoutError, (a, l) => a.grow(l[1]!, 8, 4));
      refuses(subject, "shrink to a larger size", LayoutError, (a, l) => a.shrink(l[1]!, 8, 16));
    });

    test("a free with an alignment the block cannot have with LayoutError, before anything is written", () => {
      refuses(subject, "deallocate(p, 8, 4096)", LayoutError, (a, l) => a.deallocate(l[1]!, 8, 4096));
      refuses(subject, "grow(p, 8, 16, 4096)", LayoutError, (a, l) => a.grow(l[1]!, 8, 16, 4096));
    });
  });
}

test("the one layout check (isValidLayout) is exact on every kind of value, and never throws", () => {
  const values: unknown[] = [...BAD_VALUES.map(([, v]) => v), 0, 1, 2, 3, 7, 8, 4096, 2 ** 21, 2 ** 21 + 1];
  values.push(2 ** 22, 2 ** 30 - 1, 2 ** 30, 2 ** 30 + 1, 2 ** 31, -(2 ** 31), undefined, true, [8], 1e-300);
  const size = (v: unknown): boolean =>
    typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 2 ** 30;
  const align = (v: unknown): boolean =>
    typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 2 ** 21 && (v & (v - 1)) === 0;
  for (const s of values) {
    for (const a of values) {
      assert.equal(
        isValidLayout(s as number, a as number),
        size(s) && align(a),
        `${String(s)}, ${String(a)}`,
      );
    }
  }
});

/**
 * The bump layouts free only their newest block (or nothing), so the subjects' double-free checks do not apply to
 * them; every bad value they are given still gets a typed error naming them, and changes nothing.
 */
const BUMP_SUBJECTS: readonly Subject[] = [
  { name: "BumpArena", make: () => new BumpArena(new ArrayBufferBacked(1 << 16)) },
  { name: "SharedBumpArena", make: () => new SharedBumpArena(new SharedArrayBufferBacked(1 << 16)) },
];

for (const subject of BUMP_SUBJECTS) {
  test(`${subject.name} refuses every bad value in every call with a typed error, and changes nothing`, () => {
    for (const [label, bad] of [...BAD_VALUES, ["zero", 0] as [string, unknown]]) {
      const b = bad as number;
      refuses(subject, `allocate(${label})`, LayoutError, (a) => a.allocate(b));
      refuses(subject, `allocateZeroed(${label})`, LayoutError, (a) => a.allocateZeroed(b));
      refuses(subject, `allocate(8, ${label})`, LayoutError, (a) => a.allocate(8, b));
      refuses(subject, `deallocate(${label}, 8)`, InvalidPointerError, (a) => a.deallocate(b, 8));
      refuses(subject, `usableSize(${label}, 8)`, InvalidPointerError, (a) => a.usableSize(b, 8));
      refuses(subject, `grow(${label}, 8, 16)`, InvalidPointerError, (a) => a.grow(b, 8, 16));
      refuses(subject, `shrink(${label}, 8, 4)`, InvalidPointerError, (a) => a.shrink(b, 8, 4));
      if (label !== "zero") {
        refuses(subject, `deallocate(p, ${label})`, LayoutError, (a, l) => a.deallocate(l[1]!, b));
        refuses(subject, `grow(p, 8, ${label})`, LayoutError, (a, l) => a.grow(l[1]!, 8, b));
      }
    }
  });
}

test("SlabRemote refuses every bad pointer with InvalidPointerError, and queues nothing", () => {
  const owner = new SlabOwner(new SharedArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 16 });
  const remote = SlabRemote.attach(owner.share());
  const p = owner.allocate(64);
  for (const [label, bad] of [...BAD_VALUES, ["0 (NULL)", 0], ["an interior offset", p + 4]] as [
    string,
    unknown,
  ][]) {
    assert.throws(
      () => remote.deallocate(bad as number),
      (e: unknown) =>
        e instanceof InvalidPointerError &&
        e.code === "ERR_INVALID_POINTER" &&
        e.message.startsWith("SlabRemote"),
      label,
    );
  }
  assert.equal(owner.ring.pending(), 0);
  remote.deallocate(p);
  assert.equal(owner.drain(), 1);
  owner.close();
});

describe("the refused cases of issue #11 change nothing", () => {
  test("Quarantine: a wrong alignment is refused at once, not queued to fail on every later free", () => {
    const q = new Quarantine(slab(), 2);
    const p = q.allocate(8);
    assert.throws(() => q.deallocate(p, 8, 64), LayoutError);
    assert.equal(q.pending(), 0);
    for (let i = 0; i < 4; i++) q.deallocate(q.allocate(8), 8); // later frees and evictions still work
    q.deallocate(p, 8);
  });

  test("Quarantine: grow and shrink of a quarantined block allocate nothing before refusing", () => {
    const inner = slab(16, 8);
    const q = new Statistics(new Quarantine(inner, 4));
    const p = q.allocate(8);
    q.deallocate(p, 8);
    const live = inner.liveCount();
    const stats = q.stats();
    assert.throws(() => q.grow(p, 8, 16), /Statistics\.grow: .*quarantine/);
    assert.throws(() => q.shrink(p, 8, 4), /Statistics\.shrink: .*quarantine/);
    assert.equal(inner.liveCount(), live);
    assert.deepEqual(q.stats(), stats);
  });

  for (const Scrubber of [PoisonOnFree, ZeroizeOnFree]) {
    test(`${Scrubber.name}: a wrong alignment on free is refused before the block is overwritten`, () => {
      const s = new Scrubber(slab());
      const p = s.allocate(8);
      s.memory.u8.fill(0x5a, p, p + 8);
      assert.throws(
        () => s.deallocate(p, 8, 16),
        (e: unknown) => e instanceof LayoutError,
      );
      assert.deepEqual([...s.memory.u8.subarray(p, p + 8)], new Array(8).fill(0x5a));
      s.deallocate(p, 8);
    });
  }

  test("Watermark: a handler that throws during a moving grow loses no block", () => {
    const fired: string[] = [];
    const inner = slab(64, 4);
    const w = new Statistics(
      new Watermark(
        new Canary(inner), // Canary moves every grow
        {
          onWarn: () => {
            fired.push("warn");
            throw new Error("handler failed");
          },
        },
        { warn: 0.125, critical: 0.9 }, // 32 of the slab's 256 bytes: the grow to 40 crosses it
      ),
    );
    const p = w.allocate(8);
    w.memory.u8.fill(0x33, p, p + 8);
    const live = inner.liveCount();
    const stats = w.stats();
    assert.throws(() => w.grow(p, 8, 40), /handler failed/);
    assert.deepEqual(fired, ["warn"]);
    assert.equal(inner.liveCount(), live, "no block allocated or freed");
    assert.deepEqual(w.stats(), stats);
    assert.deepEqual([...w.memory.u8.subarray(p, p + 8)], new Array(8).fill(0x33));
    const q = w.grow(p, 8, 40); // the level fired once; the grow now goes through
    assert.deepEqual([...w.memory.u8.subarray(q, q + 8)], new Array(8).fill(0x33));
    w.deallocate(q, 40);
    assert.equal(inner.liveCount(), 0);
  });

  test("Watermark: a handler that throws after an allocation gets the block freed again", () => {
    const inner = slab(64, 4);
    const w = new Statistics(
      new Watermark(
        inner,
        {
          onWarn: () => {
            throw new Error("handler failed");
          },
        },
        { warn: 0.25 },
      ),
    );
    const stats = w.stats();
    assert.throws(() => w.allocate(64), /handler failed/);
    assert.equal(inner.liveCount(), 0);
    assert.deepEqual(w.stats(), stats);
  });

  test("Canary: a smashed canary is reported as corruption by the outermost object, and the block stays", () => {
    const inner = slab();
    const stack = new Statistics(new Canary(inner));
    const p = stack.allocate(8);
    stack.memory.u8[p + 8]! ^= 0xff;
    const stats = stack.stats();
    assert.throws(
      () => stack.deallocate(p, 8),
      (e: unknown) =>
        e instanceof CorruptionError &&
        /^Statistics\.deallocate: the guard word after/.test((e as Error).message),
    );
    assert.equal(stack.corruptionEvents(), 1);
    assert.deepEqual(
      stack.stats(),
      { ...stats, corruptionEvents: 1 },
      "counted as corruption, not as a free",
    );
    assert.equal(inner.liveCount(), 1, "a corrupted block is not freed");
  });

  test("SlabOwner: a refused construction keeps none of the backing's bytes", () => {
    const backing = new Tlsf(new SharedArrayBufferBacked(1 << 16));
    const regions = JSON.stringify(backing.regions());
    const bad: [string, unknown][] = [
      ["a bad policy", { blockSize: 64, capacity: 16, policy: { kind: "other" } }],
      ["a bad ring", { blockSize: 64, capacity: 16, ringCapacity: 3 }],
      ["a bad block size", { blockSize: 0n, capacity: 16 }],
      ["a bad alignment", { blockSize: 64, capacity: 16, align: 3 }],
      ["too many blocks", { blockSize: 1 << 20, capacity: 1 << 20 }],
      ["more than the backing has", { blockSize: 64, capacity: 1 << 12 }],
    ];
    for (const [label, options] of bad) {
      assert.throws(
        () => new SlabOwner(backing, options as never),
        (e: unknown) => e instanceof AllocError, // the ring's own check names RemoteFreeRing
        label,
      );
      assert.equal(JSON.stringify(backing.regions()), regions, `${label}: the backing changed`);
    }
  });

  test("constructors refuse bad options of every JavaScript type with AllocError", () => {
    for (const [label, bad] of BAD_VALUES) {
      const b = bad as number;
      const cases: [string, () => unknown][] = [
        ["Slab blockSize", () => new Slab(new ArrayBufferBacked(1 << 12), { blockSize: b, capacity: 4 })],
        ["Slab capacity", () => new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 8, capacity: b })],
        [
          "Slab align",
          () => new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 8, capacity: 4, align: b }),
        ],
        ["StackAlloc maxDepth", () => new StackAlloc(new ArrayBufferBacked(1 << 12), { maxDepth: b })],
        ["SizeClassed slotsPerClass", () => new SizeClassed(slab(), { slotsPerClass: b })],
        ["SizeClassed classes", () => new SizeClassed(slab(), { classes: [b] })],
        ...(typeof bad === "object" && bad !== null
          ? [] // an object is the options form of Quarantine's second argument
          : [["Quarantine epochs", () => new Quarantine(slab(), b)] as [string, () => unknown]]),
        ["Quarantine { epochs }", () => new Quarantine(slab(), { epochs: b })],
        ["PoisonOnFree pattern", () => new PoisonOnFree(slab(), { pattern: b })],
        ["Watermark warn", () => new Watermark(slab(), {}, { warn: b })],
        ["CacheJitter line", () => new CacheJitter(slab(), { line: b })],
        ["CacheJitter assoc", () => new CacheJitter(slab(), { assoc: b })],
      ];
      const required = new Set(["Slab blockSize", "Slab capacity", "SizeClassed classes"]);
      for (const [what, make] of cases) {
        if (bad === null && !required.has(what)) continue; // null in an optional option means its default
        assert.throws(make, (e: unknown) => e instanceof AllocError, `${what} = ${label}`);
      }
    }
  });

  test("BumpArena under WithFallback: a bad pointer is refused by WithFallback, whichever part it falls in", () => {
    const backing = new ArrayBufferBacked(1 << 16);
    const w = new WithFallback(
      new Slab(backing, { blockSize: 64, capacity: 4 }),
      new BumpArena(StaticBacked.carve(backing, 1 << 12)),
    );
    const p = w.allocate(64);
    for (const bad of [p + 1, 1 << 15, Symbol("p")]) {
      assert.throws(
        () => w.usableSize(bad as number, 8),
        (e: unknown) =>
          e instanceof InvalidPointerError && /^WithFallback\.usableSize/.test((e as Error).message),
      );
    }
    w.deallocate(p, 64);
  });
});
