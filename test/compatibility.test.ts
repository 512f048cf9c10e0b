// docs/COMPATIBILITY.md's forwarding table is checked against the code: every "forwards" cell must pass the call
// through to the inner unchanged (seen by a spy, through the inner's public method or its raw counterpart: a
// wrapper validates once and then calls the inner's raw protocol), every "changes" cell must be the wrapper's own
// method or its own raw counterpart.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type Allocator,
  ArrayBufferBacked,
  BumpArena,
  CacheJitter,
  Canary,
  Faulty,
  NeverFail,
  PoisonOnFree,
  Quarantine,
  Slab,
  Statistics,
  Watermark,
  Wrapper,
  ZeroizeOnFree,
  isFixedRange,
  isOsBacked,
} from "../src/index.js";
import { MmapBacked } from "../src/os.js";
import { needs } from "./helpers/host.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const doc = readFileSync(join(root, "docs", "COMPATIBILITY.md"), "utf8");
const table = doc.slice(doc.indexOf("<!-- forwarding:begin -->"), doc.indexOf("<!-- forwarding:end -->"));
const rows = table
  .split("\n")
  .filter((l) => l.startsWith("| ") && !l.startsWith("| wrapper") && !l.startsWith("|---"));
const header = table
  .split("\n")
  .find((l) => l.startsWith("| wrapper"))!
  .split("|")
  .map((c) => c.trim())
  .filter(Boolean);

const makers: Record<string, (inner: Allocator) => Wrapper<Allocator>> = {
  Canary: (i) => new Canary(i),
  PoisonOnFree: (i) => new PoisonOnFree(i),
  ZeroizeOnFree: (i) => new ZeroizeOnFree(i),
  Quarantine: (i) => new Quarantine(i, 2),
  Statistics: (i) => new Statistics(i),
  Watermark: (i) => new Watermark(i),
  Faulty: (i) => new Faulty(i, new NeverFail()),
  CacheJitter: (i) => new CacheJitter(i, { seed: 1 }),
};

/** A slab whose every method call is recorded. */
function spy(): { inner: Slab; calls: [string, unknown[]][] } {
  const calls: [string, unknown[]][] = [];
  const slab = new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 1024, capacity: 16, align: 64 });
  for (const name of [
    "allocate",
    "allocateZeroed",
    "deallocate",
    "grow",
    "shrink",
    "reset",
    "usableSize",
    "capacityBytes",
    "corruptionEvents",
    "base",
    "size",
    "commit",
    "contains",
    "allocRaw",
    "tryFree",
    "checkFree",
    "resizeRaw",
  ] as const) {
    const original = (slab[name] as (...a: unknown[]) => unknown).bind(slab);
    (slab as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      calls.push(publicCall(name, args));
      return original(...args);
    };
  }
  return { inner: slab, calls };
}

/** The raw counterpart of each public method (see `RawLayer` in core). */
const RAW: Record<string, string> = {
  allocate: "allocRaw",
  deallocate: "tryFree",
  grow: "resizeRaw",
  shrink: "resizeRaw",
  usableSize: "checkFree",
};

/** A raw call as the public call it stands for: `resizeRaw` is a grow or a shrink, `checkFree` a usableSize. */
function publicCall(name: string, args: unknown[]): [string, unknown[]] {
  if (name === "allocRaw") return ["allocate", args];
  if (name === "tryFree") return ["deallocate", args];
  if (name === "resizeRaw") return [(args[2] as number) >= (args[1] as number) ? "grow" : "shrink", args];
  if (name === "checkFree") return ["usableSize", args.slice(0, 2)];
  return [name, args];
}

test("the table lists every wrapper and every column", () => {
  assert.deepEqual(header, [
    "wrapper",
    "allocate",
    "deallocate",
    "grow",
    "shrink",
    "reset",
    "usableSize",
    "corruptionEvents",
  ]);
  assert.deepEqual(rows.map((r) => r.split("|")[1]!.trim()).sort(), Object.keys(makers).sort());
});

for (const row of rows) {
  const cells = row
    .split("|")
    .map((c) => c.trim())
    .slice(1, -1);
  const name = cells[0]!;
  test(`${name}: the forwarding table matches the code`, () => {
    const cls = makers[name]!(new BumpArena(new ArrayBufferBacked(1 << 12))).constructor as {
      prototype: Record<string, unknown>;
    };
    header.slice(1).forEach((method, i) => {
      const claim = cells[i + 1]!;
      const base = Wrapper.prototype as unknown as Record<string, unknown>;
      const raw = RAW[method];
      const own =
        cls.prototype[method] !== base[method] || (raw !== undefined && cls.prototype[raw] !== base[raw]);
      if (claim.startsWith("changes")) {
        assert.ok(own, `${name}.${method} is claimed to change behaviour but is the plain forward`);
        return;
      }
      assert.equal(claim, "forwards", `${name}.${method}: a cell must start with "forwards" or "changes"`);
      const { inner, calls } = spy();
      const w = makers[name]!(inner);
      const p = w.allocate(40);
      calls.length = 0;
      const args: Record<string, unknown[]> = {
        allocate: [40, 8],
        deallocate: [p, 40, 8],
        grow: [p, 40, 48, 8],
        shrink: [p, 40, 32, 8],
        reset: [],
        usableSize: [p, 40],
        corruptionEvents: [],
      };
      (w as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args[method]!);
      // A checked grow or shrink first asks the inner whether the block is live (checkFree, seen as usableSize).
      const seen = calls.find(([m]) => m === method || method === "usableSize");
      assert.deepEqual(seen, [method, args[method]], `${name}.${method} is claimed to forward`);
    });
  });
}

// FixedRange/OsBacked exactly when the inner has them: the Slab half runs on any host, the mapping half needs one.
test("every wrapper forwards capacityBytes, and over a Slab is a FixedRange but not OsBacked", () => {
  for (const [name, make] of Object.entries(makers)) {
    const overSlab = make(
      new Slab(new ArrayBufferBacked(1 << 14), { blockSize: 1024, capacity: 8, align: 64 }),
    );
    assert.equal(overSlab.capacityBytes(), 8 * 1024, name);
    assert.equal(isFixedRange(overSlab), true, `${name} over a Slab is a FixedRange`);
    assert.equal(isOsBacked(overSlab), false, `${name} over a Slab is not OsBacked`);
    assert.throws(() => overSlab.basePtr(), /not OsBacked/);
  }
});

test("every wrapper over an MmapBacked is OsBacked and forwards its range", needs("linux", "addon"), () => {
  for (const [name, make] of Object.entries(makers)) {
    using region = new MmapBacked(1 << 16);
    const overMap = make(region);
    assert.equal(isOsBacked(overMap), true, `${name} over MmapBacked is OsBacked`);
    assert.deepEqual(
      [overMap.basePtr(), overMap.regionSize(), overMap.base(), overMap.size()],
      [0, 1 << 16, 16, (1 << 16) - 16],
    );
  }
});
