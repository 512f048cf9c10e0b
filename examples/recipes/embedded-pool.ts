// Recipe 2, an embedded-style fixed pool: 256 sensor readings in an 8 KiB budget, O(1) acquire and release, and
// handles that notice when a slot has been reused.
// Run alone: `node build/examples/recipes/embedded-pool.js` after `npm run build:test`.
import { GenerationalSlab, RESERVED_LOW_BYTES, Slab, StaticBacked, inspect } from "../../src/index.js";
import { type RecipeReport, type Say, runIfMain } from "./shared.js";

/** The 32-byte record: `u32 sensor; f32 celsius; f64 timestamp; u8[16] reserved`. */
const READING = 32;

/** Shows a budget fixed up front, LIFO reuse of freed slots, and stale-handle detection. */
export function embeddedPool(say: Say): RecipeReport {
  // 8 KiB for the slots, plus the 16 bytes at offset 0 that no memory hands out (so NULL is never a block).
  const budget = new StaticBacked(new Uint8Array((8 << 10) + RESERVED_LOW_BYTES));
  const readings = new Slab(budget, { blockSize: READING, capacity: 256, align: 8 });
  say(`a Slab of 256 readings of ${READING} bytes in a fixed 8 KiB buffer: no heap, no syscalls`);

  const { u32, f32, f64 } = readings.memory;
  const taken: number[] = [];
  for (let sensor = 0; sensor < 4; sensor++) {
    const r = readings.allocate(READING, 8);
    u32[r >>> 2] = sensor;
    f32[(r + 4) >>> 2] = 20 + sensor / 2;
    f64[(r + 8) >>> 3] = 1_700_000_000 + sensor;
    taken.push(r);
  }
  say(
    `4 readings at offsets ${taken.join(", ")}; sensor 3 reads ${f32[(taken[3]! + 4) >>> 2]} degrees; live: ${readings.liveCount()}`,
  );
  const picture = inspect(readings, "embedded-pool: 4 readings taken from the 8 KiB pool");
  for (const r of taken) readings.deallocate(r, READING, 8);
  const next = readings.allocate(READING, 8);
  const lifo = next === taken[3];
  say(`all 4 released; the next acquire gets ${next}, the last one freed: ${lifo}`);
  readings.deallocate(next, READING, 8);

  // The variation for references that outlive their slot: a GenerationalSlab hands out handles, not offsets.
  const sensors = new GenerationalSlab<string>(new StaticBacked(new Uint8Array(4 << 10)), { capacity: 64 });
  const old = sensors.insert("thermometer A");
  const slot = sensors.ptr(old);
  sensors.remove(old);
  const reused = sensors.insert("thermometer B");
  const stale = sensors.get(old) === undefined;
  say(
    `GenerationalSlab: the slot at ${slot} was reused (${sensors.ptr(reused) === slot}), and the old handle reads ${String(sensors.get(old))}`,
  );
  return {
    name: "embedded-pool",
    composition: "Slab<StaticBacked 8 KiB>; GenerationalSlab for handles",
    shows: `O(1) acquire/release, LIFO reuse: ${lifo}; stale handle refused: ${stale}`,
    skipped: [],
    pictures: [picture],
  };
}

runIfMain(import.meta.url, embeddedPool);
