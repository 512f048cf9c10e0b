import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { needs } from "./helpers/host.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const cli = join(root, "dist", "cli", "main.js");
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });

// Without the addon the recipes fall back to JavaScript buffers and list what they skipped: the tour still runs.
test("`forge-alloc tour` runs every step and prints its summary", () => {
  const r = run("tour");
  assert.equal(r.status, 0, r.stderr);
  for (const step of [
    "1. The memory model",
    "BumpArena",
    "a double free is refused: InvalidPointerError",
    "not the newest block",
    "parts over different memories are refused",
    "still reads 0xc0ffee",
    "primitives: summary",
  ]) {
    assert.ok(r.stdout.includes(step), `missing: ${step}`);
  }
  // In a clone, dist/cli/main.js finds the recipes compiled into build/.
  assert.match(r.stdout, /recipes: summary/);
});

test("an installed package (dist/ alone) hides bench, says where the recipes and the benchmarks are", () => {
  const dir = mkdtempSync(join(tmpdir(), "forge-installed-"));
  try {
    cpSync(join(root, "dist"), join(dir, "dist"), { recursive: true });
    cpSync(join(root, "package.json"), join(dir, "package.json"));
    const cli = join(dir, "dist", "cli", "main.js");
    const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
    const tour = run("tour");
    assert.equal(tour.status, 0, tour.stderr);
    assert.match(tour.stdout, /primitives: summary/);
    assert.match(
      tour.stdout,
      /the six application recipes are programs in the repository's examples\/ folder/,
    );
    const help = run("--help");
    assert.equal(help.status, 0);
    assert.doesNotMatch(help.stdout, /^ {2}bench /m);
    assert.match(help.stdout, /`bench` runs in a clone of the repository only/);
    assert.match(run("bench", "--help").stdout, /run it in a clone of\nforge-alloc/);
    const bench = run("bench");
    assert.equal(bench.status, 2);
    assert.match(bench.stderr, /run `npm run bench` in a clone of forge-alloc/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// `npm start`'s tour (the test build, next to examples/), run once for the two tests below.
let tourOutput: { status: number | null; stdout: string; stderr: string } | undefined;
const npmStartTour = () =>
  (tourOutput ??= spawnSync(process.execPath, [join(root, "build", "src", "cli", "main.js"), "tour"], {
    encoding: "utf8",
  }));

test("`npm start`'s tour (the test build, next to examples/) runs the six recipes and their summary", () => {
  const r = npmStartTour();
  assert.equal(r.status, 0, r.stderr);
  for (let i = 1; i <= 6; i++) assert.match(r.stdout, new RegExp(`\\nrecipe ${i}: `));
  assert.match(r.stdout, /recipes: summary\n {2}cli-batch /);
});

test("`npm start`'s tour runs every OS-layer part of the recipes", needs("linux", "addon"), () => {
  const r = npmStartTour();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /every OS-layer part ran on this machine/);
});

test("no command or --help prints the usage; `help <command>` its help; an unknown command exits 2", () => {
  for (const r of [run(), run("--help"), run("-h"), run("help")]) {
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /usage: forge-alloc <command> \[options\]/);
    assert.match(r.stdout, /commands:\n {2}tour /);
    assert.match(r.stdout, /^ {2}bench /m, "a clone lists bench");
  }
  assert.match(run("help", "inspect").stdout, /usage: forge-alloc inspect \[options\]/);
  const bad = run("frobnicate");
  assert.equal(bad.status, 2);
  assert.match(
    bad.stderr,
    /unknown command "frobnicate"; expected a command \(tour, inspect, bench, doctor\)/,
  );
});

test("--version prints the package's version", () => {
  const r = run("--version");
  assert.equal(r.status, 0, r.stderr);
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  assert.equal(r.stdout, `${version}\n`);
});

for (const [command, option] of [
  ["tour", undefined],
  ["inspect", "--out FILE"],
  ["bench", "--out-dir DIR"],
  ["doctor", undefined],
] as const) {
  test(`\`forge-alloc ${command} --help\` (and -h) prints its usage and options and runs nothing`, () => {
    for (const flag of ["--help", "-h"]) {
      const r = run(command, flag);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^usage: forge-alloc ${command}`));
      assert.match(r.stdout, /-h, --help +this text/);
      if (option) assert.ok(r.stdout.includes(option), `${command} --help names ${option}`);
      assert.doesNotMatch(r.stdout, /primitives: summary|wrote |native addon/);
    }
  });

  test(`\`forge-alloc ${command}\` refuses an unknown option and a stray argument with exit code 2`, () => {
    for (const args of [["--frobnicate"], ["--frobnicate=1"], ["stray"]]) {
      const r = run(command, ...args);
      assert.equal(r.status, 2, `${command} ${args.join(" ")}: ${r.stdout}`);
      assert.match(r.stderr, new RegExp(`^forge-alloc ${command}: `));
      assert.match(r.stderr, args[0] === "stray" ? /positional argument/ : /Unknown option '--frobnicate'/);
      assert.match(r.stderr, new RegExp(`run \`forge-alloc ${command} --help\` for the usage`));
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
      assert.equal(r.stdout, "");
    }
  });
}

test("inspect takes `--name value` and `--name=value` alike, and refuses bad values with exit code 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "forge-cli-"));
  try {
    const a = run("inspect", "--ops", "50", "--seed", "3", "--out", join(dir, "a.svg"));
    const b = run("inspect", "--ops=50", "--seed=3", `--out=${join(dir, "b.svg")}`);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    assert.equal(readFileSync(join(dir, "a.svg"), "utf8"), readFileSync(join(dir, "b.svg"), "utf8"));
    for (const [args, message] of [
      [["--ops", "many"], /--ops must be an integer from 0 to 10000000, not "many"/],
      [["--out", "x.png"], /--out x.png: expected a file name ending in .html or .svg/],
      [["--out"], /Option '--out <value>' argument missing/],
      [["--recipes=yes"], /Option '--recipes' does not take an argument/],
    ] as const) {
      const r = run("inspect", ...args);
      assert.equal(r.status, 2, args.join(" "));
      assert.match(r.stderr, message);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an unwritable --out is one line saying why, exit code 1, no stack trace", () => {
  const r = run("inspect", "--ops", "10", "--out", join(tmpdir(), "no-such-folder-forge", "x.html"));
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /^forge-alloc inspect: cannot write --out .*x\.html: ENOENT: no such file or directory/,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.equal(r.stderr.trim().split("\n").length, 1);
});

test(
  "`forge-alloc doctor` reports the addon, NUMA, huge pages, the mlock limit and mbind",
  needs("linux", "addon"),
  () => {
    const r = run("doctor");
    assert.equal(r.status, 0, r.stderr);
    for (const fact of [
      /ok\s+native addon\s+loaded/,
      /page size\s+4096 bytes/,
      /NUMA node 0\s+CPUs/,
      /transparent huge pages/,
      /reserved huge pages/,
      /RLIMIT_MEMLOCK/,
      /ok\s+mbind\s+permitted/,
      /ok\s+mlock\s+permitted/,
    ]) {
      assert.match(r.stdout, fact);
    }
  },
);
