// Guard pages, locked memory, split metadata and the hardened slab, with real mprotect/mlock; crashes and refused
// locks run in child processes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { AllocError, InvalidPointerError } from "../core/index.js";
import { OS, runChild } from "../../test/helpers/child.js";
import { vmFlagsOfNew } from "../../test/helpers/smaps.js";
import { HardenedSlab } from "../os.js";
import { GuardPage, LockedMmapBacked, MmapBacked, PAGE_SIZE, SplitMetadata } from "./index.js";
import { needs } from "../../test/helpers/host.js";

/**
 * A child whose mlock is refused: RLIMIT_MEMLOCK 0, and (as root, who would be allowed past the limit) without
 * CAP_IPC_LOCK. A user that is not root has no CAP_IPC_LOCK to drop (and may not change its bounding set).
 */
const LOCK_REFUSED =
  process.getuid?.() === 0
    ? ["prlimit", "--memlock=0:0", "setpriv", "--bounding-set=-ipc_lock", "--inh-caps=-ipc_lock", "--"]
    : ["prlimit", "--memlock=0:0", "--"];

const vmLck = (): number =>
  Number(/VmLck:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))![1]) * 1024;

describe("GuardPage", needs("linux", "addon"), () => {
  test("hands out the interior; its memory is the whole mapping and its FixedRange the interior", () => {
    using region = new MmapBacked(4 * PAGE_SIZE);
    const guarded = new GuardPage(region);
    assert.equal(guarded.memory, region.memory);
    assert.deepEqual([guarded.base(), guarded.size()], [PAGE_SIZE, 2 * PAGE_SIZE]);
    assert.deepEqual(guarded.guards(), [
      [0, PAGE_SIZE],
      [3 * PAGE_SIZE, 4 * PAGE_SIZE],
    ]);
    const p = guarded.allocate(2 * PAGE_SIZE, 1);
    assert.equal(p, PAGE_SIZE);
    guarded.memory.u8.fill(1, p, p + 2 * PAGE_SIZE); // the whole interior is writable
    assert.equal(guarded.allocate(1), 0, "NULL: the interior is full");
  });

  test("touching a guard page kills a child process with SIGSEGV; the parent survives", () => {
    for (const [label, offset] of [
      ["after", "4096 * 3"],
      ["before", "4095"],
    ]) {
      const r = runChild(`
        const { GuardPage, MmapBacked } = await import(${JSON.stringify(OS)});
        const guarded = new GuardPage(new MmapBacked(4 * 4096));
        const u8 = guarded.memory.u8;
        u8[4096] = 1; u8[3 * 4096 - 1] = 1;
        console.log("interior ok");
        u8[${offset}] = 1;
        console.log("survived");`);
      assert.equal(r.signal, "SIGSEGV", `${label}: ${r.stderr}`);
      assert.match(r.stdout, /interior ok/);
      assert.doesNotMatch(r.stdout, /survived/);
    }
  });

  test("rejects an inner that is not a mapping or is too small for two guards and an interior", () => {
    assert.throws(() => new GuardPage({} as never), /must be OsBacked/);
    using small = new MmapBacked(2 * PAGE_SIZE);
    assert.throws(() => new GuardPage(small), /at least three/);
    using region = new MmapBacked(4 * PAGE_SIZE);
    assert.throws(() => new GuardPage(region, { pageSize: 1000 }), AllocError);
  });
});

describe("LockedMmapBacked", needs("linux", "addon"), () => {
  test("locks its pages (VmLck grows by the size, then drops after dispose) and excludes them from core dumps", () => {
    const before = vmLck();
    const secrets = new LockedMmapBacked(64 * 1024);
    assert.equal(vmLck() - before, 64 * 1024);
    assert.equal(secrets.excludedFromDumps, true);
    secrets.memory.u8.fill(0x5a, 16, 64);
    secrets.releasePages(0, PAGE_SIZE); // a deliberate no-op
    assert.equal(secrets.memory.u8[20], 0x5a);
    assert.throws(() => secrets.releasePages(1, PAGE_SIZE), /not whole pages/);
    secrets.dispose();
    assert.equal(vmLck(), before);
  });

  test("the kernel says so: its mapping is locked (lo) and left out of core dumps (dd), not merely advised", () => {
    const bytes = 17 * PAGE_SIZE; // a size no other mapping of this process has
    const [flags, secrets] = vmFlagsOfNew(bytes, () => new LockedMmapBacked(bytes));
    try {
      assert.ok(flags.includes("lo"), `VmFlags ${flags.join(" ")}: locked`);
      assert.ok(flags.includes("dd"), `VmFlags ${flags.join(" ")}: MADV_DONTDUMP`);
    } finally {
      secrets.dispose();
    }
  });

  test("fails closed with EPERM when the lock is refused (child without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0)", () => {
    const r = runChild(
      `
      const { LockedMmapBacked, lastOsError } = await import(${JSON.stringify(OS)});
      try { new LockedMmapBacked(64 * 1024); console.log("locked?!"); }
      catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, errno: e.errno, last: lastOsError(), msg: e.message })); }`,
      LOCK_REFUSED,
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      name: string;
      code: string;
      errno: number;
      last: { code: string; syscall: string };
      msg: string;
    };
    assert.equal(out.name, "OsError");
    assert.ok(out.code === "EPERM" || out.code === "ENOMEM", out.code);
    assert.deepEqual([out.last.code, out.last.syscall], [out.code, "mlock"]);
    assert.match(out.msg, /fail closed/);
  });
});

describe("SplitMetadata and HardenedSlab", needs("linux", "addon"), () => {
  test("the slab's free set lives in the separate metadata mapping", () => {
    using slab = new HardenedSlab({ blockSize: 64, capacity: 100 });
    assert.notEqual(slab.split.meta.memory, slab.memory, "two mappings");
    const ptrs = Array.from({ length: 10 }, () => slab.allocate(64));
    for (const p of ptrs) slab.deallocate(p, 64);
    const meta = new Int32Array(slab.split.meta.memory.buffer, 16, 20);
    assert.deepEqual(
      [...meta.subarray(0, 10)],
      ptrs,
      "the free stack holds the freed offsets, in the metadata mapping",
    );
    assert.throws(() => slab.deallocate(ptrs[0]!, 64), InvalidPointerError);
  });

  test("an overflow off the end of the hardened slab's last block hits the guard page (SIGSEGV in a child)", () => {
    const r = runChild(`
      const { HardenedSlab } = await import(${JSON.stringify(OS)});
      const slab = new HardenedSlab({ blockSize: 64, capacity: 64 });
      let last = 0; for (let i = 0; i < 64; i++) last = slab.allocate(64);
      const u8 = slab.memory.u8;
      u8.fill(1, last, last + 64);
      console.log("blocks ok");
      for (let i = last + 64; i < last + 64 + 2 * 4096; i++) u8[i] = 1; // runs off the interior into the guard
      console.log("survived");`);
    assert.equal(r.signal, "SIGSEGV", r.stderr);
    assert.match(r.stdout, /blocks ok/);
    assert.doesNotMatch(r.stdout, /survived/);
  });

  test("takes a free-list MAC, and sizes its metadata mapping for the tags", async () => {
    const { HalfSipHashMac } = await import("../core/index.js");
    using slab = new HardenedSlab({ blockSize: 24, capacity: 4096, protection: new HalfSipHashMac() });
    const ptrs = Array.from({ length: 4096 }, () => slab.allocate(24));
    for (const p of ptrs) slab.deallocate(p, 24);
    assert.equal(slab.allocate(24), ptrs[4095]);
    assert.equal(slab.corruptionEvents(), 0);
  });

  test("dispose retires both mappings: their contents read as zeros at once, and both refuse further use", () => {
    const slab = new HardenedSlab({ blockSize: 32, capacity: 8 });
    const p = slab.allocate(32);
    const data = slab.memory.u8;
    data.fill(0x5a, p, p + 32);
    const meta = slab.split.meta.memory.u8;
    slab.dispose();
    assert.equal(data[p], 0);
    assert.equal(
      meta.every((b) => b === 0),
      true,
    );
    assert.deepEqual([slab.mapping.disposed, slab.split.meta.disposed], [true, true]);
    assert.equal(slab.guarded.commit(slab.guarded.base(), 8), false);
  });

  test("SplitMetadata forwards to its data side and rejects a bad metaSize", () => {
    using region = new MmapBacked(4 * PAGE_SIZE);
    using split = new SplitMetadata(region, { metaSize: PAGE_SIZE });
    assert.equal(split.allocate(8), region.allocated() + 16 - 8);
    assert.deepEqual(
      [split.basePtr(), split.regionSize(), split.base(), split.size()],
      [0, 4 * PAGE_SIZE, 16, 4 * PAGE_SIZE - 16],
    );
    assert.throws(() => new SplitMetadata(region, { metaSize: 0 }), AllocError);
  });
});

describe("CryptoSlab", needs("linux", "addon"), () => {
  test("locked, guarded, zeroized: a freed secret reads as zeros, and dispose unlocks and unmaps", async () => {
    const { CryptoSlab } = await import("../os.js");
    const before = vmLck();
    const keys = new CryptoSlab({ blockSize: 32, capacity: 64 });
    assert.ok(vmLck() - before >= 64 * 32, "the data pages are locked");
    const k = keys.allocate(32);
    keys.memory.u8.fill(0xaa, k, k + 32);
    keys.deallocate(k, 32);
    assert.deepEqual([...keys.memory.u8.subarray(k, k + 32)], new Array(32).fill(0));
    const view = keys.memory.u8;
    view.fill(0x77, k, k + 32);
    keys.dispose();
    assert.equal(
      view.every((b) => b === 0),
      true,
      "nothing of the data range is readable after dispose",
    );
    assert.equal(vmLck(), before);
  });

  test("fails closed when the lock is refused", () => {
    const r = runChild(
      `
      const { CryptoSlab } = await import(${JSON.stringify(OS)});
      try { new CryptoSlab({ blockSize: 32, capacity: 64 }); console.log("locked?!"); }
      catch (e) { console.log(e.name, e.code); }`,
      LOCK_REFUSED,
    );
    assert.match(r.stdout, /OsError (EPERM|ENOMEM)/, r.stderr);
  });
});
