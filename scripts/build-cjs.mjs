#!/usr/bin/env node
// Builds dist/cjs/, what `require("forge-alloc")` (and each `forge-alloc/<subpath>`) resolves to: for every entry of
// package.json "exports", a CommonJS module that hands out the ES module itself, and beside it a copy of the
// declarations in a folder whose package.json says "commonjs", so TypeScript's node16/nodenext resolution from a
// CommonJS file sees CommonJS types for a CommonJS file (what @arethetypeswrong checks).
//
// Why not a second, transpiled copy of the library: two copies in one process (one imported, one required) would
// have two of everything: two `Memory.of` caches, so two Memory objects for one buffer; two GenerationalSlab pool-id
// registries, so colliding pool ids; classes that fail `instanceof` across the two. Every Node.js the package
// supports (`engines`: ^20.19 or >=22.12) can `require()` an ES module, so the CommonJS entry loads the one ES
// module instead, and `require("forge-alloc").BumpArena === (await import("forge-alloc")).BumpArena`. On an older
// Node the entry throws an error that says what to do.
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const out = join(dist, "cjs");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "package.json"), `${JSON.stringify({ type: "commonjs" }, null, 2)}\n`);

// The declarations, except the CLI's (it is not an entry).
function copyDeclarations(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (path === out || path === join(dist, "cli")) continue;
    if (statSync(path).isDirectory()) copyDeclarations(path);
    else if (name.endsWith(".d.ts")) {
      const target = join(out, relative(dist, path));
      mkdirSync(dirname(target), { recursive: true });
      cpSync(path, target);
    }
  }
}
copyDeclarations(dist);

// One CommonJS module per "require" target of "exports".
let entries = 0;
for (const [subpath, conditions] of Object.entries(pkg.exports)) {
  const target = conditions?.require?.default;
  if (typeof target !== "string") continue;
  const esm = conditions.import?.default;
  if (typeof esm !== "string") throw new Error(`build-cjs: exports["${subpath}"] has no import target`);
  const file = join(root, target);
  if (!file.startsWith(`${out}/`)) throw new Error(`build-cjs: ${target} is not under dist/cjs/`);
  let spec = relative(dirname(file), join(root, esm));
  if (!spec.startsWith(".")) spec = `./${spec}`;
  const name = subpath === "." ? "forge-alloc" : `forge-alloc/${subpath.slice(2)}`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    `"use strict";
// require(${JSON.stringify(name)}): the ES module itself (require of an ES module; see scripts/build-cjs.mjs).
try {
  module.exports = require(${JSON.stringify(spec)});
} catch (error) {
  if (error && error.code === "ERR_REQUIRE_ESM") {
    throw new Error(
      ${JSON.stringify(`${name}: require() of this package needs a Node.js that can require ES modules (${pkg.engines.node}, as package.json "engines" says); this one is `)} +
        process.version +
        ". Upgrade Node.js, or load it with import() / an ES module.",
      { cause: error },
    );
  }
  throw error;
}
`,
  );
  entries++;
}
if (entries === 0) throw new Error("build-cjs: package.json exports has no require targets");
console.log(`build-cjs: ${entries} CommonJS entries in dist/cjs/`);
