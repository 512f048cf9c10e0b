#!/usr/bin/env node
// Builds the forge_os Node-API addon (native/forge_os.c -> native/build/forge_os.node) with the system C compiler.
// Runs on `npm install`. It never fails the install: when the addon cannot be built, the pure-TypeScript library
// keeps working, and importing forge-alloc/os throws one error that quotes native/build/status.json (why, and how
// to fix it). Headers come from the node-api-headers package when present, else from Node's own include folder.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "native", "build");
mkdirSync(out, { recursive: true });
const status = (ok, detail) => {
  writeFileSync(
    join(out, "status.json"),
    JSON.stringify({ ok, detail, node: process.version, platform: process.platform }, null, 2),
  );
  console.error(`forge-alloc: native addon ${ok ? "built" : "NOT built"}: ${detail}`);
};

function headerDirs() {
  const dirs = [];
  try {
    const require = createRequire(import.meta.url);
    dirs.push(dirname(require.resolve("node-api-headers/include/node_api.h")));
  } catch {
    /* not installed: fall back to Node's own headers */
  }
  dirs.push(
    resolve(dirname(process.execPath), "..", "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  );
  return dirs.filter((d) => existsSync(join(d, "node_api.h")));
}

if (process.platform !== "linux" && process.platform !== "darwin") {
  status(
    false,
    `no OS layer for ${process.platform}; forge-alloc/os supports Linux (and macOS without NUMA)`,
  );
  process.exit(0);
}
const include = headerDirs()[0];
if (!include) {
  status(false, "no Node-API headers found (install the node-api-headers package, or Node's headers)");
  process.exit(0);
}
const cc = process.env.CC || "cc";
const args = [
  "-std=c11",
  "-O2",
  "-fPIC",
  "-shared",
  "-Wall",
  "-Wextra",
  "-Werror",
  "-DNAPI_VERSION=8",
  "-DNODE_GYP_MODULE_NAME=forge_os",
  `-I${include}`,
  join(root, "native", "forge_os.c"),
  "-o",
  join(out, "forge_os.node"),
];
if (process.platform === "darwin") args.push("-undefined", "dynamic_lookup");
const r = spawnSync(cc, args, { encoding: "utf8" });
if (r.error || r.status !== 0) {
  status(
    false,
    `${cc} failed: ${(r.error?.message ?? r.stderr).trim().split("\n").slice(0, 8).join(" | ")}; install a C compiler (e.g. apt-get install gcc) and run npm rebuild forge-alloc`,
  );
  process.exit(0);
}
status(true, `${cc} with headers from ${include}`);
