// Secure memory: our CryptoSlab (locked, guarded, zeroized on free) against sodium-native's sodium_malloc/sodium_free,
// per allocate+free pair and in sustained churn. sodium_malloc maps fresh guarded, locked pages for every call and
// sodium_free unmaps them, so a pair costs system calls; a CryptoSlab maps and locks once and a pair is a slab
// operation plus the zeroize. sodium-native runs in child processes, because a long tight loop of it can abort
// the process; the table says how far it got. `node build/bench/secure.js [--rounds=N] [--pairs=N] [--churn=N] [--write]`.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { CryptoSlab } from "../src/os.js";
import { args, machine, numberArg, progress, publish } from "./output.js";

const rounds = numberArg("rounds", 5);
const pairs = numberArg("pairs", 2000); // per timed run of the pair cost
const churn = numberArg("churn", 200_000); // pairs in the sustained run
const SIZE = 32;

interface Sodium {
  sodium_malloc(size: number): Uint8Array;
  sodium_free(buffer: Uint8Array): void;
}

if (args.get("child") === "sodium") {
  // Pairs in a tight loop; a line `<pairs done> <ns elapsed>` every 1000 pairs and at the end (stdout to a pipe is
  // written synchronously on Linux, so the last line survives an abort).
  const sodium = createRequire(import.meta.url)("sodium-native") as Sodium;
  const n = numberArg("n", 1000);
  const t0 = process.hrtime.bigint();
  for (let i = 1; i <= n; i++) {
    const b = sodium.sodium_malloc(SIZE);
    b[0] = i;
    sodium.sodium_free(b);
    if (i % 1000 === 0 || i === n) process.stdout.write(`${i} ${Number(process.hrtime.bigint() - t0)}\n`);
  }
} else {
  const self = fileURLToPath(import.meta.url);
  const sodiumRun = (n: number): { done: number; ns: number; ended: string } => {
    const r = spawnSync(process.execPath, [self, "--child=sodium", `--n=${n}`], {
      encoding: "utf8",
      maxBuffer: 16 << 20,
      timeout: 600_000,
    });
    const last = r.stdout.trim().split("\n").at(-1) ?? "0 0";
    const [done, ns] = last.split(" ").map(Number) as [number, number];
    const ended =
      r.status === 0
        ? "completed"
        : `the process died (${r.signal ?? `exit ${r.status}`}) after ${done} pairs`;
    return { done, ns, ended };
  };
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const steps = 2 * rounds + 2;
  let step = 0;

  // Per pair: the median over rounds of each run's mean.
  const oursPair: number[] = [];
  const sodiumPair: number[] = [];
  const sodiumEnds: string[] = [];
  for (let r = 0; r < rounds; r++) {
    using keys = new CryptoSlab({ blockSize: SIZE, capacity: 1024 });
    for (let i = 0; i < 20_000; i++) keys.deallocate(keys.allocate(SIZE), SIZE); // warm up the JIT, not the OS
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < pairs; i++) {
      const k = keys.allocate(SIZE);
      keys.memory.u8[k] = i;
      keys.deallocate(k, SIZE);
    }
    oursPair.push(Number(process.hrtime.bigint() - t0) / pairs);
    progress(++step, steps, "runs");
    const s = sodiumRun(pairs);
    if (s.done > 0) sodiumPair.push(s.ns / s.done);
    if (s.ended !== "completed") sodiumEnds.push(s.ended);
    progress(++step, steps, "runs");
  }

  // Sustained churn: `churn` pairs in one loop.
  let oursChurnNs: number;
  {
    using keys = new CryptoSlab({ blockSize: SIZE, capacity: 1024 });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < churn; i++) keys.deallocate(keys.allocate(SIZE), SIZE);
    oursChurnNs = Number(process.hrtime.bigint() - t0);
  }
  progress(++step, steps, "runs");
  const sodiumChurn = sodiumRun(churn);
  progress(++step, steps, "runs");

  const f = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const mOurs = median(oursPair);
  const mSodium = sodiumPair.length > 0 ? median(sodiumPair) : NaN;
  const rows = [
    "| workload | allocator | ns per pair (median) | spread of runs | completed | ratio |",
    "|---|---|---|---|---|---|",
    `| allocate+free ${SIZE} B, ${pairs} pairs per run | CryptoSlab (locked, guarded, zeroized) | ${f(mOurs)} | ${f(Math.min(...oursPair))} .. ${f(Math.max(...oursPair))} | ${rounds}/${rounds} runs | 1x |`,
    `| allocate+free ${SIZE} B, ${pairs} pairs per run | sodium-native sodium_malloc/sodium_free | ${sodiumPair.length > 0 ? f(mSodium) : "-"} | ${sodiumPair.length > 0 ? `${f(Math.min(...sodiumPair))} .. ${f(Math.max(...sodiumPair))}` : "-"} | ${rounds - sodiumEnds.length}/${rounds} runs | ${(mSodium / mOurs).toFixed(0)}x slower |`,
    `| sustained churn, ${churn} pairs | CryptoSlab | ${f(oursChurnNs / churn)} | | ${churn} pairs | 1x |`,
    `| sustained churn, ${churn} pairs | sodium-native | ${sodiumChurn.done > 0 ? f(sodiumChurn.ns / sodiumChurn.done) : "-"} | | ${sodiumChurn.ended === "completed" ? `${sodiumChurn.done} pairs` : `**${sodiumChurn.ended}**`} | ${(sodiumChurn.ns / Math.max(1, sodiumChurn.done) / (oursChurnNs / churn)).toFixed(0)}x slower |`,
  ];
  publish({
    section: "secure",
    title: "Secure memory: CryptoSlab against sodium-native",
    setup: `${machine()}; ${rounds} runs of ${pairs} pairs, then one run of ${churn}; ${SIZE}-byte blocks; sodium-native in child processes.`,
    table: rows.join("\n"),
    charts: [
      {
        title:
          "ns per allocate+free pair of a 32-byte secret (log scale would flatter us less: this is linear)",
        unit: "ns/pair",
        lowerIsBetter: true,
        bars: [
          { group: "per pair", label: "CryptoSlab", value: mOurs },
          { group: "per pair", label: "sodium-native", value: mSodium },
          { group: `churn of ${churn}`, label: "CryptoSlab", value: oursChurnNs / churn },
          {
            group: `churn of ${churn}`,
            label: "sodium-native",
            value: sodiumChurn.ns / Math.max(1, sodiumChurn.done),
          },
        ],
      },
    ],
  });
}
