// A child process for src/os/shared-primitives-processes.test.ts: joins a SharedBumpArena that lives in a
// SharedMmapBacked (its memory file inherited as fd 4 through fork's stdio), with an ownership map in a second
// mapping (opened by /proc/<parent>/fd/<fd>), and makes `ops` allocations of 4 to 64 bytes (one in ten aligned to
// 32). Every allocation writes its offset into its first word, then claims every 8-byte granule it covers in the map
// with a compare-and-swap from 0: a byte handed out twice fails a claim. At operation `resetAt` it checks its
// blocks, announces itself at the barrier and waits (on the futex) until the parent has reset the arena and
// cleared the map; its next allocation must then come from a fresh chunk, which the claims check. Every 1,000
// operations it publishes its progress and gives back the slots of dead processes.
import { NULL, SharedBumpArena } from "../../src/index.js";
import { type SharedMappingDescriptor, SharedMmapBacked } from "../../src/os.js";
import { SeededRandom } from "../../src/testing/index.js";

/** What the parent sends. */
export interface BumpChildOrder {
  arena: SharedMappingDescriptor;
  map: SharedMappingDescriptor;
  index: number;
  ops: number;
  /** The operation before which the child waits at the barrier for the parent's reset (0: none). */
  resetAt: number;
  /** When the arena is full: wait to be killed instead of failing (the victim of the kill test). */
  waitWhenFull: boolean;
}

/** Words of the map mapping's control area (Int32, from MAP_CONTROL): per child 16 words at MAP_CONTROL + 64 * index. */
export const MAP_CONTROL = 4096;
export const PROGRESS = 0;
export const DUPLICATES = 1;
export const CORRUPT = 2;
export const RECLAIMED = 3;
/** Words (Int32 index) of the barrier: children arrived, and the phase the parent opens (0 until the reset). */
export const ARRIVED = 2000;
export const PHASE = 2001;
/** The ownership tags (one byte per 8-byte granule of the arena mapping) start here. */
export const TAGS = 16384;

function run(order: BumpChildOrder): void {
  const mapping = SharedMmapBacked.attach(order.arena, { fd: 4 });
  const map = SharedMmapBacked.attach(order.map);
  const arena = SharedBumpArena.join(mapping);
  const u32 = mapping.memory.u32;
  const words = map.memory.i32;
  const tags = new Uint8Array(map.memory.buffer, TAGS);
  const me = order.index + 1;
  const ctl = (MAP_CONTROL >>> 2) + 16 * order.index;
  const rng = new SeededRandom(0xb0b + order.index * 7919);
  let live: number[] = [];
  const checkLive = (): void => {
    for (const p of live) if (u32[p >>> 2] !== p) Atomics.add(words, ctl + CORRUPT, 1);
  };
  for (let i = 1; i <= order.ops; i++) {
    if (i === order.resetAt) {
      checkLive();
      live = [];
      Atomics.add(words, ARRIVED, 1);
      while (Atomics.load(words, PHASE) === 0) map.wait(PHASE * 4, 0, 1000);
    }
    const r = rng.nextU32() % 10;
    const size = rng.int(4, 64);
    const p = arena.allocate(size, r === 0 ? 32 : 8);
    if (p === NULL) {
      if (!order.waitWhenFull) throw new Error(`child ${me}: the arena is full at operation ${i}`);
      for (;;) map.wait(PHASE * 4 + 4, 0, 1000); // a word nobody writes: wait to be killed
    }
    u32[p >>> 2] = p;
    for (let g = p >>> 3; g <= (p + size - 1) >>> 3; g++)
      if (Atomics.compareExchange(tags, g, 0, me) !== 0) Atomics.add(words, ctl + DUPLICATES, 1);
    live.push(p);
    if (i % 1000 === 0) {
      Atomics.store(words, ctl + PROGRESS, i);
      const reclaimed = arena.reclaimDead().length;
      if (reclaimed > 0) Atomics.add(words, ctl + RECLAIMED, reclaimed);
    }
  }
  checkLive();
  Atomics.store(words, ctl + PROGRESS, order.ops);
  arena.leave();
  process.send!({ done: order.index }, () => process.exit(0));
}

process.once("message", (order: BumpChildOrder) => {
  try {
    run(order);
  } catch (error) {
    process.send!({ error: String((error as Error).stack ?? error) }, () => process.exit(1));
  }
});
