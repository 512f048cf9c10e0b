// `npm run bench`: our primitives against minimal hand-written references, in the same process and run.
// Each round builds a fresh tinybench Bench with every task (in a rotated order); a task's figure for the round is
// the median of its samples. We report, over the rounds, the median ns per operation, the spread (min..max of the
// round medians and the median absolute deviation within rounds), and the ratio ours / reference per round
// (median of the per-round ratios). `--write` puts the table into docs/PERFORMANCE.md.
import { Bench } from "tinybench";
import { ArrayBufferBacked, BumpArena, Slab } from "../src/index.js";
import { type Bar, machine, numberArg, progress, publish } from "./output.js";
import { RefBump, RefSlab } from "./reference.js";

const N = 256; // operations per task call, as the Rust bench's 256 round trips
const rounds = numberArg("rounds", 7);
const time = numberArg("time", 300);

let sink = 0;
const ptrs = new Int32Array(N);

const arena = new BumpArena(new ArrayBufferBacked(1 << 16));
const refBump = new RefBump(16, 1 << 16);
const slab64 = new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: N });
const refSlab64 = new RefSlab(16, 64, N);
const slab48 = new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 48, capacity: N });
const refSlab48 = new RefSlab(16, 48, N);

interface Pair {
  workload: string;
  target: number;
  ours: [string, () => void];
  reference: [string, () => void];
}

const pairs: Pair[] = [
  {
    workload: "bump allocate (64 B, align 8), 256 then reset",
    target: 1.2,
    ours: [
      "BumpArena",
      () => {
        for (let i = 0; i < N; i++) sink ^= arena.allocate(64, 8);
        arena.reset();
      },
    ],
    reference: [
      "hand-written bump",
      () => {
        for (let i = 0; i < N; i++) sink ^= refBump.allocate(64, 8);
        refBump.reset();
      },
    ],
  },
  {
    workload: "slab allocate + free (64 B), 256 of each",
    target: 1.3,
    ours: [
      "Slab",
      () => {
        for (let i = 0; i < N; i++) ptrs[i] = slab64.allocate(64, 8);
        for (let i = 0; i < N; i++) slab64.deallocate(ptrs[i]!, 64, 8);
      },
    ],
    reference: [
      "hand-written slab",
      () => {
        for (let i = 0; i < N; i++) ptrs[i] = refSlab64.allocate();
        for (let i = 0; i < N; i++) refSlab64.deallocate(ptrs[i]!);
      },
    ],
  },
  {
    workload: "slab round trip: allocate then free at once (64 B), 256 times",
    target: 1.3,
    ours: [
      "Slab (round trip)",
      () => {
        for (let i = 0; i < N; i++) slab64.deallocate((sink = slab64.allocate(64, 8)), 64, 8);
      },
    ],
    reference: [
      "hand-written slab (round trip)",
      () => {
        for (let i = 0; i < N; i++) refSlab64.deallocate((sink = refSlab64.allocate()));
      },
    ],
  },
  {
    workload: "slab allocate + free (48 B stride), 256 of each",
    target: 1.3,
    ours: [
      "Slab (48)",
      () => {
        for (let i = 0; i < N; i++) ptrs[i] = slab48.allocate(48, 8);
        for (let i = 0; i < N; i++) slab48.deallocate(ptrs[i]!, 48, 8);
      },
    ],
    reference: [
      "hand-written slab (48)",
      () => {
        for (let i = 0; i < N; i++) ptrs[i] = refSlab48.allocate();
        for (let i = 0; i < N; i++) refSlab48.deallocate(ptrs[i]!);
      },
    ],
  },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// Every task's ns/op per round, and its within-round MAD.
const perRound = new Map<string, number[]>();
const mads = new Map<string, number[]>();
const tasks = pairs.flatMap((p) => [p.ours, p.reference]);

for (let r = 0; r < rounds; r++) {
  const bench = new Bench({ time, warmupTime: 100 });
  const order = tasks.map((_, i) => tasks[(i + r) % tasks.length]!);
  for (const [name, fn] of order) bench.add(name, fn);
  await bench.run();
  for (const task of bench.tasks) {
    const result = task.result as { latency?: { p50: number; mad: number } };
    if (!result.latency) throw new Error(`bench: task ${task.name} did not complete`);
    const nsPerOp = (result.latency.p50 * 1e6) / N;
    perRound.set(task.name, [...(perRound.get(task.name) ?? []), nsPerOp]);
    mads.set(task.name, [...(mads.get(task.name) ?? []), (result.latency.mad * 1e6) / N]);
  }
  progress(r + 1, rounds, "rounds");
}

const fmt = (x: number): string => x.toFixed(2);
const rows: string[] = [
  "| workload | allocator | median ns/op | spread of round medians | MAD within rounds | ratio to reference (median of rounds) | target | met |",
  "|---|---|---|---|---|---|---|---|",
];
const bars: Bar[] = [];
for (const p of pairs) {
  const ours = perRound.get(p.ours[0])!;
  const ref = perRound.get(p.reference[0])!;
  const ratios = ours.map((x, i) => x / ref[i]!);
  const ratio = median(ratios);
  const met = ratio <= p.target;
  for (const [name, xs, isOurs] of [
    [p.ours[0], ours, true],
    [p.reference[0], ref, false],
  ] as const) {
    bars.push({ group: p.workload, label: name, value: median(xs) });
    rows.push(
      `| ${p.workload} | ${name} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} .. ${fmt(Math.max(...xs))} | ` +
        `${fmt(median(mads.get(name)!))} | ${isOurs ? `**${ratio.toFixed(3)}x** (${fmt(Math.min(...ratios))} .. ${fmt(Math.max(...ratios))})` : "1x"} | ` +
        `${isOurs ? `<= ${p.target}x` : ""} | ${isOurs ? (met ? "yes" : "**no**") : ""} |`,
    );
  }
}
publish({
  section: "bench",
  title: "Layouts against hand-written references",
  setup: `${machine()}; ${rounds} rounds of ${time} ms per task; ${N} operations per sample.`,
  table: rows.join("\n"),
  charts: [
    {
      title: "ns per operation: ours and the hand-written reference",
      unit: "ns/op",
      lowerIsBetter: true,
      bars,
    },
  ],
});
if (sink === 0.5) console.log(sink); // keeps the results observable
