// When the addon is missing, importing forge-alloc/os throws ONE error saying why and how to fix it, and the
// pure-TypeScript library keeps working. Simulated with a copy of dist/ that has no addon beside it.
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { ROOT, runChild } from "./helpers/child.js";

test("without the addon, forge-alloc/os explains itself and forge-alloc still works", () => {
  const dir = mkdtempSync(join(tmpdir(), "forge-alloc-noaddon-"));
  try {
    cpSync(join(ROOT, "dist"), join(dir, "dist"), { recursive: true });
    mkdirSync(join(dir, "native", "build"), { recursive: true });
    writeFileSync(
      join(dir, "native", "build", "status.json"),
      JSON.stringify({ ok: false, detail: "cc failed: no compiler in this test" }),
    );
    const url = (p: string): string => JSON.stringify(pathToFileURL(join(dir, "dist", p)).href);
    const r = runChild(`
      const core = await import(${url("index.js")});
      const arena = new core.BumpArena(new core.ArrayBufferBacked(1024));
      console.log("core works", arena.allocate(8));
      try { await import(${url("os.js")}); console.log("imported?!"); }
      catch (e) { console.log(e.name + ": " + e.message); }`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /core works 16/);
    assert.match(
      r.stdout,
      /AllocError: forge-alloc\/os: the native addon is not available: cc failed: no compiler in this test\./,
    );
    assert.match(r.stdout, /npm rebuild forge-alloc/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
