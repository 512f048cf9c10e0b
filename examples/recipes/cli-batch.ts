// Recipe 1, a command-line batch job: one bump arena with a fixed budget, no frees, everything goes at exit.
// Run alone: `node build/examples/recipes/cli-batch.js` after `npm run build:test`.
import { BumpArena, NULL, StaticBacked, inspect } from "../../src/index.js";
import { type RecipeReport, type Say, runIfMain } from "./shared.js";

/** Shows the cheapest allocator: a 64 KiB budget fixed up front, and what happens when a job outgrows it. */
export function cliBatch(say: Say): RecipeReport {
  // The budget is one 64 KiB buffer the job owns, like the Rust example's arena on main's stack.
  const arena = new BumpArena(new StaticBacked(new Uint8Array(64 << 10)));
  say(`a BumpArena over a fixed 64 KiB buffer: ${arena.capacityBytes()} bytes to hand out, no syscalls`);
  let made = 0;
  for (let i = 0; i < 512; i++) {
    const record = arena.allocate(64, 8);
    if (record === NULL) {
      say(`out of budget after ${made} records: the job stops here rather than growing`);
      break;
    }
    arena.memory.u32[record >>> 2] = i; // the record's first field: its index
    made++;
    if (made % 100 === 0) say(`  ${made} records, ${arena.allocated()} bytes used`);
  }
  say(`${made} records of 64 bytes: ${arena.allocated()} of ${arena.capacityBytes()} bytes used, no frees`);
  const picture = inspect(arena, "cli-batch: the arena after 512 records");

  // The same job with twice the records: the arena says NULL at the edge, it never throws or grows.
  let extra = 0;
  while (arena.allocate(64, 8) !== NULL) extra++;
  const total = made + extra;
  say(
    `asked for more until NULL: the budget holds ${total} records; the next allocate returns NULL (${NULL})`,
  );
  arena.reset();
  say(`reset(): ${arena.allocated()} bytes used; at exit the buffer simply goes away`);
  return {
    name: "cli-batch",
    composition: "BumpArena<StaticBacked 64 KiB>",
    shows: `${made} records in ${made * 64} bytes; NULL after ${total}`,
    skipped: [],
    pictures: [picture],
  };
}

runIfMain(import.meta.url, cliBatch);
