// The examples in the TSDoc run, and every public primitive has a tested example somewhere: in its TSDoc, in the
// README or the docs (run by readme.test.ts), or in examples/ (run by examples.test.ts). Each TSDoc example runs in
// its own process (a few touch guard pages or start workers), as a module inside the package so that
// `forge-alloc` resolves to the built package, with the names it uses imported for it. A `console.log(...)` line that
// ends in a comment says what it prints (`// true true`, or `// -1: why`, prose after the value and a colon), and the
// example must print exactly that, every time that line runs.
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
import { exampleNeeds, needs } from "./helpers/host.js";

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

/** Comments that describe what a line prints instead of quoting it (it depends on the host), and what they allow. */
const DESCRIBED = new Map<string, RegExp>([
  [
    "{ total, free, sizeBytes } of the reserved pool, or undefined",
    /^(undefined|\{ total: \d+, free: \d+, sizeBytes: \d+ \})$/,
  ],
]);

/** Ignores spacing and the quote style: `["a", 1]` in a comment is Node's `[ 'a', 1 ]`. */
const norm = (text: string): string => text.replace(/\s+/g, "").replace(/["']/g, "");

/**
 * Whether `printed` (what one `console.log` call printed) is what `comment` says: the same text, the same text
 * followed by `: prose`, or with `...` standing for the rest of a long value.
 */
function says(comment: string, printed: string): boolean {
  const described = DESCRIBED.get(comment);
  if (described !== undefined) return described.test(printed);
  const c = norm(comment);
  const p = norm(printed);
  if (c === p || c.startsWith(`${p}:`)) return true;
  if (!comment.includes("...")) return false;
  const pattern = c
    .split("...")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${pattern}$`).test(p);
}

const MARK = "\u0000tsdoc-print ";

/**
 * `source` with each `console.log(` on a line that ends in `// what it prints` turned into a call that also reports
 * the line's index and the text printed; and those comments, by index.
 */
function instrument(source: string): { code: string; comments: string[] } {
  const comments: string[] = [];
  const code = source
    .split("\n")
    .map((line) => {
      const m = /console\.log\(.*\/\/ (.+)$/.exec(line);
      if (m === null) return line;
      comments.push(m[1]!.trim());
      return line.replace(/console\.log\(/g, `__print(${comments.length - 1}, `);
    })
    .join("\n");
  const print = `const __print = (line, ...args) => void process.stdout.write(${JSON.stringify(MARK)} + JSON.stringify([line, __util.format(...args)]) + "\\n");`;
  return { code: `import * as __util from "node:util";\n${print}\n${code}`, comments };
}

test("the TSDoc has examples", () => {
  assert.ok(examples.length >= 30, `only ${examples.length} examples`);
  // the extractor finds every ```ts fence of a doc comment (counted here the plain way, line by line)
  const fences = files(join(root, "src"), ".ts").reduce(
    (n, f) =>
      n +
      readFileSync(f, "utf8")
        .split("\n")
        .filter((l) => /^\s*\* ```ts\s*$/.test(l)).length,
    0,
  );
  assert.equal(examples.length, fences);
  const annotated = examples.filter((e) => instrument(e.source).comments.length > 0).length;
  assert.ok(annotated >= 30, `${annotated} examples say what they print`);
});

for (const [i, { where, source }] of examples.entries()) {
  // An example that maps memory needs the addon (and Linux); the rest run on any host.
  test(
    `TSDoc example at ${where} runs and prints what its comments say`,
    needs(...exampleNeeds(source)),
    () => {
      const { code, comments } = instrument(source);
      const js = ts.transpileModule(`${prelude(source)}\n${code}\nexport {};\n`, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      const dir = join(root, "build", "tsdoc-examples");
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `example-${i + 1}.mjs`);
      writeFileSync(file, js);
      const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: "utf8", timeout: 30_000 });
      assert.equal(r.status, 0, `${where}:\n${source}\n---\n${r.stderr}`);
      const printed = r.stdout
        .split("\n")
        .filter((l) => l.startsWith(MARK))
        .map((l) => JSON.parse(l.slice(MARK.length)) as [number, string]);
      comments.forEach((comment, line) => {
        const lines = printed.filter(([n]) => n === line).map(([, text]) => text);
        assert.ok(lines.length > 0, `${where}: the line commented \`// ${comment}\` never printed`);
        for (const text of lines)
          assert.ok(says(comment, text), `${where}: printed \`${text}\`, its comment says \`// ${comment}\``);
      });
    },
  );
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
