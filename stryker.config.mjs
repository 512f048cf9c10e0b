// Mutation testing (StrykerJS) for the modules that hold a hot path or a hardening claim (issue #15).
//
// One config for every module: `STRYKER_MODULE=<name>` picks the module, its source file(s) and the compiled test
// files that cover it. `npm run mutate -- <name> ...` (scripts/mutate.mjs) sets it for each module in turn; run
// `npm run mutate -- --list` for the names. Each module keeps its own incremental file under
// stryker/incremental/, committed, so a later run tests only the mutants whose code or covering tests changed.
//
// The tests run the compiled JavaScript under build/: Stryker instruments the TypeScript sources in its sandbox
// (.stryker-tmp/), then `buildCommand` compiles the sandbox with tsc, then the TAP runner runs each test file of the
// module's group in its own `node` process (one "test" per file; node:test prints TAP when its output is a pipe).

import { existsSync, readdirSync } from "node:fs";

/**
 * The modules and the test files (compiled, under build/) that exercise them. Every module also gets its own
 * `<name>.mutation.test.js` files (tests written to kill its survivors) through MUTATION_TESTS below.
 * `coverage: "off"` is for code that runs in worker threads: Stryker's per-test coverage is recorded in the main
 * thread only, so a mutant reached only from a worker would be reported as not covered.
 * `tsconfig` is the project the TypeScript checker compiles each mutant in (default: the whole project). The large
 * modules name tsconfig.mutate.json, which holds their sources only: checking a mutant of tlsf.ts against every test
 * file that imports the library kept the checker busy while the test runner waited half the time. A mutant changes an
 * expression, not a signature (these modules declare their exported types), so the sources alone decide whether it
 * compiles.
 */
export const MODULES = {
  statistics: {
    mutate: ["src/hardening/statistics.ts"],
    // slab-reliability reaches it (17 mutants) but killed none in the last run
    // the totals files last: 2^23 allocations or resizes each (slow under instrumentation) to pass 2^53 bytes
    tests: [
      "src/hardening/hardening",
      "test/refused-calls",
      "test/properties",
      "src/hardening/statistics-totals",
      "src/hardening/statistics-resize-totals",
    ],
  },
  quarantine: {
    mutate: ["src/hardening/quarantine.ts"],
    tests: ["src/hardening/hardening", "src/hardening/scrub", "test/refused-calls", "test/properties"],
  },
  watermark: {
    mutate: ["src/hardening/watermark.ts"],
    // test/properties reaches it (68 mutants) but killed none in the last run
    tests: ["src/hardening/hardening", "src/hardening/rust-rows", "test/refused-calls"],
  },
  canary: {
    mutate: ["src/hardening/canary.ts"],
    // canary.mutation2: the second round, against the survivors of the run with canary.mutation and
    // test/mutation/canary (pointer 8, a post word ending at the last byte of an odd-length memory, fractions);
    // canary-paths: instances over the direct inner class and over another one, and the methods the latter own
    tests: [
      "src/hardening/canary-paths",
      "src/hardening/canary.mutation2",
      "src/hardening/canary-shape",
      "src/hardening/hardening",
      "src/hardening/rust-rows",
      "test/corruption",
      "test/refused-calls",
      "test/properties",
    ],
  },
  poison: {
    mutate: ["src/hardening/poison-on-free.ts"],
    // poison.mutation (written from the code before the first run) asserts what test/refused-calls and
    // test/properties reach (21 s a survivor between them), so they are left out; if a survivor of a complete run
    // is one of theirs, adding one back re-tests only the survivors
    // poison.mutation2 holds the tests for the survivors of its first complete run, poison-reuse the property that
    // the reuse check over Tlsf and Heap never reports the layout's own header writes, poison-paths the direct and
    // general paths side by side and under a subclass, poison.mutation3 the survivors of the run after that split
    tests: [
      "src/hardening/poison.mutation3",
      "src/hardening/poison.mutation2",
      "src/hardening/poison-reuse",
      "src/hardening/poison-paths",
      "src/hardening/hardening",
      "src/hardening/scrub",
    ],
  },
  mac: {
    mutate: ["src/core/mac.ts"],
    tests: [
      "src/core/mac",
      "src/hardening/hardening",
      "src/layout/slab-reliability",
      "src/layout/extendable-slab",
      "src/layout/disposed-pools",
      "test/corruption",
    ],
  },
  "bump-arena": {
    mutate: ["src/layout/bump-arena.ts"],
    // with-fallback (51 mutants) and refused-calls (14) reach it but killed none in the last run
    // src/os/disposed: allocation from a disposed mapping (Linux with the addon; skipped elsewhere)
    tests: [
      "src/layout/bump-arena",
      "src/os/disposed",
      "src/hardening/hardening",
      "src/layout/struct",
      "src/layout/typed",
      "test/properties",
    ],
  },
  stack: {
    mutate: ["src/layout/stack-alloc.ts"],
    tests: ["src/layout/stack-alloc", "src/hardening/hardening", "test/refused-calls", "test/properties"],
  },
  slab: {
    mutate: ["src/layout/slab.ts"],
    // pools, extendable-slab and generational-slab never reach Slab (they have slabs of their own)
    // slab.mutation2: written from the code before the first run (scrubFree's fills, the refusals, the MAC protocol);
    // slab.mutation3: the survivors of the first run (lines 1-436) and the edges of the rest. In that run (28
    // November) slab.mutation2 killed 137, slab.mutation 38, test/refused-calls 1 (a non-number pointer while slot 1
    // is live, now in mutation3), and slab-reliability, hardening, disposed-pools and test/properties none: they are
    // left out, so a surviving mutant costs a few seconds, not 25 (slab and test/corruption, fast, stay)
    // slab.mutation4: the survivors of the complete run (28 November) that change behaviour (resize's messages,
    // contains() of a BigInt or a Symbol); the rest of that run's open mutants are listed as equivalent
    // slab.mutation5: the survivor of the confirming run (29 November) that changes behaviour (a MAC without metadata)
    tests: [
      "src/layout/slab.mutation5",
      "src/layout/slab.mutation4",
      "src/layout/slab.mutation3",
      "src/layout/slab.mutation2",
      "src/layout/slab",
      "test/corruption",
    ],
  },
  "remote-ring": {
    mutate: ["src/layout/remote-ring.ts"],
    // the crash-safe mode's step-by-step schedules; test/refused-calls reaches the ring only through SlabOwner's
    // options (its capacity check), which remote-ring.mutation covers
    tests: ["src/layout/remote-ring-crash", "test/races", "src/layout/slab-reliability", "test/workers"],
    coverage: "off",
  },
  "slab-owner": {
    mutate: ["src/layout/slab-owner.ts"],
    // test/races never reaches SlabOwner (its ring schedules use RemoteFreeRing directly); slab-reliability and
    // test/workers reach it but killed none of its 301 mutants in the first run (28 November: 189 killed by
    // slab-owner.mutation, 1 by test/refused-calls, 14 timeouts); mutation2 holds the tests for that run's survivors
    tests: ["src/layout/slab-owner.mutation2", "test/refused-calls"],
    coverage: "off",
  },
  "shared-bump-arena": {
    mutate: ["src/layout/shared-bump-arena.ts"],
    // first run (28 November: 88.7%, 46 survived): 342 killed by shared-bump-arena.mutation, 2 by test/races, none
    // by scrub or test/workers (left out since); mutation2 holds the tests for that run's survivors
    tests: ["src/layout/shared-bump-arena.mutation2", "test/races"],
    coverage: "off",
  },
  heap: {
    mutate: ["src/layout/heap.ts"],
    tsconfig: "tsconfig.mutate.json",
    // fast files first; scrub, test/traces and test/properties (9 s a survivor between them) are left out while
    // heap.mutation.test.ts and page-engine.mutation.test.ts assert the paths they reach
    // heap.mutation2 (written from the code before the first run): slots per class, which requests are slots,
    // a block that fits where its page does not, frees by view, pages sharing 4 KiB units
    // heap.mutation3: the survivors of the first complete run (29 November: 82.7%, 65 open); heap.mutation4: those
    // of the confirming run (a page that ends at a unit of the page map)
    tests: [
      "src/layout/heap.mutation4",
      "src/layout/heap.mutation3",
      "src/layout/heap.mutation2",
      "src/layout/page-engine.mutation",
      "src/layout/heap",
      "src/layout/struct",
      "src/layout/typed",
      "src/os/disposed",
    ],
  },
  "page-engine": {
    mutate: ["src/layout/page-engine.ts"],
    tsconfig: "tsconfig.mutate.json",
    // as heap's, and ConcurrentHeap's own file (the engine's atomic free, adoption and dropped pages);
    // page-engine.mutation2 (a minimal face of its own: the hooks in the states no face reaches) and
    // concurrent-heap.mutation2 (aligned classes, adoption and release through ConcurrentHeap) for the survivors
    // of the first complete run, and page-engine.mutation3 for those that mutation2 does not reach; mutation4 for the
    // survivors of the re-run with them (28 November: 95.6%, 33 open, 8 of them since listed as equivalent)
    tests: [
      "src/layout/page-engine.mutation4",
      "src/layout/page-engine.mutation3",
      "src/layout/page-engine.mutation2",
      "src/layout/concurrent-heap.mutation2",
      "src/layout/heap.mutation",
      "src/layout/heap",
      "src/layout/concurrent-heap",
      "src/layout/struct",
      "src/layout/typed",
      "src/os/disposed",
    ],
  },
  "concurrent-heap": {
    mutate: ["src/layout/concurrent-heap.ts"],
    tsconfig: "tsconfig.mutate.json",
    // Fast files only, none of which starts a worker thread (the race tests step logical workers in one thread), so
    // per-test coverage holds and a mutant runs only the files that reach it. mutation2 asserts what the slow files
    // would (test/traces and test/workers, real workers: 4.5 s a survivor; the OS tests shared-processes and
    // numa-placement: 18 s) through a fake ProcessSharing and a recording PagePlacement. mutation3: the survivors
    // of lines 481-1042 (run by line ranges on 28 November without test/concurrent-heap.race, for time: its schedules
    // at load took a minute a survivor, and it had killed none of lines 1-480). The race file is in the group since
    // 29 November (the only file that reached finishTaking then; it kills beginTaking's S_TAKING_N store). mutation4:
    // the survivors of the 29 November runs (collect, finishTaking's ends, adoption, a partial run of free pages).
    // mutation5: those of the confirming run (adoption of class 0, a scribbled class, at a full heap; the free-page
    // scan's start, its run past the last page, a cursor outside the heap).
    tests: [
      "src/layout/concurrent-heap.mutation5",
      "src/layout/concurrent-heap.mutation4",
      "src/layout/concurrent-heap.mutation3",
      "src/layout/concurrent-heap.mutation2",
      "src/layout/concurrent-heap",
      "test/concurrent-heap.race",
    ],
  },
  tlsf: {
    mutate: ["src/layout/tlsf.ts"],
    tsconfig: "tsconfig.mutate.json",
    // fast files only (1128 mutants): scrub, test/properties and test/refused-calls (12 s a survivor between them)
    // are left out, and tlsf.mutation.test.ts asserts what they would catch
    // src/os/disposed: allocation from a disposed mapping (Linux with the addon; skipped elsewhere)
    // tlsf.mutation2: the second round, against the survivors of the run with tlsf.mutation alone; mutation3: the
    // third, against those of the runs with both
    tests: [
      "src/layout/tlsf.mutation3",
      "src/layout/tlsf.mutation2",
      "src/layout/tlsf",
      "src/layout/heap",
      "src/layout/slab-reliability",
      "src/os/disposed",
    ],
  },
};

/**
 * The mutation tests of a module, compiled: every `<name>.mutation.test.ts` under src/ and `test/mutation/<name>.test.ts`,
 * found from the sources (build/ may not be current when this file loads). They are listed first, as literal paths:
 * Stryker runs a mutant's covering test files in the order the glob returns them (literal paths first, in the order
 * given) and stops at the first failure, and these files are small, fast and aimed at the mutants the rest let live.
 */
const MUTATION_TESTS = (name) => {
  const found = [];
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name === `${name}.mutation.test.ts`) found.push(path);
    }
  };
  walk("src");
  if (existsSync(`test/mutation/${name}.test.ts`)) found.push(`test/mutation/${name}.test.ts`);
  return found.sort().map((f) => `build/${f.replace(/\.ts$/, ".js")}`);
};

const name = process.env.STRYKER_MODULE;
const module = name === undefined ? undefined : MODULES[name];
if (name !== undefined && module === undefined) {
  throw new Error(
    `stryker.config.mjs: unknown STRYKER_MODULE "${name}"; expected one of ${Object.keys(MODULES).join(", ")}`,
  );
}

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  packageManager: "npm",
  testRunner: "tap",
  checkers: ["typescript"],
  tsconfigFile: module?.tsconfig ?? "tsconfig.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  buildCommand: "npx tsc -p tsconfig.json",
  mutate: module?.mutate ?? [],
  tap: {
    testFiles:
      module === undefined ? [] : [...MUTATION_TESTS(name), ...module.tests.map((t) => `build/${t}.test.js`)],
    // Node 20 runs a test file directly and prints TAP on a pipe.
    nodeArgs: ["--test-reporter=tap", "-r", "{{hookFile}}", "{{testFile}}"],
    forceBail: true,
  },
  coverageAnalysis: module?.coverage ?? "perTest",
  incremental: true,
  incrementalFile: `stryker/incremental/${name ?? "none"}.json`,
  // Two cores shared with other work: one test process at a time (raise it with --concurrency on a free machine).
  concurrency: 1,
  timeoutMS: 5000,
  timeoutFactor: 2,
  reporters: ["clear-text", "progress", "json"],
  jsonReporter: { fileName: `reports/mutation/${name ?? "none"}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  // native/build/ (the OS addon) is copied too: some tests of a group use real mappings.
  // build/ is copied on purpose: Stryker's incremental mode finds the tests it recorded (build/**/*.test.js) among
  // the project's files, and reuses a killed mutant only while the test file that killed it is there and unchanged.
  // scripts/mutate.mjs runs `npm run build:test` first, so they are current.
  ignorePatterns: [
    "dist",
    "api",
    "docs-site",
    "bench-report",
    "bench-results",
    "reports",
    "stryker",
    ".stryker-tmp",
  ],
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
  thresholds: { high: 90, low: 80, break: null },
};
