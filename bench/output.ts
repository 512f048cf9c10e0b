// What every benchmark script shares: its arguments, its progress lines, and where its results go (the console,
// docs/PERFORMANCE.md with --write, a JSON file with --json=PATH for `forge-alloc bench`'s reports).
import { readFileSync, writeFileSync } from "node:fs";
import { arch, cpus, platform } from "node:os";

/** `--name=value` arguments (a bare `--name` maps to undefined). */
export const args = new Map<string, string | undefined>(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k!, v];
  }),
);

/** A numeric argument, or `fallback`; anything but a positive number is an error. */
export function numberArg(name: string, fallback: number): number {
  const text = args.get(name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}=${text}: expected a positive number`);
  return n;
}

/** The machine line every table starts with. */
export function machine(): string {
  return `Node ${process.version}, ${platform()} ${arch()}, ${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} cores)`;
}

/**
 * Reports progress as `progress <done>/<total> <what>` on stderr: readable as it is, and parsed by the report
 * runner (bench/report.ts) to drive its progress bar.
 */
export function progress(done: number, total: number, what: string): void {
  process.stderr.write(`progress ${done}/${total} ${what}\n`);
}

/** One bar of a chart: `value` in the chart's unit, for `label` within `group`. */
export interface Bar {
  group: string;
  label: string;
  value: number;
}

/** A chart for the HTML report. */
export interface Chart {
  title: string;
  unit: string;
  /** True when smaller is better (times); false for rates. */
  lowerIsBetter: boolean;
  bars: Bar[];
}

/** What one benchmark script reports. */
export interface BenchResult {
  /** The script's section: bench, tiers, heap, workers, secure. */
  section: string;
  title: string;
  /** How it was measured (machine, rounds, sizes). */
  setup: string;
  /** The Markdown table. */
  table: string;
  charts: Chart[];
}

/** Prints the result; with --write puts the table into docs/PERFORMANCE.md; with --json=PATH writes it as JSON. */
export function publish(result: BenchResult): void {
  console.log(`${result.setup}\n\n${result.table}`);
  if (args.has("write")) {
    const path = new URL("../../docs/PERFORMANCE.md", import.meta.url);
    const doc = readFileSync(path, "utf8");
    const begin = `<!-- ${result.section}:begin -->`;
    const i = doc.indexOf(begin);
    const j = doc.indexOf(`<!-- ${result.section}:end -->`);
    if (i < 0 || j < i) throw new Error(`docs/PERFORMANCE.md has no ${result.section} markers`);
    const stamp = new Date().toISOString().slice(0, 10);
    writeFileSync(
      path,
      `${doc.slice(0, i + begin.length)}\nMeasured ${stamp}. ${result.setup}\n\n${result.table}\n${doc.slice(j)}`,
    );
    console.error(`wrote the ${result.section} table into docs/PERFORMANCE.md`);
  }
  const json = args.get("json");
  if (json !== undefined) writeFileSync(json, JSON.stringify(result));
}
