// The API reference is generated from the TSDoc by typedoc (`npm run docs:api`, into api/). It must build with no
// warning (broken links included: typedoc.json treats warnings as errors) and have a page for every public class.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as api from "../src/index.js";
import * as os from "../src/os.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

test("typedoc builds the API reference with no warning and a page for every exported class", () => {
  const out = mkdtempSync(join(tmpdir(), "forge-api-"));
  try {
    const r = spawnSync(
      process.execPath,
      [join(root, "node_modules", "typedoc", "bin", "typedoc"), "--out", out],
      {
        cwd: root,
        encoding: "utf8",
        timeout: 180_000,
      },
    );
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const classes = [
      ...Object.entries(api).map(([name, value]) => ["index", name, value] as const),
      ...Object.entries(os)
        .filter(([name]) => !(name in api))
        .map(([name, value]) => ["os", name, value] as const),
    ].filter(
      ([, , value]) =>
        typeof value === "function" && /^class\s/.test(Function.prototype.toString.call(value)),
    );
    assert.ok(classes.length > 40);
    const missing = classes
      .map(([module, name]) => `${module}.${name}.html`)
      .filter((page) => !existsSync(join(out, "classes", page)));
    assert.deepEqual(missing, []);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
