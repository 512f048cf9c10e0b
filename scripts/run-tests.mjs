#!/usr/bin/env node
// Runs every compiled test file (build/**/*.test.js) with Node's built-in test runner, then the property suites
// (the files that use fast-check) a second time under the debug level: FORGE_ALLOC_DEBUG=1 with forge-alloc/debug
// preloaded, so every allocator operation they make is followed by its invariant checks (`validate()` of every
// level, I1, I5, I6, I8, I10, typed refusals). `--debug` runs only that second pass.
// Node 20's `node --test` takes no glob patterns, so the files are listed here.
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

function find(dir, out) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) find(path, out);
    else if (name.endsWith(".test.js")) out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const debugOnly = args.includes("--debug");
const filter = args.filter((a) => a !== "--debug");
const files = find("build", [])
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error("run-tests: no test files found under build/ (did `npm run build:test` run?)");
  process.exit(1);
}

function run(list, env) {
  const result = spawnSync(process.execPath, ["--test", ...list], {
    stdio: "inherit",
    env: { ...process.env, ...env },
  });
  return result.status ?? 1;
}

let status = debugOnly ? 0 : run(files, {});
// A suite that corrupts memory on purpose to see the allocator's own detection says so with this marker: under the
// debug level, validate() reports the damage first (an InvariantError), which is the debug level working, not the
// property the suite states.
const OWN_DETECTION = "forge-alloc: corrupts memory on purpose";
const properties = files.filter((f) => {
  const text = readFileSync(f, "utf8");
  return text.includes('from "fast-check"') && !text.includes(OWN_DETECTION);
});
if (properties.length > 0) {
  const debug = pathToFileURL(resolve("build", "src", "debug.js")).href;
  console.log(
    `\nrun-tests: the property suites under the debug level (FORGE_ALLOC_DEBUG=1): ${properties.join(" ")}`,
  );
  const code = run(properties, {
    FORGE_ALLOC_DEBUG: "1",
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import=${debug}`.trim(),
  });
  if (status === 0) status = code;
}
process.exit(status);
