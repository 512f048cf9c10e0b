// Real mappings: mmap, madvise, mprotect, detach + munmap, huge pages. Crashes run in child processes.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { AllocError, InvalidPointerError, LayoutError, ProtectFlags, isFixedRange } from "../core/index.js";
import { BumpArena } from "../layout/index.js";
import { CORE, OS, runChild } from "../../test/helpers/child.js";
import {
  HugePageAligned,
  HugePageBacked,
  MmapBacked,
  OsError,
  PAGE_SIZE,
  clearLastOsError,
  hugePagePool,
  hugePageSizes,
  lastOsError,
} from "./index.js";
import { native } from "./native.js";
import { CONFORMANCE_CHECKS, runConformance } from "../testing/index.js";
import { needs } from "../../test/helpers/host.js";

describe("MmapBacked", needs("linux", "addon"), () => {
  test("maps whole pages into a Memory of kind os, and its bytes read and write", () => {
    using region = new MmapBacked(5000);
    assert.equal(region.regionSize(), 2 * PAGE_SIZE);
    assert.equal(region.memory.kind, "os");
    assert.equal(region.memory.byteLength, 2 * PAGE_SIZE);
    const p = region.allocate(64, 16);
    region.memory.f64[p >>> 3] = 2.5;
    assert.equal(region.memory.f64[p >>> 3], 2.5);
    assert.equal(region.memory.u8[PAGE_SIZE + 1], 0, "anonymous pages start zeroed");
  });

  test("alignment: the mapping's address is a multiple of it", () => {
    using region = new MmapBacked(4 << 20, { alignment: 2 << 20, populate: true });
    assert.ok(native.baseAlignment(region.memory.buffer as ArrayBuffer) >= 2 << 20);
    assert.throws(() => new MmapBacked(4096, { alignment: 3000 }), /alignment 3000 is not valid/);
  });

  test("releasePages gives pages back: they read as zeros and the neighbours keep their bytes", () => {
    using region = new MmapBacked(4 * PAGE_SIZE);
    const u8 = region.memory.u8;
    u8.fill(0xab);
    region.releasePages(PAGE_SIZE, 2 * PAGE_SIZE);
    assert.equal(u8[PAGE_SIZE - 1], 0xab);
    assert.equal(u8[PAGE_SIZE], 0);
    assert.equal(u8[3 * PAGE_SIZE - 1], 0);
    assert.equal(u8[3 * PAGE_SIZE], 0xab);
  });

  test("releasePages and protect reject ranges that are not whole pages or leave the mapping", () => {
    using region = new MmapBacked(4 * PAGE_SIZE);
    for (const [ptr, size] of [
      [1, PAGE_SIZE],
      [0, 100],
      [0, 0],
      [0.5, PAGE_SIZE],
      [NaN, PAGE_SIZE],
    ] as const) {
      assert.throws(() => region.releasePages(ptr, size), LayoutError, `${ptr} ${size}`);
      assert.throws(() => region.protect(ptr, size, ProtectFlags.READ), LayoutError);
    }
    assert.throws(() => region.releasePages(3 * PAGE_SIZE, 2 * PAGE_SIZE), InvalidPointerError);
    assert.throws(() => region.protect(-PAGE_SIZE, PAGE_SIZE, ProtectFlags.READ), InvalidPointerError);
    assert.throws(() => region.protect(0, PAGE_SIZE, 9 as never), /not one of ProtectFlags/);
  });

  test("protect(READ) keeps the page readable; a write to it kills a child process with SIGSEGV", () => {
    using region = new MmapBacked(2 * PAGE_SIZE);
    region.memory.u8[10] = 5;
    region.protect(0, PAGE_SIZE, ProtectFlags.READ);
    assert.equal(region.memory.u8[10], 5);
    region.protect(0, PAGE_SIZE, ProtectFlags.RW);
    const r = runChild(`
      const { MmapBacked } = await import(${JSON.stringify(OS)});
      const { ProtectFlags } = await import(${JSON.stringify(CORE)});
      const region = new MmapBacked(8192);
      region.protect(0, 4096, ProtectFlags.READ);
      console.log("read", region.memory.u8[1]);
      region.memory.u8[1] = 1;
      console.log("survived");`);
    assert.equal(r.signal, "SIGSEGV", r.stderr);
    assert.match(r.stdout, /read 0/);
    assert.doesNotMatch(r.stdout, /survived/);
  });

  test("dispose zeroes the contents at once for every view (no detach, no crash), once", () => {
    const region = new MmapBacked(PAGE_SIZE);
    const p = region.allocate(8);
    const view = region.memory.u8;
    const f64 = region.memory.f64;
    view.fill(0xab);
    region.dispose();
    assert.equal(view.length, PAGE_SIZE);
    assert.equal(f64[0], 0);
    assert.equal(view[p], 0);
    assert.equal(
      view.every((b) => b === 0),
      true,
      "the old contents are gone",
    );
    assert.equal(region.disposed, true);
    region.dispose(); // idempotent
    assert.throws(
      () => region.allocate(8),
      (e: unknown) => e instanceof AllocError && /used after dispose/.test((e as Error).message),
    );
    assert.throws(() => region.releasePages(0, PAGE_SIZE), /used after dispose/);
  });

  test("`using` disposes at the end of the block", () => {
    let view: Uint8Array;
    let r: MmapBacked;
    {
      using region = new MmapBacked(PAGE_SIZE);
      r = region;
      view = region.memory.u8;
      view[0] = 1;
    }
    assert.deepEqual([r.disposed, view[0]], [true, 0]);
  });

  test("a mapping the OS refuses is an OsError with errno, also in lastOsError()", () => {
    clearLastOsError();
    // A size the validation accepts but the kernel cannot serve: more huge pages than the pool holds.
    const pool = hugePagePool()!;
    assert.throws(
      () => new HugePageBacked((pool.free + 1) * pool.sizeBytes),
      (e: unknown) => e instanceof OsError && e.code === "ENOMEM",
    );
    assert.equal(lastOsError()?.syscall, "mmap");
    // A huge page size the kernel does not offer is refused before the syscall, naming the sizes it does offer
    // (64 KiB where the kernel has no such pages, as on x86-64; else the first power of two it lacks).
    let notOffered = 1 << 16;
    while (hugePageSizes().includes(notOffered)) notOffered *= 2;
    assert.throws(
      () => new HugePageBacked(1 << 20, { hugePageSize: notOffered }),
      /is not valid here; expected one the kernel offers/,
    );
  });

  test("constructors reject bad sizes", () => {
    for (const bad of [0, -1, 31, 1.5, NaN, 2 ** 31])
      assert.throws(() => new MmapBacked(bad), AllocError, String(bad));
  });
});

describe("HugePageBacked", needs("linux", "addon"), () => {
  test("with no huge pages reserved, fails with ENOMEM and names vm.nr_hugepages", (t) => {
    const pool = hugePagePool()!;
    if (pool.free > 0) t.diagnostic(`${pool.free} huge pages are free here; asking for more than that`);
    const want = (pool.free + 1) * pool.sizeBytes;
    assert.throws(
      () => new HugePageBacked(want),
      (e: unknown) =>
        e instanceof OsError &&
        e.code === "ENOMEM" &&
        /vm\.nr_hugepages/.test(e.message) &&
        /reserve them first/.test(e.message),
    );
  });

  test(
    "maps huge pages once they are reserved, and keeps the contract (root: reserves four, then restores)",
    needs("root"),
    () => {
      const path = "/proc/sys/vm/nr_hugepages";
      const before = Number(readFileSync(path, "utf8"));
      try {
        writeFileSync(path, String(before + 4)); // inside the try: a failed or partial write is restored too
        const freeBefore = hugePagePool()!.free;
        const heap = new HugePageBacked(3 << 20); // rounds up to two 2 MiB pages
        assert.equal(heap.regionSize(), 4 << 20);
        heap.memory.u8.fill(1, 0, 4 << 20); // touch both
        assert.equal(hugePagePool()!.free, freeBefore - 2);
        const p = heap.allocate(1 << 20, 1 << 20);
        assert.equal(p % (1 << 20), 0);
        heap.dispose();
        assert.equal(hugePagePool()!.free, freeBefore, "dispose gave the pages back");
        const report = runConformance(() => new HugePageBacked(1 << 20), {
          frees: false,
          reset: true,
          detectsDoubleFree: false,
          oomLimit: 20_000,
        });
        assert.deepEqual(report.checks, CONFORMANCE_CHECKS);
      } finally {
        writeFileSync(path, String(before));
      }
    },
  );
});

describe("HugePageAligned", needs("linux", "addon"), () => {
  test("aligns every block to 2 MiB over a 2 MiB-aligned mapping and advises huge pages", () => {
    using region = new MmapBacked(8 << 20, { alignment: 2 << 20 });
    const big = new HugePageAligned(region);
    assert.equal(
      big.transparentHugePages,
      readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8").includes("[never]") ? false : true,
    );
    const a = big.allocate(100);
    const b = big.allocate(100);
    assert.equal(a % (2 << 20), 0);
    assert.equal(b - a, 2 << 20);
    big.deallocate(b, 100);
    assert.equal(big.minPurgeSize(), 2 << 20);
    big.releasePages(4096, 4096); // less than a huge page: nothing to do
    big.releasePages(0, 4 << 20);
  });

  test("refuses a mapping whose base is not huge-page aligned; forwards FixedRange but a bump arena refuses it (it would bypass the alignment)", () => {
    using region = new MmapBacked(8 << 20, { alignment: 2 << 20 });
    const shifted = Object.assign(Object.create(region) as MmapBacked, { basePtr: () => 4096 });
    assert.throws(() => new HugePageAligned(shifted), /alignment: 2097152/);
    const big = new HugePageAligned(region);
    assert.equal(isFixedRange(big), true);
    assert.throws(() => new BumpArena(big), /HugePageAligned as the range under BumpArena would do nothing/);
  });
});
