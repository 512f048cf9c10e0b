// The public API is a contract: the package entries export exactly what etc/forge-alloc.api.md records (names and
// declarations), no entry exports an `@internal` name, and the internals named in issue #11 stay out of reach.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as root from "../src/index.js";
import * as core from "../src/core.js";
import * as os from "../src/os.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

interface ReportModule {
  buildReport(): { text: string; problems: string[] };
  compareReport(old: string, text: string): string | undefined;
  reportPath: string;
}

// scripts/api-report.mjs is plain JavaScript (it also runs as `npm run api:report`); loaded by URL, untyped.
const script = (await import(pathToFileURL(join(repo, "scripts", "api-report.mjs")).href)) as ReportModule;
const fresh = script.buildReport();

test("no entry exports a name tagged @internal", () => {
  assert.deepEqual(fresh.problems, []);
});

test("the public API matches the checked-in report etc/forge-alloc.api.md", () => {
  const message = script.compareReport(readFileSync(script.reportPath, "utf8"), fresh.text);
  // The message says what differs and how to update the report (npm run api:report).
  assert.equal(message, undefined, message);
});

test("a change to the surface fails with the command that updates the report", () => {
  // As if Slab had gained a method since the report was written: the report lacks it.
  const stale = fresh.text.replace("    liveCount(): number;\n", "");
  assert.notEqual(stale, fresh.text);
  const message = script.compareReport(stale, fresh.text) ?? "";
  assert.match(message, /the public API differs from etc\/forge-alloc\.api\.md/);
  assert.match(message, /run `npm run api:report` and commit the report with it/);
  assert.match(message, /\+ {5}liveCount\(\): number;/);
});

test("the internals stay out of the package root, forge-alloc/core and forge-alloc/os", () => {
  const internals = [
    "TAGGED_FIELD",
    "dispatchKind",
    "allocateForwarder",
    "deallocateForwarder",
    "DISPATCH_CASES",
    "readBufferOptions",
    "fillBytes",
    "zeroBlock",
    "moveBlock",
    "checkResize",
    "checkSameMemory",
    "isValidLayout",
    "layoutError",
    "checkLayout",
    "checkInteger",
    "SIZE_MASK",
    "ALIGN_MASK",
    "describePointer",
    "describeValue",
    "wrapperChain",
    "checkCarvable",
    "markContaining",
    "overlayRegions",
    "randomBytes",
    "halfSipHash13",
  ];
  for (const [entry, names] of [
    ["forge-alloc", root],
    ["forge-alloc/core", core],
  ] as const) {
    assert.deepEqual(
      internals.filter((n) => n in names),
      [],
      `${entry} exports internals`,
    );
  }
  assert.deepEqual(
    ["mapOrThrow", "checkAlignment", "checkHugePageSize", "mbindOutcome", ...internals].filter(
      (n) => n in os,
    ),
    [],
  );
  // And the contract is all there.
  for (const n of [
    "Allocator",
    "Memory",
    "NULL",
    "LayoutError",
    "Slab",
    "Heap",
    "Canary",
    "inspect",
  ] as const)
    assert.ok(n === "Allocator" || n in root, n);
});
