import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
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
    "summary",
  ]) {
    assert.ok(r.stdout.includes(step), `missing: ${step}`);
  }
});

test("no command means the tour; help lists the commands; an unknown command fails with the usage", () => {
  assert.equal(run().status, 0);
  assert.match(run("help").stdout, /commands:\n\s+tour/);
  const bad = run("frobnicate");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown command "frobnicate"/);
});
