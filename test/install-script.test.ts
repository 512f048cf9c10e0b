// The install script (scripts/build-native.mjs) on a machine where the prebuilt addon does not fit and the compile
// fails: the install goes on (exit 0), a banner says what happened, and status.json records it for doctor.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT } from "./helpers/child.js";

test("a failed compile at install is loud, does not fail the install, and is recorded for doctor", () => {
  const dir = mkdtempSync(join(tmpdir(), "forge-install-"));
  try {
    mkdirSync(join(dir, "native"));
    cpSync(join(ROOT, "scripts"), join(dir, "scripts"), { recursive: true });
    cpSync(join(ROOT, "native", "forge_os.c"), join(dir, "native", "forge_os.c"));
    const r = spawnSync(process.execPath, [join(dir, "scripts", "build-native.mjs")], {
      encoding: "utf8",
      env: { ...process.env, CC: join(dir, "no-such-compiler") },
    });
    assert.equal(r.status, 0, "the install goes on");
    assert.match(
      r.stderr,
      /!{78}\nforge-alloc: the native addon was NOT built, so forge-alloc\/os cannot map memory here:/,
    );
    assert.match(r.stderr, /`npx forge-alloc doctor` repeats this/);
    const status = JSON.parse(readFileSync(join(dir, "native", "build", "status.json"), "utf8")) as {
      ok: boolean;
      detail: string;
    };
    assert.equal(status.ok, false);
    assert.match(status.detail, /no-such-compiler failed: .*ENOENT|no Node-API headers found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("where the prebuilt addon loads, the install compiles nothing and says which file it uses", () => {
  const dir = mkdtempSync(join(tmpdir(), "forge-install-"));
  try {
    cpSync(join(ROOT, "scripts"), join(dir, "scripts"), { recursive: true });
    const prebuilt = join(dir, "prebuilds", `${process.platform}-${process.arch}`);
    mkdirSync(prebuilt, { recursive: true });
    cpSync(join(ROOT, "native", "build", "forge_os.node"), join(prebuilt, "forge_os.node"));
    const r = spawnSync(process.execPath, [join(dir, "scripts", "build-native.mjs")], {
      encoding: "utf8",
      env: { ...process.env, CC: join(dir, "no-such-compiler") },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /forge-alloc: native addon: using the prebuilt .*forge_os\.node/);
    const status = JSON.parse(readFileSync(join(dir, "native", "build", "status.json"), "utf8")) as {
      ok: boolean;
    };
    assert.equal(status.ok, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
