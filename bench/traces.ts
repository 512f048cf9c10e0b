// Real programs' allocation traces (bench/traces/, recorded by scripts/record-traces.mjs from sqlite3, jq, lua5.4,
// gawk and cc1) replayed against Heap, Tlsf, ConcurrentHeap (from one thread), the AssemblyScript runtime's TLSF
// and wasi-libc's malloc (dlmalloc) in wasm. Every event of a trace is one call: allocate, free or realloc (C's
// calloc is replayed as an allocation, without zeroing, for every allocator alike). For each trace, each allocator
// first replays it once through a checking replay (no failure, no overlap with a live block, in range, aligned),
// then once untimed to warm the code up; then, per round and in a rotated order, it replays it until `--time` ms
// have passed, on fresh heaps whose first replay is untimed (see timeReplays), the round's figure being the median
// replay. `node build/bench/traces.js [--rounds=N] [--time=MS] [--verify=EVENTS] [--write]`.
import { ArrayBufferBacked, ConcurrentHeap, Heap, SharedArrayBufferBacked, Tlsf } from "../src/index.js";
import { type Bar, machine, numberArg, progress, publish } from "./output.js";
import {
  type ReplayTarget,
  TRACE_HEADER_WORDS,
  type Trace,
  loadTraces,
  loopsFor,
  verifyReplay,
} from "./trace-format.js";
import { asTlsf, cMalloc, compileWasmPeers } from "./wasm-peers.js";

const rounds = numberArg("rounds", 5);
const time = numberArg("time", 300);
/** Events per checking replay (all by default; `--quick` checks a prefix). */
const verifyEvents = numberArg("verify", Number.MAX_SAFE_INTEGER);

/** A fresh heap of one allocator, as a replay target, with the address range its blocks must lie in. */
interface Instance {
  target: ReplayTarget;
  range: () => readonly [number, number];
  /** The memory the heap lies in, now. */
  buffer: () => ArrayBufferLike;
}

interface Subject {
  name: string;
  create: () => Instance;
}

const AS = "AssemblyScript TLSF (wasm)";
const C = "C malloc (wasm)";
const modules = compileWasmPeers();

const SUBJECTS: Subject[] = [
  {
    name: "Heap",
    create: () => {
      const h = new Heap(new ArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 28 }));
      return {
        target: {
          alloc: (n) => h.allocate(n),
          free: (p) => h.free(p),
          realloc: (p, n) => h.realloc(p, n),
          alignedAlloc: (a, n) => h.allocate(n, a),
          alignedFree: (p) => h.free(p),
        },
        range: () => [0, h.memory.byteLength],
        buffer: () => h.memory.buffer,
      };
    },
  },
  {
    name: "Tlsf",
    create: () => {
      const t = new Tlsf(new ArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 28 }));
      return {
        target: {
          alloc: (n) => t.allocate(n),
          free: (p) => t.free(p),
          realloc: (p, n) => t.realloc(p, n),
          alignedAlloc: (a, n) => t.allocate(n, a),
          alignedFree: (p) => t.free(p),
        },
        range: () => [0, t.memory.byteLength],
        buffer: () => t.memory.buffer,
      };
    },
  },
  {
    name: "ConcurrentHeap (1 thread)",
    create: () => {
      const h = new ConcurrentHeap(new SharedArrayBufferBacked(1 << 26));
      return {
        target: {
          alloc: (n) => h.allocate(n),
          free: (p) => h.free(p),
          // no unsized realloc: grow or shrink with the size the trace knows
          realloc: (p, n, old) => (n > old ? h.grow(p, old, n) : h.shrink(p, old, n)),
          alignedAlloc: (a, n) => h.allocate(n, a),
          alignedFree: (p) => h.free(p),
        },
        range: () => [0, h.memory.byteLength],
        buffer: () => h.memory.buffer,
      };
    },
  },
  ...[
    { name: AS, make: () => asTlsf(modules) },
    { name: C, make: () => cMalloc(modules) },
  ].map(({ name, make }) => ({
    name,
    create: (): Instance => {
      const w = make();
      return {
        target: {
          alloc: w.alloc,
          free: w.free,
          realloc: (p: number, n: number) => w.realloc(p, n),
          alignedAlloc: w.alignedAlloc,
          alignedFree: w.alignedFree,
        },
        range: () => [w.heapBase, w.memoryBytes()],
        buffer: w.buffer,
      };
    },
  })),
];

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const geomean = (xs: readonly number[]): number =>
  Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);

const traces = loadTraces();
const loops = new Map<string, typeof import("./replay-loop.js")>();
for (const s of SUBJECTS) loops.set(s.name, await loopsFor(s.name));

/** ns per event: [trace][subject] -> one figure per round. */
const perRound = new Map<string, number[]>();
const key = (trace: string, subject: string): string => `${trace}\u0000${subject}`;
const verified = new Map<
  string,
  { events: number; failed: number; overlaps: number; outOfRange: number; misaligned: number }
>();
/** Failed allocations in the timed replays, by allocator. */
const timedFailures = new Map<string, number>();
const total = traces.length * rounds;
let done = 0;

/** Timed replays per heap, after its untimed first one. */
const TIMED_PER_HEAP = 3;

/**
 * Writes every 4 KiB page of `buffer` with the byte already there: the operating system maps each page now, and the
 * heap's contents do not change.
 */
function touchPages(buffer: ArrayBufferLike): void {
  const u8 = new Uint8Array(buffer);
  for (let i = 0; i < u8.length; i += 4096) u8[i] = u8[i]!;
}

/**
 * Replays until `time` ms have passed, on fresh heaps: the first replay on each heap is untimed, and after it every
 * page of the heap's memory is touched, so the timed ones measure the allocator rather than the operating system's
 * page faults. (The first replay alone does not do it for every allocator alike: the wasm mallocs write headers into
 * free blocks too, and so touch nearly every page of their memory in it; `Heap` and `Tlsf` write nothing into free
 * memory, so a later replay that carved pages at addresses the first one never used paid a fault per new page:
 * measured 380 faults per replay of jq, about a tenth of its time.) Then up to
 * {@link TIMED_PER_HEAP} timed ones (so no heap is replayed so often that it drifts away from what a few runs of the
 * program do). The median replay, in ns per event.
 */
function timeReplays(trace: Trace, loop: typeof import("./replay-loop.js"), subject: Subject): number {
  const ptrs = new Int32Array(trace.ids);
  const sizes = new Int32Array(trace.ids);
  const samples: number[] = [];
  const deadline = performance.now() + time;
  let failed = 0;
  do {
    const { target, buffer } = subject.create();
    failed += loop.replay(trace.words, TRACE_HEADER_WORDS, ptrs, sizes, target);
    touchPages(buffer());
    for (let k = 0; k < TIMED_PER_HEAP && (k === 0 || performance.now() < deadline); k++) {
      const t0 = process.hrtime.bigint();
      failed += loop.replay(trace.words, TRACE_HEADER_WORDS, ptrs, sizes, target);
      samples.push(Number(process.hrtime.bigint() - t0) / trace.events);
    }
  } while (performance.now() < deadline);
  timedFailures.set(subject.name, (timedFailures.get(subject.name) ?? 0) + failed);
  return median(samples);
}

for (const trace of traces) {
  for (const subject of SUBJECTS) {
    const instance = subject.create();
    const v = verifyReplay(trace, instance.target, { range: instance.range, limit: verifyEvents });
    const sum = verified.get(subject.name) ?? {
      events: 0,
      failed: 0,
      overlaps: 0,
      outOfRange: 0,
      misaligned: 0,
    };
    sum.events += v.events;
    sum.failed += v.failed;
    sum.overlaps += v.overlaps;
    sum.outOfRange += v.outOfRange;
    sum.misaligned += v.misaligned;
    verified.set(subject.name, sum);
    // one untimed replay to warm the code up; the timed replays each get a fresh heap
    const warm = subject.create();
    loops
      .get(subject.name)!
      .replay(
        trace.words,
        TRACE_HEADER_WORDS,
        new Int32Array(trace.ids),
        new Int32Array(trace.ids),
        warm.target,
      );
  }
  for (let r = 0; r < rounds; r++) {
    // a rotated order per round, so no allocator always runs first or last
    for (let k = 0; k < SUBJECTS.length; k++) {
      const subject = SUBJECTS[(k + r) % SUBJECTS.length]!;
      const ns = timeReplays(trace, loops.get(subject.name)!, subject);
      const id = key(trace.name, subject.name);
      perRound.set(id, [...(perRound.get(id) ?? []), ns]);
    }
    progress(++done, total, `rounds (${trace.name})`);
  }
}

const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const ratios = (trace: string, subject: string, peer: string): number[] => {
  const a = perRound.get(key(trace, subject))!;
  const b = perRound.get(key(trace, peer))!;
  return a.map((x, i) => x / b[i]!);
};
const span = (xs: readonly number[]): string =>
  `${Math.min(...xs).toFixed(2)} .. ${Math.max(...xs).toFixed(2)}`;
const rows = [
  "| trace | allocator | ns per event (median) | spread of rounds | vs AS TLSF (median of rounds, min .. max) | vs C malloc (median of rounds, min .. max) | target | met |",
  "|---|---|---|---|---|---|---|---|",
];
for (const trace of traces) {
  for (const s of SUBJECTS) {
    const xs = perRound.get(key(trace.name, s.name))!;
    const va = ratios(trace.name, s.name, AS);
    const vc = ratios(trace.name, s.name, C);
    const isHeap = s.name === "Heap";
    rows.push(
      `| ${trace.name} (${trace.events} events) | ${s.name} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} .. ${fmt(Math.max(...xs))} | ${median(va).toFixed(2)}x (${span(va)}) | ${median(vc).toFixed(2)}x (${span(vc)}) | ${isHeap ? "<= 0.8x AS TLSF" : ""} | ${isHeap ? (median(va) <= 0.8 ? "yes" : "**no**") : ""} |`,
    );
  }
}
// the geometric mean over traces, per round, then summarised over rounds like the rest
for (const s of SUBJECTS) {
  const byRound = (peer: string): number[] =>
    Array.from({ length: rounds }, (_, r) => geomean(traces.map((t) => ratios(t.name, s.name, peer)[r]!)));
  const va = byRound(AS);
  const vc = byRound(C);
  const nsMean = geomean(traces.map((t) => median(perRound.get(key(t.name, s.name))!)));
  const isHeap = s.name === "Heap";
  rows.push(
    `| all traces (geometric mean) | ${s.name} | ${fmt(nsMean)} |  | ${median(va).toFixed(2)}x (${span(va)}) | ${median(vc).toFixed(2)}x (${span(vc)}) | ${isHeap ? "<= 1.1x C malloc" : ""} | ${isHeap ? (median(vc) <= 1.1 ? "yes" : "**no**") : ""} |`,
  );
}
rows.push("");
rows.push(
  "| checking replay | allocator | events | failed allocations | overlaps with a live block | out of range | misaligned | failed allocations in the timed replays | target | met |",
);
rows.push("|---|---|---|---|---|---|---|---|---|---|");
for (const s of SUBJECTS) {
  const v = verified.get(s.name)!;
  const timed = timedFailures.get(s.name) ?? 0;
  const clean = v.failed + v.overlaps + v.outOfRange + v.misaligned + timed === 0;
  rows.push(
    `| checking replay | ${s.name} | ${v.events} | ${v.failed} | ${v.overlaps} | ${v.outOfRange} | ${v.misaligned} | ${timed} | zero failures, zero overlaps | ${clean ? "yes" : "**no**"} |`,
  );
}

const bars: Bar[] = traces.flatMap((t) =>
  SUBJECTS.map((s) => ({ group: t.name, label: s.name, value: median(perRound.get(key(t.name, s.name))!) })),
);
publish({
  section: "traces",
  title: "Real programs' allocation traces",
  setup: `${machine()}; ${traces.length} traces (${traces.map((t) => `${t.name} ${t.events}`).join(", ")} events); ${rounds} rounds of ${time} ms per trace and allocator; a round's figure is its median replay; checking replays of ${verifyEvents >= Number.MAX_SAFE_INTEGER ? "every event" : `the first ${verifyEvents} events`} of each trace.`,
  table: rows.join("\n"),
  charts: [{ title: "ns per event, per trace and allocator", unit: "ns/event", lowerIsBetter: true, bars }],
});
