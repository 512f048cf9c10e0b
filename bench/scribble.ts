// The scribble fuzz in full (issue "page engine": at least 10,000 seeded runs over Tlsf, Heap and ConcurrentHeap):
// each run allocates and frees at random and overwrites words of freed blocks and headers between operations. The
// table counts what was tried and what got through: out-of-range blocks and blocks over a live one must be 0, and
// every failure must be a CorruptionError. Not a timing: the figures are counts.
// `node build/bench/scribble.js [--scribble-runs=N] [--scribble-ops=N] [--write]` (test/scribble.test.ts runs a CI-sized version).
import { SCRIBBLE_TARGETS, scribbleFuzz } from "../test/helpers/scribble.js";
import { numberArg, progress, publish } from "./output.js";

const runs = numberArg("scribble-runs", 10_000);
const ops = numberArg("scribble-ops", 300);

const rows = [
  "| allocator | runs | operations | scribbles | refused (CorruptionError) | other errors | out-of-range blocks | overlapping blocks | target | met |",
  "|---|---|---|---|---|---|---|---|---|---|",
];
let done = 0;
for (const { name, make, range, maxSize } of SCRIBBLE_TARGETS) {
  const r = scribbleFuzz(make, range, {
    runs,
    ops,
    seed: 20261128,
    maxSize,
    onRun: (n) => {
      if (n % 500 === 0 || n === runs) progress(done + n, runs * SCRIBBLE_TARGETS.length, `${name} runs`);
    },
  });
  done += runs;
  const met = r.outOfRange === 0 && r.overlaps === 0 && r.wrongErrors.length === 0;
  rows.push(
    `| ${name} | ${r.runs} | ${r.operations} | ${r.scribbles} | ${r.detected} | ${r.wrongErrors.length} | ${r.outOfRange} | ${r.overlaps} | 0 out of range, 0 overlaps, 0 other errors | ${met ? "yes" : "**no**"} |`,
  );
  if (r.wrongErrors.length > 0) console.error(r.wrongErrors.slice(0, 5).join("\n"));
}

publish({
  section: "scribble",
  title: "Scribble fuzz: metadata that fails closed",
  setup: `${runs} seeded runs of ${ops} operations per allocator; about 12% of operations overwrite one word of a freed block, a header or metadata.`,
  table: rows.join("\n"),
  charts: [],
});
