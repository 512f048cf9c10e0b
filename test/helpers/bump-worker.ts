// A worker for test/workers.test.ts: attaches to a shared arena and allocates `count` blocks of 8 bytes, claiming
// each 8-byte unit in a shared ownership map with a CAS; a unit claimed twice is a double handout.
import { parentPort, workerData } from "node:worker_threads";
import { SharedBumpArena, type SharedBumpArenaDescriptor } from "../../src/index.js";

const {
  arena: descriptor,
  map,
  start,
  id,
  count,
} = workerData as {
  arena: SharedBumpArenaDescriptor;
  map: SharedArrayBuffer;
  start: number;
  id: number;
  count: number;
};
const arena = SharedBumpArena.attach(descriptor);
const owners = new Int32Array(map);
let doubles = 0;
let failures = 0;
for (let i = 0; i < count; i++) {
  const p = arena.allocate(8, 8);
  if (p === 0) {
    failures++;
    continue;
  }
  if (Atomics.compareExchange(owners, (p - start) >>> 3, 0, id) !== 0) doubles++;
}
arena.flush();
parentPort!.postMessage({ doubles, failures });
