// Without the addon, forge-alloc/os still imports: its pure parts work, and constructing anything that maps
// memory throws an UnsupportedError that says why and how to fix it. Simulated two ways: FORGE_ALLOC_NATIVE
// pointing the loader at a missing file, and a copy of the package with no addon (only a failed build's status).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { ROOT } from "./helpers/child.js";
import { needs } from "./helpers/host.js";

/**
 * This process's environment without FORGE_ALLOC_NATIVE: a child finds its addon the way a user's process would
 * (the test sets the variable itself where it is the subject), even when the suite runs with it set.
 */
function ownEnv(): NodeJS.ProcessEnv {
  const { FORGE_ALLOC_NATIVE: _, ...rest } = process.env;
  return rest;
}

function runModule(
  code: string,
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
    encoding: "utf8",
    cwd: ROOT,
    env: { ...ownEnv(), ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Uses the pure parts, then tries every constructor that needs the addon, printing one line each. */
const exercise = (os: string, core: string): string => `
  const os = await import(${JSON.stringify(os)});
  const core = await import(${JSON.stringify(core)});
  console.log("status", os.nativeStatus().loaded);
  const set = os.NodeSet.of(0, 2, 70);
  console.log("nodeset", set.toString(), set.mbindMaxnode());
  const args = os.mbindArgs(os.NumaPolicy.bind(os.NodeSet.of(1)));
  console.log("mbindArgs", args.maxnode, args.nodemask.length > 0);
  console.log("parse", os.parseNodeList("0-2,4").join(","));
  console.log("errno", os.errnoName(22), "numa", os.numaSupported(), "page", os.PAGE_SIZE);
  for (const [name, make] of [
    ["MmapBacked", () => new os.MmapBacked(4096)],
    ["LockedMmapBacked", () => new os.LockedMmapBacked(4096)],
    ["HardenedSlab", () => new os.HardenedSlab({ blockSize: 64, capacity: 4 })],
    ["CryptoSlab", () => new os.CryptoSlab({ blockSize: 32, capacity: 4 })],
  ]) {
    try { make(); console.log(name, "constructed?!"); }
    catch (e) { console.log(name, e instanceof core.UnsupportedError, e.name + ": " + e.message); }
  }
  const arena = new core.BumpArena(new core.ArrayBufferBacked(1024));
  console.log("core works", arena.allocate(8));`;

const OS_URL = pathToFileURL(join(ROOT, "dist", "os.js")).href;
const CORE_URL = pathToFileURL(join(ROOT, "dist", "index.js")).href;

test("with FORGE_ALLOC_NATIVE naming a missing file, the pure parts of forge-alloc/os work and mapping says why", () => {
  const r = runModule(exercise(OS_URL, CORE_URL), { FORGE_ALLOC_NATIVE: "/nonexistent/forge_os.node" });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.deepEqual(lines.slice(0, 5), [
    "status false",
    "nodeset {0,2,70} 129",
    "mbindArgs 65 true",
    "parse 0,1,2,4",
    "errno EINVAL numa false page 0",
  ]);
  for (const name of ["MmapBacked", "LockedMmapBacked", "HardenedSlab", "CryptoSlab"]) {
    const line = lines.find((l) => l.startsWith(`${name} `));
    assert.ok(line, name);
    assert.match(line, new RegExp(`^${name} true UnsupportedError: .*needs forge-alloc's native addon`));
    assert.match(line, /FORGE_ALLOC_NATIVE names \/nonexistent\/forge_os\.node, which does not exist/);
  }
  assert.equal(lines.at(-1), "core works 16");
});

test("FORGE_ALLOC_NATIVE pointing at the addon loads it from there", () => {
  const r = runModule(
    `const os = await import(${JSON.stringify(OS_URL)}); const s = os.nativeStatus();
     console.log(s.loaded, s.source, os.PAGE_SIZE > 0); const m = new os.MmapBacked(4096); try { console.log(m.regionSize()); } finally { m.dispose(); }`,
    { FORGE_ALLOC_NATIVE: join(ROOT, "native", "build", "forge_os.node") },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "true env true\n4096\n");
});

test("a package copy with no addon quotes the failed install-time build", () => {
  const dir = mkdtempSync(join(tmpdir(), "forge-alloc-noaddon-"));
  try {
    cpSync(join(ROOT, "dist"), join(dir, "dist"), { recursive: true });
    cpSync(join(ROOT, "package.json"), join(dir, "package.json"));
    mkdirSync(join(dir, "native", "build"), { recursive: true });
    writeFileSync(
      join(dir, "native", "build", "status.json"),
      JSON.stringify({ ok: false, detail: "cc failed: no compiler in this test" }),
    );
    const url = (p: string): string => pathToFileURL(join(dir, "dist", p)).href;
    const r = runModule(exercise(url("os.js"), url("index.js")));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^status false$/m);
    assert.match(
      r.stdout,
      /^MmapBacked true UnsupportedError: .*no prebuilt addon for linux-x64, and the install-time build failed: cc failed: no compiler in this test\. .*npm rebuild forge-alloc/m,
    );
    const doctor = spawnSync(process.execPath, [join(dir, "dist", "cli", "main.js"), "doctor"], {
      encoding: "utf8",
      env: ownEnv(),
    });
    assert.equal(doctor.status, 1);
    assert.match(doctor.stdout, /FAIL {2}native addon +not available: .*cc failed: no compiler in this test/);
    assert.match(doctor.stderr, /forge-alloc\/os cannot do everything here: native addon failed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("where Node's built-in modules are out of reach (as in a browser bundle), forge-alloc/os imports and says why", () => {
  const r = runModule(`
    delete process.getBuiltinModule; // what the loader uses instead of static node: imports
    const os = await import(${JSON.stringify(OS_URL)});
    const native = await import(${JSON.stringify(OS_URL.replace(/os\.js$/, "os/native.js"))});
    const s = os.nativeStatus();
    console.log(s.loaded, s.reason);
    console.log(os.NodeSet.of(3).toString(), native.readTextFile("/proc/meminfo"), os.PAGE_SIZE);
    try { new os.MmapBacked(4096); } catch (e) { console.log(e.name, /this runtime is not Node/.test(e.message)); }`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout,
    "false forge-alloc/os needs Node.js (it maps memory through a Node-API addon); this runtime is not Node\n" +
      "{3} undefined 0\nUnsupportedError true\n",
  );
});

test("no module of forge-alloc/os has a static node: import (files are read through native.ts's readTextFile/listFolder)", () => {
  const dir = join(ROOT, "src", "os");
  const withNode = readdirSync(dir)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .filter((f) => /^import[^;]*from "node:/m.test(readFileSync(join(dir, f), "utf8")));
  assert.deepEqual(withNode, [], "read files through readTextFile/listFolder of native.ts instead");
});

/** The OS test files (src/os/*.test.ts), built. */
const osTests = (): string[] =>
  readdirSync(join(ROOT, "build", "src", "os"))
    .filter((f) => f.endsWith(".test.js"))
    .map((f) => join(ROOT, "build", "src", "os", f));

/** Runs test files in a child `node --test` with `env`, reporting in TAP (not to this runner's protocol). */
function runTests(files: string[], env: Record<string, string>): { status: number | null; stdout: string } {
  const { NODE_TEST_CONTEXT: _, ...rest } = process.env;
  const r = spawnSync(process.execPath, ["--test", "--test-reporter=tap", ...files], {
    encoding: "utf8",
    cwd: ROOT,
    env: { ...rest, ...env },
    timeout: 300_000,
  });
  return { status: r.status, stdout: r.stdout };
}

test("without the addon the OS tests skip, each saying what it needs, and the pure ones pass; under CI=true they fail", () => {
  const hidden = { FORGE_ALLOC_NATIVE: "/nonexistent/forge_os.node" };
  const r = runTests(osTests(), { ...hidden, CI: "false" });
  assert.equal(r.status, 0, r.stdout.slice(-3000));
  assert.match(r.stdout, /^# fail 0$/m);
  const skips = [...r.stdout.matchAll(/# SKIP (.*)$/gm)].map((m) => m[1]!);
  assert.ok(skips.length >= 15, `${skips.length} suites skipped: ${skips.join("; ")}`);
  for (const reason of skips)
    assert.match(reason, /^needs the native addon \(FORGE_ALLOC_NATIVE names \/nonexistent\/forge_os\.node/);
  assert.ok(Number(/^# pass (\d+)$/m.exec(r.stdout)?.[1]) >= 8, "the pure NodeSet and mbind tests ran");
  const ci = runTests(osTests(), { ...hidden, CI: "true" });
  assert.notEqual(ci.status, 0, "under CI=true a missing addon fails the OS tests");
  assert.match(ci.stdout, /^not ok \d+ - host requirement under CI=true: needs the native addon/m);
});

test(
  "as a user that is not root, the OS tests that need root skip saying so, and the rest pass",
  needs("linux", "addon", "root"), // root, to run the files as another user
  () => {
    // setpriv drops to nobody; the build is readable by all, and the tests write only to the temporary folder.
    const { NODE_TEST_CONTEXT: _, ...rest } = process.env;
    const r = spawnSync(
      "setpriv",
      [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        process.execPath,
        "--test",
        "--test-reporter=tap",
        ...osTests(),
      ],
      { encoding: "utf8", cwd: ROOT, env: { ...rest, CI: "false", HOME: tmpdir() }, timeout: 300_000 },
    );
    assert.equal(r.status, 0, r.stdout.slice(-3000) + r.stderr);
    const skips = [...r.stdout.matchAll(/# SKIP (.*)$/gm)].map((m) => m[1]!);
    assert.ok(skips.length >= 3, skips.join("; "));
    for (const reason of skips)
      assert.match(
        reason,
        /^needs root(, for a private mount namespace)? \(running as uid 65534|^needs root, for/,
      );
    assert.ok(Number(/^# pass (\d+)$/m.exec(r.stdout)?.[1]) >= 80, "the OS tests that need no root ran");
  },
);
