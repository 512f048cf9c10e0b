// Where the time goes in the heap benchmark's workload (b): random sizes 16..4096 B, 10,000 live blocks, each step
// frees a random live block and allocates a new one. Runs it for `Tlsf` and for `Heap` under V8's sampling profiler
// (node:inspector) and prints, per allocator, the functions with the most self time. Seeded like bench/heap.ts.
// `node --no-turbo-inlining build/bench/profile.js [--steps=N]`: without inlining each function keeps its own
// samples (slower overall, but the shares are what matter). What it found is in docs/PERFORMANCE.md.
import { Session } from "node:inspector";
import { ArrayBufferBacked, Heap, Tlsf } from "../src/index.js";
import { SeededRandom } from "../src/testing/index.js";
import { numberArg } from "./output.js";

const LIVE = 10_000;
const steps = numberArg("steps", 3_000_000);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

// The seeded workload, drawn up front so that the loop measures the allocator only.
const rng = new SeededRandom(42);
const STEPS = 1 << 16;
const sizes = new Int32Array(STEPS);
const victims = new Int32Array(STEPS);
for (let i = 0; i < STEPS; i++) {
  sizes[i] = Math.round(16 * Math.pow(256, rng.nextU32() / 4294967296));
  victims[i] = rng.nextU32() % LIVE;
}

function post(session: Session, method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result))),
  );
}

async function profile(name: string, alloc: (n: number) => number, free: (p: number) => void): Promise<void> {
  const live = new Int32Array(LIVE);
  for (let i = 0; i < LIVE; i++) live[i] = alloc(sizes[i]!);
  const session = new Session();
  session.connect();
  await post(session, "Profiler.enable");
  await post(session, "Profiler.setSamplingInterval", { interval: 100 });
  await post(session, "Profiler.start");
  const t0 = process.hrtime.bigint();
  for (let k = 0, c = 0; k < steps; k++, c = (c + 1) & (STEPS - 1)) {
    const v = victims[c]!;
    free(live[v]!);
    live[v] = alloc(sizes[c]!);
  }
  const ns = Number(process.hrtime.bigint() - t0) / steps;
  const { profile: p } = (await post(session, "Profiler.stop")) as { profile: { nodes: ProfileNode[] } };
  session.disconnect();
  const self = new Map<string, number>();
  let total = 0;
  for (const node of p.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/build\//, "")}:${f.lineNumber + 1}` : "";
    const key = `${f.functionName || "(anonymous)"} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  console.log(
    `\n${name}: ${ns.toFixed(1)} ns per step (free + allocate, profiler on), self time by function:`,
  );
  for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
    console.log(`  ${((100 * hits) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
}

const tlsf = new Tlsf(new ArrayBufferBacked({ size: 1 << 26, maxSize: 1 << 28 }));
await profile(
  "Tlsf",
  (n) => tlsf.allocate(n),
  (p) => tlsf.free(p),
);
const heap = new Heap(new ArrayBufferBacked({ size: 1 << 26, maxSize: 1 << 28 }));
await profile(
  "Heap",
  (n) => heap.malloc(n),
  (p) => heap.free(p),
);
