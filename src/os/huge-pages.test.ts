// The Rust crate's huge-page and mapping-flag rows (issue 14): defaultHugePageSize(), HugePageAligned beyond
// 2 MiB, MmapBacked's lazy (MAP_NORESERVE) and huge-page (MAP_HUGETLB) constructors. Real syscalls, Linux, root
// for reserving huge pages (CI runs as root).
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { AllocError, InvalidPointerError, LayoutError, MAX_MEMORY_BYTES, NULL } from "../core/index.js";
import {
  HugePageAligned,
  MmapBacked,
  OsError,
  PAGE_SIZE,
  defaultHugePageSize,
  hugePagePool,
  hugePageSizes,
} from "./index.js";
import { CONFORMANCE_CHECKS, runConformance } from "../testing/index.js";
import { vmFlagsOfNew } from "../../test/helpers/smaps.js";
import { needs } from "../../test/helpers/host.js";

/**
 * Reserves `count` more huge pages of `size` bytes for `body` (the test needs root), restoring the setting
 * afterwards, whatever happens (a failed or partial write included).
 */
function withReserved(size: number, count: number, body: () => void): void {
  const path = `/sys/kernel/mm/hugepages/hugepages-${size / 1024}kB/nr_hugepages`;
  const before = Number(readFileSync(path, "utf8"));
  try {
    writeFileSync(path, String(before + count));
    body();
  } finally {
    writeFileSync(path, String(before));
  }
}

describe(
  "defaultHugePageSize and hugePageSizes (the Rust default_huge_page_size)",
  needs("linux", "addon"),
  () => {
    test("read the kernel's answer: /proc/meminfo Hugepagesize and /sys/kernel/mm/hugepages", () => {
      const kb = Number(/^Hugepagesize:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]);
      assert.equal(defaultHugePageSize(), kb * 1024);
      const listed = readdirSync("/sys/kernel/mm/hugepages")
        .map((n) => Number(/(\d+)kB/.exec(n)![1]) * 1024)
        .sort((a, b) => a - b);
      assert.deepEqual(hugePageSizes(), listed);
      assert.ok(hugePageSizes().includes(defaultHugePageSize()));
    });
  },
);

describe("HugePageAligned beyond 2 MiB", needs("linux", "addon"), () => {
  test("32 MiB pages (Rust's Apple Silicon default): every block 32 MiB-aligned, grow copies, bad frees refused", () => {
    const hp = 32 << 20;
    using region = new MmapBacked(256 << 20, { alignment: hp });
    const big = new HugePageAligned(region, { hugePageSize: hp });
    assert.equal(big.hugePageSize, hp);
    const a = big.allocate(100);
    const b = big.allocateZeroed(5000);
    assert.deepEqual([a % hp, b % hp, a !== b], [0, 0, true]);
    assert.ok(big.usableSize(a, 100) >= 100);
    big.memory.u8.fill(7, a, a + 100);
    const c = big.grow(a, 100, 1 << 20);
    assert.equal(c % hp, 0);
    assert.deepEqual([...big.memory.u8.subarray(c, c + 100)], new Array(100).fill(7));
    assert.throws(() => big.deallocate(a, 100), InvalidPointerError, "the grown-from block is gone");
    assert.throws(() => big.deallocate(c, 99), LayoutError);
    assert.throws(() => big.deallocate(c + 8, 1 << 20), InvalidPointerError);
    big.deallocate(c, 1 << 20);
    big.deallocate(b, 5000);
    const d = big.shrink(big.allocate(4096), 4096, 64);
    assert.equal(d % hp, 0);
    big.reset();
    assert.throws(() => big.deallocate(d, 64), InvalidPointerError, "reset forgets every block");
    assert.throws(() => big.allocate(0), LayoutError);
  });

  test("1 GiB (the x86-64 gigantic page): a block at a 1 GiB-aligned offset, then NULL when no second fits", () => {
    using region = new MmapBacked(MAX_MEMORY_BYTES, { alignment: 2 ** 30 });
    const big = new HugePageAligned(region, { hugePageSize: 2 ** 30 });
    const a = big.allocate(4096);
    assert.equal(a, 2 ** 30);
    assert.equal(big.allocate(4096), NULL);
    big.memory.u8[a] = 1;
    big.deallocate(a, 4096);
    assert.throws(() => new HugePageAligned(region, { hugePageSize: 2 ** 31 }), /64 KiB to 1 GiB/);
  });

  test("refuses a mapping not aligned to the larger page", () => {
    using region = new MmapBacked(64 << 20, { alignment: 2 << 20 });
    // A 2 MiB-aligned mapping may happen to be 32 MiB-aligned; map until one is not, then check the refusal.
    const extra: MmapBacked[] = [];
    let r: MmapBacked = region;
    while (
      !(() => {
        try {
          new HugePageAligned(r, { hugePageSize: 32 << 20 });
          return false;
        } catch (error) {
          assert.ok(error instanceof AllocError && /alignment: 33554432/.test(error.message));
          return true;
        }
      })()
    ) {
      r = new MmapBacked(64 << 20, { alignment: 2 << 20 });
      extra.push(r);
      assert.ok(extra.length < 64);
    }
    for (const e of extra) e.dispose();
  });
});

describe(
  "MmapBacked flag constructors (the Rust new_lazy, with_huge_pages, with_flags)",
  needs("linux", "addon"),
  () => {
    test("lazy: MAP_NORESERVE, seen by the kernel (VmFlags nr), committed on first touch", () => {
      const bytes = 1237 * PAGE_SIZE; // a size no other mapping has
      const [lazyFlags, lazyMapping] = vmFlagsOfNew(bytes, () => MmapBacked.lazy(bytes));
      using lazy = lazyMapping;
      assert.deepEqual(lazy.flags, { populate: false, lazy: true, hugePageSize: 0 });
      assert.ok(lazyFlags.includes("nr"), "VM_NORESERVE");
      lazy.memory.u8[bytes - 1] = 1;
      assert.equal(lazy.memory.u8[bytes - 1], 1);
      const [eagerFlags, eagerMapping] = vmFlagsOfNew(1239 * PAGE_SIZE, () =>
        MmapBacked.withFlags(1239 * PAGE_SIZE, { populate: true }),
      );
      using eager = eagerMapping;
      assert.equal(eagerFlags.includes("nr"), false);
      assert.equal(eager.flags.populate, true);
      assert.throws(() => new MmapBacked(bytes, { lazy: true, populate: true }), /contradict/);
      const report = runConformance(() => MmapBacked.lazy(1 << 16), {
        frees: false,
        reset: true,
        detectsDoubleFree: false,
        oomLimit: 20_000,
      });
      assert.deepEqual(report.checks, CONFORMANCE_CHECKS);
    });

    test(
      "withHugePages: MAP_HUGETLB pages of the default size from the pool (root reserves them), given back on dispose",
      needs("root"),
      () => {
        const hp = defaultHugePageSize();
        withReserved(hp, 2, () => {
          const freeBefore = hugePagePool()!.free;
          const [flags, m] = vmFlagsOfNew(2 * hp, () => MmapBacked.withHugePages(hp + 1));
          assert.deepEqual([m.regionSize(), m.flags.hugePageSize], [2 * hp, hp]);
          m.memory.u8.fill(1);
          assert.equal(hugePagePool()!.free, freeBefore - 2);
          assert.ok(flags.includes("ht"), "VM_HUGETLB");
          m.dispose();
          assert.equal(hugePagePool()!.free, freeBefore);
        });
        assert.throws(
          () => MmapBacked.withHugePages(hp * (hugePagePool()!.free + 1)),
          (e: unknown) => e instanceof OsError && e.code === "ENOMEM" && /nr_hugepages/.test(e.message),
        );
      },
    );

    test(
      "1 GiB pages where the kernel offers them; a typed refusal naming the offered sizes where it does not",
      hugePageSizes().includes(2 ** 30) ? needs("root") : {},
      () => {
        const gig = 2 ** 30;
        if (hugePageSizes().includes(gig)) {
          withReserved(gig, 1, () => {
            const pool = Number(
              readFileSync("/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", "utf8"),
            );
            if (pool >= 1) {
              using m = MmapBacked.withHugePages(gig, gig);
              assert.equal(m.flags.hugePageSize, gig);
            } else {
              // The kernel offers the size but could not find 1 GiB of contiguous memory to reserve.
              assert.throws(() => MmapBacked.withHugePages(gig, gig), OsError);
            }
          });
        } else {
          assert.equal(existsSync("/sys/kernel/mm/hugepages/hugepages-1048576kB"), false);
          assert.throws(
            () => MmapBacked.withHugePages(gig, gig),
            (e: unknown) =>
              e instanceof AllocError &&
              !(e instanceof OsError) &&
              new RegExp(`expected one the kernel offers \\(${hugePageSizes().join(", ")} bytes\\)`).test(
                e.message,
              ),
          );
        }
        assert.throws(() => new MmapBacked(1 << 20, { hugePages: 3 << 20 }), /not valid here/);
        assert.throws(
          () => new MmapBacked(1 << 20, { hugePages: true, alignment: 2 ** 30 }),
          /exceeds the huge page size/,
        );
      },
    );
  },
);
