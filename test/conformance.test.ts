import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CONFORMANCE_CHECKS, runConformance } from "../src/testing/index.js";
import { needs } from "./helpers/host.js";
import { SUBJECTS } from "./registry.js";

describe("the conformance kit", () => {
  for (const subject of SUBJECTS) {
    test(`${subject.name} keeps the contract`, needs(...(subject.needs ?? [])), () => {
      const report = runConformance(subject.make, subject.caps);
      assert.deepEqual(report.checks, CONFORMANCE_CHECKS, "every check of the kit ran, in order");
      assert.ok(report.operations > 100, `only ${report.operations} random operations ran`);
    });
  }
});
