// The stress and fault suite at full size, and the detection rates of the hardening claims: the figures of
// docs/RELIABILITY.md. `npm run stress` (`node build/bench/stress.js [--ops=N] [--write]`); `--write` replaces the
// figures between the `stress:begin` and `stress:end` markers of docs/RELIABILITY.md.
//
// Workers: 2 workers x `--ops` operations per shared primitive (the slab's owner runs 4x as many, so that its remote
// frees reach `--ops` too), with the ownership map and block patterns of test/helpers/stress-worker.ts; then a
// worker terminated in the middle of its work. Hardening: each claim attacked many times with seeded randomness.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  type Allocator,
  ArrayBufferBacked,
  CorruptionError,
  GenerationalSlab,
  HalfSipHashMac,
  Heap,
  InvalidPointerError,
  LayoutError,
  NULL,
  OFFSET_NONE,
  OffsetAllocator,
  PoisonOnFree,
  Quarantine,
  SharedArrayBufferBacked,
  SharedBumpArena,
  Slab,
  SlabOwner,
  StaticBacked,
  Tlsf,
  WithFallback,
  ZeroizeOnFree,
} from "../src/index.js";
import { BAD_ALIGNS, BAD_SIZES, SeededRandom } from "../src/testing/index.js";
import { runStress } from "../test/helpers/stress-run.js";
import { args, machine, numberArg } from "./output.js";

const OPS = numberArg("ops", 1_000_000);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const rows: string[] = [];
const out = (line: string): void => {
  rows.push(line);
  console.log(line);
};

// 1. Workers.
out(
  `Stress (${machine()}): 2 workers per primitive, seeded; every block checked in the ownership map and by its pattern.`,
);
out("");
out("| primitive | operations (per worker) | duplicates | lost | corrupted | leaked granules | seconds |");
out("|---|---|---|---|---|---|---|");
let totalOps = 0;
for (const [kind, label, ops] of [
  ["bump", "SharedBumpArena (allocate / free / reset)", OPS],
  ["slab", "SlabOwner + SlabRemote (allocate / free / remote free)", 4 * OPS],
  ["heap", "ConcurrentHeap (malloc / free / remote free)", OPS],
] as const) {
  const t0 = Date.now();
  const r = await runStress({ kind, workers: 2, ops, seed: 1, bytes: 64 << 20 });
  const per = r.results
    .sort((a, b) => a.id - b.id)
    .map((x) => x.ops.toLocaleString("en"))
    .join(" + ");
  totalOps += r.ops;
  out(
    `| ${label} | ${r.ops.toLocaleString("en")} (${per}) | ${r.duplicates} | ${r.lost} | ${r.corrupted} | ${r.leftover} | ${((Date.now() - t0) / 1000).toFixed(1)} |`,
  );
}
out("");

// 2. Faults: a worker terminated in the middle of its work.
out("| fault injected | runs | survivor finished | duplicates / lost / corrupted | collisions afterwards |");
out("|---|---|---|---|---|");
let faults = 0;
let survived = 0;
for (const kind of ["bump", "heap"] as const) {
  let finished = 0;
  let bad = 0;
  let collisions = 0;
  const runs = 5;
  for (let seed = 1; seed <= runs; seed++) {
    const r = await runStress({
      kind,
      workers: 2,
      ops: OPS / 5,
      seed,
      bytes: 64 << 20,
      terminateAfter: Math.floor((OPS / 5) * (seed / 6)), // from a sixth of its run to five sixths
    });
    faults += r.faults;
    if (r.results.length === 1) finished++;
    bad += r.duplicates + r.lost + r.corrupted + r.leftover;
    collisions += r.collisionsAfterFault;
    if (r.results.length === 1 && bad === 0 && r.collisionsAfterFault === 0) survived++;
  }
  const name = kind === "bump" ? "SharedBumpArena" : "ConcurrentHeap";
  out(`| ${name}: worker 2 terminated mid-run | ${runs} | ${finished} | ${bad} | ${collisions} |`);
}
out("");

// 3. Hardening claims, attacked.
const rng = new SeededRandom(42);
const claims: [string, number, number][] = [];

// Slab MAC: replay a saved free-list entry after its block was reissued.
{
  let detected = 0;
  const N = 2000;
  for (let i = 0; i < N; i++) {
    const meta = new ArrayBufferBacked(1 << 12);
    const slab = new Slab(new ArrayBufferBacked(1 << 14), {
      blockSize: 64,
      capacity: 16,
      metadata: meta,
      protection: new HalfSipHashMac(),
    });
    const set = new Int32Array(meta.memory.buffer, 16, 3 * 16);
    const ptrs = Array.from({ length: 12 }, () => slab.allocate(64));
    const below = rng.nextU32() % 8; // entries under the replayed one
    for (let k = 0; k < below; k++) slab.deallocate(ptrs[k]!, 64);
    const a = ptrs[8 + (rng.nextU32() % 2)]!;
    const b = ptrs[10 + (rng.nextU32() % 2)]!;
    slab.deallocate(a, 64); // entry `below`: a
    const saved = [set[below]!, set[32 + below]!];
    slab.allocate(64); // a is live again
    slab.deallocate(b, 64); // entry `below`: b
    set[below] = saved[0]!; // the replay
    set[16 + (a - slab.base()) / 64] = below;
    set[32 + below] = saved[1]!;
    try {
      if (slab.allocate(64) !== a) detected++; // not issued twice (it could only be a)
    } catch (e) {
      if (e instanceof CorruptionError) detected++;
    }
  }
  claims.push(["Slab MAC: a saved free-list entry written back after its block was reissued", N, detected]);
}

// PoisonOnFree checkOnReuse over Tlsf: a write into a freed block, at a random byte it covers.
{
  let detected = 0;
  const N = 2000;
  for (let i = 0; i < N; i++) {
    const pool = new PoisonOnFree(new Tlsf(new ArrayBufferBacked(1 << 16)), { checkOnReuse: true });
    const n = 16 + 8 * (rng.nextU32() % 60);
    const a = pool.allocate(n);
    pool.allocate(64); // keeps a from merging with the rest
    const usable = pool.inner.usableSize(a, n);
    pool.deallocate(a, n);
    const at = a + 8 + (rng.nextU32() % (usable - 12));
    pool.memory.u8[at] = pool.memory.u8[at]! ^ 0x40;
    try {
      pool.allocate(usable); // Tlsf's good fit may hand out another block: then verifyFreed() finds it
      pool.verifyFreed();
    } catch (e) {
      if (e instanceof CorruptionError) detected++;
    }
  }
  claims.push([
    "PoisonOnFree checkOnReuse over Tlsf: a write after free (outside Tlsf's own 12 bytes), on reuse or verifyFreed()",
    N,
    detected,
  ]);
}

// ZeroizeOnFree.reset(): bytes of live secrets left after reset, over inners of every kind.
{
  const inners: (() => Allocator)[] = [
    () => new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 256, capacity: 64 }),
    () => new Tlsf(new ArrayBufferBacked(1 << 16)),
    () => new Heap(new ArrayBufferBacked(1 << 18)),
    () => new Quarantine(new Heap(new ArrayBufferBacked(1 << 18)), 4),
    () => {
      const backing = new ArrayBufferBacked(1 << 17);
      return new WithFallback(
        new Slab(backing, { blockSize: 32, capacity: 8 }),
        new Tlsf(StaticBacked.carve(backing, 1 << 16)),
      );
    },
  ];
  let secrets = 0;
  let left = 0;
  for (let round = 0; round < 40; round++) {
    for (const make of inners) {
      const z = new ZeroizeOnFree(make());
      const blocks: [number, number][] = [];
      for (let i = 0; i < 20; i++) {
        const n = 8 + (rng.nextU32() % 200);
        const p = z.allocate(n);
        if (p === NULL) continue;
        z.memory.u8.fill(0x5a, p, p + n);
        blocks.push([p, n]);
      }
      z.reset();
      for (const [p, n] of blocks) {
        secrets += n;
        for (let k = 0; k < n; k++) if (z.memory.u8[p + k] === 0x5a) left++;
      }
    }
  }
  claims.push([
    "ZeroizeOnFree.reset(): bytes of live secrets zeroed (5 kinds of inner)",
    secrets,
    secrets - left,
  ]);
}

// GenerationalSlab: a handle of one pool presented to each of 5,000 other pools (made and disposed in turn).
{
  const first = new GenerationalSlab<number>(new ArrayBufferBacked(1 << 10), { capacity: 1 });
  const h = first.insert(1);
  let refused = 0;
  const N = 5000;
  for (let i = 0; i < N; i++) {
    const p = new GenerationalSlab<number>(new ArrayBufferBacked(1 << 10), { capacity: 1 });
    p.insert(2);
    try {
      if (p.get(h) === undefined) refused++;
    } catch (e) {
      if (e instanceof InvalidPointerError) refused++;
    }
    p.dispose();
  }
  claims.push(["GenerationalSlab: a foreign handle refused by other pools (ids never collide)", N, refused]);
}

// OffsetAllocator at the edges: requests around every power of two up to 2^53 served exactly where they fit.
{
  let right = 0;
  let tried = 0;
  for (let k = 3; k <= 52; k++) {
    for (const size of [2 ** k - 8, 2 ** k, 2 ** k + 8]) {
      if (size < 8 || size > 2 ** 53 - 8) continue;
      tried++;
      const a = new OffsetAllocator(size);
      const whole = a.allocate(size);
      if (whole === 0 && a.allocate(8) === OFFSET_NONE) right++;
    }
  }
  claims.push([
    "OffsetAllocator: the whole range served at sizes around every power of two to 2^53",
    tried,
    right,
  ]);
}

// Bad input to the primitives of this suite: a typed error every time, nothing changed.
{
  let tried = 0;
  let typed = 0;
  const subjects: (() => Allocator)[] = [
    () => new SharedBumpArena(new SharedArrayBufferBacked(1 << 16)),
    () => new SlabOwner(new SharedArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 16 }),
    () => new ZeroizeOnFree(new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 16 })),
    () => new PoisonOnFree(new Tlsf(new ArrayBufferBacked(1 << 16)), { checkOnReuse: true }),
  ];
  for (const make of subjects) {
    const a = make();
    for (const size of BAD_SIZES) {
      tried++;
      try {
        a.allocate(size as number);
      } catch (e) {
        if (e instanceof LayoutError) typed++;
      }
    }
    for (const align of BAD_ALIGNS) {
      tried++;
      try {
        a.allocate(8, align as number);
      } catch (e) {
        if (e instanceof LayoutError) typed++;
      }
    }
    for (const ptr of [0, -8, 3, 1.5, NaN, 1 << 30, "16", null]) {
      tried++;
      try {
        a.deallocate(ptr as number, 8);
      } catch (e) {
        if (e instanceof InvalidPointerError || e instanceof LayoutError) typed++;
      }
    }
  }
  claims.push(["Bad sizes, alignments and pointers to the primitives above: a typed error", tried, typed]);
}

// End-aligned hardened slabs: one byte past the last block, in a child process.
{
  const os = pathToFileURL(join(ROOT, "build", "src", "os.js")).href;
  let trapped = 0;
  const configs = [
    "new os.HardenedSlab({ blockSize: 20, capacity: 10 })",
    "new os.HardenedSlab({ blockSize: 100, capacity: 33, align: 16 })",
    "new os.HardenedSlab({ blockSize: 4096, capacity: 3 })",
    "new os.CryptoSlab({ blockSize: 32, capacity: 7 })",
  ];
  for (const make of configs) {
    const code = `const os = await import(${JSON.stringify(os)}); const s = ${make};
      let last = 0; for (;;) { const p = s.allocate(1); if (p === 0) break; last = Math.max(last, p); }
      s.memory.u8[last + s.usableSize(last, 1)] = 1; console.log("survived");`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" });
    if (r.signal === "SIGSEGV") trapped++;
  }
  claims.push([
    "HardenedSlab / CryptoSlab: one byte past the last block traps (SIGSEGV)",
    configs.length,
    trapped,
  ]);
}

out("| hardening claim | attacks | detected / held | rate |");
out("|---|---|---|---|");
for (const [claim, n, ok] of claims) out(`| ${claim} | ${n} | ${ok} | ${((100 * ok) / n).toFixed(1)}% |`);
out("");
out(
  `Worker operations in all: ${totalOps.toLocaleString("en")}; faults injected: ${faults}, survived: ${survived}.`,
);

if (args.has("write")) {
  const path = join(ROOT, "docs", "RELIABILITY.md");
  const doc = readFileSync(path, "utf8");
  const begin = doc.indexOf("<!-- stress:begin -->");
  const end = doc.indexOf("<!-- stress:end -->");
  if (begin < 0 || end < begin)
    throw new Error("docs/RELIABILITY.md has no stress:begin / stress:end markers");
  writeFileSync(path, `${doc.slice(0, begin)}<!-- stress:begin -->\n${rows.join("\n")}\n${doc.slice(end)}`);
  console.log(`wrote ${path}`);
}
