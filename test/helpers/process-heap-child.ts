// A child process for src/os/shared-processes.test.ts: attaches a ConcurrentHeap that lives in a SharedMmapBacked
// (its memory file inherited as fd 4 through fork's stdio) and an ownership map in a second mapping (opened by
// /proc/<parent>/fd/<fd>), then makes `ops` mixed operations: allocations (each claims its block's granule in the
// map with a compare-and-swap from 0: a block handed out twice fails it), frees of its own blocks, and hand-offs
// through a shared mailbox, whose previous occupant (usually another process's block) it frees remotely. Every
// block carries its own offset in its first word, checked before it is freed (an overlap would overwrite it).
// Every 1,000 operations it publishes its progress and looks for workers of dead processes to reclaim.
import { ConcurrentHeap } from "../../src/index.js";
import { type SharedMappingDescriptor, SharedMmapBacked } from "../../src/os.js";
import { SeededRandom } from "../../src/testing/index.js";

/** What the parent sends. */
export interface ChildOrder {
  heap: SharedMappingDescriptor;
  map: SharedMappingDescriptor;
  index: number;
  ops: number;
}

/** Words of the map mapping's control area (Int32, from MAP_CONTROL). */
export const MAP_CONTROL = 4096;
/** Per child: [progress, duplicates, lost, corrupt, reclaimed] at MAP_CONTROL + 64 * index. */
export const PROGRESS = 0;
export const DUPLICATES = 1;
export const LOST = 2;
export const CORRUPT = 3;
export const RECLAIMED = 4;
/** The mailbox: MAILBOX_SLOTS words at MAILBOX. */
export const MAILBOX = 8192;
export const MAILBOX_SLOTS = 256;
/** The ownership tags (one byte per 16-byte granule of the heap mapping) start here. */
export const TAGS = 16384;

function run(order: ChildOrder): void {
  const heapMapping = SharedMmapBacked.attach(order.heap, { fd: 4 });
  const mapMapping = SharedMmapBacked.attach(order.map);
  const heap = ConcurrentHeap.join(heapMapping);
  const u32 = heapMapping.memory.u32;
  const words = new Int32Array(mapMapping.memory.buffer);
  const tags = new Uint8Array(mapMapping.memory.buffer, TAGS);
  const me = order.index + 1;
  const ctl = (MAP_CONTROL >>> 2) + 16 * order.index;
  const rng = new SeededRandom(0x5eed + order.index * 7919);
  const live: number[] = [];
  const release = (p: number): void => {
    if (u32[p >>> 2] !== p) Atomics.add(words, ctl + CORRUPT, 1);
    const tag = Atomics.load(tags, p >>> 4);
    if (tag === 0 || Atomics.compareExchange(tags, p >>> 4, tag, 0) !== tag)
      Atomics.add(words, ctl + LOST, 1);
    heap.free(p);
  };
  for (let i = 1; i <= order.ops; i++) {
    const r = rng.nextU32() % 100;
    if (live.length < 32 || (r < 50 && live.length < 1500)) {
      const size = r === 0 ? rng.int(16385, 90000) : rng.int(1, 2048);
      const p = heap.allocate(size, 16);
      if (p === 0) throw new Error(`child ${me}: out of memory at operation ${i}`);
      // the identity first, then the claim: a claimed block always carries its identity, even in a process killed
      // between the two (the parent checks every claimed block's identity)
      u32[p >>> 2] = p;
      if (Atomics.compareExchange(tags, p >>> 4, 0, me) !== 0) Atomics.add(words, ctl + DUPLICATES, 1);
      live.push(p);
    } else {
      const k = rng.nextU32() % live.length;
      const p = live[k]!;
      live[k] = live[live.length - 1]!;
      live.pop();
      if (r < 85) release(p);
      else {
        const old = Atomics.exchange(words, (MAILBOX >>> 2) + (rng.nextU32() % MAILBOX_SLOTS), p);
        if (old !== 0) release(old);
      }
    }
    if (i % 1000 === 0) {
      Atomics.store(words, ctl + PROGRESS, i);
      const reclaimed = heap.reclaimDead().length;
      if (reclaimed > 0) Atomics.add(words, ctl + RECLAIMED, reclaimed);
    }
  }
  Atomics.store(words, ctl + PROGRESS, order.ops);
  heap.release(); // pages with live blocks are abandoned for any worker; the blocks stay live
  process.send!({ done: order.index, live: live.length }, () => process.exit(0));
}

process.once("message", (order: ChildOrder) => {
  try {
    run(order);
  } catch (error) {
    process.send!({ error: String((error as Error).stack ?? error) }, () => process.exit(1));
  }
});
