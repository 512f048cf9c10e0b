// Recipe 3, a web service in three tiers: per-request scratch reset after each request (hot), a connection pool
// (warm), and a general heap behind it for the odd large request (cold), all in one memory.
// Run alone: `node build/examples/recipes/web-service.js` after `npm run build:test`.
import {
  ArrayBufferBacked,
  BumpArena,
  Heap,
  Slab,
  StaticBacked,
  Statistics,
  Watermark,
  WithFallback,
  inspect,
} from "../../src/index.js";
import { type RecipeReport, type Say, runIfMain } from "./shared.js";

const CONNECTION = 1024;
const LARGE = 4 << 20;

/** Shows provenance routing (the 4 MiB request goes to the heap, and its free goes back there) and per-request reset. */
export function webService(say: Say): RecipeReport {
  const backing = new ArrayBufferBacked({ size: 2 << 20, maxSize: 16 << 20 });
  const scratch = new BumpArena(StaticBacked.carve(backing, 64 << 10, 64));
  const alarms: string[] = [];
  // Counters and a capacity alarm on the pool, as the Rust recipe suggests.
  const pool = new Statistics(
    new Watermark(
      new Slab(backing, { blockSize: CONNECTION, capacity: 1024 }),
      { onWarn: (e) => alarms.push(`connection pool at ${e.allocatedBytes} bytes`) },
      { warn: 0.75 },
    ),
  );
  const heapRange = StaticBacked.carve(backing, 10 << 20, 64);
  const heap = new Heap(heapRange);
  const connections = new WithFallback(pool, heap);
  say(
    `one ArrayBuffer: 64 KiB scratch, a pool of 1024 connections of ${CONNECTION} bytes, a 10 MiB heap behind it`,
  );

  const open = [0, 1, 2].map(() => connections.allocate(CONNECTION));
  say(`3 connections opened, all from the pool: ${open.every((c) => pool.inner.inner.contains(c))}`);
  const pictures = [inspect(pool, "web-service: the connection pool with 3 connections open")];
  let fromHeap = 0;
  let served = 0;
  for (let request = 1; request <= 5; request++) {
    const header = scratch.allocate(512);
    const body = scratch.allocate(512);
    backing.memory.u8.fill(request, header, header + 512);
    backing.memory.u8.fill(request, body, body + 512);
    const conn = open[request % 3]!;
    backing.memory.u32[conn >>> 2] = backing.memory.u32[conn >>> 2]! + 1; // requests served on this connection
    if (request % 3 === 0) {
      const upload = connections.allocate(LARGE);
      const tookIt = heapRange.contains(upload);
      pictures.push(inspect(heap, "web-service: the fallback heap holding a 4 MiB upload"));
      if (tookIt) fromHeap++;
      say(`  request ${request}: a 4 MiB upload; the pool refused it and the heap took it: ${tookIt}`);
      connections.deallocate(upload, LARGE); // routed to the heap by address
    }
    say(`  request ${request}: ${scratch.allocated()} bytes of scratch, then reset`);
    scratch.reset();
    served++;
  }
  for (const c of open) connections.deallocate(c, CONNECTION);
  const stats = pool.stats();
  say(
    `pool: ${stats.totalAllocations} allocations, ${stats.failures} refused (the uploads), ${stats.liveCount} live; heap bytes in use after the uploads: ${heap.stats().usedBytes}`,
  );
  return {
    name: "web-service",
    composition: "BumpArena scratch; WithFallback<Statistics<Watermark<Slab>>, Heap>",
    shows: `${served} requests, ${fromHeap} uploads of 4 MiB served by the heap, scratch reset each time`,
    skipped: [],
    pictures,
  };
}

runIfMain(import.meta.url, webService);
