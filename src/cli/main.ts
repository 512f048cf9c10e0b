#!/usr/bin/env node
/**
 * The `forge-alloc` command line (the package's `bin`): `forge-alloc <command> [options]`, `forge-alloc --help`,
 * `forge-alloc <command> --help`, `forge-alloc --version`. Options are parsed by `node:util`'s `parseArgs`
 * (see `args.ts`); every failure is one line on stderr, without a stack trace, and exit code 2 for a usage error.
 *
 * @module
 */
import { CliError, type CommandSpec, type ParsedValues, commandHelp, parseCommand } from "./args.js";
import { inClone, packageVersion, repoModule } from "./repo.js";

const COMMANDS: readonly CommandSpec[] = [
  {
    name: "tour",
    summary: "each primitive at work; in a clone, then the six application recipes (`npm start`)",
    description:
      "Runs each primitive and prints what it shows, with a summary table. In a clone of the repository it then\n" +
      "runs the six application recipes of examples/ (an installed package says where they are instead).",
    options: {},
    needsClone: false,
  },
  {
    name: "inspect",
    summary: "draw demo heaps (used, free, quarantined, guard pages) as HTML or SVG, with fragmentation",
    description:
      "Draws demo heaps (a churned Quarantine<Heap>, a token slab and, where the OS layer loads, a HardenedSlab)\n" +
      "into one HTML page, or the first one alone as SVG, and prints each one's fragmentation summary.",
    options: {
      out: {
        type: "string",
        value: "FILE",
        help: "where to write (.html or .svg); default forge-alloc-inspect.html",
      },
      seed: { type: "string", value: "N", help: "the workload's seed (default 1)" },
      ops: { type: "string", value: "N", help: "operations on the churned heap (default 5000)" },
      recipes: { type: "boolean", help: "the six application recipes' allocators instead (in a clone only)" },
    },
    needsClone: false,
  },
  {
    name: "bench",
    summary: "every benchmark with a progress bar, then bench-report/report.md and report.html",
    description:
      "Runs every benchmark (against the peers installed as dev dependencies), then writes report.md and\n" +
      "report.html (charts) into the output folder.",
    options: {
      quick: { type: "boolean", help: "a small configuration that finishes in seconds" },
      only: {
        type: "string",
        value: "LIST",
        help: "comma-separated sections: bench,tiers,heap,traces,scribble,workers,secure,typed-alloc,adaptive-batch",
      },
      "out-dir": { type: "string", value: "DIR", help: "where the reports go (default bench-report)" },
      rounds: { type: "string", value: "N", help: "rounds per measurement" },
      time: { type: "string", value: "MS", help: "time per measurement" },
      procs: { type: "string", value: "N", help: "processes per tier in the tier table (default 3)" },
      ops: { type: "string", value: "N", help: "operations per workload" },
      pairs: { type: "string", value: "N", help: "allocate/free pairs per workload" },
      churn: { type: "string", value: "N", help: "operations of the churn workload" },
      verify: { type: "string", value: "N", help: "events of each trace replayed with the overlap check" },
      "scribble-runs": { type: "string", value: "N", help: "seeded runs of the scribble fuzz per allocator" },
      "scribble-ops": { type: "string", value: "N", help: "operations per scribble run" },
    },
    needsClone: true,
  },
  {
    name: "doctor",
    summary: "what this machine offers the OS layer: addon, pages, NUMA, huge pages, mlock, mbind",
    description:
      "Checks what forge-alloc/os needs and prints one line per fact. Exits 1 when something the OS layer needs\n" +
      "is missing or refused (a FAIL line says why), 0 otherwise.",
    options: {},
    needsClone: false,
  },
];

function overallHelp(clone: boolean): string {
  const shown = COMMANDS.filter((c) => clone || !c.needsClone);
  const width = Math.max(...shown.map((c) => c.name.length));
  return (
    "forge-alloc: composable memory allocators for JavaScript runtimes\n\n" +
    "usage: forge-alloc <command> [options]\n" +
    "       forge-alloc <command> --help\n" +
    "       forge-alloc --version\n\n" +
    `commands:\n${shown.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}\n` +
    (clone ? "" : "\n(`bench` runs in a clone of the repository only: it is not part of the package)\n")
  );
}

async function run(spec: CommandSpec, values: ParsedValues): Promise<number> {
  switch (spec.name) {
    case "tour": {
      const { tour, recipes } = await import("./tour.js");
      tour();
      await recipes((text) => console.log(text));
      return 0;
    }
    case "inspect": {
      const { inspectCommand } = await import("./inspect.js");
      return inspectCommand(values as Parameters<typeof inspectCommand>[0]);
    }
    case "bench": {
      const mod = await repoModule<{ main: (argv: readonly string[]) => Promise<number> }>("bench/report.js");
      if (typeof mod === "string") {
        throw new CliError(
          mod === "unbuilt"
            ? "the benchmarks are not compiled yet: run `npm run bench` (or `npm run build:test`)"
            : "the benchmarks are programs in the repository's bench/ folder, with the peers as dev dependencies; " +
                "run `npm run bench` in a clone of forge-alloc",
          2,
        );
      }
      const argv = Object.entries(values)
        .filter(([name, v]) => name !== "help" && v !== undefined && v !== false)
        .map(([name, v]) => (v === true ? `--${name}` : `--${name}=${String(v)}`));
      return mod.main(argv);
    }
    default: {
      const { doctor, formatDoctor } = await import("./doctor.js");
      const facts = await doctor();
      console.log(formatDoctor(facts));
      const failed = facts.filter((f) => f.status === "fail");
      if (failed.length > 0) {
        process.stderr.write(
          `forge-alloc doctor: forge-alloc/os cannot do everything here: ${failed.map((f) => f.name).join(", ")} failed (see above)\n`,
        );
        return 1;
      }
      return 0;
    }
  }
}

/** Runs the command line on `argv` (the words after `forge-alloc`); returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  const clone = inClone();
  if (first === undefined || first === "--help" || first === "-h") {
    process.stdout.write(overallHelp(clone));
    return 0;
  }
  if (first === "--version" || first === "-v") {
    console.log(packageVersion());
    return 0;
  }
  if (first === "help") {
    const spec = COMMANDS.find((c) => c.name === rest[0]);
    process.stdout.write(spec ? commandHelp(spec, clone) : overallHelp(clone));
    return 0;
  }
  const spec = COMMANDS.find((c) => c.name === first);
  try {
    if (spec === undefined) {
      throw new CliError(
        `${first.startsWith("-") ? "unknown option" : "unknown command"} "${first}"; expected a command (${COMMANDS.map((c) => c.name).join(", ")}), --help or --version`,
        2,
      );
    }
    const values = parseCommand(spec, rest);
    if (values.help === true) {
      process.stdout.write(commandHelp(spec, clone));
      return 0;
    }
    return await run(spec, values);
  } catch (error) {
    const where = spec ? `forge-alloc ${spec.name}` : "forge-alloc";
    if (error instanceof CliError) {
      process.stderr.write(
        `${where}: ${error.message}\n${error.exitCode === 2 ? `run \`${where} --help\` for the usage\n` : ""}`,
      );
      return error.exitCode;
    }
    // Anything else is a failure of the command itself: its message, not a stack trace (FORGE_ALLOC_DEBUG=1 shows it).
    const e = error as Error;
    process.stderr.write(
      `${where}: ${e?.name ?? "Error"}: ${e?.message ?? String(error)}\n` +
        (process.env.FORGE_ALLOC_DEBUG ? `${e?.stack ?? ""}\n` : ""),
    );
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
