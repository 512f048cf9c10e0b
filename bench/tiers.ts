// The tier table of the Rust crate's composition_tradeoffs: 256 allocate+free round trips of 8 bytes per sample
// (bump rows: 256 allocations, then reset), for the bare layouts and each hardening tier, as ns per round trip and
// as the marginal cost over the bare slab.
//
// Each tier is timed in child processes of its own (three by default, `--procs`), beside its base (the bare slab), in
// turn, round after round; its cost over the base is computed within each process, and the table gives the median of
// the processes with their min .. max. A process shared by all tiers made each tier's figure depend on the tiers
// timed before it: V8 compiles each loop from the feedback the shared functions (the slab's) have gathered so far,
// so the same code measured 2-4 ns apart depending on its place in the order (see `warmRefill`).
//
// Two columns, from two child processes per tier: "clean" (the wrapper class sees one inner type) and "polluted"
// (before timing, every wrapper class is driven over six different inner types, so a call site inside a wrapper
// that reaches the inner through `this.inner.allocate` would be megamorphic). The stacks are reached through a mutable
// holder, so V8 cannot constant-fold the receiver away and the call sites behave as in an application.
//
// The "met" column checks the issue's targets: the clean cost over the bare slab within the tier's budget, and
// the cost with six inner types at most 6 ns above the clean one. Rows "0a'" and "3b'" run bursts (16
// allocations, then 16 frees) instead of single round trips: a slab with a MAC checks an entry against a JS-heap
// copy while it is the top of the free stack and signs it only when a later free buries it, so the round trip of
// "3b" computes no tag; the bursts show what the tags cost ("3b'" over "0a'").
//
// `node build/bench/tiers.js [--rounds=N] [--time=MS] [--procs=N] [--write]`.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Bench } from "tinybench";
import {
  type Allocator,
  ArrayBufferBacked,
  BumpArena,
  CacheJitter,
  Canary,
  Faulty,
  HalfSipHashMac,
  NeverFail,
  NULL,
  PoisonOnFree,
  Quarantine,
  Slab,
  StackAlloc,
  StaticBacked,
  Statistics,
  Watermark,
  WithFallback,
  SizeClassed,
  ZeroizeOnFree,
} from "../src/index.js";
import { HardenedSlab, MmapBacked } from "../src/os.js";
import { args, machine, numberArg, progress, publish } from "./output.js";

const N = 256;
const rounds = numberArg("rounds", 5);
const time = numberArg("time", 200);
const procs = numberArg("procs", 3);

/** A forwarding wrapper written the plain way (`this.inner.allocate`), to show what the library design avoids. */
class PlainStatistics {
  readonly memory;
  private allocations = 0;
  private bytes = 0;
  constructor(private readonly inner: Allocator) {
    this.memory = inner.memory;
    this.allocations = undefined as unknown as number;
    this.allocations = 0;
  }
  allocate(size: number, align = 8): number {
    const p = this.inner.allocate(size, align);
    if (p !== NULL) {
      this.allocations++;
      this.bytes += size;
    }
    return p;
  }
  deallocate(ptr: number, size: number, align = 8): void {
    this.inner.deallocate(ptr, size, align);
    this.bytes -= size;
  }
  reset(): void {
    this.inner.reset();
  }
}

/**
 * The row the Rust crate calls `System`: what JavaScript has instead of a system `malloc` is the engine's own
 * allocation of a typed array per block (held in a table so that the "pointer" is an index, and freed by dropping it).
 */
class EngineAlloc {
  readonly memory = null;
  private readonly blocks: (Uint8Array | null)[] = [null];
  private readonly free: number[] = [];
  allocate(size: number, _align = 8): number {
    const id = this.free.length > 0 ? this.free.pop()! : this.blocks.length;
    this.blocks[id] = new Uint8Array(size);
    return id;
  }
  deallocate(ptr: number, _size: number, _align = 8): void {
    this.blocks[ptr] = null;
    this.free.push(ptr);
  }
  reset(): void {
    this.blocks.length = 1;
    this.free.length = 0;
  }
}

const slab = (blockSize = 8, protection?: HalfSipHashMac): Slab =>
  new Slab(
    new ArrayBufferBacked(1 << 20),
    protection ? { blockSize, capacity: 4096, protection } : { blockSize, capacity: 4096 },
  );

interface Tier {
  id: string;
  name: string;
  make: () => Allocator;
  /**
   * One sample: 256 round trips (or 256 bump allocations and a reset). Each tier has its own function literal on
   * purpose: closures made at one source position share V8's feedback, so a shared loop would itself turn
   * megamorphic over the tiers and measure the harness instead of the allocators.
   */
  run: (h: { a: Allocator }) => number;
  target?: number;
  /** The row the "over" columns subtract: the bare slab's round trip ("0a") unless the workload differs. */
  base?: string;
}

/** The blocks of one burst (rows "0a'" and "3b'"). */
const burst = new Int32Array(16);

const TIERS: Tier[] = [
  {
    id: "0a",
    name: "Slab",
    make: () => slab(),
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "0a'",
    name: "Slab, in bursts: 16 allocations, then 16 frees",
    make: () => slab(),
    base: "0a'",
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i += 16) {
        for (let j = 0; j < 16; j++) s ^= burst[j] = a.allocate(8, 8);
        for (let j = 0; j < 16; j++) a.deallocate(burst[j]!, 8, 8);
      }
      return s;
    },
  },
  {
    id: "0b",
    name: "BumpArena (256 allocations, reset)",
    make: () => new BumpArena(new ArrayBufferBacked(1 << 20)),
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) s ^= a.allocate(8, 8);
      a.reset();
      return s;
    },
  },
  {
    id: "0c",
    name: "SizeClassed (8 classes x 64 slots; the Rust crate's SizeClassed<_, 8>)",
    make: () => new SizeClassed(new ArrayBufferBacked(1 << 20), { slotsPerClass: 64 }),
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "0d",
    name: "the engine's own allocator: a new Uint8Array(8) per block (the Rust crate's System)",
    make: () => new EngineAlloc() as unknown as Allocator,
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "1a",
    name: "Statistics<Slab>",
    make: () => new Statistics(slab()),
    target: 3,
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "1b",
    name: "Watermark<Statistics<Slab>>",
    make: () => new Watermark(new Statistics(slab())),
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "2a",
    name: "PoisonOnFree<Slab>",
    make: () => new PoisonOnFree(slab()),
    target: 5,
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "2a'",
    name: "ZeroizeOnFree<Slab>",
    make: () => new ZeroizeOnFree(slab()),
    target: 5,
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "2a''",
    name: "ZeroizeOnFree<Slab> at 64 B",
    make: () => new ZeroizeOnFree(slab(64)),
    target: 5,
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(64, 8)), 64, 8);
      return s;
    },
  },
  {
    id: "2b",
    name: "Quarantine<Slab, 4>",
    make: () => new Quarantine(slab(), 4),
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "3a",
    name: "Canary<Slab>",
    make: () => new Canary(slab(24)),
    target: 10,
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "3b",
    name: "Slab with MAC",
    make: () => slab(8, new HalfSipHashMac()),
    target: 25,
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "3b'",
    name: "Slab with MAC, in bursts: 16 allocations, then 16 frees (15 tags checked and 15 made per burst; over 0a')",
    make: () => slab(8, new HalfSipHashMac()),
    base: "0a'",
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i += 16) {
        for (let j = 0; j < 16; j++) s ^= burst[j] = a.allocate(8, 8);
        for (let j = 0; j < 16; j++) a.deallocate(burst[j]!, 8, 8);
      }
      return s;
    },
  },
  {
    id: "3c",
    name: "CacheJitter<BumpArena> (256 allocations, reset)",
    make: () => new CacheJitter(new BumpArena(new ArrayBufferBacked(1 << 20)), { line: 64, assoc: 8 }),
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) s ^= a.allocate(8, 8);
      a.reset();
      return s;
    },
  },
  {
    id: "4",
    name: "Canary<Quarantine<ZeroizeOnFree<HardenedSlab with MAC>>>",
    make: () =>
      new Canary(
        new Quarantine(
          new ZeroizeOnFree(
            new HardenedSlab({ blockSize: 24, capacity: 4096, protection: new HalfSipHashMac() }),
          ),
          4,
        ),
      ),
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "3a (Rust)",
    name: "Canary<BumpArena> (256 allocations, reset; the Rust crate's 3a stack)",
    make: () => new Canary(new BumpArena(new ArrayBufferBacked(1 << 20))),
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) s ^= a.allocate(8, 8);
      a.reset();
      return s;
    },
  },
  {
    id: "4 (Rust)",
    name: "HardenedSlab with MAC (GuardPage<SplitMetadata<Mmap>> inside; the Rust crate's tier 4 stack)",
    make: () => new HardenedSlab({ blockSize: 8, capacity: 4096, protection: new HalfSipHashMac() }),
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
  {
    id: "x",
    name: "PlainStatistics<Slab> (`this.inner.allocate`, for comparison)",
    make: () => new PlainStatistics(slab()) as unknown as Allocator,
    run: (h) => {
      const a = h.a;
      let s = 0;
      for (let i = 0; i < N; i++) a.deallocate((s = a.allocate(8, 8)), 8, 8);
      return s;
    },
  },
];

/** Drives every wrapper class over six inner types, so their call sites have seen them all. */
function pollute(): void {
  const inners: (() => Allocator)[] = [
    () => new Slab(new ArrayBufferBacked(1 << 20), { blockSize: 1024, capacity: 512 }),
    () => new BumpArena(new ArrayBufferBacked(1 << 20)),
    () => new StackAlloc(new ArrayBufferBacked(1 << 20)),
    () => {
      const b = new ArrayBufferBacked(1 << 20);
      return new WithFallback(
        new Slab(b, { blockSize: 1024, capacity: 64 }),
        new BumpArena(StaticBacked.carve(b, 1 << 18)),
      );
    },
    () => new ArrayBufferBacked(1 << 20),
    () => new MmapBacked(1 << 20),
  ];
  const wrappers: ((a: Allocator) => Allocator)[] = [
    (a) => new Statistics(a),
    (a) => new Watermark(a),
    (a) => new PoisonOnFree(a),
    (a) => new ZeroizeOnFree(a),
    (a) => new Quarantine(a, 4),
    (a) => new Canary(a),
    (a) => new Faulty(a, new NeverFail()),
    (a) => new CacheJitter(a, { line: 64, assoc: 8 }),
    (a) => new PlainStatistics(a) as unknown as Allocator,
  ];
  for (const wrap of wrappers) {
    for (const make of inners) {
      const w = wrap(make());
      try {
        for (let k = 0; k < 300; k++) {
          for (let i = 0; i < 16; i++) w.deallocate(w.allocate(8, 8), 8, 8);
          w.reset();
        }
      } catch {
        // Some pairs do not compose (Quarantine evicts FIFO, a stack frees LIFO); their call sites are exercised.
      }
    }
  }
}

/** How much more a tier may cost with six inner types behind its wrapper class than clean (the issue's target). */
const POLLUTED_SLACK = 6;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Gives the slab's refill path its type feedback before any loop is compiled: fresh slabs carve a few blocks each.
 * Without it, the loop compiled first in a process sees a `Slab.allocRaw` whose refill call never ran (V8 records
 * feedback only once a function has run a few times, and a fresh slab's first allocation is its only refill), so
 * that loop is compiled without the call, and every later one with it: a difference of about 30 instructions per
 * round trip that depended on which loop ran first, not on the tier. An application carves, so every loop is measured
 * with the call.
 */
function warmRefill(): void {
  for (let k = 0; k < 20; k++) {
    const s = slab();
    const held: number[] = [];
    for (let i = 0; i < 4; i++) held.push(s.allocate(8, 8));
    for (let i = 0; i < 200; i++) s.deallocate(s.allocate(8, 8), 8, 8);
    for (const p of held) s.deallocate(p, 8, 8);
  }
}

/** The tier `id` and its base, timed in turn in this process (each round starts with the other one). */
async function measure(polluted: boolean, id: string): Promise<Record<string, number>> {
  warmRefill();
  if (polluted) pollute();
  const tier = TIERS.find((t) => t.id === id);
  if (tier === undefined) throw new Error(`tiers: no tier ${id}`);
  const base = TIERS.find((t) => t.id === (tier.base ?? "0a"))!;
  const pair = tier === base ? [tier] : [tier, base];
  const holder: { a: Allocator } = { a: slab() };
  let sink = 0;
  const perRound: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    const bench = new Bench({ time, warmupTime: 100 });
    for (let t = 0; t < pair.length; t++) {
      const one = pair[(t + r) % pair.length]!;
      const stack = one.make();
      holder.a = slab(); // written more than once: V8 cannot treat the field as a constant
      holder.a = stack;
      const h = { a: stack };
      h.a = holder.a;
      const run = one.run;
      bench.add(one.id, () => {
        sink ^= run(h);
      });
    }
    await bench.run();
    for (const task of bench.tasks) {
      const result = task.result as { latency?: { p50: number } };
      if (!result.latency) throw new Error(`tiers: task ${task.name} did not complete`);
      (perRound[task.name] ??= []).push((result.latency.p50 * 1e6) / N);
    }
  }
  if (sink === 0.5) console.log(sink);
  return Object.fromEntries(Object.entries(perRound).map(([k, v]) => [k, median(v)]));
}

if (args.has("child")) {
  const result = await measure(args.get("child") === "polluted", String(args.get("tier")));
  process.stdout.write(JSON.stringify(result));
} else {
  const self = fileURLToPath(import.meta.url);
  let done = 0;
  /**
   * Each tier in `procs` processes of its own, with its base: what `mode` measures, per process, and the cost over
   * the base within each process. The processes of one tier are spread over the run (every tier once, then again),
   * so a minute in which the host is slow (it slows whole processes, base and tier alike, by up to 1.6x) or a
   * process whose loop V8 compiled without one of its calls inlined (see docs/PERFORMANCE.md) is one of three.
   */
  const run = (mode: string): { tier: Record<string, number[]>; over: Record<string, number[]> } => {
    const tier: Record<string, number[]> = {};
    const over: Record<string, number[]> = {};
    for (let k = 0; k < procs; k++) {
      for (const t of TIERS) {
        const r = spawnSync(
          process.execPath,
          [self, `--child=${mode}`, `--tier=${t.id}`, `--rounds=${rounds}`, `--time=${time}`],
          { encoding: "utf8", maxBuffer: 1 << 20, stdio: ["ignore", "pipe", "inherit"] },
        );
        if (r.status !== 0) throw new Error(`tiers: the ${mode} run of ${t.id} failed (exit ${r.status})`);
        const out = JSON.parse(r.stdout) as Record<string, number>;
        (tier[t.id] ??= []).push(out[t.id]!);
        (over[t.id] ??= []).push(out[t.id]! - out[t.base ?? "0a"]!);
        progress(++done, 2 * procs * TIERS.length, "tier processes (clean, then 6 inner types)");
      }
    }
    return { tier, over };
  };
  const clean = run("clean");
  const polluted = run("polluted");
  const fmt = (x: number): string => x.toFixed(1);
  /** The median of a tier's processes, with their min .. max when there is more than one. */
  const spread = (xs: number[], sign: string): string =>
    `${sign}${fmt(median(xs))}` +
    (xs.length > 1 ? ` (${fmt(Math.min(...xs))} .. ${fmt(Math.max(...xs))})` : "");
  const rows = [
    "| tier | stack | clean: ns/round trip | clean: over bare slab | 6 inner types: ns/round trip | 6 inner types: over bare slab | target | met |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const t of TIERS) {
    const base = t.base ?? "0a";
    const target = t.target;
    const overClean = median(clean.over[t.id]!);
    const overPolluted = median(polluted.over[t.id]!);
    // The issue's targets, on the medians of the processes: the clean cost within the tier's budget, and with six
    // inner types at most POLLUTED_SLACK ns more than clean.
    const met =
      target !== undefined
        ? overClean <= target && overPolluted <= overClean + POLLUTED_SLACK
          ? "yes"
          : "**no**"
        : "";
    const isBase = t.id === base;
    rows.push(
      `| ${t.id} | ${t.name} | ${spread(clean.tier[t.id]!, "")} | ${isBase ? "-" : spread(clean.over[t.id]!, "+")} | ` +
        `${spread(polluted.tier[t.id]!, "")} | ${isBase ? "-" : spread(polluted.over[t.id]!, "+")} | ` +
        `${target !== undefined ? `<= +${target} ns; 6 inner types <= clean + ${POLLUTED_SLACK}` : ""} | ${met} |`,
    );
  }
  publish({
    section: "tiers",
    title: "What each hardening tier costs",
    setup: `${machine()}; each tier in ${procs} processes of its own beside the bare slab (median of the processes, their min .. max in brackets), ${rounds} rounds of ${time} ms each; 256 round trips of 8 bytes per sample (bump rows: 256 allocations, then reset).`,
    table: rows.join("\n"),
    charts: [
      {
        title: "cost per tier: ns per allocate+free round trip",
        unit: "ns/round trip",
        lowerIsBetter: true,
        bars: TIERS.flatMap((t) => [
          { group: `${t.id} ${t.name}`, label: "clean", value: median(clean.tier[t.id]!) },
          { group: `${t.id} ${t.name}`, label: "6 inner types", value: median(polluted.tier[t.id]!) },
        ]),
      },
    ],
  });
}
