// Docs are part of the feature: every public name (and every public member of an exported class or interface)
// carries TSDoc. Checked with the TypeScript compiler API over the package's entry points.
import assert from "node:assert/strict";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const entries = ["src/index.ts", "src/os.ts", "src/testing.ts", "src/debug.ts"].map((p) => join(root, p));

function documented(symbol: ts.Symbol, checker: ts.TypeChecker): boolean {
  if (symbol.getDocumentationComment(checker).length > 0) return true;
  return symbol.getJsDocTags(checker).length > 0;
}

function isPublic(decl: ts.Declaration): boolean {
  const flags = ts.getCombinedModifierFlags(decl);
  if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) return false;
  const name = (decl as { name?: ts.Node }).name;
  return !(name && ts.isPrivateIdentifier(name));
}

test("every exported name and public member has TSDoc", () => {
  const program = ts.createProgram(entries, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
  });
  const checker = program.getTypeChecker();
  const missing = new Set<string>();
  for (const entry of entries) {
    const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const name = exported.getName();
      if (!documented(symbol, checker)) missing.add(name);
      if (symbol.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface)) {
        for (const member of symbol.members ? [...symbol.members.values()] : []) {
          const decl = member.declarations?.[0];
          if (!decl || !isPublic(decl) || member.getName() === "__constructor") continue;
          if (member.flags & ts.SymbolFlags.TypeParameter) continue; // documented with @typeParam on the class
          if (!documented(member, checker)) missing.add(`${name}.${member.getName()}`);
        }
      }
    }
  }
  assert.deepEqual([...missing].sort(), []);
});
