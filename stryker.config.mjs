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

/**
 * The modules and the test files (compiled, under build/) that exercise them. Every module also gets its own
 * `<name>.mutation.test.js` files (tests written to kill its survivors) through MUTATION_TESTS below.
 * `coverage: "off"` is for code that runs in worker threads: Stryker's per-test coverage is recorded in the main
 * thread only, so a mutant reached only from a worker would be reported as not covered.
 */
export const MODULES = {
  statistics: {
    mutate: ["src/hardening/statistics.ts"],
    tests: [
      "src/hardening/hardening",
      "src/layout/slab-reliability",
      "test/refused-calls",
      "test/properties",
    ],
  },
  quarantine: {
    mutate: ["src/hardening/quarantine.ts"],
    tests: ["src/hardening/hardening", "src/hardening/scrub", "test/refused-calls", "test/properties"],
  },
  watermark: {
    mutate: ["src/hardening/watermark.ts"],
    tests: ["src/hardening/hardening", "src/hardening/rust-rows", "test/refused-calls", "test/properties"],
  },
  canary: {
    mutate: ["src/hardening/canary.ts"],
    tests: [
      "src/hardening/hardening",
      "src/hardening/rust-rows",
      "test/corruption",
      "test/refused-calls",
      "test/properties",
    ],
  },
  poison: {
    mutate: ["src/hardening/poison-on-free.ts"],
    tests: ["src/hardening/hardening", "src/hardening/scrub", "test/refused-calls", "test/properties"],
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
    tests: [
      "src/layout/bump-arena",
      "test/conformance",
      "src/hardening/hardening",
      "src/layout/struct",
      "src/layout/typed",
      "src/layout/with-fallback",
      "test/refused-calls",
      "test/properties",
    ],
  },
  stack: {
    mutate: ["src/layout/stack-alloc.ts"],
    tests: [
      "src/layout/stack-alloc",
      "test/conformance",
      "src/hardening/hardening",
      "test/refused-calls",
      "test/properties",
    ],
  },
  slab: {
    mutate: ["src/layout/slab.ts"],
    tests: [
      "src/layout/slab",
      "test/conformance",
      "src/layout/slab-reliability",
      "src/layout/pools",
      "src/layout/extendable-slab",
      "src/layout/generational-slab",
      "src/hardening/hardening",
      "test/corruption",
      "test/refused-calls",
      "test/properties",
    ],
  },
  "remote-ring": {
    mutate: ["src/layout/remote-ring.ts"],
    tests: ["test/races", "src/layout/slab-reliability", "test/refused-calls", "test/workers"],
    coverage: "off",
  },
  "slab-owner": {
    mutate: ["src/layout/slab-owner.ts"],
    tests: ["src/layout/slab-reliability", "test/refused-calls", "test/races", "test/workers"],
    coverage: "off",
  },
  "shared-bump-arena": {
    mutate: ["src/layout/shared-bump-arena.ts"],
    tests: ["test/races", "src/hardening/scrub", "test/refused-calls", "test/workers"],
    coverage: "off",
  },
  heap: {
    mutate: ["src/layout/heap.ts"],
    tests: [
      "src/layout/heap",
      "src/layout/struct",
      "src/layout/typed",
      "src/hardening/scrub",
      "test/traces",
      "test/refused-calls",
      "test/properties",
    ],
  },
  "page-engine": {
    mutate: ["src/layout/page-engine.ts"],
    tests: [
      "src/layout/heap",
      "src/layout/concurrent-heap",
      "src/layout/struct",
      "src/layout/typed",
      "src/hardening/scrub",
      "test/traces",
      "test/refused-calls",
      "test/properties",
    ],
  },
  "concurrent-heap": {
    mutate: ["src/layout/concurrent-heap.ts"],
    tests: [
      "src/layout/concurrent-heap",
      "src/hardening/scrub",
      "test/traces",
      "test/refused-calls",
      "test/races",
      "test/workers",
    ],
    coverage: "off",
  },
  tlsf: {
    mutate: ["src/layout/tlsf.ts"],
    tests: [
      "src/layout/tlsf",
      "test/conformance",
      "src/layout/heap",
      "src/layout/slab-reliability",
      "src/hardening/scrub",
      "test/refused-calls",
      "test/properties",
    ],
  },
};

/** The mutation tests of a module: `<dir>/<name>.mutation.test.js` anywhere under build/src or build/test/mutation. */
const MUTATION_TESTS = (name) => [
  `build/src/**/${name}.mutation.test.js`,
  `build/test/mutation/${name}.test.js`,
];

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
  tsconfigFile: "tsconfig.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  buildCommand: "npx tsc -p tsconfig.json",
  mutate: module?.mutate ?? [],
  tap: {
    testFiles:
      module === undefined ? [] : [...module.tests.map((t) => `build/${t}.test.js`), ...MUTATION_TESTS(name)],
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
