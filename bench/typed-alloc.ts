// Typed allocation (the Rust crate's `typed_alloc` bench): what a typed view or record over an allocator costs
// against what JavaScript gives for free, a typed array or an object from the garbage-collected heap. Each task call
// does 256 allocations and frees (or a reset); every round runs every task once, in a rotated order, for about
// `--time` ms each, and a task's figure is the median over rounds of its ns per allocation. Ratios are taken per round
// (ours / JavaScript's) and their median reported. `node build/bench/typed-alloc.js [--rounds=N] [--time=MS] [--write]`.
import { ArrayBufferBacked, BumpArena, Slab, allocArray, defineStruct } from "../src/index.js";
import { type Bar, machine, numberArg, progress, publish } from "./output.js";

const N = 256;
const rounds = numberArg("rounds", 7);
const time = numberArg("time", 300);

let sink = 0;
const Order = defineStruct({ id: "u32", price: "f64", qty: "u16" });
const orders = new Slab(new ArrayBufferBacked(1 << 16), {
  blockSize: Order.size,
  capacity: N,
  align: Order.align,
});
const vectors = new Slab(new ArrayBufferBacked(1 << 18), { blockSize: 128, capacity: N });
const arena = new BumpArena(new ArrayBufferBacked(1 << 16));
const records = new Array<ReturnType<typeof Order.alloc>>(N);
const views = new Array<Float64Array>(N);
const objects = new Array<{ id: number; price: number; qty: number }>(N);

interface Pair {
  workload: string;
  ours: [string, () => void];
  reference: [string, () => void];
}

const fillRecords = (zeroed: boolean) => () => {
  for (let i = 0; i < N; i++) {
    const r = Order.alloc(orders, { zeroed });
    r.id = i;
    r.price = i * 0.5;
    r.qty = 3;
    records[i] = r;
  }
  for (let i = 0; i < N; i++) Order.free(orders, records[i]!);
};
const fillObjects = (): void => {
  for (let i = 0; i < N; i++) objects[i] = { id: i, price: i * 0.5, qty: 3 };
  for (let i = 0; i < N; i++) sink ^= objects[i]!.qty;
};
const fillSlabViews = (zeroed: boolean) => () => {
  for (let i = 0; i < N; i++) {
    const v = allocArray(vectors, "bench", Float64Array, 16, { zeroed });
    v[0] = i;
    views[i] = v;
  }
  for (let i = 0; i < N; i++) vectors.deallocate(views[i]!.byteOffset, 128);
};
const fillArenaViews = (zeroed: boolean) => () => {
  for (let i = 0; i < N; i++) {
    const v = arena.allocArray(Float64Array, 16);
    if (!zeroed) sink ^= v.length;
    v[0] = i;
    views[i] = v;
  }
  arena.reset();
};
const fillArenaRaw = (): void => {
  for (let i = 0; i < N; i++) {
    const v = allocArray(arena, "bench", Float64Array, 16, { zeroed: false });
    v[0] = i;
    views[i] = v;
  }
  arena.reset();
};
const fillTypedArrays = (): void => {
  for (let i = 0; i < N; i++) {
    const v = new Float64Array(16);
    v[0] = i;
    views[i] = v;
  }
};

const pairs: Pair[] = [
  {
    workload: "a record {u32, f64, u16}: allocate, write 3 fields; then free",
    ours: ["StructLayout over a Slab (zeroed)", fillRecords(true)],
    reference: ["a JavaScript object", fillObjects],
  },
  {
    workload: "the same, { zeroed: false }",
    ours: ["StructLayout over a Slab (not zeroed)", fillRecords(false)],
    reference: ["a JavaScript object", fillObjects],
  },
  {
    workload: "a Float64Array(16) view: allocate, write; then free",
    ours: ["allocArray over a Slab (zeroed)", fillSlabViews(true)],
    reference: ["new Float64Array(16)", fillTypedArrays],
  },
  {
    workload: "the same, { zeroed: false }",
    ours: ["allocArray over a Slab (not zeroed)", fillSlabViews(false)],
    reference: ["new Float64Array(16)", fillTypedArrays],
  },
  {
    workload: "a Float64Array(16) view from a BumpArena; then reset",
    ours: ["BumpArena.allocArray (zeroed)", fillArenaViews(true)],
    reference: ["new Float64Array(16)", fillTypedArrays],
  },
  {
    workload: "the same, { zeroed: false }",
    ours: ["allocArray over a BumpArena (not zeroed)", fillArenaRaw],
    reference: ["new Float64Array(16)", fillTypedArrays],
  },
];

/** ns per allocation of one task over about `time` ms (after a short warm-up). */
function measure(task: () => void): number {
  for (let i = 0; i < 200; i++) task();
  let calls = 0;
  const t0 = process.hrtime.bigint();
  const budget = BigInt(Math.round(time * 1e6));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 50; i++) task();
    calls += 50;
    elapsed = process.hrtime.bigint() - t0;
  }
  return Number(elapsed) / (calls * N);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const ours = pairs.map(() => [] as number[]);
const refs = pairs.map(() => [] as number[]);
const ratios = pairs.map(() => [] as number[]);
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < pairs.length; k++) {
    const j = (k + r) % pairs.length; // rotated, so no task always runs first
    const pair = pairs[j]!;
    const a = measure(pair.ours[1]);
    const b = measure(pair.reference[1]);
    ours[j]!.push(a);
    refs[j]!.push(b);
    ratios[j]!.push(a / b);
    progress(r * pairs.length + k + 1, rounds * pairs.length, pair.ours[0]);
  }
}

if (sink === 0x7fffffff) console.error("(the sink only keeps the engine from dropping the work)");
const f = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const rows = [
  "| workload | ours | ns per allocation | JavaScript | ns per allocation | ours / JavaScript (median of rounds) |",
  "|---|---|---|---|---|---|",
  ...pairs.map(
    (p, i) =>
      `| ${p.workload} | ${p.ours[0]} | ${f(median(ours[i]!))} | ${p.reference[0]} | ${f(median(refs[i]!))} | ${median(ratios[i]!).toFixed(2)}x |`,
  ),
];
const bars: Bar[] = pairs.flatMap((p, i) => [
  { group: p.workload, label: p.ours[0], value: median(ours[i]!) },
  { group: p.workload, label: p.reference[0], value: median(refs[i]!) },
]);
publish({
  section: "typed-alloc",
  title: "Typed allocation against JavaScript's own",
  setup: `${machine()}; ${rounds} rounds of about ${time} ms per task, ${N} allocations per call.`,
  table: rows.join("\n"),
  charts: [{ title: "ns per typed allocation", unit: "ns/alloc", lowerIsBetter: true, bars }],
});
