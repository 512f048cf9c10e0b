// The Rust crate's `impl<B: OsBacked> OsBacked for BumpArena<B>` (0.3.6): an arena over an OS mapping is itself
// OsBacked, and an arena over anything else is not; the capability is forwarded exactly, at run time and in the types
// (the type half is pinned in test/type-checks.test.ts).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type Allocator,
  ArrayBufferBacked,
  type FixedRange,
  LayoutError,
  ProtectFlags,
  SharedArrayBufferBacked,
  StaticBacked,
  WasmMemoryBacked,
  isFixedRange,
  isOsBacked,
} from "../index.js";
import { GuardPage, LockedMmapBacked, MmapBacked, PAGE_SIZE, SplitMetadata } from "../os.js";
import { needs } from "../../test/helpers/host.js";
import { BumpArena } from "./index.js";

const OS_CALLS = ["basePtr", "regionSize", "releasePages", "protect"] as const;

describe("BumpArena over an OsBacked backing is OsBacked", () => {
  // The third field: the backing maps memory (needs the addon); the others run on any host.
  const backings: [string, () => FixedRange & Allocator, boolean][] = [
    ["ArrayBufferBacked", () => new ArrayBufferBacked(1 << 16), false],
    ["SharedArrayBufferBacked", () => new SharedArrayBufferBacked(1 << 16), false],
    ["WasmMemoryBacked", () => new WasmMemoryBacked({ initial: 1 }), false],
    ["StaticBacked (a view)", () => new StaticBacked(new Uint8Array(1 << 16)), false],
    ["StaticBacked.carve of a mapping", () => StaticBacked.carve(new MmapBacked(1 << 16), 1 << 14), true],
    ["MmapBacked", () => new MmapBacked(1 << 16), true],
    ["LockedMmapBacked", () => new LockedMmapBacked(1 << 14), true],
    ["GuardPage<MmapBacked> (not OsBacked, as in Rust)", () => new GuardPage(new MmapBacked(1 << 16)), true],
    [
      "SplitMetadata<MmapBacked>",
      () => new SplitMetadata(new MmapBacked(1 << 16), { metaSize: PAGE_SIZE }) as never,
      true,
    ],
  ];
  for (const [name, make, mapped] of backings) {
    test(`over ${name}: OsBacked exactly when the backing is`, mapped ? needs("linux", "addon") : {}, () => {
      const backing = make();
      const arena = new BumpArena(backing);
      const os = isOsBacked(backing);
      assert.equal(isOsBacked(arena), os);
      assert.equal(isFixedRange(arena), true);
      for (const call of OS_CALLS) {
        assert.equal(
          typeof (arena as unknown as Record<string, unknown>)[call],
          os ? "function" : "undefined",
          call,
        );
      }
      if (os) {
        assert.equal(arena.basePtr!(), (backing as unknown as MmapBacked).basePtr());
        assert.equal(arena.regionSize!(), (backing as unknown as MmapBacked).regionSize());
      }
    });
  }

  test(
    "releasePages reaches the mapping: a reset arena's pages read as zeros and are used again",
    needs("linux", "addon"),
    () => {
      const arena = new BumpArena(new MmapBacked(1 << 16));
      const p = arena.allocate(3 * PAGE_SIZE, PAGE_SIZE);
      arena.memory.u8.fill(0xab, p, p + 3 * PAGE_SIZE);
      arena.reset();
      arena.releasePages(arena.basePtr(), arena.regionSize());
      assert.ok(arena.memory.u8.subarray(p, p + 3 * PAGE_SIZE).every((b) => b === 0));
      const q = arena.allocate(64);
      arena.memory.u8[q] = 7;
      assert.equal(arena.memory.u8[q], 7);
    },
  );

  test("protect reaches the mapping, with its checks", needs("linux", "addon"), () => {
    const arena = new BumpArena(new MmapBacked(1 << 16));
    arena.protect(PAGE_SIZE, PAGE_SIZE, ProtectFlags.READ);
    arena.protect(PAGE_SIZE, PAGE_SIZE, ProtectFlags.RW);
    arena.memory.u8[PAGE_SIZE] = 1; // writable again
    assert.throws(() => arena.protect(PAGE_SIZE + 1, PAGE_SIZE, ProtectFlags.RW), LayoutError);
    assert.throws(() => arena.protect(PAGE_SIZE, PAGE_SIZE, 9 as never), LayoutError);
  });

  test(
    "an OS-backed arena stands where an OsBacked is required (a wrapper forwards it on)",
    needs("linux", "addon"),
    () => {
      const arena = new BumpArena(new MmapBacked(1 << 16));
      const split = new SplitMetadata(arena, { metaSize: PAGE_SIZE });
      assert.equal(isOsBacked(split), true);
      assert.equal(split.regionSize(), 1 << 16);
      assert.notEqual(split.allocate(64), 0); // from the arena
      assert.equal(arena.allocated(), 64);
      split.dispose();
    },
  );
});
