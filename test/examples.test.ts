// The examples in examples/ run and print what they claim.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const examples = join(dirname(fileURLToPath(import.meta.url)), "..", "examples");

test("examples/workers: a worker frees the owner's blocks remotely and they all come back", () => {
  const r = spawnSync(process.execPath, [join(examples, "workers.js")], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /freed 500 slab blocks remotely/);
  assert.match(r.stdout, /after draining, the slab has 0 live blocks/);
  assert.match(r.stdout, /served 100 allocations in the worker/);
});

// The six application recipes (what `npm start` runs after the primitive tour): each asserts what it claims.
import { authService } from "../examples/recipes/auth-service.js";
import { cliBatch } from "../examples/recipes/cli-batch.js";
import { dbExecutor } from "../examples/recipes/db-executor.js";
import { embeddedPool } from "../examples/recipes/embedded-pool.js";
import { gameFrame } from "../examples/recipes/game-frame.js";
import { webService } from "../examples/recipes/web-service.js";
import { RECIPES } from "../examples/tour.js";
import { needs } from "./helpers/host.js";

function collect(): { lines: string[]; say: (line: string) => void } {
  const lines: string[] = [];
  return { lines, say: (line) => lines.push(line) };
}

test("recipe cli-batch: 512 records fit the 64 KiB budget, and past it the arena returns NULL", () => {
  const { lines, say } = collect();
  const report = cliBatch(say);
  assert.ok(lines.includes("512 records of 64 bytes: 32768 of 65520 bytes used, no frees"));
  assert.equal(lines.filter((l) => /^ {2}\d00 records/.test(l)).length, 5); // a running total every 100
  assert.match(report.shows, /NULL after 1023$/); // 65520 / 64, rounded down
});

test("recipe embedded-pool: freed slots come back LIFO, and a stale handle reads undefined", () => {
  const { lines, say } = collect();
  const report = embeddedPool(say);
  assert.ok(lines.some((l) => l.includes("sensor 3 reads 21.5 degrees; live: 4")));
  assert.ok(lines.some((l) => l.endsWith("the last one freed: true")));
  assert.ok(lines.some((l) => l.includes("was reused (true), and the old handle reads undefined")));
  assert.match(report.shows, /LIFO reuse: true; stale handle refused: true/);
});

test("recipe web-service: the heap took the 4 MiB upload, its free went back there, and scratch resets", () => {
  const { lines, say } = collect();
  const report = webService(say);
  assert.ok(lines.includes("3 connections opened, all from the pool: true"));
  assert.ok(lines.includes("  request 3: a 4 MiB upload; the pool refused it and the heap took it: true"));
  assert.equal(lines.filter((l) => l.endsWith("1024 bytes of scratch, then reset")).length, 5);
  assert.ok(
    lines.some((l) => l.includes("1 refused (the uploads), 0 live; heap bytes in use after the uploads: 0")),
  );
  assert.match(report.shows, /^5 requests, 1 uploads/);
});

test("recipe game-frame: every audio event freed in the worker came back to the owner", async () => {
  const { lines, say } = collect();
  const report = await gameFrame(say);
  assert.equal(
    lines.filter((l) => l.includes("8 audio events freed by the mixer, 8 taken back by the owner")).length,
    3,
  );
  assert.match(report.shows, /^24 audio events freed in a worker; 24 drained by the owner, 0 left live$/);
});

test("recipe auth-service: quarantined tokens are not reused", async () => {
  const { lines, say } = collect();
  const report = await authService(say);
  assert.ok(
    lines.some(
      (l) =>
        l.includes("revoked 5: live 5, issued 10, peak 640 bytes") &&
        l.endsWith("4 of them wait in quarantine"),
    ),
  );
  assert.ok(lines.some((l) => l.endsWith("quarantined slots handed out again: 0")));
  // Its picture shows the 4 tokens still in quarantine.
  assert.equal(report.pictures[0]!.summary.bytes.quarantined, 4 * 64);
});

test(
  "recipe auth-service: the key reads zeros after free, nothing skipped",
  needs("linux", "addon"),
  async () => {
    const report = await authService(collect().say);
    assert.deepEqual(report.skipped, []); // CI runs on Linux with the addon: the OS parts must run, not be skipped
    assert.match(report.shows, /key after free: zeroized$/);
  },
);

test("recipe db-executor: pages go back after each query, and the audit log keeps its entries", async () => {
  const { lines, say } = collect();
  const report = await dbExecutor(say);
  assert.equal(
    lines.filter((l) => l.includes("4096 bytes of plan and scratch, 2 pages borrowed and returned")).length,
    4,
  );
  assert.ok(
    lines.some((l) => l.startsWith('pages live at the end: 0; the last audit entry reads "query 4: plan')),
  );
  assert.match(report.shows, /8 pages borrowed, 0 live after; 4 audit entries kept/);
  // The audit log's picture shows the 4 entries.
  assert.equal(report.pictures[0]!.summary.usedRegions, 4);
});

test(
  "recipe db-executor: the audit log is a HardenedSlab between two guard pages",
  needs("linux", "addon"),
  async () => {
    const { lines, say } = collect();
    const report = await dbExecutor(say);
    assert.ok(lines[0]!.endsWith("HardenedSlab (guard pages, state in its own mapping)"));
    assert.deepEqual(report.skipped, []);
    // The audit log's picture shows its two guard pages and the 4 entries between them.
    const audit = report.pictures[0]!.summary;
    assert.equal(audit.bytes.guard, 2 * 4096);
    assert.equal(audit.usedRegions, 4);
  },
);

test("the tour runs the six recipes in order, each runnable alone as a program", () => {
  assert.equal(RECIPES.length, 6);
  const r = spawnSync(process.execPath, [join(examples, "recipes", "cli-batch.js")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /cli-batch: 512 records in 32768 bytes/);
});
