// Heap pictures: the regions each allocator lists, how inspect() combines the levels of a composition, the
// summary's arithmetic, the SVG, and the CLI's HTML opened in headless Chromium.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import {
  ArrayBufferBacked,
  BumpArena,
  Heap,
  Quarantine,
  REGION_COLOURS,
  type Region,
  Slab,
  StaticBacked,
  Statistics,
  Tlsf,
  UnsupportedError,
  formatSummary,
  inspect,
  renderSvg,
} from "../src/index.js";
import { markContaining, overlayRegions } from "../src/core/regions.js";
import { HardenedSlab } from "../src/os.js";
import { chromiumOrSkip, screenshotColours } from "./chromium.js";
import { needs } from "./helpers/host.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function assertTiles(regions: readonly Region[], from: number, to: number): void {
  let at = from;
  for (const r of regions) {
    assert.equal(r.offset, at, `a gap or overlap at ${at}`);
    assert.ok(r.size > 0);
    at += r.size;
  }
  assert.equal(at, to);
}

test("a Slab lists each carved slot as used or free, then the uncarved rest as one free region", () => {
  const slab = new Slab(new ArrayBufferBacked(1 << 14), { blockSize: 48, capacity: 10 });
  const [a, b, c] = [slab.allocate(48), slab.allocate(48), slab.allocate(48)];
  slab.deallocate(b, 48);
  const regions = slab.regions();
  assert.deepEqual(
    regions.map((r) => [r.offset, r.size, r.kind]),
    [
      [a, 48, "used"],
      [b, 48, "free"],
      [c, 48, "used"],
      [c + 48, 7 * 48, "free"],
    ],
  );
  const picture = inspect(slab);
  assert.equal(picture.summary.bytes.used, 96);
  assert.equal(picture.summary.freeRuns, 2);
  assert.equal(picture.summary.largestFreeRun, 7 * 48);
  assert.equal(picture.summary.fragmentation, 1 - (7 * 48) / (8 * 48));
});

test("a Tlsf's regions tile its heap and agree with stats(); a Quarantine marks what it holds", () => {
  const tlsf = new Tlsf(new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 20 }));
  const q = new Quarantine(tlsf, 2);
  const ps = [100, 200, 300, 400, 500].map((n) => q.allocate(n));
  q.deallocate(ps[1]!, 200);
  q.deallocate(ps[3]!, 400);
  q.deallocate(ps[4]!, 500); // evicts ps[1] to the Tlsf
  const regions = q.regions();
  const s = tlsf.stats();
  assertTiles(regions, regions[0]!.offset, regions[0]!.offset + s.heapBytes);
  const sum = (kind: string): number =>
    regions.filter((r) => r.kind === kind).reduce((n, r) => n + r.size, 0);
  assert.equal(sum("free"), s.freeBytes);
  assert.equal(sum("used") + sum("quarantined"), s.usedBytes);
  assert.equal(sum("metadata"), s.overheadBytes);
  assert.deepEqual(
    regions.filter((r) => r.kind === "quarantined").map((r) => r.offset),
    [ps[3], ps[4]],
  );
});

test("a Heap shows its pages slot by slot inside the Tlsf block that holds them", () => {
  const heap = new Heap(new ArrayBufferBacked({ size: 1 << 18, maxSize: 1 << 20 }));
  const small = heap.allocate(24); // the 32-byte class
  const large = heap.allocate(20000); // the Tlsf
  const regions = heap.regions();
  assertTiles(regions, regions[0]!.offset, regions.at(-1)!.offset + regions.at(-1)!.size);
  const slot = regions.find((r) => r.offset === small)!;
  assert.deepEqual([slot.size, slot.kind], [32, "used"]);
  // The page's other slots are free, one region each.
  const page = heap.stats();
  assert.equal(page.pages, 1);
  assert.ok(page.freeSlots >= 15);
  assert.deepEqual(regions[regions.indexOf(slot) + 1], { offset: small + 32, size: 32, kind: "free" });
  assert.equal(regions.filter((r) => r.kind === "free" && r.size === 32).length, page.freeSlots);
  assert.equal(regions.find((r) => r.offset === large)!.kind, "used");
});

test(
  "inspect combines the levels: a Slab over a GuardPage is drawn between its two guards",
  needs("linux", "addon"),
  () => {
    using keys = new HardenedSlab({ blockSize: 64, capacity: 100 });
    const wrapped = new Statistics(new Quarantine(keys, 4));
    const k = wrapped.allocate(64);
    wrapped.deallocate(k, 64);
    const picture = inspect(wrapped);
    const guards = picture.regions.filter((r) => r.kind === "guard");
    const guardPage = keys.backing as unknown as { guards(): [number, number][] };
    assert.deepEqual(
      guards.map((g) => [g.offset, g.offset + g.size]),
      guardPage.guards(),
    );
    assertTiles(picture.regions, guards[0]!.offset, guards[1]!.offset + guards[1]!.size);
    assert.equal(picture.regions.find((r) => r.offset === k)!.kind, "quarantined");
    assert.match(formatSummary(picture), /guard +8 KiB/);
  },
);

test("an allocator that cannot list its regions is refused with UnsupportedError", () => {
  assert.throws(() => inspect({}), UnsupportedError);
  const foreign = { allocate: () => 0, memory: new ArrayBufferBacked(4096).memory };
  assert.throws(() => inspect(foreign), /cannot list its regions/);
  // A bump arena over a backing: its own range, not the rest of the backing.
  const backing = new ArrayBufferBacked(1 << 16);
  const arena = new BumpArena(StaticBacked.carve(backing, 4096));
  arena.allocate(100);
  assert.equal(inspect(arena).summary.spanBytes, 4096);
});

test("overlayRegions keeps every byte covered once, and markContaining changes only the hit regions", () => {
  const runs = fc.array(
    fc.tuple(fc.integer({ min: 1, max: 50 }), fc.constantFrom("used", "free", "metadata")),
    {
      minLength: 1,
      maxLength: 30,
    },
  );
  const tile = (parts: [number, string][], from: number): Region[] => {
    let at = from;
    return parts.map(([size, kind]) => {
      const r = { offset: at, size, kind } as Region;
      at += size;
      return r;
    });
  };
  fc.assert(
    fc.property(runs, runs, fc.nat(200), (base, over, shift) => {
      const b = tile(base, 0);
      const end = b.at(-1)!.offset + b.at(-1)!.size;
      const o = tile(over, shift);
      const merged = overlayRegions(b, o);
      assertTiles(merged, 0, end);
      for (const r of merged) {
        const inOverlay = o.find((x) => r.offset >= x.offset && r.offset < x.offset + x.size);
        const inBase = b.find((x) => r.offset >= x.offset && r.offset < x.offset + x.size)!;
        assert.equal(r.kind, (inOverlay ?? inBase).kind);
      }
      const marked = markContaining(b, [0, end - 1, end + 5], "quarantined");
      assert.equal(marked[0]!.kind, "quarantined");
      assert.equal(marked.at(-1)!.kind, "quarantined");
      assert.equal(marked.filter((r, i) => r.kind !== b[i]!.kind).length, b.length === 1 ? 1 : 2);
    }),
    { numRuns: 300 },
  );
});

test("renderSvg draws a bar for every kind present and a legend, and escapes the title", () => {
  const q = new Quarantine(new Slab(new ArrayBufferBacked(1 << 14), { blockSize: 64, capacity: 64 }), 4);
  const ps = Array.from({ length: 10 }, () => q.allocate(64));
  q.deallocate(ps[2]!, 64);
  const svg = renderSvg(inspect(q, "tokens <demo> & more"), { width: 800, rows: 8 });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="800"/);
  assert.match(svg, /<title>tokens &lt;demo&gt; &amp; more<\/title>/);
  for (const kind of ["used", "free", "quarantined"]) assert.match(svg, new RegExp(`class="region ${kind}"`));
  assert.doesNotMatch(svg, /class="region guard"/);
  assert.match(svg, />quarantined 64 B</);
  assert.ok(svg.trimEnd().endsWith("</svg>"));
});

test(
  "`forge-alloc inspect` writes an HTML report that headless Chromium renders with its pictures",
  needs("linux", "addon"),
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), "forge-inspect-"));
    try {
      const html = join(dir, "heap.html");
      const r = spawnSync(
        process.execPath,
        [join(root, "dist", "cli", "main.js"), "inspect", "--out", html, "--ops", "2000"],
        {
          encoding: "utf8",
        },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /Quarantine<Heap> after 2000 seeded operations \(seed 1\)/);
      assert.match(r.stdout, /fragmentation 0\.\d{3}/);
      assert.match(r.stdout, /wrote .*heap\.html \(3 pictures\)/);
      assert.equal((readFileSync(html, "utf8").match(/<svg /g) ?? []).length, 3);

      const chromium = chromiumOrSkip(t);
      if (chromium === undefined) return;
      const count = screenshotColours(chromium, html, 1000, 2400);
      // The charts were drawn: every kind of region the demo heaps have shows as a block of its colour.
      for (const kind of ["used", "free", "quarantined", "guard"] as const) {
        assert.ok(
          (count.get(REGION_COLOURS[kind]) ?? 0) > 500,
          `${kind} (${REGION_COLOURS[kind]}) is not in the picture`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("docs/inspect-heap.svg (the README's picture) is what `forge-alloc inspect --out x.svg` draws today", () => {
  const dir = mkdtempSync(join(tmpdir(), "forge-inspect-"));
  try {
    const svg = join(dir, "heap.svg");
    const r = spawnSync(process.execPath, [join(root, "dist", "cli", "main.js"), "inspect", "--out", svg], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      readFileSync(svg, "utf8"),
      readFileSync(join(root, "docs", "inspect-heap.svg"), "utf8"),
      "regenerate it: node dist/cli/main.js inspect --out docs/inspect-heap.svg",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("`forge-alloc inspect --recipes` draws the allocators of the six application recipes", () => {
  const dir = mkdtempSync(join(tmpdir(), "forge-inspect-"));
  try {
    const html = join(dir, "recipes.html");
    const r = spawnSync(
      process.execPath,
      [join(root, "dist", "cli", "main.js"), "inspect", "--recipes", "--out", html],
      {
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, r.stderr);
    for (const name of [
      "cli-batch",
      "embedded-pool",
      "web-service",
      "game-frame",
      "auth-service",
      "db-executor",
    ]) {
      assert.match(r.stdout, new RegExp(`^${name}: `, "m"));
    }
    assert.match(r.stdout, /wrote .*recipes\.html \(7 pictures\)/);
    assert.equal((readFileSync(html, "utf8").match(/<svg /g) ?? []).length, 7);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("renderSvg draws each region where its bytes are: rectangles worked out by hand for a known picture", () => {
  // 1000 bytes in 4 rows of 250 bytes, on a strip of 1000 px (width 1024 minus 12 px of padding each side): 4 px
  // a byte. Rows are 18 px apart (14 high, a gap of 4), the first at y = 44. Regions wider than 3 px per region
  // are drawn one by one, split at the ends of rows.
  const picture = {
    title: "by hand",
    regions: [
      { offset: 0, size: 100, kind: "used" as const },
      { offset: 100, size: 200, kind: "free" as const },
      { offset: 300, size: 64, kind: "quarantined" as const },
      { offset: 364, size: 636, kind: "used" as const },
    ],
    summary: {
      spanBytes: 1000,
      bytes: { used: 736, free: 200, quarantined: 64, guard: 0, metadata: 0 },
      usedRegions: 2,
      freeRuns: 1,
      largestFreeRun: 200,
      fragmentation: 0,
    },
  };
  const svg = renderSvg(picture, { width: 1024, rows: 4 });
  const rects = [...svg.matchAll(/<rect class="region (\w+)" x="([\d.]+)" y="(\d+)" width="([\d.]+)"/g)].map(
    ([, kind, x, y, w]) => `${kind} ${x} ${y} ${w}`,
  );
  assert.deepEqual(rects, [
    "used 12.00 44 400.00", // bytes 0-100 of row 0
    "free 412.00 44 600.00", // bytes 100-250 of row 0
    "free 12.00 62 200.00", // bytes 250-300: row 1
    "quarantined 212.00 62 256.00", // bytes 300-364
    "used 468.00 62 544.00", // bytes 364-500: the rest of row 1
    "used 12.00 80 1000.00", // bytes 500-750: row 2
    "used 12.00 98 1000.00", // bytes 750-1000: row 3
  ]);
});
