// The package's entries as tools resolve them (issue "A package people can install and use anywhere"):
// `require()` gets the one ES module (no second copy of the library), and `forge-alloc/os` has a `browser`
// condition whose module graph imports nothing from Node, so a browser bundle needs no polyfill and gets the pure
// parts plus an `UnsupportedError` that says why for anything that maps memory.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { ROOT } from "./helpers/child.js";

type Target = { types: string; default: string };
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  exports: Record<string, Record<string, Target> | string>;
  main: string;
  types: string;
};

function run(args: string[], code: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...args, "-e", code], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("every entry has import and require targets that exist; require's are under dist/cjs with CommonJS types", () => {
  assert.equal(JSON.parse(readFileSync(join(ROOT, "dist", "cjs", "package.json"), "utf8")).type, "commonjs");
  for (const [subpath, conditions] of Object.entries(pkg.exports)) {
    if (typeof conditions === "string") continue;
    const { import: esm, require: cjs } = conditions;
    assert.ok(esm && cjs, subpath);
    for (const file of [esm.types, esm.default, cjs.types, cjs.default]) {
      assert.ok(existsSync(join(ROOT, file)), `${subpath}: ${file}`);
    }
    assert.ok(cjs.default.startsWith("./dist/cjs/") && cjs.types.startsWith("./dist/cjs/"), subpath);
    assert.equal(
      readFileSync(join(ROOT, cjs.types), "utf8"),
      readFileSync(join(ROOT, esm.types), "utf8"),
      `${subpath}: the CommonJS types are the same declarations`,
    );
  }
  assert.equal(pkg.main, "./dist/cjs/index.js");
});

test("require() of every entry is the ES module itself: one copy of the library, whichever way it is loaded", () => {
  const subpaths = Object.keys(pkg.exports).filter((s) => s !== "./package.json");
  const names = subpaths.map((s) => (s === "." ? "forge-alloc" : `forge-alloc/${s.slice(2)}`));
  const r = run(
    ["--input-type=module"],
    `import { createRequire } from "node:module";
     const require = createRequire(${JSON.stringify(join(ROOT, "package.json"))});
     for (const name of ${JSON.stringify(names)}) {
       const required = require(name);
       const imported = await import(name);
       const keys = Object.keys(imported);
       console.log(name, keys.length > 0 && keys.every((k) => required[k] === imported[k]));
     }
     const { BumpArena, ArrayBufferBacked, Memory } = require("forge-alloc");
     const { BumpArena: B2, Memory: M2 } = await import("forge-alloc");
     const buffer = new ArrayBuffer(1024);
     console.log(new BumpArena(new ArrayBufferBacked(1024)) instanceof B2, Memory.of(buffer) === M2.of(buffer));`,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, [...names.map((n) => `${n} true`), "true true", ""].join("\n"));
});

test("on a Node that cannot require an ES module, require() says what to do", () => {
  // Simulated: the CommonJS entry's require of the ES module fails as it does before Node 20.19.
  const r = run(
    [],
    `const Module = require("node:module");
     const load = Module._load;
     Module._load = function (request, parent, ...rest) {
       if (parent && parent.filename.includes("/dist/cjs/") && request.endsWith("index.js")) {
         const e = new Error("require() of ES Module not supported"); e.code = "ERR_REQUIRE_ESM"; throw e;
       }
       return load.call(this, request, parent, ...rest);
     };
     try { require("forge-alloc"); } catch (e) { console.log(e.message); console.log(e.cause.code); }`,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /^forge-alloc: require\(\) of this package needs a Node\.js that can require ES modules \(\^20\.19\.0 \|\| >=22\.12\.0.*Upgrade Node\.js, or load it with import\(\)/,
  );
  assert.match(r.stdout, /ERR_REQUIRE_ESM\n$/);
});

/** The bare specifiers of `file`'s static imports and re-exports, and of every relative module they reach. */
function bareImports(file: string, seen = new Set<string>()): string[] {
  if (seen.has(file)) return [];
  seen.add(file);
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"|^\s*import\s+"([^"]+)"/gm)) {
    const spec = (m[1] ?? m[2])!;
    if (spec.startsWith(".")) out.push(...bareImports(resolve(dirname(file), spec), seen));
    else out.push(spec);
  }
  return out;
}

test("forge-alloc/os has a browser condition, and its module graph imports nothing from Node", () => {
  const os = pkg.exports["./os"] as Record<string, Target>;
  assert.equal(Object.keys(os)[0], "browser", "first, so a bundler targeting browsers takes it");
  assert.equal(
    os.browser!.default,
    os.import!.default,
    "the ES module (browser-safe), never the require() entry",
  );
  const graph = bareImports(join(ROOT, os.browser!.default));
  const fromNode = graph.filter((s) => s.startsWith("node:") || builtinModules.includes(s));
  assert.deepEqual(fromNode, []);
  assert.deepEqual(bareImports(join(ROOT, (pkg.exports["."] as Record<string, Target>).import!.default)), []);
});

test("resolved with the browser condition where Node's modules are out of reach, forge-alloc/os works as far as it can", () => {
  const r = run(
    ["--conditions=browser", "--input-type=module"],
    `delete process.getBuiltinModule; // as in a browser: no node:fs, no addon
     const os = await import("forge-alloc/os");
     console.log(os.nativeStatus().loaded, os.numaSupported(), os.onlineNumaNodes(), os.hugePagePool());
     console.log(JSON.stringify(os.numaTopology()), os.NodeSet.of(0, 3).toString(), os.parseNodeList("0-2").join());
     console.log(os.mbindArgs(os.NumaPolicy.bind(os.NodeSet.of(1))).maxnode);
     for (const make of [() => new os.MmapBacked(4096), () => new os.HardenedSlab({ blockSize: 64, capacity: 4 })]) {
       try { make(); console.log("constructed?!"); } catch (e) { console.log(e.name, /this runtime is not Node/.test(e.message)); }
     }`,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout,
    'false false undefined undefined\n{"nodes":[]} {0,3} 0,1,2\n65\nUnsupportedError true\nUnsupportedError true\n',
  );
});
