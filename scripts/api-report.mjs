#!/usr/bin/env node
// The API report: every name each package entry exports, with its declaration as a consumer's TypeScript sees it
// (the emitted .d.ts, comments and `@internal` members left out), written to etc/forge-alloc.api.md. The public API
// is what the report says; a change to it is deliberate when the report changes with it.
//
//   node scripts/api-report.mjs           compare with the checked-in report; exit 1 and say what differs
//   node scripts/api-report.mjs --write   write the report (`npm run api:report`)
//
// It also fails when an entry exports a name tagged `@internal`. It compiles the declarations in memory from src/,
// so it needs no build. test/api-report.test.ts imports `buildReport` and `compareReport` from it.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const reportPath = join(root, "etc", "forge-alloc.api.md");
const UPDATE = "npm run api:report";

/** The package's entries and the source files they are built from (package.json `exports`). */
function entries() {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const out = [];
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target !== "object") continue;
    const rel = (target.import ?? target).default.replace(/^\.\/dist\//, "").replace(/\.js$/, ".ts");
    out.push({
      name: subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
      source: join(root, "src", rel),
    });
  }
  return out;
}

/** Declarations of `sources`, emitted in memory, and a program over them. */
function declarationProgram(sources) {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, "tsconfig.build.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  const options = {
    ...config.options,
    declaration: true,
    emitDeclarationOnly: true,
    declarationMap: false,
    sourceMap: false,
    inlineSources: false,
    noEmit: false,
  };
  const emitted = new Map();
  const program = ts.createProgram(config.fileNames, options);
  const result = program.emit(undefined, (file, text) => emitted.set(resolve(file), text), undefined, true);
  const errors = result.diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) throw new Error(ts.formatDiagnostics(errors, ts.createCompilerHost(options)));
  const dtsOf = (source) =>
    resolve(options.outDir, relative(options.rootDir, source)).replace(/\.ts$/, ".d.ts");
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (f) => emitted.get(resolve(f)) ?? readFile(f);
  host.fileExists = (f) => emitted.has(resolve(f)) || fileExists(f);
  const dtsOptions = { ...options, noEmit: true, declaration: false, emitDeclarationOnly: false };
  const dts = ts.createProgram(sources.map(dtsOf), dtsOptions, host);
  return { program: dts, dtsOf, outDir: options.outDir };
}

const isInternal = (node) => ts.getJSDocTags(node).some((t) => t.tagName.text === "internal");
const isPrivate = (node) =>
  (ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Private) !== 0 ||
  (node.name !== undefined && ts.isPrivateIdentifier(node.name));

/**
 * Drops the members tagged `@internal` and the private ones from classes and interfaces: neither is API (protected
 * members are, for subclasses).
 */
function withoutInternal(node) {
  const f = ts.factory;
  const keep = (members) => members.filter((m) => !isInternal(m) && !isPrivate(m));
  const update = ts.isClassDeclaration(node)
    ? f.updateClassDeclaration
    : ts.isInterfaceDeclaration(node)
      ? f.updateInterfaceDeclaration
      : undefined;
  if (update === undefined) return node;
  const { modifiers, name, typeParameters, heritageClauses, members } = node;
  return update.call(f, node, modifiers, name, typeParameters, heritageClauses, keep(members));
}

function report() {
  const list = entries();
  const { program, dtsOf, outDir } = declarationProgram(list.map((e) => e.source));
  const checker = program.getTypeChecker();
  const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed });
  const declarations = new Map(); // "file:name" -> printed text
  const problems = [];
  const sections = [];
  for (const entry of list) {
    const file = program.getSourceFile(dtsOf(entry.source));
    const moduleSymbol = checker.getSymbolAtLocation(file);
    const rows = [];
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const decls = symbol.declarations ?? [];
      const from = decls[0]
        ? relative(outDir, decls[0].getSourceFile().fileName).replace(/\.d\.ts$/, ".ts")
        : "?";
      const key = `${from}:${exported.name}`;
      if (decls.some((d) => isInternal(ts.isVariableDeclaration(d) ? d.parent.parent : d)))
        problems.push(`${entry.name} exports ${exported.name} (src/${from}), which is tagged @internal`);
      if (!declarations.has(key)) {
        const text = decls
          .map((d) => {
            const node = ts.isVariableDeclaration(d) ? d.parent.parent : d;
            return printer.printNode(ts.EmitHint.Unspecified, withoutInternal(node), d.getSourceFile());
          })
          .join("\n");
        declarations.set(key, text);
      }
      const kind = symbol.flags & ts.SymbolFlags.Value ? "value" : "type";
      rows.push(`- \`${exported.name}\` (${kind}, src/${from})`);
    }
    rows.sort();
    sections.push(`## \`${entry.name}\` (${rows.length} names)\n\n${rows.join("\n")}\n`);
  }
  const body = [...declarations.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, text]) => `### ${key}\n\n\`\`\`ts\n${text}\n\`\`\`\n`);
  const text =
    `# API report of forge-alloc\n\n` +
    `Generated by \`scripts/api-report.mjs\` from the declarations of the package entries; do not edit. ` +
    `\`test/api-report.test.ts\` fails when the public API and this file differ: after a deliberate change, ` +
    `run \`${UPDATE}\` and commit the result with the change.\n\n` +
    `${sections.join("\n")}\n# Declarations\n\n${body.join("\n")}`;
  return { text, problems };
}

/**
 * What differs between the checked-in report `old` and the report `text` of the API now, as the message to print
 * (with the command that updates the report), or `undefined` when they are equal.
 */
export function compareReport(old, text, path = reportPath) {
  if (old === text) return undefined;
  const a = old.split("\n");
  const b = text.split("\n");
  // The differing middle: what is left after the longest common head and tail.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const removed = a.slice(head, a.length - tail).slice(0, 20);
  const added = b.slice(head, b.length - tail).slice(0, 20);
  const context = head > 0 ? ` (after line ${head}: ${a[head - 1]})` : "";
  return (
    `api-report: the public API differs from ${relative(root, path)}.\n` +
    `If the change is deliberate, run \`${UPDATE}\` and commit the report with it.\n` +
    `First difference${context}.\n` +
    `Lines only in the report:\n${removed.map((l) => `  - ${l}`).join("\n")}\n` +
    `Lines only in the API now:\n${added.map((l) => `  + ${l}`).join("\n")}`
  );
}

export { report as buildReport, reportPath };

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { text, problems } = report();
  if (problems.length > 0) {
    console.error(`api-report: internal names in the public API:\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  if (process.argv.includes("--write")) {
    writeFileSync(reportPath, text);
    console.log(`api-report: wrote ${relative(root, reportPath)}`);
  } else {
    let old = "";
    try {
      old = readFileSync(reportPath, "utf8");
    } catch {
      // no report yet: everything differs
    }
    const message = compareReport(old, text);
    if (message !== undefined) {
      console.error(message);
      process.exit(1);
    }
    console.log(`api-report: ${relative(root, reportPath)} matches the public API`);
  }
}
