// Many workers, one memory: run with `node build/examples/workers.js` after `npm run build:test`.
// The main thread makes a SharedBumpArena and a SlabOwner over one SharedArrayBuffer; a worker attaches to both,
// allocates from the arena, and frees blocks of the owner's slab remotely; the owner drains them back.
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import {
  SharedArrayBufferBacked,
  SharedBumpArena,
  type SharedBumpArenaDescriptor,
  SlabOwner,
  SlabRemote,
  type SlabRemoteDescriptor,
  StaticBacked,
} from "../src/index.js";

if (isMainThread) {
  const memory = new SharedArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 24 });
  const arena = new SharedBumpArena(StaticBacked.carve(memory, 1 << 18, 128));
  const owner = new SlabOwner(memory, { blockSize: 64, capacity: 1000, ringCapacity: 64 });
  const blocks = Array.from({ length: 500 }, () => owner.allocate(64));
  console.log(`main: the slab has ${owner.slab.liveCount()} live blocks; handing 500 to a worker to free`);
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { arena: arena.share(), owner: owner.share(), blocks },
  });
  const done = new Promise<string>((resolve) => worker.once("message", resolve));
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished || owner.ring.pending() > 0) {
    owner.drain(); // the owner takes remote frees back in batches
    await new Promise((r) => setImmediate(r));
  }
  console.log(await done);
  console.log(`main: after draining, the slab has ${owner.slab.liveCount()} live blocks`);
  console.log(`main: the shared arena served ${arena.stats().allocations} allocations in the worker`);
  owner.close();
} else {
  const {
    arena: a,
    owner: o,
    blocks,
  } = workerData as { arena: SharedBumpArenaDescriptor; owner: SlabRemoteDescriptor; blocks: number[] };
  const arena = SharedBumpArena.attach(a);
  const remote = SlabRemote.attach(o);
  for (let i = 0; i < 100; i++) arena.allocate(256);
  arena.flush(); // publish this worker's count for stats() in other workers
  for (const p of blocks) remote.deallocate(p); // waits (Atomics.wait) whenever the ring is full
  parentPort!.postMessage(
    `worker: allocated 100 blocks from the shared arena and freed ${blocks.length} slab blocks remotely`,
  );
}
