// A worker for test/workers.test.ts: 1,000,000 mixed allocations and frees on a ConcurrentHeap, claiming every
// block start in a shared ownership map (a block handed out twice fails its CAS), then freeing the other worker's
// leftovers remotely.
import { parentPort, workerData } from "node:worker_threads";
import { ConcurrentHeap, type ConcurrentHeapDescriptor } from "../../src/index.js";
import { SeededRandom } from "../../src/testing/index.js";

const {
  heap: descriptor,
  map,
  leftovers,
  barrier,
  id,
  ops,
} = workerData as {
  heap: ConcurrentHeapDescriptor;
  map: SharedArrayBuffer;
  leftovers: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  id: number;
  ops: number;
};
const heap = ConcurrentHeap.attach(descriptor);
const owners = new Int32Array(map);
const rng = new SeededRandom(id * 7919);
const live: number[] = [];
let doubles = 0;
let lost = 0;
for (let i = 0; i < ops; i++) {
  if (live.length > 0 && (live.length >= 2000 || (rng.nextU32() & 1) === 0)) {
    const k = rng.nextU32() % live.length;
    const p = live[k]!;
    live[k] = live[live.length - 1]!;
    live.pop();
    if (Atomics.compareExchange(owners, p >>> 4, id, 0) !== id) lost++;
    heap.free(p);
  } else {
    const p = heap.malloc(16 + (rng.nextU32() % 500));
    if (Atomics.compareExchange(owners, p >>> 4, 0, id) !== 0) doubles++;
    live.push(p);
  }
}
// Hand the leftovers to the other worker and free theirs: remote frees.
const mine = new Int32Array(leftovers, (id - 1) * 4 * 2001, 2001);
mine[0] = live.length;
for (let k = 0; k < live.length; k++) mine[k + 1] = live[k]!;
const b = new Int32Array(barrier);
Atomics.add(b, 0, 1);
Atomics.notify(b, 0);
while (Atomics.load(b, 0) < 2) Atomics.wait(b, 0, Atomics.load(b, 0), 1000);
const theirs = new Int32Array(leftovers, (2 - id) * 4 * 2001, 2001);
for (let k = 1; k <= theirs[0]!; k++) {
  const p = theirs[k]!;
  if (Atomics.compareExchange(owners, p >>> 4, 3 - id, 0) !== 3 - id) lost++;
  heap.free(p);
}
heap.release();
parentPort!.postMessage({ doubles, lost, remote: theirs[0] });
