// `npm run docs`: the API reference (typedoc) with every guide of docs/ as a page, built with warnings as errors;
// and the "which allocator do I need" page names every allocator the package exports.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

test("`npm run docs` builds the API reference with every guide as a page, without a warning", () => {
  const script = (
    JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: { docs: string } }
  ).scripts.docs;
  assert.match(script, /^typedoc --projectDocuments "docs\/\*\.md" --out docs-site$/);
  const out = mkdtempSync(join(tmpdir(), "forge-docs-site-"));
  try {
    const r = spawnSync(
      process.execPath,
      [
        join(root, "node_modules", "typedoc", "bin", "typedoc"),
        "--projectDocuments",
        "docs/*.md",
        "--out",
        out,
      ],
      { cwd: root, encoding: "utf8", timeout: 180_000 },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /\[warning\]|\[error\]/);
    const guides = readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md"));
    assert.ok(
      guides.includes("WHICH_ALLOCATOR.md") && guides.includes("WASM.md") && guides.includes("INSTALL.md"),
    );
    for (const g of guides) {
      assert.ok(existsSync(join(out, "documents", g.replace(/\.md$/, ".html"))), `${g} has a page`);
    }
    assert.match(
      readFileSync(join(out, "documents", "WHICH_ALLOCATOR.html"), "utf8"),
      /Which allocator do I need/,
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("the decision table names every allocator, wrapper and backing the package exports", async () => {
  const doc = readFileSync(join(root, "docs", "WHICH_ALLOCATOR.md"), "utf8");
  // Parts of others (a scope, a ring, an array of records), failure policies of `Faulty`, and base classes.
  const parts = new Set([
    "BumpScope",
    "RemoteFreeRing",
    "StructArray",
    "Wrapper",
    "MappedBacking",
    "NodeSet",
  ]);
  const missing: string[] = [];
  for (const entry of ["layout/index.js", "hardening/index.js", "backing/index.js", "os.js"]) {
    const mod = (await import(pathToFileURL(join(root, "dist", entry)).href)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) {
      if (typeof value !== "function" || !/^class\s/.test(Function.prototype.toString.call(value))) continue;
      if (parts.has(name) || /Fail|Forwarder$|Error$/.test(name)) continue;
      if (!new RegExp(`\\b${name}\\b`).test(doc)) missing.push(`${entry}: ${name}`);
    }
  }
  assert.deepEqual(missing, []);
});
