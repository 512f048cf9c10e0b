#!/usr/bin/env node
/**
 * The `forge-alloc` command line. `forge-alloc tour` (what `npm start` runs) shows each primitive at work and
 * prints what it shows; `forge-alloc help` lists the commands.
 *
 * @module
 */
import {
  AllocError,
  ArrayBufferBacked,
  BumpArena,
  Heap,
  type HeapPicture,
  Quarantine,
  formatSummary,
  inspect,
  renderHtml,
  renderSvg,
  InvalidPointerError,
  NULL,
  RESERVED_LOW_BYTES,
  Slab,
  StackAlloc,
  StaticBacked,
  WasmMemoryBacked,
  WithFallback,
} from "./index.js";
import { SeededRandom } from "./testing/index.js";

const HELP = `forge-alloc: composable memory allocators for JavaScript runtimes

usage: forge-alloc <command>

commands:
  tour    run each primitive, then the six application recipes (what \`npm start\` runs)
  inspect draw demo heaps (used, free, quarantined, guard pages) as HTML or SVG, with fragmentation summaries
          options: --out FILE (.html or .svg; default forge-alloc-inspect.html), --seed N, --ops N,
          --recipes (the allocators of the six application recipes instead of the demos)
  bench   every benchmark with a progress bar, then bench-report/report.md and report.html (charts)
          options: --quick, --only=bench,tiers,heap,traces,workers,secure, --out-dir=DIR, --rounds=N, --time=MS
  doctor  what this machine offers the OS layer: addon, pages, NUMA, huge pages, mlock, mbind
  help    this text
`;

interface Row {
  step: string;
  shows: string;
}

/**
 * A program of the repository that is not part of the package (the recipes in `examples/`, the benchmarks in
 * `bench/`), compiled by `npm run build:test` into `build/`. Found next to this file when it runs from `build/src`,
 * or in `build/` when it runs from `dist/` in a clone. `"unbuilt"`: a clone that has not compiled them yet;
 * `"absent"`: an installed package, which has neither.
 */
async function repoModule<T>(path: string): Promise<T | "unbuilt" | "absent"> {
  const { existsSync } = await import("node:fs");
  const { fileURLToPath } = await import("node:url");
  for (const base of ["../", "../build/"]) {
    const url = new URL(`${base}${path}`, import.meta.url);
    if (existsSync(fileURLToPath(url))) return (await import(url.href)) as T;
  }
  return existsSync(fileURLToPath(new URL(`../${path.replace(/\.js$/, ".ts")}`, import.meta.url)))
    ? "unbuilt"
    : "absent";
}

/** The six application recipes (`examples/tour.ts`), when this runs in a clone. */
async function recipes(say: (text: string) => void): Promise<void> {
  const mod = await repoModule<{ runRecipes: (say: (line: string) => void) => Promise<unknown> }>(
    "examples/tour.js",
  );
  if (mod === "unbuilt") {
    say("\nthe six application recipes are not compiled yet: run `npm start` (or `npm run build:test`)");
  } else if (mod === "absent") {
    say(
      "\nthe six application recipes are programs in the repository's examples/ folder; " +
        "run `npm start` in a clone of forge-alloc to see them",
    );
  } else {
    await mod.runRecipes(say);
  }
}

function tour(): void {
  const rows: Row[] = [];
  const say = (text: string): void => console.log(text);

  say("forge-alloc tour: one address space, composed allocators, nothing silent\n");

  say("1. The memory model");
  const backing = new ArrayBufferBacked({ size: 4096, maxSize: 1 << 20 });
  const first = backing.allocate(32);
  say(
    `   a growable ArrayBuffer: ${backing.memory.byteLength} bytes now, up to ${backing.memory.maxByteLength}`,
  );
  say(
    `   the first block is at offset ${first}: offsets 0..${RESERVED_LOW_BYTES - 1} are reserved, so NULL (0) is never a block`,
  );
  backing.memory.f64[first >>> 3] = Math.PI;
  const far = backing.allocate(100_000);
  say(
    `   a 100,000-byte block at ${far} grew the buffer to ${backing.memory.byteLength} bytes; the first block still reads ${backing.memory.f64[first >>> 3]!.toFixed(5)}`,
  );
  rows.push({ step: "memory", shows: `grew ${4096} -> ${backing.memory.byteLength} bytes, offsets kept` });

  say("\n2. BumpArena: allocate by moving a cursor, free everything at once");
  const arena = new BumpArena(StaticBacked.carve(backing, 1 << 14, 64));
  const a = arena.allocate(100, 64);
  {
    using scope = arena.scope();
    const xs = scope.allocArray(Float64Array, 512);
    xs.fill(1);
    say(
      `   inside a scope: ${arena.allocated()} bytes in use (a Float64Array of exactly 512 elements at ${xs.byteOffset})`,
    );
  }
  say(`   after the scope: ${arena.allocated()} bytes in use (the block at ${a}, 64-aligned, survives)`);
  arena.reset();
  say(`   after reset(): ${arena.allocated()} bytes in use`);
  rows.push({ step: "BumpArena", shows: "scopes rewind with `using`; reset frees all" });

  say("\n3. Slab: fixed-size blocks, O(1), and it notices mistakes");
  const slab = new Slab(backing, { blockSize: 48, capacity: 1000 });
  const p = slab.allocate(48);
  slab.deallocate(p, 48);
  try {
    slab.deallocate(p, 48);
  } catch (error) {
    say(`   a double free is refused: ${(error as InvalidPointerError).name}: ${(error as Error).message}`);
  }
  say(`   a 49-byte request gets NULL (${slab.allocate(49)}), so a fallback can take it`);
  rows.push({ step: "Slab", shows: "double free -> InvalidPointerError; oversize -> NULL" });

  say("\n4. StackAlloc: LIFO, and out-of-order frees are errors, not leaks");
  const stack = new StackAlloc(StaticBacked.carve(backing, 4096));
  const s1 = stack.allocate(16);
  stack.allocate(16);
  try {
    stack.deallocate(s1, 16);
  } catch (error) {
    say(`   ${(error as Error).message}`);
  }
  rows.push({ step: "StackAlloc", shows: "out-of-order free -> InvalidPointerError" });

  say("\n5. WithFallback: small blocks from a slab, the rest from an arena, frees routed by address");
  const pool = new Slab(backing, { blockSize: 64, capacity: 2 });
  const overflow = new BumpArena(StaticBacked.carve(backing, 1 << 16));
  const both = new WithFallback(pool, overflow);
  const small = both.allocate(64);
  const large = both.allocate(4 << 10);
  say(
    `   64 bytes came from the slab (${pool.contains(small)}), 4 KiB from the arena (${overflow.contains(large)})`,
  );
  both.deallocate(small, 64);
  say(`   after the free the slab has ${pool.liveCount()} live blocks`);
  try {
    new WithFallback(pool, new BumpArena(new ArrayBufferBacked(4096)));
  } catch (error) {
    say(`   parts over different memories are refused: ${(error as AllocError).message.split(";")[0]}`);
  }
  rows.push({ step: "WithFallback", shows: "provenance routing; mixed memories refused" });

  say("\n6. WebAssembly memory: the addresses a wasm module sees, views that survive growth");
  const wasm = new WasmMemoryBacked({ initial: 1, maximum: 16 });
  const wasmArena = new BumpArena(wasm);
  const w = wasmArena.allocate(8);
  wasmArena.memory.u32[w >>> 2] = 0xc0ffee;
  const pages = wasm.wasmMemory.buffer.byteLength / 65536;
  const grown = wasmArena.allocate(200_000);
  say(
    `   grew from ${pages} to ${wasm.wasmMemory.buffer.byteLength / 65536} pages for a block at ${grown}; memory.u32 is the new view and still reads 0x${wasmArena.memory.u32[w >>> 2]!.toString(16)}`,
  );
  say(
    `   out of memory is NULL, never an exception: allocate(2 MiB) = ${wasmArena.allocate(2 << 20)} (NULL = ${NULL})`,
  );
  rows.push({
    step: "WasmMemoryBacked",
    shows: `grew to ${wasm.wasmMemory.buffer.byteLength / 65536} pages, views re-derived`,
  });

  say("\nprimitives: summary");
  const width = Math.max(...rows.map((r) => r.step.length));
  for (const r of rows) say(`  ${r.step.padEnd(width)}  ${r.shows}`);
}

/** Parses `--name value` pairs; unknown names and missing values are errors. */
function options(args: string[], known: readonly string[]): Map<string, string> | string {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i]!.replace(/^--/, "");
    if (!args[i]!.startsWith("--") || !known.includes(name)) {
      return `unknown option "${args[i]}"; expected ${known.map((k) => `--${k}`).join(", ")}`;
    }
    const value = args[i + 1];
    if (value === undefined) return `--${name} needs a value`;
    out.set(name, value);
  }
  return out;
}

function positiveInt(
  opts: Map<string, string>,
  name: string,
  fallback: number,
  max: number,
): number | string {
  const text = opts.get(name);
  if (text === undefined) return fallback;
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 && n <= max
    ? n
    : `--${name} must be an integer from 0 to ${max}, not "${text}"`;
}

/** A `Quarantine<Heap>` after `ops` seeded mixed-size allocations and frees (about 45% frees). */
function churnedHeap(seed: number, ops: number): HeapPicture {
  const heap = new Quarantine(new Heap(new ArrayBufferBacked({ size: 1 << 18, maxSize: 1 << 28 })), 16);
  const random = new SeededRandom(seed);
  const live: number[] = [];
  for (let i = 0; i < ops; i++) {
    if (live.length > 0 && random.int(0, 99) < 45) {
      const k = 2 * random.int(0, live.length / 2 - 1);
      heap.deallocate(live[k]!, live[k + 1]!);
      live[k] = live[live.length - 2]!;
      live[k + 1] = live[live.length - 1]!;
      live.length -= 2;
    } else {
      const size = random.int(0, 9) < 8 ? random.int(8, 200) : random.int(1000, 5000);
      const p = heap.allocate(size);
      if (p !== NULL) live.push(p, size);
    }
  }
  return inspect(heap, `Quarantine<Heap> after ${ops} seeded operations (seed ${seed})`);
}

/** The demo heaps: a churned heap, a token slab, and (where the OS layer loads) a HardenedSlab. */
async function demoPictures(seed: number, ops: number): Promise<HeapPicture[]> {
  const pictures = [churnedHeap(seed, ops)];
  const slab = new Quarantine(new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 256 }), 8);
  const tokens = Array.from({ length: 200 }, () => slab.allocate(64));
  for (let i = 0; i < 200; i += 3) slab.deallocate(tokens[i]!, 64);
  pictures.push(inspect(slab, "Quarantine<Slab> of 64-byte tokens, every third one revoked"));
  try {
    const { HardenedSlab } = await import("./os.js");
    const keys = new Quarantine(new HardenedSlab({ blockSize: 64, capacity: 100 }), 4);
    const issued = Array.from({ length: 60 }, () => keys.allocate(64));
    for (const k of issued.slice(20, 30)) keys.deallocate(k, 64);
    pictures.push(inspect(keys, "Quarantine<HardenedSlab>: guard pages around the slots"));
  } catch (error) {
    console.log(`skipped the HardenedSlab picture: ${(error as Error).message}\n`);
  }
  return pictures;
}

/** The six application recipes' pictures (they run quietly), or undefined outside a clone. */
async function recipePictures(): Promise<HeapPicture[] | undefined> {
  const mod = await repoModule<{
    runRecipes: (say: (line: string) => void) => Promise<{ pictures: readonly HeapPicture[] }[]>;
  }>("examples/tour.js");
  if (typeof mod === "string") return undefined;
  const reports = await mod.runRecipes(() => {});
  return reports.flatMap((r) => r.pictures);
}

async function inspectCommand(argv: string[]): Promise<number> {
  const fromRecipes = argv.includes("--recipes");
  const args = argv.filter((a) => a !== "--recipes");
  const opts = options(args, ["out", "seed", "ops"]);
  const seed = typeof opts === "string" ? opts : positiveInt(opts, "seed", 1, 0xffffffff);
  const ops = typeof opts === "string" ? opts : positiveInt(opts, "ops", 5000, 10_000_000);
  const out = typeof opts === "string" ? "" : (opts.get("out") ?? "forge-alloc-inspect.html");
  for (const bad of [opts, seed, ops]) {
    if (typeof bad === "string") {
      process.stderr.write(`forge-alloc inspect: ${bad}\n`);
      return 2;
    }
  }
  if (!/\.(html|svg)$/.test(out)) {
    process.stderr.write(`forge-alloc inspect: --out ${out}: expected a file name ending in .html or .svg\n`);
    return 2;
  }
  const pictures = fromRecipes ? await recipePictures() : await demoPictures(seed as number, ops as number);
  if (pictures === undefined) {
    process.stderr.write(
      "forge-alloc inspect --recipes: the recipes are programs of the repository (examples/); " +
        "run it in a clone after `npm run build:test`\n",
    );
    return 2;
  }
  for (const p of pictures) console.log(`${formatSummary(p)}\n`);
  const { writeFileSync } = await import("node:fs");
  writeFileSync(out, out.endsWith(".svg") ? renderSvg(pictures[0]!) : renderHtml(pictures));
  console.log(
    `wrote ${out}${out.endsWith(".svg") ? " (the first picture)" : ` (${pictures.length} pictures)`}`,
  );
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? "tour";
  if (command === "tour") {
    tour();
    await recipes((text) => console.log(text));
    return 0;
  }
  if (command === "inspect") {
    return inspectCommand(argv.slice(1));
  }
  if (command === "bench") {
    // Like the recipes, the benchmarks are repository programs (they need the dev dependencies: the peers).
    const mod = await repoModule<{ main: (argv: readonly string[]) => Promise<number> }>("bench/report.js");
    if (typeof mod === "string") {
      process.stderr.write(
        mod === "unbuilt"
          ? "forge-alloc bench: the benchmarks are not compiled yet: run `npm run bench` (or `npm run build:test`)\n"
          : "forge-alloc bench: the benchmarks are programs in the repository's bench/ folder, with the peers as dev " +
              "dependencies; run `npm run bench` in a clone of forge-alloc\n",
      );
      return 2;
    }
    return mod.main(argv.slice(1));
  }
  if (command === "doctor") {
    const { doctor, formatDoctor } = await import("./doctor.js");
    const facts = await doctor();
    console.log(formatDoctor(facts));
    return 0;
  }
  if (command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(HELP);
    return 0;
  }
  process.stderr.write(`forge-alloc: unknown command "${command}"\n\n${HELP}`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
