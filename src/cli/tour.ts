/**
 * `forge-alloc tour` (what `npm start` runs): each primitive at work, with what it shows, then (in a clone) the six
 * application recipes of `examples/`.
 *
 * @module
 */
import {
  AllocError,
  ArrayBufferBacked,
  BumpArena,
  InvalidPointerError,
  NULL,
  RESERVED_LOW_BYTES,
  Slab,
  StackAlloc,
  StaticBacked,
  WasmMemoryBacked,
  WithFallback,
} from "../index.js";
import { repoModule } from "./repo.js";

interface Row {
  step: string;
  shows: string;
}

/** The six application recipes (`examples/tour.ts`), when this runs in a clone. */
export async function recipes(say: (text: string) => void): Promise<void> {
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

/** Runs the primitives part of the tour, printing each step and a summary table. */
export function tour(): void {
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
