import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const cli = join(root, "dist", "cli.js");
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });

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
  // In a clone, dist/cli.js finds the recipes compiled into build/.
  assert.match(r.stdout, /recipes: summary/);
});

test("an installed package (dist/ alone) says where the recipes and the benchmarks are instead of failing", () => {
  const dir = mkdtempSync(join(tmpdir(), "forge-installed-"));
  try {
    cpSync(join(root, "dist"), join(dir, "dist"), { recursive: true });
    cpSync(join(root, "package.json"), join(dir, "package.json"));
    const cli = join(dir, "dist", "cli.js");
    const tour = spawnSync(process.execPath, [cli, "tour"], { encoding: "utf8" });
    assert.equal(tour.status, 0, tour.stderr);
    assert.match(tour.stdout, /primitives: summary/);
    assert.match(
      tour.stdout,
      /the six application recipes are programs in the repository's examples\/ folder/,
    );
    const bench = spawnSync(process.execPath, [cli, "bench"], { encoding: "utf8" });
    assert.equal(bench.status, 2);
    assert.match(bench.stderr, /run `npm run bench` in a clone of forge-alloc/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("`npm start`'s tour (the test build, next to examples/) runs the six recipes and their summary", () => {
  const r = spawnSync(process.execPath, [join(root, "build", "src", "cli.js"), "tour"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  for (let i = 1; i <= 6; i++) assert.match(r.stdout, new RegExp(`\\nrecipe ${i}: `));
  assert.match(r.stdout, /recipes: summary\n {2}cli-batch /);
  assert.match(r.stdout, /every OS-layer part ran on this machine/);
});

test("no command means the tour; help lists the commands; an unknown command fails with the usage", () => {
  assert.equal(run().status, 0);
  assert.match(run("help").stdout, /commands:\n\s+tour/);
  const bad = run("frobnicate");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown command "frobnicate"/);
});

test("`forge-alloc doctor` reports the addon, NUMA, huge pages, the mlock limit and mbind", () => {
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
});
