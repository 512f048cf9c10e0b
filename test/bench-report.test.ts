// `forge-alloc bench`: the report runner in its quick configuration, the Markdown and HTML it writes, and the HTML
// opened in headless Chromium. Timings are not checked here (they belong to the benchmarks); what is checked is
// that every section ran and its report was written and renders.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { renderChart } from "../bench/report.js";
import { chromiumOrSkip, screenshotColours } from "./chromium.js";
import { needs } from "./helpers/host.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

test("renderChart: a bar per value, a log scale only when values span more than 50x, nothing for NaN", () => {
  const linear = renderChart({
    title: "t",
    unit: "ns/op",
    lowerIsBetter: true,
    bars: [
      { group: "g", label: "a", value: 2 },
      { group: "g", label: "b", value: 4 },
      { group: "g", label: "c", value: Number.NaN },
    ],
  });
  assert.equal((linear.match(/class="bar"/g) ?? []).length, 2);
  assert.doesNotMatch(linear, /log scale/);
  assert.match(linear, /ns\/op, lower is better/);
  const log = renderChart({
    title: "t <&>",
    unit: "ns/pair",
    lowerIsBetter: true,
    bars: [
      { group: "g", label: "ours", value: 90 },
      { group: "g", label: "theirs", value: 18000 },
    ],
  });
  assert.match(log, /log scale/);
  assert.match(log, /t &lt;&amp;&gt;/);
});

test(
  "`forge-alloc bench --quick` runs every section with progress and writes both reports; Chromium renders the charts",
  needs("linux", "addon"),
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), "forge-bench-test-"));
    try {
      const r = spawnSync(
        process.execPath,
        [join(root, "build", "src", "cli", "main.js"), "bench", "--quick", `--out-dir=${dir}`],
        {
          encoding: "utf8",
          timeout: 240_000,
        },
      );
      assert.equal(r.status, 0, r.stderr);
      for (const section of [
        "bench",
        "tiers",
        "heap",
        "traces",
        "scribble",
        "workers",
        "secure",
        "typed-alloc",
        "adaptive-batch",
        "processes",
      ]) {
        assert.match(r.stderr, new RegExp(` ${section} +\\|`), `no progress bar for ${section}`);
      }
      assert.match(r.stdout, /wrote .*report\.md\nwrote .*report\.html/);
      const md = readFileSync(join(dir, "report.md"), "utf8");
      for (const title of [
        "## Layouts against hand-written references",
        "## What each hardening tier costs",
        "## General-purpose allocation against its peers",
        "## Real programs' allocation traces",
        "## Scribble fuzz: metadata that fails closed",
        "## Many workers, one memory",
        "## Secure memory: CryptoSlab against sodium-native",
        "## Typed allocation against JavaScript's own",
        "## Remote frees: fixed and adaptive batch policies",
        "## One heap across processes",
      ]) {
        assert.ok(md.includes(title), `report.md lacks ${title}`);
      }
      assert.match(
        md,
        /\| allocate\+free 32 B, 500 pairs per run \| sodium-native sodium_malloc\/sodium_free \| \d+/,
      );
      assert.match(
        md,
        /\| \(b\) random 16\.\.4096 B, 10k live, free \+ allocate \| AssemblyScript TLSF \(wasm\) \| [\d.]+ \|/,
      );
      assert.match(
        md,
        /\| \(b\) random 16\.\.4096 B, 10k live, free \+ allocate \| C malloc \(wasm\) \| [\d.]+ \|/,
      );
      assert.match(md, /\| all traces \(geometric mean\) \| Heap \| [\d.]+ \|/);
      assert.match(md, /\| checking replay \| Heap \| \d+ \| 0 \| 0 \| 0 \| 0 \|/);
      const html = readFileSync(join(dir, "report.html"), "utf8");
      assert.equal((html.match(/<svg class="chart"/g) ?? []).length, 11);
      assert.equal((html.match(/<table>/g) ?? []).length, 10);
      assert.match(md, /\| 4 \| [\d.]+ \| [\d.]+ \| [\d.]+x \| [\d.]+x \|/); // processes against workers
      assert.match(md, /\| adaptive \| [\d.]+ \| [\d.]+ \.\. [\d.]+ \| \d+ \|/);
      assert.match(md, /\| a record \{u32, f64, u16\}.* \| StructLayout over a Slab \(zeroed\) \| [\d.]+ \|/);
      assert.match(md, /\| Heap \| 30 \| \d+ \| \d+ \| \d+ \| 0 \| 0 \| 0 \| .* \| yes \|/);

      const chromium = chromiumOrSkip(t);
      if (chromium === undefined) return;
      const count = screenshotColours(chromium, join(dir, "report.html"), 1100, 3000);
      const blue = count.get("#4e79a7") ?? 0;
      const orange = count.get("#f28e2b") ?? 0;
      assert.ok(
        blue > 2000 && orange > 2000,
        `the chart bars are not in the screenshot (${blue} blue, ${orange} orange pixels)`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("`forge-alloc bench` refuses unknown options and sections", () => {
  const cli = join(root, "build", "src", "cli", "main.js");
  const bad = spawnSync(process.execPath, [cli, "bench", "--fast"], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Unknown option '--fast'; `bench` accepts --help, --quick, --only/);
  const section = spawnSync(process.execPath, [cli, "bench", "--only=nope"], { encoding: "utf8" });
  assert.equal(section.status, 2);
  assert.match(
    section.stderr,
    /unknown section nope; expected bench, tiers, heap, traces, scribble, workers, secure/,
  );
});
