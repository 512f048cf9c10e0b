// General-purpose allocation against its peers, in one process: our Tlsf and Heap (size classes in front of a
// Tlsf), @thi.ng/malloc, `new Uint8Array(size)` per object, and the AssemblyScript runtime's TLSF compiled to wasm
// (bench/wasm/tlsf.ts, compiled here with the assemblyscript package), plus a minimal hand-written free-list slab.
//
// (a) fixed 64-byte allocate+free churn; (b) random sizes 16..4096, log-uniform, 10,000 live blocks, each step frees a
// random live block and allocates a new one; (c) after (b): bytes in use (and, for Heap, held) over bytes requested.
// Seeded, so every allocator sees the same sequence. `node build/bench/heap.js [--rounds=N] [--time=MS] [--write]`.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MemPool } from "@thi.ng/malloc";
import { Bench } from "tinybench";
import { ArrayBufferBacked, Heap, Tlsf } from "../src/index.js";
import { SeededRandom } from "../src/testing/index.js";
import { type Bar, machine, numberArg, progress, publish } from "./output.js";
import { RefSlab } from "./reference.js";

const rounds = numberArg("rounds", 3);
const time = numberArg("time", 300);
const LIVE = 10_000;
const STEPS = 1 << 16;

// The seeded workload: sizes log-uniform in [16, 4096] and which live block each step replaces.
const rng = new SeededRandom(20261127);
const sizes = new Int32Array(STEPS);
const victims = new Int32Array(STEPS);
for (let i = 0; i < STEPS; i++) {
  sizes[i] = Math.round(16 * Math.pow(256, rng.nextU32() / 4294967296));
  victims[i] = rng.nextU32() % LIVE;
}

interface Subject {
  name: string;
  alloc: (size: number) => number;
  free: (ptr: number) => void;
  /** Steps per sample: the slow peers take fewer, and results are per step. */
  steps: number;
}

function wasmTlsf(): Subject {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const out = join(tmpdir(), "forge-alloc-bench-tlsf.wasm");
  const asc = join(root, "node_modules", "assemblyscript", "bin", "asc.js");
  execFileSync(process.execPath, [
    asc,
    join(root, "bench", "wasm", "tlsf.ts"),
    "--runtime",
    "minimal",
    "-O3",
    "--noAssert",
    "--outFile",
    out,
  ]);
  const abort = (): never => {
    throw new Error("wasm abort");
  };
  const instance = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(readFileSync(out))), {
    env: { abort },
  });
  const e = instance.exports as { alloc: (n: number) => number; free: (p: number) => void };
  return { name: "AssemblyScript TLSF (wasm)", alloc: e.alloc, free: e.free, steps: 4096 };
}

const tlsf = new Tlsf(new ArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 28 }));
const heap = new Heap(new ArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 28 }));
const thing = new MemPool({ size: 1 << 26 });
const arrays: (Uint8Array | null)[] = [];
let nextArray = 1;

const SUBJECTS: Subject[] = [
  { name: "Tlsf", alloc: (s) => tlsf.allocate(s), free: (p) => tlsf.free(p), steps: 4096 },
  { name: "Heap", alloc: (s) => heap.allocate(s), free: (p) => heap.free(p), steps: 4096 },
  wasmTlsf(),
  { name: "@thi.ng/malloc", alloc: (s) => thing.malloc(s), free: (p) => void thing.free(p), steps: 64 },
  {
    name: "new Uint8Array(size)",
    alloc: (size) => {
      arrays[nextArray] = new Uint8Array(size);
      return nextArray++;
    },
    free: (p) => {
      arrays[p] = null;
    },
    steps: 4096,
  },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const live = new Map(SUBJECTS.map((s) => [s.name, new Int32Array(LIVE)]));
const liveSize = new Map(SUBJECTS.map((s) => [s.name, new Int32Array(LIVE)]));
const cursor = new Map(SUBJECTS.map((s) => [s.name, LIVE]));
for (const s of SUBJECTS) {
  const l = live.get(s.name)!;
  const ls = liveSize.get(s.name)!;
  for (let i = 0; i < LIVE; i++) {
    l[i] = s.alloc(sizes[i]!);
    ls[i] = sizes[i]!;
  }
}

// (a) churn: 64 bytes, allocate then free, through the general allocators and the hand-written slab.
const ref = new RefSlab(16, 64, 64);
const tlsfA = new Tlsf(new ArrayBufferBacked(1 << 16));
const heapA = new Heap(new ArrayBufferBacked(1 << 16));
const CHURN: [string, () => void][] = [
  [
    "hand-written slab",
    () => {
      for (let i = 0; i < 256; i++) ref.deallocate(ref.allocate());
    },
  ],
  [
    "Heap (64 B)",
    () => {
      for (let i = 0; i < 256; i++) heapA.deallocate(heapA.allocate(64), 64);
    },
  ],
  [
    "Tlsf (64 B)",
    () => {
      for (let i = 0; i < 256; i++) tlsfA.free(tlsfA.allocate(64));
    },
  ],
];

const perRound = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  const bench = new Bench({ time, warmupTime: 50 });
  for (const [name, fn] of CHURN) bench.add(`a:${name}`, fn);
  for (const s of SUBJECTS) {
    const l = live.get(s.name)!;
    const ls = liveSize.get(s.name)!;
    bench.add(`b:${s.name}`, () => {
      let c = cursor.get(s.name)!;
      for (let k = 0; k < s.steps; k++, c = (c + 1) & (STEPS - 1)) {
        const v = victims[c]!;
        s.free(l[v]!);
        const p = s.alloc(sizes[c]!);
        if (p === 0) throw new Error(`${s.name}: out of memory`);
        l[v] = p;
        ls[v] = sizes[c]!;
      }
      cursor.set(s.name, c);
    });
  }
  await bench.run();
  for (const task of bench.tasks) {
    const result = task.result as { latency?: { p50: number } };
    if (!result.latency) throw new Error(`heap bench: ${task.name} did not complete`);
    const steps = task.name.startsWith("a:") ? 256 : SUBJECTS.find((s) => `b:${s.name}` === task.name)!.steps;
    perRound.set(task.name, [...(perRound.get(task.name) ?? []), (result.latency.p50 * 1e6) / steps]);
  }
  progress(r + 1, rounds, "rounds");
}

const ns = (name: string): number => median(perRound.get(name)!);
const fmt = (x: number): string => (x >= 1000 ? x.toFixed(0) : x.toFixed(1));
const rows = [
  "| workload | allocator | ns per op (median) | ratio | target | met |",
  "|---|---|---|---|---|---|",
];
const slab = ns("a:hand-written slab");
rows.push(`| (a) 64 B allocate+free | hand-written slab | ${fmt(slab)} | 1x |  |  |`);
for (const n of ["Heap (64 B)", "Tlsf (64 B)"]) {
  const x = ns(`a:${n}`) / slab;
  const isHeap = n.startsWith("Heap");
  rows.push(
    `| (a) 64 B allocate+free | ${n} | ${fmt(ns(`a:${n}`))} | ${x.toFixed(2)}x the slab | ${isHeap ? "<= 1.5x" : ""} | ${isHeap ? (x <= 1.5 ? "yes" : "**no**") : ""} |`,
  );
}
const wasm = ns("b:AssemblyScript TLSF (wasm)");
const thingNs = ns("b:@thi.ng/malloc");
for (const s of SUBJECTS) {
  const t = ns(`b:${s.name}`);
  let target = "";
  let met = "";
  if (s.name === "Tlsf") {
    target = "<= 0.8x wasm; >= 100x faster than @thi.ng/malloc";
    met = t / wasm <= 0.8 && thingNs / t >= 100 ? "yes" : "**no**";
  } else if (s.name === "Heap") {
    target = "<= 0.3x wasm";
    met = t / wasm <= 0.3 ? "yes" : "**no**";
  }
  rows.push(
    `| (b) random 16..4096 B, 10k live, free + allocate | ${s.name} | ${fmt(t)} | ${(t / wasm).toFixed(2)}x wasm | ${target} | ${met} |`,
  );
}
const requested = (name: string): number => liveSize.get(name)!.reduce((a, b) => a + b, 0);
const ts = tlsf.stats();
const hs = heap.stats();
const tRatio = (ts.usedBytes + 8 * ts.usedBlocks) / requested("Tlsf");
const hRatio = (hs.usedBytes + 8 * hs.usedBlocks) / requested("Heap");
rows.push("");
rows.push("| (c) after (b) | allocator | bytes / bytes requested | what | target | met |");
rows.push("|---|---|---|---|---|---|");
rows.push(
  `| (c) after (b) | Tlsf | ${tRatio.toFixed(4)} | in use: payloads (rounded to 8) + headers | <= 1.02 | ${tRatio <= 1.02 ? "yes" : "**no**"} |`,
);
rows.push(
  `| (c) after (b) | Heap | ${hRatio.toFixed(4)} | held: Tlsf blocks + whole class slabs (parked free slots included) | <= 1.20 | ${hRatio <= 1.2 ? "yes" : "**no**"} |`,
);
const nsBars: Bar[] = [
  { group: "(a) 64 B allocate+free", label: "hand-written slab", value: slab },
  { group: "(a) 64 B allocate+free", label: "Heap", value: ns("a:Heap (64 B)") },
  { group: "(a) 64 B allocate+free", label: "Tlsf", value: ns("a:Tlsf (64 B)") },
  ...SUBJECTS.map((s) => ({
    group: "(b) random 16..4096 B, 10k live",
    label: s.name,
    value: ns(`b:${s.name}`),
  })),
];
publish({
  section: "heap",
  title: "General-purpose allocation against its peers",
  setup: `${machine()}; ${rounds} rounds of ${time} ms per task; a seeded workload of ${STEPS} steps.`,
  table: rows.join("\n"),
  charts: [
    {
      title: "ns per operation, per workload and allocator",
      unit: "ns/op",
      lowerIsBetter: true,
      bars: nsBars,
    },
    {
      title: "memory overhead after (b): bytes used or held per byte requested",
      unit: "bytes/byte",
      lowerIsBetter: true,
      bars: [
        { group: "after (b)", label: "Tlsf (in use)", value: tRatio },
        { group: "after (b)", label: "Heap (held)", value: hRatio },
      ],
    },
  ],
});
