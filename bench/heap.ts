// General-purpose allocation against its peers, in one process: our Tlsf, Heap (size classes in front of a Tlsf)
// and ConcurrentHeap (used from one thread), @thi.ng/malloc, `new Uint8Array(size)` per object, and two mallocs
// compiled to wasm (bench/wasm-peers.ts): the AssemblyScript runtime's TLSF and wasi-libc's malloc (dlmalloc, the C
// malloc); plus a minimal hand-written free-list slab.
//
// (a) fixed 64-byte allocate+free churn, measured twice: in a process of its own (the target's figure: a child
// process runs only (a), so no other workload's type feedback is in the allocators' shared methods, as JMH forks per
// benchmark) and in this process after (b) (what a program that mixes both sees); (b) random sizes 16..4096, log-uniform, 10,000 live blocks, each step frees a
// random live block and allocates a new one; (c) after (b): memory used or held over bytes requested. Seeded, so
// every allocator sees the same sequence. Ratios are computed per round (both figures from the same round) and
// summarised by their median and min .. max. `node build/bench/heap.js [--rounds=N] [--time=MS] [--write]`.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { MemPool } from "@thi.ng/malloc";
import { Bench } from "tinybench";
import { ArrayBufferBacked, ConcurrentHeap, Heap, SharedArrayBufferBacked, Tlsf } from "../src/index.js";
import { SeededRandom } from "../src/testing/index.js";
import { type Bar, machine, numberArg, progress, publish } from "./output.js";
import { RefSlab } from "./reference.js";
import { loopsFor } from "./trace-format.js";
import { type WasmPeer, asTlsf, cMalloc, compileWasmPeers } from "./wasm-peers.js";

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

const AS = "AssemblyScript TLSF (wasm)";
const C = "C malloc (wasm)";
const modules = compileWasmPeers();

// (a) churn: 64 bytes, allocate then free, through the general allocators, the wasm mallocs and the slab.
const ref = new RefSlab(16, 64, 64);
const tlsfA = new Tlsf(new ArrayBufferBacked(1 << 16));
const heapA = new Heap(new ArrayBufferBacked(1 << 16));
const asA = asTlsf(modules);
const cA = cMalloc(modules);
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
  [
    "AssemblyScript TLSF (wasm, 64 B)",
    () => {
      for (let i = 0; i < 256; i++) asA.free(asA.alloc(64));
    },
  ],
  [
    "C malloc (wasm, 64 B)",
    () => {
      for (let i = 0; i < 256; i++) cA.free(cA.alloc(64));
    },
  ],
];

/** Runs only (a), in rounds, into `into` (task name -> ns per op, one figure per round). */
async function runChurn(into: Map<string, number[]>, prefix: string): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    const bench = new Bench({ time, warmupTime: 50 });
    for (const [name, fn] of CHURN) bench.add(`${prefix}${name}`, fn);
    await bench.run();
    for (const task of bench.tasks) {
      const result = task.result as { latency?: { p50: number } };
      if (!result.latency) throw new Error(`heap bench: ${task.name} did not complete`);
      into.set(task.name, [...(into.get(task.name) ?? []), (result.latency.p50 * 1e6) / 256]);
    }
  }
}

if (process.argv.includes("--churn-only")) {
  // the child process of (a): nothing else runs here, so the allocators' methods see only this workload
  const own = new Map<string, number[]>();
  await runChurn(own, "a:");
  process.stdout.write(JSON.stringify(Object.fromEntries(own)));
  process.exit(0);
}
// (a) in a process of its own first (the figures the target is judged on), before this process sets up (b): its
// background threads (the compiler, the collector) would otherwise still be busy on the two cores the child runs on
const own = new Map<string, number[]>(
  Object.entries(
    JSON.parse(
      execFileSync(
        process.execPath,
        [fileURLToPath(import.meta.url), "--churn-only", `--rounds=${rounds}`, `--time=${time}`],
        { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
      ),
    ) as Record<string, number[]>,
  ),
);

const asB = asTlsf(modules);
const cB = cMalloc(modules);
const tlsf = new Tlsf(new ArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 28 }));
const heap = new Heap(new ArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 28 }));
const concurrent = new ConcurrentHeap(new SharedArrayBufferBacked(1 << 27));
const thing = new MemPool({ size: 1 << 26 });
const arrays: (Uint8Array | null)[] = [];
let nextArray = 1;

const SUBJECTS: Subject[] = [
  { name: "Tlsf", alloc: (s) => tlsf.allocate(s), free: (p) => tlsf.free(p), steps: 4096 },
  { name: "Heap", alloc: (s) => heap.allocate(s), free: (p) => heap.free(p), steps: 4096 },
  {
    name: "ConcurrentHeap (1 thread)",
    alloc: (s) => concurrent.allocate(s),
    free: (p) => concurrent.free(p),
    steps: 4096,
  },
  { name: AS, alloc: asB.alloc, free: asB.free, steps: 4096 },
  { name: C, alloc: cB.alloc, free: cB.free, steps: 4096 },
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

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const live = new Map(SUBJECTS.map((s) => [s.name, new Int32Array(LIVE)]));
const liveSize = new Map(SUBJECTS.map((s) => [s.name, new Int32Array(LIVE)]));
const cursor = new Map(SUBJECTS.map((s) => [s.name, LIVE]));
// each allocator runs its own copy of the loop (see bench/replay-loop.ts)
const loops = new Map<string, Awaited<ReturnType<typeof loopsFor>>>();
for (const s of SUBJECTS) {
  loops.set(s.name, await loopsFor(`heap-b:${s.name}`));
  const l = live.get(s.name)!;
  const ls = liveSize.get(s.name)!;
  for (let i = 0; i < LIVE; i++) {
    l[i] = s.alloc(sizes[i]!);
    ls[i] = sizes[i]!;
  }
}

const perRound = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  const bench = new Bench({ time, warmupTime: 50 });
  for (const [name, fn] of CHURN) bench.add(`a:${name}`, fn);
  for (const s of SUBJECTS) {
    const l = live.get(s.name)!;
    const ls = liveSize.get(s.name)!;
    const loop = loops.get(s.name)!;
    bench.add(`b:${s.name}`, () => {
      cursor.set(s.name, loop.churn(s.alloc, s.free, l, ls, sizes, victims, cursor.get(s.name)!, s.steps));
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
/** Per-round ratios of two tasks. */
const ratios = (a: string, b: string): number[] => perRound.get(a)!.map((x, i) => x / perRound.get(b)![i]!);
const span = (xs: readonly number[]): string =>
  `${Math.min(...xs).toFixed(2)} .. ${Math.max(...xs).toFixed(2)}`;
const spread = (name: string): string =>
  `${fmt(Math.min(...perRound.get(name)!))} .. ${fmt(Math.max(...perRound.get(name)!))}`;
const met = (ok: boolean): string => (ok ? "yes" : "**no**");

const rows = [
  "| workload | allocator | ns per op (median) | spread of rounds | ratio (median of rounds, min .. max) | target | met |",
  "|---|---|---|---|---|---|---|",
];
for (const [where, m] of [
  ["own process", own],
  ["after (b), same process", perRound],
] as const) {
  const nsIn = (name: string): number => median(m.get(name)!);
  const spreadIn = (name: string): string =>
    `${fmt(Math.min(...m.get(name)!))} .. ${fmt(Math.max(...m.get(name)!))}`;
  const slab = "a:hand-written slab";
  rows.push(
    `| (a) 64 B allocate+free, ${where} | hand-written slab | ${fmt(nsIn(slab))} | ${spreadIn(slab)} | 1x |  |  |`,
  );
  for (const [n] of CHURN.slice(1)) {
    const x = m.get(`a:${n}`)!.map((v, i) => v / m.get(slab)![i]!);
    const judged = n.startsWith("Heap") && m === own;
    rows.push(
      `| (a) 64 B allocate+free, ${where} | ${n} | ${fmt(nsIn(`a:${n}`))} | ${spreadIn(`a:${n}`)} | ${median(x).toFixed(2)}x the slab (${span(x)}) | ${judged ? "<= 1.5x the slab" : ""} | ${judged ? met(median(x) <= 1.5) : ""} |`,
    );
  }
}
rows.push("");
rows.push(
  "| (b) random 16..4096 B, 10k live, free + allocate | allocator | ns per op (median) | spread of rounds | vs AS TLSF (median of rounds, min .. max) | vs C malloc (median of rounds, min .. max) | target | met |",
);
rows.push("|---|---|---|---|---|---|---|---|");
for (const s of SUBJECTS) {
  const b = `b:${s.name}`;
  const va = ratios(b, `b:${AS}`);
  const vc = ratios(b, `b:${C}`);
  let target = "";
  let ok = "";
  if (s.name === "Tlsf") {
    const thingX = ratios("b:@thi.ng/malloc", b);
    target = "<= 0.8x AS TLSF; >= 100x faster than @thi.ng/malloc";
    ok = met(median(va) <= 0.8 && median(thingX) >= 100);
  } else if (s.name === "Heap") {
    target = "<= 0.35x AS TLSF and <= 0.35x C malloc";
    ok = met(median(va) <= 0.35 && median(vc) <= 0.35);
  } else if (s.name.startsWith("ConcurrentHeap")) {
    target = "<= 0.4x AS TLSF";
    ok = met(median(va) <= 0.4);
  }
  rows.push(
    `| (b) random 16..4096 B, 10k live, free + allocate | ${s.name} | ${fmt(ns(b))} | ${spread(b)} | ${median(va).toFixed(2)}x (${span(va)}) | ${median(vc).toFixed(2)}x (${span(vc)}) | ${target} | ${ok} |`,
  );
}

// (c) memory after (b), over the bytes the live blocks asked for
const requested = (name: string): number => liveSize.get(name)!.reduce((a, b) => a + b, 0);
const ts = tlsf.stats();
const hs = heap.stats();
const tRatio = (ts.usedBytes + 8 * ts.usedBlocks) / requested("Tlsf");
// everything Heap has taken from its Tlsf: its used Tlsf blocks (pages whole, free slots parked in them included) and
// their headers; the Tlsf's own free blocks are not counted
const hRatio = (hs.usedBytes + 8 * hs.usedBlocks) / requested("Heap");
const cRatio = (concurrent.stats().pagesInUse * 65536) / requested("ConcurrentHeap (1 thread)");
const wasmMemory = (w: WasmPeer, name: string): [number, number] => {
  const l = live.get(name)!;
  const ls = liveSize.get(name)!;
  let top = 0;
  for (let i = 0; i < LIVE; i++) top = Math.max(top, l[i]! + ls[i]!);
  return [(w.memoryBytes() - w.heapBase) / requested(name), (top - w.heapBase) / requested(name)];
};
const [asGrown, asExtent] = wasmMemory(asB, AS);
const [cGrown, cExtent] = wasmMemory(cB, C);
rows.push("");
rows.push("| (c) after (b) | allocator | bytes / bytes requested | what | target | met |");
rows.push("|---|---|---|---|---|---|");
rows.push(
  `| (c) after (b) | Tlsf | ${tRatio.toFixed(4)} | in use: payloads (rounded to 8) + headers | <= 1.02 | ${met(tRatio <= 1.02)} |`,
);
rows.push(
  `| (c) after (b) | Heap | ${hRatio.toFixed(4)} | held: all it has taken from its Tlsf (used Tlsf blocks + headers, pages whole) | <= 1.35 | ${met(hRatio <= 1.35)} |`,
);
rows.push(
  `| (c) after (b) | ConcurrentHeap (1 thread) | ${cRatio.toFixed(4)} | held: 64 KiB pages in use |  |  |`,
);
for (const [name, grown, extent] of [
  [AS, asGrown, asExtent],
  [C, cGrown, cExtent],
] as const) {
  rows.push(
    `| (c) after (b) | ${name} | ${grown.toFixed(4)} | held: wasm memory grown above the heap base |  |  |`,
  );
  rows.push(
    `| (c) after (b) | ${name} | ${extent.toFixed(4)} | extent: from the heap base to the end of the highest live block |  |  |`,
  );
}

const nsBars: Bar[] = [
  ...CHURN.map(([n]) => ({
    group: "(a) 64 B allocate+free (own process)",
    label: n.replace(" (64 B)", "").replace(", 64 B)", ")"),
    value: median(own.get(`a:${n}`)!),
  })),
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
      title: "memory after (b): bytes used or held per byte requested",
      unit: "bytes/byte",
      lowerIsBetter: true,
      bars: [
        { group: "after (b)", label: "Tlsf (in use)", value: tRatio },
        { group: "after (b)", label: "Heap (held)", value: hRatio },
        { group: "after (b)", label: "ConcurrentHeap (pages in use)", value: cRatio },
        { group: "after (b)", label: `${AS} (grown)`, value: asGrown },
        { group: "after (b)", label: `${C} (grown)`, value: cGrown },
      ],
    },
  ],
});
