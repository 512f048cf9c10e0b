// Layers point down only: core <- backing <- layout <- (hardening) <- testing; `os` uses core only.
// A source scan, as forge-alloc's tests/layering.rs: the authority on the architecture.
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const src = join(root, "src");

const RANK: Record<string, number> = { core: 0, backing: 1, layout: 2, hardening: 3, testing: 4 };

function listTs(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) listTs(path, out);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms)) specs.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) specs.push(m[1]!);
  return specs;
}

function layerOf(path: string): string {
  const rel = relative(src, path).split(/[\\/]/);
  return rel.length > 1 ? rel[0]! : "(root)";
}

test("no layer imports a higher one", () => {
  const violations: string[] = [];
  for (const file of listTs(src)) {
    const from = layerOf(file);
    if (!(from in RANK) && from !== "os") continue;
    for (const spec of importsOf(file)) {
      if (!spec.startsWith(".")) continue;
      const to = layerOf(resolve(dirname(file), spec));
      if (from === "os") {
        if (to !== "core" && to !== "os")
          violations.push(`${relative(root, file)} -> ${spec} (os may use core only)`);
      } else if (to === "os" || (to in RANK && RANK[to]! > RANK[from]!)) {
        violations.push(`${relative(root, file)} -> ${spec} (${from} must not import ${to})`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test("a cross-layer import goes through the lower layer's index", () => {
  const violations: string[] = [];
  for (const file of listTs(src)) {
    const from = layerOf(file);
    for (const spec of importsOf(file)) {
      if (!spec.startsWith(".")) continue;
      const target = resolve(dirname(file), spec);
      const to = layerOf(target);
      if (from in RANK && to !== from && to in RANK && !target.endsWith(`${to}/index.js`)) {
        violations.push(`${relative(root, file)} -> ${spec}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test("the browser-safe entries import nothing from Node", () => {
  const violations: string[] = [];
  for (const file of listTs(src)) {
    const layer = layerOf(file);
    if (layer === "os" || layer === "cli" || layer === "(root)") continue;
    for (const spec of importsOf(file))
      if (!spec.startsWith(".")) violations.push(`${relative(root, file)} -> ${spec}`);
  }
  const index = importsOf(join(src, "index.ts")).filter((s) => !s.startsWith("."));
  assert.deepEqual([...violations, ...index], []);
});

test("the scan sees every layer (it would notice a renamed folder)", () => {
  const layers = new Set(listTs(src).map(layerOf));
  for (const layer of ["core", "backing", "layout", "testing"])
    assert.ok(layers.has(layer), `no files in src/${layer}`);
});
