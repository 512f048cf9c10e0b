// The README's (and docs/OS.md's) TypeScript examples run: each ```ts block that imports forge-alloc is transpiled, written inside the
// package (so `import "forge-alloc"` resolves to the built package itself) and imported. A line ending in
// `// prints: X` must print exactly X.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { exampleNeeds, needs } from "./helpers/host.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const extract = (text: string): string[] =>
  [...text.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .filter((b) => b.includes('from "forge-alloc'));
// README first (its first block is the composition example), then docs/OS.md and docs/COMPOSITION_RECIPES.md.
const blocks = [
  ...extract(readme),
  ...["OS.md", "COMPOSITION_RECIPES.md"].flatMap((doc) =>
    extract(readFileSync(join(root, "docs", doc), "utf8")),
  ),
];

test("the README has runnable examples, and every printed value in them is checked", () => {
  assert.ok(blocks.length >= 2);
  // a `console.log(...)` whose comment is not `// prints: X` would say what it prints without being compared
  const unchecked = blocks.flatMap((b) =>
    b.split("\n").filter((l) => /console\.log\(.*\/\/ /.test(l) && !/\/\/ prints: /.test(l)),
  );
  assert.deepEqual(unchecked, [], "write the printed value as `// prints: X`");
  assert.ok(
    blocks[0]!.split("\n").filter((l) => l.trim() !== "").length <= 17,
    "the composition example stays about 15 lines",
  );
});

blocks.forEach((source, i) => {
  // An example that maps memory needs the addon (and Linux); the rest run on any host.
  test(`README example ${i + 1} runs and prints what it says`, needs(...exampleNeeds(source)), async () => {
    const expected = [...source.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => m[1]!.trim());
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, lib: ["esnext"] },
    }).outputText;
    const dir = join(root, "build", "readme");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `example-${i + 1}.mjs`);
    writeFileSync(file, js);
    const printed: string[] = [];
    const original = console.log;
    console.log = (...args: unknown[]) => void printed.push(args.map(String).join(" "));
    try {
      await import(`${pathToFileURL(file).href}?${Date.now()}`);
    } finally {
      console.log = original;
    }
    assert.deepEqual(printed, expected);
  });
});
