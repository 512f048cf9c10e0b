// The cluster-style recipe (examples/process-cache.ts): forked processes share one cache of records in one heap.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runProcessCache } from "../examples/process-cache.js";
import { needs } from "./helpers/host.js";

const examples = join(dirname(fileURLToPath(import.meta.url)), "..", "examples");

describe("recipe process-cache", needs("linux", "addon"), () => {
  test("2 processes fill a cache of 1,500 with 2,000 records: exactly 500 evicted, every record checked", async () => {
    const lines: string[] = [];
    const report = await runProcessCache(2, 1000, 1500, (line) => lines.push(line));
    assert.equal(report.inserted, 2000);
    assert.equal(report.evicted, 500);
    assert.equal(report.records, 1500);
    assert.ok(report.hits > 0 && report.hits <= report.lookups);
    assert.ok(
      lines.includes("evicted 500; 1500 records left, 1500 of them checked: each a live heap block, once"),
    );
    assert.ok(lines.includes("after clearing: heap validated, 1 worker attached (this one)"));
  });

  test("runs as a program and prints what it claims", () => {
    const r = spawnSync(process.execPath, [join(examples, "process-cache.js")], {
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^3 processes inserted 6000 records into one cache of at most 4000$/m);
    assert.match(r.stdout, /^evicted 2000; 4000 records left, 4000 of them checked/m);
  });
});
