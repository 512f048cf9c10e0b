// The examples in the TSDoc run, and every public primitive has a tested example somewhere: in its TSDoc, in the
// README or the docs (run by readme.test.ts), or in examples/ (run by examples.test.ts). Each TSDoc example runs in
// its own process (a few touch guard pages or start workers), as a module inside the package so that
// `forge-alloc` resolves to the built package, with the names it uses imported for it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import * as api from "../src/index.js";
import * as os from "../src/os.js";
import * as testing from "../src/testing/index.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function files(dir: string, suffix: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(path, suffix, out);
    else if (name.endsWith(suffix) && !name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

/** Every ```ts block inside a doc comment of a source file, with the comment's ` * ` prefix removed. */
function tsdocExamples(): { where: string; source: string }[] {
  const out: { where: string; source: string }[] = [];
  for (const file of files(join(root, "src"), ".ts")) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^\s*\* ```ts\n([\s\S]*?)^\s*\* ```/gm)) {
      const source = m[1]!
        .split("\n")
        .map((l) => l.replace(/^\s*\* ?/, ""))
        .join("\n");
      const line = text.slice(0, m.index).split("\n").length;
      out.push({ where: `${relative(root, file)}:${line}`, source });
    }
  }
  return out;
}

const entries: [string, Record<string, unknown>][] = [
  ["forge-alloc", api],
  ["forge-alloc/os", os],
  ["forge-alloc/testing", testing],
];

/** The import lines for the public names `source` uses and does not import itself. */
function prelude(source: string): string {
  const lines: string[] = [];
  const taken = new Set<string>();
  for (const [entry, names] of entries) {
    const used = Object.keys(names).filter(
      (n) =>
        !taken.has(n) &&
        new RegExp(`\\b${n}\\b`).test(source) &&
        !new RegExp(`import[^;]*\\b${n}\\b`).test(source),
    );
    used.forEach((n) => taken.add(n));
    if (used.length > 0) lines.push(`import { ${used.join(", ")} } from "${entry}";`);
  }
  for (const fn of ["writeFileSync", "readFileSync"]) {
    if (new RegExp(`\\b${fn}\\(`).test(source)) lines.push(`import { ${fn} } from "node:fs";`);
  }
  return lines.join("\n");
}

const examples = tsdocExamples();

test("the TSDoc has examples", () => {
  assert.ok(examples.length >= 30, `only ${examples.length} examples`);
});

for (const [i, { where, source }] of examples.entries()) {
  test(`TSDoc example at ${where} runs`, () => {
    const js = ts.transpileModule(`${prelude(source)}\n${source}\nexport {};\n`, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const dir = join(root, "build", "tsdoc-examples");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `example-${i + 1}.mjs`);
    writeFileSync(file, js);
    const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, `${where}:\n${source}\n---\n${r.stderr}`);
  });
}

/**
 * Functions of src/core are building blocks for writing a layout or wrapper of your own (validation, block moves,
 * dispatch, hashing); they are documented in their TSDoc but are not primitives of their own.
 */
const buildingBlocks = new Set([
  ...files(join(root, "src", "core"), ".ts").flatMap((f) =>
    [...readFileSync(f, "utf8").matchAll(/^export function (\w+)/gm)].map((m) => m[1]!),
  ),
  // and anything marked @internal (exported for the other layers, hidden from the API reference)
  ...files(join(root, "src"), ".ts").flatMap((f) =>
    [...readFileSync(f, "utf8").matchAll(/@internal \*\/\nexport function (\w+)/g)].map((m) => m[1]!),
  ),
]);

test("every public class, and every function outside core's building blocks, has a tested example", () => {
  const tested = [
    ...examples.map((e) => e.source),
    ...["README.md", "docs/OS.md", "docs/COMPOSITION_RECIPES.md"].flatMap((doc) =>
      [...readFileSync(join(root, doc), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!),
    ),
    ...files(join(root, "examples"), ".ts").map((f) => readFileSync(f, "utf8")),
  ].join("\n");
  const missing: string[] = [];
  for (const [entry, names] of entries) {
    for (const [name, value] of Object.entries(names)) {
      if (typeof value !== "function") continue; // classes and functions; types and constants are covered by them
      if (buildingBlocks.has(name) && !/^class\s/.test(Function.prototype.toString.call(value))) continue;
      if (!new RegExp(`\\b${name}\\b`).test(tested)) missing.push(`${entry}: ${name}`);
    }
  }
  assert.deepEqual([...new Set(missing)], []);
});
