// `forge-alloc bench` / `npm run bench`: every benchmark script in turn, each in its own process, with a progress
// bar, then one Markdown and one HTML report (charts drawn as inline SVG) of all their tables.
// `node build/bench/report.js [--quick] [--only=bench,tiers,...] [--out-dir=DIR] [script options]`: `--quick` is a
// small configuration that finishes in seconds (what the tests run); other options (`--rounds=N`, `--time=MS`, ...)
// are passed to every script.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MultiBar, Presets } from "cli-progress";
import type { BenchResult, Chart } from "./output.js";
import { machine } from "./output.js";

/** The scripts, in the order the report shows them. */
export const SECTIONS = [
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
] as const;

const QUICK = [
  "--rounds=1",
  "--time=20",
  "--procs=1",
  "--ops=100000",
  "--pairs=500",
  "--churn=20000",
  "--verify=20000",
  "--scribble-runs=30",
];

/** Options of {@link runReport}. */
export interface ReportOptions {
  /** Where report.md and report.html go. */
  outDir: string;
  /** The sections to run (all by default). */
  only?: readonly string[];
  /** Passed to every script. */
  scriptArgs?: readonly string[];
  /** Where the progress bar goes. @defaultValue process.stderr */
  stream?: NodeJS.WritableStream;
}

function runScript(
  section: string,
  scriptArgs: readonly string[],
  onProgress: (done: number, total: number, what: string) => void,
): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), "forge-bench-"));
  const json = join(dir, `${section}.json`);
  const script = fileURLToPath(new URL(`./${section}.js`, import.meta.url));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script, ...scriptArgs, `--json=${json}`], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let pending = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        const m = /^progress (\d+)\/(\d+) (.*)$/.exec(line);
        if (m) onProgress(Number(m[1]), Number(m[2]), m[3]!);
        else stderr += `${line}\n`;
      }
    });
    child.on("close", (code, signal) => {
      try {
        if (code !== 0) throw new Error(`bench: ${section} failed (${signal ?? `exit ${code}`}):\n${stderr}`);
        resolvePromise(JSON.parse(readFileSync(json, "utf8")) as BenchResult);
      } catch (error) {
        reject(error as Error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** Runs the sections with a progress bar each, writes report.md and report.html, returns their paths. */
export async function runReport(options: ReportOptions): Promise<{ markdown: string; html: string }> {
  const sections = SECTIONS.filter((s) => options.only === undefined || options.only.includes(s));
  const unknown = (options.only ?? []).filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (unknown.length > 0)
    throw new Error(`bench: unknown section ${unknown.join(", ")}; expected ${SECTIONS.join(", ")}`);
  const bars = new MultiBar(
    {
      format: " {section} |{bar}| {value}/{total} {what}",
      stream: options.stream ?? process.stderr,
      noTTYOutput: true,
      notTTYSchedule: 5000,
      hideCursor: true,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  );
  const results: BenchResult[] = [];
  try {
    for (const section of sections) {
      const bar = bars.create(1, 0, { section: section.padEnd(7), what: "starting" });
      results.push(
        await runScript(section, options.scriptArgs ?? [], (done, total, what) => {
          bar.setTotal(total);
          bar.update(done, { section: section.padEnd(7), what });
        }),
      );
    }
  } finally {
    bars.stop();
  }
  mkdirSync(options.outDir, { recursive: true });
  const stamp = new Date().toISOString();
  const markdown = join(options.outDir, "report.md");
  const html = join(options.outDir, "report.html");
  writeFileSync(markdown, renderMarkdown(results, stamp));
  writeFileSync(html, renderHtml(results, stamp));
  return { markdown, html };
}

/** The Markdown report: each section's setup and table. */
export function renderMarkdown(results: readonly BenchResult[], stamp: string): string {
  const parts = [`# forge-alloc benchmarks\n\nMeasured ${stamp} on ${machine()}.`];
  for (const r of results) parts.push(`## ${r.title}\n\n${r.setup}\n\n${r.table}`);
  return `${parts.join("\n\n")}\n`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot" }[c]};`);
}

function tableHtml(markdown: string): string {
  const rows = markdown
    .split("\n")
    .filter((line) => line.startsWith("|") && !/^\|[-| ]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split("|")
        .map((cell) => cell.trim()),
    );
  const cell = (c: string, tag: string): string =>
    `<${tag}>${escapeHtml(c).replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")}</${tag}>`;
  return `<table>\n${rows
    .map(
      (r, i) =>
        `<tr>${r.map((c) => cell(c, i === 0 || (i > 0 && r[1] === "allocator") ? "th" : "td")).join("")}</tr>`,
    )
    .join("\n")}\n</table>`;
}

const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"];

/**
 * A horizontal grouped bar chart as SVG: one block per group, one bar per label, the value written at the end of
 * each bar. A log scale is used when the values span more than 50x (said in the axis note).
 */
export function renderChart(chart: Chart): string {
  const bars = chart.bars.filter((b) => Number.isFinite(b.value) && b.value > 0);
  const labels = [...new Set(bars.map((b) => b.label))];
  const groups = [...new Set(bars.map((b) => b.group))];
  const max = Math.max(...bars.map((b) => b.value));
  const min = Math.min(...bars.map((b) => b.value));
  const log = max / min > 50;
  const width = 900;
  const labelWidth = 240;
  const plot = width - labelWidth - 90;
  const barHeight = 16;
  const scale = (v: number): number =>
    log ? (plot * Math.log10(v / (min / 2))) / Math.log10(max / (min / 2)) : (plot * v) / max;
  const out: string[] = [];
  let y = 46;
  for (const g of groups) {
    out.push(`<text x="8" y="${y + 12}" font-weight="600">${escapeHtml(g)}</text>`);
    y += 18;
    for (const b of bars.filter((x) => x.group === g)) {
      const w = Math.max(1, scale(b.value));
      const colour = PALETTE[labels.indexOf(b.label) % PALETTE.length]!;
      out.push(
        `<text x="${labelWidth - 6}" y="${y + 12}" text-anchor="end">${escapeHtml(b.label)}</text>`,
        `<rect class="bar" x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${colour}"/>`,
        `<text x="${(labelWidth + w + 4).toFixed(1)}" y="${y + 12}">${b.value >= 100 ? b.value.toFixed(0) : b.value.toFixed(2)}</text>`,
      );
      y += barHeight + 4;
    }
    y += 8;
  }
  const note = `${chart.unit}, ${chart.lowerIsBetter ? "lower is better" : "higher is better"}${log ? "; log scale (values span more than 50x)" : ""}`;
  return [
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 8}" viewBox="0 0 ${width} ${y + 8}" font-family="system-ui, sans-serif" font-size="12">`,
    `<text x="8" y="18" font-size="14" font-weight="600">${escapeHtml(chart.title)}</text>`,
    `<text x="8" y="34" fill="#555">${escapeHtml(note)}</text>`,
    ...out,
    "</svg>",
  ].join("\n");
}

/** The HTML report: per section, its setup, its charts and its table. Self-contained. */
export function renderHtml(results: readonly BenchResult[], stamp: string): string {
  const sections = results
    .map(
      (r) =>
        `<section id="${r.section}">\n<h2>${escapeHtml(r.title)}</h2>\n<p>${escapeHtml(r.setup)}</p>\n${r.charts
          .map(renderChart)
          .join("\n")}\n${tableHtml(r.table)}\n</section>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>forge-alloc benchmarks</title>
<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}table{border-collapse:collapse;font-size:13px;margin:12px 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}svg.chart{display:block;margin:12px 0}</style>
</head>
<body>
<h1>forge-alloc benchmarks</h1>
<p>Measured ${escapeHtml(stamp)} on ${escapeHtml(machine())}. Every figure is a median; each table says over what.</p>
${sections}
</body>
</html>
`;
}

/** Parses the command line of `forge-alloc bench` and runs the report. */
export async function main(argv: readonly string[]): Promise<number> {
  let outDir = "bench-report";
  let only: string[] | undefined;
  const scriptArgs: string[] = [];
  for (const a of argv) {
    if (a === "--quick") scriptArgs.push(...QUICK);
    else if (a.startsWith("--out-dir=")) outDir = a.slice("--out-dir=".length);
    else if (a.startsWith("--only=")) only = a.slice("--only=".length).split(",");
    else if (/^--(rounds|time|procs|ops|pairs|churn|verify|scribble-runs|scribble-ops)=/.test(a))
      scriptArgs.push(a);
    else {
      process.stderr.write(
        `forge-alloc bench: unknown option "${a}"; expected --quick, --only=${SECTIONS.join(",")}, --out-dir=DIR, --rounds=N, --time=MS, --procs=N, --ops=N, --pairs=N, --churn=N, --verify=N, --scribble-runs=N, --scribble-ops=N\n`,
      );
      return 2;
    }
  }
  const unknown = (only ?? []).filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (unknown.length > 0) {
    process.stderr.write(
      `forge-alloc bench: unknown section ${unknown.join(", ")}; expected ${SECTIONS.join(", ")}\n`,
    );
    return 2;
  }
  const { markdown, html } = await runReport({
    outDir: resolve(outDir),
    ...(only ? { only } : {}),
    scriptArgs,
  });
  console.log(`wrote ${markdown}\nwrote ${html}`);
  return 0;
}

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  process.exitCode = await main(process.argv.slice(2));
}
