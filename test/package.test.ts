// The package as people get it: `npm pack` (with the prebuilt addons that `prepack` makes), then `npm install` of
// the tarball in a fresh folder with no C compiler on PATH. Checks what is in it, publint and
// @arethetypeswrong/cli, `require()`, TypeScript consumers with each moduleResolution and a browser `lib`, the
// OS layer from the prebuilt addon, and every README and guide example as a plain .mjs file on this Node.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  version: string;
  engines: { node: string };
};
const npmCli =
  process.env.npm_execpath ??
  join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "bin", "npm-cli.js");

let work = "";
let tarball = "";
let files: string[] = [];
/** The consumer folder where the tarball is installed. */
let app = "";
/** A PATH holding only `node` and `sh`: no C compiler can be found on it. */
let bareBin = "";
/** Why the other architecture's prebuild was not made, when it was not. */
let missingCross: string | undefined;

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout: 180_000 });
}

/** The environment of a user without a C compiler: PATH has node and sh only, no CC. */
function bareEnv(): NodeJS.ProcessEnv {
  return { HOME: join(work, "home"), PATH: bareBin, npm_config_update_notifier: "false" };
}

function install(dir: string, extra: string[] = []) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }),
  );
  const r = sh(
    process.execPath,
    [npmCli, "install", "--offline", "--no-audit", "--no-fund", "--foreground-scripts", ...extra, tarball],
    dir,
    bareEnv(),
  );
  assert.equal(r.status, 0, `npm install: ${r.stderr}`);
  return r;
}

before(() => {
  work = mkdtempSync(join(tmpdir(), "forge-package-"));
  bareBin = join(work, "bin");
  mkdirSync(bareBin);
  symlinkSync(process.execPath, join(bareBin, "node"));
  symlinkSync("/bin/sh", join(bareBin, "sh"));
  // What `npm pack` runs as prepack; dist/ is already built by `npm test`. Without Debian's cross compiler (and
  // not under CI=true, where .ci/run installs it) only the native prebuild is made, and the test says so.
  const cross = process.arch === "x64" ? "aarch64-linux-gnu-gcc" : "x86_64-linux-gnu-gcc";
  if (sh(cross, ["--version"], root).status !== 0 && process.env.CI !== "true") {
    missingCross = `${cross} is not installed (apt-get install ${process.arch === "x64" ? "gcc-aarch64-linux-gnu" : "gcc-x86-64-linux-gnu"}, or .ci/run)`;
  }
  const prebuild = sh(process.execPath, [join(root, "scripts", "prebuild.mjs")], root, {
    ...process.env,
    ...(missingCross ? { FORGE_ALLOC_PREBUILD_ARCHS: process.arch } : {}),
  });
  assert.equal(prebuild.status, 0, `prebuild (needs gcc-aarch64-linux-gnu): ${prebuild.stderr}`);
  const packed = sh(
    process.execPath,
    [npmCli, "pack", "--ignore-scripts", "--json", "--pack-destination", work],
    root,
  );
  assert.equal(packed.status, 0, packed.stderr);
  const info = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0]!.filename);
  files = info[0]!.files.map((f) => f.path);
  app = join(work, "app");
  install(app);
  // docs/WASM.md's module, compiled as the guide says, where its example runs.
  const asc = sh(
    process.execPath,
    [
      join(root, "node_modules", "assemblyscript", "bin", "asc.js"),
      join(root, "docs", "wasm", "particles.ts"),
      ...["--importMemory", "--runtime", "stub", "-O3", "--noAssert", "--use", "abort="],
      ...["--outFile", join(app, "particles.wasm"), "--textFile", join(app, "particles.wat")],
    ],
    root,
  );
  assert.equal(asc.status, 0, asc.stderr);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the tarball holds the licences, the prebuilt addons, dist/ with complete source maps, and no sources or tests", (t) => {
  for (const f of [
    "LICENSE-MIT",
    "LICENSE-APACHE",
    "README.md",
    "package.json",
    "dist/index.js",
    "dist/index.d.ts",
    "dist/cli/main.js",
    "native/forge_os.c",
    `prebuilds/linux-${process.arch}/forge_os.node`,
  ]) {
    assert.ok(files.includes(f), `missing ${f}`);
  }
  assert.deepEqual(
    files.filter((f) => f.startsWith("src/") || f.includes(".test.") || f.startsWith("native/build/")),
    [],
  );
  const machine = (arch: string): number =>
    readFileSync(
      join(app, "node_modules", "forge-alloc", "prebuilds", `linux-${arch}`, "forge_os.node"),
    ).readUInt16LE(18);
  for (const [arch, em] of [
    ["x64", 0x3e],
    ["arm64", 0xb7],
  ] as const) {
    if (arch !== process.arch && missingCross !== undefined) {
      // .ci/run installs the cross compiler: under CI=true a missing one fails rather than skips
      assert.notEqual(process.env.CI, "true", `under CI=true both prebuilds are built: ${missingCross}`);
      t.skip(`the linux-${arch} prebuild: ${missingCross}`);
      continue;
    }
    assert.ok(files.includes(`prebuilds/linux-${arch}/forge_os.node`), `missing the linux-${arch} prebuild`);
    assert.equal(machine(arch), em, `prebuilds/linux-${arch} is an ELF for ${arch}`);
  }
  const maps = files.filter((f) => f.endsWith(".js.map"));
  assert.ok(maps.length > 20);
  for (const m of maps) {
    const map = JSON.parse(readFileSync(join(app, "node_modules", "forge-alloc", m), "utf8")) as {
      sources: string[];
      sourcesContent?: (string | null)[];
    };
    assert.equal(map.sourcesContent?.length, map.sources.length, `${m} carries its sources`);
    assert.ok(
      map.sourcesContent.every((s) => typeof s === "string" && s.length > 0),
      m,
    );
  }
  assert.ok(!files.some((f) => f.endsWith(".d.ts.map")), "no declaration maps pointing at src/");
});

test("every relative link of the README names a file the package ships", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const links = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
    .map((m) => m[1]!)
    .filter((l) => !/^[a-z]+:/.test(l));
  assert.ok(links.length >= 3);
  assert.deepEqual(
    links.filter((l) => !files.includes(l)),
    [],
  );
});

test("publint finds nothing to report, not even a suggestion", () => {
  const r = sh(
    process.execPath,
    [join(root, "node_modules", "publint", "src", "cli.js"), "run", tarball, "--strict"],
    root,
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /All good!/);
});

test("@arethetypeswrong/cli finds no problem at all: CommonJS consumers get CommonJS types, ES ones ES types", () => {
  const r = sh(
    process.execPath,
    [
      join(root, "node_modules", "@arethetypeswrong", "cli", "dist", "index.js"),
      tarball,
      "--format",
      "ascii",
      "--no-emoji",
      "--no-color",
    ],
    root,
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /No problems found/);
  const verdicts = [
    ...r.stdout.matchAll(/^(node10|node16 \(from CJS\)|node16 \(from ESM\)|bundler): (.*)$/gm),
  ];
  assert.equal(verdicts.length, 9 * 4, r.stdout); // the nine `exports` entries, package.json included
  assert.deepEqual(
    verdicts.filter(([, , v]) => !v!.startsWith("OK")),
    [],
  );
  // require() resolves to the CommonJS entries (which hand out the one ES module), import to the ES modules.
  assert.equal(
    verdicts.filter(([, mode, v]) => mode === "node16 (from CJS)" && v!.trim() === "OK (CJS)").length,
    8, // the eight entries with a require target
  );
});

test("installed with no C compiler on PATH, forge-alloc/os maps memory with the prebuilt addon", () => {
  assert.equal(sh("sh", ["-c", "command -v cc gcc clang"], app, bareEnv()).stdout, "", "no compiler on PATH");
  const status = JSON.parse(
    readFileSync(join(app, "node_modules", "forge-alloc", "native", "build", "status.json"), "utf8"),
  ) as { ok: boolean; detail: string };
  assert.equal(status.ok, true);
  assert.match(status.detail, /using the prebuilt .*prebuilds\/linux-x64\/forge_os\.node/);
  writeFileSync(
    join(app, "os.mjs"),
    `import { MmapBacked, nativeStatus, PAGE_SIZE } from "forge-alloc/os";
     const m = new MmapBacked(1 << 16);
     try { m.memory.u8[m.allocate(64)] = 7; console.log(nativeStatus().source, PAGE_SIZE, m.regionSize()); }
     finally { m.dispose(); }`,
  );
  const r = sh(process.execPath, ["os.mjs"], app, bareEnv());
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "prebuilt 4096 65536\n");
  const doctor = sh(
    process.execPath,
    [join("node_modules", ".bin", "forge-alloc"), "doctor"],
    app,
    bareEnv(),
  );
  assert.match(doctor.stdout, /ok\s+native addon\s+loaded \(prebuilt: /);
});

test("with install scripts blocked (as Bun does by default), the prebuilt addon still loads", () => {
  const dir = join(work, "no-scripts");
  install(dir, ["--ignore-scripts"]);
  assert.ok(!existsSync(join(dir, "node_modules", "forge-alloc", "native", "build")));
  const r = sh(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import { nativeStatus } from "forge-alloc/os"; console.log(nativeStatus().source);`,
    ],
    dir,
    bareEnv(),
  );
  assert.equal(r.stdout, "prebuilt\n", r.stderr);
});

test("require('forge-alloc') works on this Node, and the CLI answers --version", () => {
  writeFileSync(
    join(app, "req.cjs"),
    `const { BumpArena, ArrayBufferBacked } = require("forge-alloc");
     const { runConformance } = require("forge-alloc/testing");
     console.log(new BumpArena(new ArrayBufferBacked(1024)).allocate(8), typeof runConformance);
     import("forge-alloc").then((m) => console.log(m.BumpArena === BumpArena));`,
  );
  const r = sh(process.execPath, ["req.cjs"], app, bareEnv());
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "16 function\ntrue\n"); // one copy of the library, whichever way it is loaded
  assert.doesNotMatch(r.stderr, /Warning/);
  const v = sh(process.execPath, [join("node_modules", ".bin", "forge-alloc"), "--version"], app, bareEnv());
  assert.equal(v.stdout, `${pkg.version}\n`);
});

const CONSUMER = `import { ArrayBufferBacked, BumpArena, type Allocator, NULL } from "forge-alloc";
import { Slab } from "forge-alloc/layout";
import { runConformance } from "forge-alloc/testing";
import { NodeSet, type MmapBacked } from "forge-alloc/os";
const arena: Allocator = new BumpArena(new ArrayBufferBacked(1 << 12));
const scope = new BumpArena(new ArrayBufferBacked(1 << 12)).scope();
const d: Disposable = scope;
const xs: Float64Array = scope.allocArray(Float64Array, 4);
export const out: [number, number, string, boolean, typeof runConformance, MmapBacked | undefined] = [
  arena.allocate(8), xs.length, String(NodeSet.of(1)), NULL === 0 && d !== undefined && Slab !== undefined, runConformance, undefined,
];
`;

/** One compiler host for every consumer, so the libs and the package's declarations are parsed once. */
const sourceFiles = new Map<string, ts.SourceFile | undefined>();
function typeCheck(dir: string, options: ts.CompilerOptions): string[] {
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, language, ...rest) => {
    const key = `${fileName}|${JSON.stringify(language)}`;
    if (!sourceFiles.has(key)) sourceFiles.set(key, read(fileName, language, ...rest));
    return sourceFiles.get(key);
  };
  const program = ts.createProgram([join(dir, "main.ts")], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

for (const [name, settings] of [
  ["node16", { module: "node16", moduleResolution: "node16" }],
  ["nodenext", { module: "nodenext", moduleResolution: "nodenext" }],
  ["bundler", { module: "esnext", moduleResolution: "bundler" }],
  ["node (node10)", { module: "commonjs", moduleResolution: "node" }],
  [
    "a browser project with a plain lib",
    { module: "esnext", moduleResolution: "bundler", lib: ["ES2022", "DOM"] },
  ],
] as const) {
  test(`a TypeScript consumer with ${name} type-checks against the installed declarations`, () => {
    const dir = join(app, `ts-${name.replace(/\W+/g, "-")}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "main.ts"), CONSUMER);
    const json = {
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2022", "DOM", "ESNext.Disposable"],
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
        ...settings,
      },
    };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(json)); // to reproduce by hand: tsc -p <dir>
    const parsed = ts.parseJsonConfigFileContent(json, ts.sys, dir);
    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(typeCheck(dir, parsed.options), []);
  });
}

/** The TypeScript examples of the README and the guides that use the package, in that order. */
function readmeExamples(): string[] {
  const readme = ["README.md", "docs/OS.md", "docs/COMPOSITION_RECIPES.md", "docs/WASM.md"]
    .map((f) => readFileSync(join(root, f), "utf8"))
    .join("\n");
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .filter((b) => b.includes('from "forge-alloc'));
}

test("docs/WASM.md's module imports its memory and writes no data of its own into it", () => {
  const wat = readFileSync(join(app, "particles.wat"), "utf8");
  assert.match(wat, /\(import "env" "memory" \(memory /);
  assert.doesNotMatch(wat, /\(data /);
  assert.deepEqual(
    [...wat.matchAll(/\(import "(\w+)" "(\w+)"/g)].map((m) => `${m[1]}.${m[2]}`),
    ["env.memory"],
  );
});

test("the README's and guides' examples have no `using` (Node 20 and 22 cannot parse it in plain JavaScript)", () => {
  const examples = readmeExamples();
  assert.ok(examples.length >= 4);
  for (const e of examples) assert.doesNotMatch(e.replace(/\/\/.*$/gm, ""), /\busing\s+\w+\s*=/);
});

readmeExamples().forEach((source, i) => {
  test(`README/docs example ${i + 1} runs as a plain .mjs on this Node against the installed package`, () => {
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ESNext },
    }).outputText;
    const file = join(app, `readme-${i + 1}.mjs`);
    writeFileSync(file, js);
    const r = sh(process.execPath, [file], app, bareEnv());
    assert.equal(r.status, 0, r.stderr);
    const expected = [...source.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => `${m[1]!.trim()}\n`).join("");
    assert.equal(r.stdout, expected);
  });
});

test("the test runs on the Node the package declares", () => {
  const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
  assert.ok((major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major > 22, process.version);
  assert.ok(execFileSync(process.execPath, ["--version"], { encoding: "utf8" }).startsWith(`v${major}.`));
});
