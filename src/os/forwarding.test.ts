// Exact capability forwarding (issue 14): every OS wrapper over every kind of inner has the FixedRange methods
// (commit included) and the OsBacked methods if and only if its inner has them, and isFixedRange/isOsBacked give
// the inner's answer, nested wrappers included.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ArrayBufferBacked, BumpArena, Slab } from "../index.js";
import { type Allocator, WRAPS, isFixedRange, isOsBacked } from "../core/index.js";
import {
  GuardPage,
  HugePageAligned,
  MmapBacked,
  NodeSet,
  NumaLocal,
  NumaPolicy,
  SplitMetadata,
} from "./index.js";
import { needs } from "../../test/helpers/host.js";

const FIXED = ["base", "size", "commit", "contains"] as const;
const OS = ["basePtr", "regionSize", "releasePages", "protect"] as const;

const has = (value: object, names: readonly string[]): boolean[] =>
  names.map((n) => typeof (value as Record<string, unknown>)[n] === "function");

/** An OsBacked allocator that is not a FixedRange: an MmapBacked with its FixedRange methods taken away. */
function osOnly(): Allocator & { dispose(): void } {
  const region = new MmapBacked(8 << 20, { alignment: 2 << 20 });
  for (const n of FIXED) Object.defineProperty(region, n, { value: undefined });
  return region;
}

interface Inner {
  name: string;
  make: () => Allocator & { dispose?: () => void };
}

const INNERS: Inner[] = [
  { name: "MmapBacked (OsBacked + FixedRange)", make: () => new MmapBacked(8 << 20, { alignment: 2 << 20 }) },
  { name: "OsBacked, not a FixedRange", make: osOnly },
  {
    name: "HugePageAligned<MmapBacked>",
    make: () => new HugePageAligned(new MmapBacked(8 << 20, { alignment: 2 << 20 })),
  },
  {
    name: "HugePageAligned<OsBacked only>",
    make: () => new HugePageAligned(osOnly() as unknown as MmapBacked),
  },
  {
    name: "NumaLocal<MmapBacked>",
    make: () =>
      new NumaLocal(new MmapBacked(8 << 20, { alignment: 2 << 20 }), NumaPolicy.preferred(0), {
        allowUnenforced: true,
      }),
  },
  { name: "ArrayBufferBacked (FixedRange, not OsBacked)", make: () => new ArrayBufferBacked(1 << 16) },
  {
    name: "Slab (neither)",
    make: () => new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 16 }),
  },
];

interface WrapperKind {
  name: string;
  /** Only OsBacked inners are accepted. */
  needsOs: boolean;
  wrap: (inner: Allocator) => Allocator;
}

const WRAPPERS: WrapperKind[] = [
  {
    name: "NumaLocal",
    needsOs: true,
    wrap: (inner) =>
      new NumaLocal(inner as MmapBacked, NumaPolicy.bind(NodeSet.single(0)!), { allowUnenforced: true }),
  },
  {
    name: "HugePageAligned",
    needsOs: true,
    wrap: (inner) => new HugePageAligned(inner as MmapBacked),
  },
  { name: "SplitMetadata", needsOs: false, wrap: (inner) => new SplitMetadata(inner, { metaSize: 4096 }) },
];

describe(
  "OS wrappers forward FixedRange and OsBacked exactly when the inner has them",
  needs("linux", "addon"),
  () => {
    for (const w of WRAPPERS) {
      for (const inner of INNERS) {
        test(`${w.name} over ${inner.name}`, () => {
          const base = inner.make();
          try {
            if (w.needsOs && !isOsBacked(base)) {
              assert.throws(() => w.wrap(base), /must be OsBacked/);
              return;
            }
            const wrapped = w.wrap(base);
            const fixed = isFixedRange(base);
            const os = isOsBacked(base);
            assert.equal(isFixedRange(wrapped), fixed, "isFixedRange matches the inner");
            assert.equal(isOsBacked(wrapped), os, "isOsBacked matches the inner");
            assert.deepEqual(
              has(wrapped, FIXED),
              FIXED.map(() => fixed),
              "FixedRange methods iff the inner's",
            );
            assert.deepEqual(
              has(wrapped, OS),
              OS.map(() => os),
              "OsBacked methods iff the inner's",
            );
            const info = (wrapped as unknown as { [WRAPS]: { fixedRange: boolean; osBacked: boolean } })[
              WRAPS
            ];
            assert.deepEqual([info.fixedRange, info.osBacked], [fixed, os], "WRAPS reports the same");
            if (fixed) {
              const r = wrapped as unknown as {
                base(): number;
                size(): number;
                commit(p: number, l: number): boolean;
              };
              const b = base as unknown as typeof r;
              assert.deepEqual([r.base(), r.size()], [b.base(), b.size()]);
              assert.equal(r.commit(r.base(), 8), b.commit(b.base(), 8), "commit forwarded");
            }
            // Nesting: a second wrapper over the first gives the same answers again.
            if (!w.needsOs || os) {
              const twice =
                w.name === "HugePageAligned"
                  ? new SplitMetadata(wrapped, { metaSize: 4096 })
                  : w.wrap(wrapped);
              assert.equal(isFixedRange(twice), fixed);
              assert.equal(isOsBacked(twice), os);
              (twice as { dispose?: () => void }).dispose?.();
            }
            (wrapped as { dispose?: () => void }).dispose?.();
          } finally {
            (base as { dispose?: () => void }).dispose?.();
            (base as { inner?: { dispose?: () => void } }).inner?.dispose?.();
          }
        });
      }
    }

    test("isFixedRange(new NumaLocal(new HugePageAligned(...))) matches the inner, and a carving layout refuses the stack", () => {
      using region = new MmapBacked(8 << 20, { alignment: 2 << 20 });
      const hp = new HugePageAligned(region);
      const local = new NumaLocal(hp, NumaPolicy.bind(NodeSet.single(0)!), { allowUnenforced: true });
      assert.equal(isFixedRange(local), isFixedRange(hp));
      // HugePageAligned's alignment lives in allocate; a pass-through above it must not hide that from a carver.
      assert.throws(() => new BumpArena(local), /would do nothing/);
      assert.throws(() => new GuardPage(local), /would do nothing/);
      const p = local.allocate(100);
      assert.equal(p % (2 << 20), 0, "allocations through the stack keep the huge-page alignment");
    });

    test("over a non-FixedRange inner the FixedRange calls are absent, not throwing later (the seed's bound)", () => {
      const inner = osOnly();
      try {
        const local = new NumaLocal(inner as unknown as MmapBacked, NumaPolicy.preferred(0), {
          allowUnenforced: true,
        });
        assert.equal((local as unknown as { commit?: unknown }).commit, undefined);
        assert.throws(() => new BumpArena(local as never), /must be a FixedRange/);
      } finally {
        inner.dispose();
      }
    });
  },
);
