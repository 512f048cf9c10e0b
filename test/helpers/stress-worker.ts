// One worker of the stress and fault suite (test/stress.test.ts at CI size, bench/stress.ts at full size): seeded
// random allocate / free / reset on a shared primitive, with two witnesses in shared memory:
// - an ownership map, one Int32 per 8 bytes of the primitive's memory: a block's granules are claimed with a CAS
//   (0 -> owner id) when it is issued and given back (owner id -> 0) when it is freed; a claim that finds the
//   granule taken is a block live twice (a duplicate), a release that finds another id is a lost block;
// - a pattern written over every block when it is issued and checked when it is freed (and at the end): a word that
//   changed is a live block whose contents someone else wrote (corrupted).
// The worker reports its counts; the test asserts duplicates, lost and corrupted are all 0.
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import {
  ConcurrentHeap,
  type ConcurrentHeapDescriptor,
  Memory,
  NULL,
  SharedBumpArena,
  type SharedBumpArenaDescriptor,
  SlabOwner,
  SlabRemote,
  type SlabRemoteDescriptor,
  StaticBacked,
} from "../../src/index.js";
import { SeededRandom } from "../../src/testing/index.js";

/** What the main thread gives each worker. */
export interface StressJob {
  kind: "bump" | "slab" | "heap";
  /** 1-based worker id (the ownership map's owner id). */
  id: number;
  workers: number;
  ops: number;
  seed: number;
  /** The ownership map: one Int32 per 8 bytes of the memory. */
  map: SharedArrayBuffer;
  /** Barrier and progress words: [0] barrier count, [1] barrier generation, [2 + id] ops done by worker id. */
  control: SharedArrayBuffer;
  /** SPSC hand-off queues, `queues[from][to]` (block offsets and sizes), for remote frees. */
  queues: SharedArrayBuffer[][];
  /** The primitive's memory (slab: the owner builds its SlabOwner over it). */
  memory?: SharedArrayBuffer;
  arena?: SharedBumpArenaDescriptor;
  heap?: ConcurrentHeapDescriptor;
  /** Bump rounds: every worker allocates, then one resets between two barriers. */
  rounds?: number;
  /** Bump: reset between rounds (off in the fault runs, whose workers do not wait for each other). */
  reset?: boolean;
}

/** What a worker reports. */
export interface StressResult {
  id: number;
  ops: number;
  allocations: number;
  frees: number;
  remoteFrees: number;
  resets: number;
  duplicates: number;
  lost: number;
  corrupted: number;
  failures: number;
  /** Slab owner only: the slab's live count and remote-free errors at the end, after close(). */
  slabLive?: number;
  remoteErrors?: number;
}

const QUEUE = 4096;

/** Words of the control buffer for `workers` workers: counters and progress, then each heap worker's id + 1. */
export function controlWords(workers: number): number {
  return 4 + workers + 4 + workers;
}

/** The control word where worker `id` (1-based) publishes its `ConcurrentHeap` worker id + 1 (for `reclaim`). */
export function heapIdWord(workers: number, id: number): number {
  return 4 + workers + 4 + id - 1;
}

/** A result with every count at zero. */
function emptyResult(id: number): StressResult {
  return {
    id,
    ops: 0,
    allocations: 0,
    frees: 0,
    remoteFrees: 0,
    resets: 0,
    duplicates: 0,
    lost: 0,
    corrupted: 0,
    failures: 0,
  };
}

/** Words of a hand-off queue: head, tail, then QUEUE slots of (offset, size). */
export function queueBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (2 + 2 * QUEUE));
}

function push(q: Int32Array, p: number, n: number): boolean {
  const t = Atomics.load(q, 1);
  if (t - Atomics.load(q, 0) >= QUEUE) return false;
  const at = 2 + 2 * (t % QUEUE);
  q[at] = p;
  q[at + 1] = n;
  Atomics.store(q, 1, t + 1); // publishes the slot
  return true;
}

function pop(q: Int32Array, out: Int32Array): boolean {
  const h = Atomics.load(q, 0);
  if (h === Atomics.load(q, 1)) return false;
  const at = 2 + 2 * (h % QUEUE);
  out[0] = q[at]!;
  out[1] = q[at + 1]!;
  Atomics.store(q, 0, h + 1);
  return true;
}

function run(job: StressJob): StressResult {
  const r = emptyResult(job.id);
  const map = new Int32Array(job.map);
  const control = new Int32Array(job.control);
  const rng = new SeededRandom(job.seed);
  let words: Int32Array = new Int32Array(0);

  const claim = (p: number, n: number, id: number): void => {
    for (let g = p >>> 3, end = (p + n - 1) >>> 3; g <= end; g++) {
      if (Atomics.compareExchange(map, g, 0, id) !== 0) r.duplicates++;
    }
    for (let w = p >>> 2, end = (p + n) >>> 2, k = Math.imul(p, 0x9e3779b1); w < end; w++) words[w] = k ^ w;
  };
  const release = (p: number, n: number, id: number): void => {
    for (let w = p >>> 2, end = (p + n) >>> 2, k = Math.imul(p, 0x9e3779b1); w < end; w++) {
      if (words[w] !== (k ^ w)) {
        r.corrupted++;
        break;
      }
    }
    for (let g = p >>> 3, end = (p + n - 1) >>> 3; g <= end; g++) {
      if (Atomics.compareExchange(map, g, id, 0) !== id) r.lost++;
    }
  };
  const progress = (): void => {
    r.ops++;
    if ((r.ops & 1023) === 0) Atomics.store(control, 2 + job.id, r.ops);
  };
  const barrier = (): void => {
    const gen = Atomics.load(control, 1);
    if (Atomics.add(control, 0, 1) === job.workers - 1) {
      Atomics.store(control, 0, 0);
      Atomics.add(control, 1, 1);
      Atomics.notify(control, 1);
    } else {
      while (Atomics.load(control, 1) === gen) Atomics.wait(control, 1, gen, 1000);
    }
  };
  const size = (): number => 8 * (1 + (rng.nextU32() & 7)); // 8 .. 64 bytes

  // Blocks this worker holds: offsets and sizes.
  const live = new Int32Array(1 << 16);
  const sizes = new Int32Array(1 << 16);
  let count = 0;
  const take = (k: number): void => {
    count--;
    live[k] = live[count]!;
    sizes[k] = sizes[count]!;
  };

  if (job.kind === "bump") {
    const arena = SharedBumpArena.attach(job.arena!);
    words = arena.memory.i32;
    const rounds = job.rounds ?? 4;
    const perRound = Math.ceil(job.ops / rounds);
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < perRound && r.ops < job.ops; i++) {
        if (count > 0 && (rng.nextU32() & 3) === 0) {
          const k = rng.nextU32() % count;
          release(live[k]!, sizes[k]!, job.id);
          arena.deallocate(live[k]!, sizes[k]!); // checks the block; space returns on reset
          take(k);
          r.frees++;
        } else {
          const n = size();
          const p = arena.allocate(n);
          if (p === NULL) r.failures++;
          else {
            claim(p, n, job.id);
            r.allocations++;
            if (count === live.length) {
              release(live[0]!, sizes[0]!, job.id); // keep the list bounded: the oldest block is dropped
              take(0);
            }
            live[count] = p;
            sizes[count++] = n;
          }
        }
        progress();
      }
      // Every block still held is intact, then the arena is reset by one worker while the others wait.
      while (count > 0) {
        release(live[count - 1]!, sizes[count - 1]!, job.id);
        count--;
      }
      arena.flush();
      barrier();
      if (job.id === 1 && job.reset !== false) {
        arena.reset();
        r.resets++;
      }
      barrier();
    }
    return r;
  }

  if (job.kind === "heap") {
    const heap = ConcurrentHeap.attach(job.heap!);
    Atomics.store(new Int32Array(job.control), heapIdWord(job.queues.length, job.id), heap.workerId + 1);
    words = heap.memory.i32;
    const other = job.id % job.workers; // the next worker (0-based index of id + 1)
    const solo = job.workers === 1; // no hand-offs (the fault runs: workers that do not wait for each other)
    const out = solo ? new Int32Array(2) : new Int32Array(job.queues[job.id - 1]![other]!);
    const inbox = solo ? [] : job.queues.map((row) => new Int32Array(row[job.id - 1]!));
    const got = new Int32Array(2);
    const drainInbox = (): void => {
      for (let from = 0; from < inbox.length; from++) {
        while (pop(inbox[from]!, got)) {
          release(got[0]!, got[1]!, from + 1); // claimed by the worker that handed it over
          heap.free(got[0]!);
          r.remoteFrees++;
          progress();
        }
      }
    };
    while (r.ops < job.ops) {
      const x = rng.nextU32();
      if (count > 0 && (x & 3) === 0) {
        const k = rng.nextU32() % count;
        release(live[k]!, sizes[k]!, job.id);
        heap.free(live[k]!);
        take(k);
        r.frees++;
        progress();
      } else if (count > 0 && (x & 7) === 1 && job.workers > 1) {
        const k = rng.nextU32() % count;
        if (push(out, live[k]!, sizes[k]!))
          take(k); // the other worker checks and frees it
        else drainInbox(); // both queues full: free what was handed to us first
      } else if (count < live.length) {
        const n = size() + (x & 0x100 ? 200 : 0);
        const p = heap.malloc(n);
        if (p === NULL) r.failures++;
        else {
          claim(p, n, job.id);
          live[count] = p;
          sizes[count++] = n;
          r.allocations++;
        }
        progress();
      }
      if ((r.ops & 255) === 0) drainInbox();
    }
    while (count > 0) {
      release(live[count - 1]!, sizes[count - 1]!, job.id);
      heap.free(live[count - 1]!);
      count--;
      r.frees++;
    }
    barrier(); // every hand-off is pushed
    drainInbox();
    barrier();
    heap.release();
    return r;
  }

  // slab: worker 1 owns a SlabOwner; the others free its blocks remotely, handed over through the queues.
  if (job.id === 1) {
    const memory = Memory.of(job.memory!);
    words = memory.i32;
    const owner = new SlabOwner(new StaticBacked(memory), {
      blockSize: 64,
      capacity: 1 << 15,
      ringCapacity: 1024,
    });
    parentPort!.postMessage({ descriptor: owner.share() });
    barrier(); // the remotes have attached
    const outs = job.queues[0]!.map((b) => new Int32Array(b));
    while (r.ops < job.ops) {
      const x = rng.nextU32();
      if (count > 0 && (x & 7) === 0) {
        const k = rng.nextU32() % count;
        release(live[k]!, sizes[k]!, job.id);
        owner.deallocate(live[k]!, sizes[k]!);
        take(k);
        r.frees++;
        progress();
      } else if (count > 0 && (x & 7) <= 3 && job.workers > 1) {
        const k = rng.nextU32() % count;
        const to = 1 + (rng.nextU32() % (job.workers - 1));
        if (push(outs[to]!, live[k]!, sizes[k]!)) take(k);
      } else if (count < live.length) {
        const n = size();
        const p = owner.allocate(n);
        if (p === NULL) r.failures++;
        else {
          claim(p, n, job.id);
          live[count] = p;
          sizes[count++] = n;
          r.allocations++;
        }
        progress();
      }
    }
    Atomics.store(control, 2 + job.workers + 1, 1); // done handing over
    // Drain while the remotes free what they were given (a remote may wait for space in the ring).
    while (Atomics.load(control, 2 + job.workers + 2) < job.workers - 1) {
      owner.drain();
      Atomics.wait(control, 2 + job.workers + 2, Atomics.load(control, 2 + job.workers + 2), 0.2);
    }
    owner.close();
    while (count > 0) {
      release(live[count - 1]!, sizes[count - 1]!, job.id);
      owner.deallocate(live[count - 1]!, sizes[count - 1]!);
      count--;
      r.frees++;
    }
    owner.slab.validate();
    r.slabLive = owner.slab.liveCount();
    r.remoteErrors = owner.remoteFreeErrors();
    return r;
  }
  return r;
}

/** A remote of the slab run: frees what the owner hands over until the owner is done. */
async function remote(job: StressJob): Promise<StressResult> {
  const descriptor = await new Promise<SlabRemoteDescriptor>((resolve) =>
    parentPort!.once("message", (m: { descriptor: SlabRemoteDescriptor }) => resolve(m.descriptor)),
  );
  const r = emptyResult(job.id);
  const slab = SlabRemote.attach(descriptor);
  const words = slab.memory.i32;
  const map = new Int32Array(job.map);
  const control = new Int32Array(job.control);
  const barrier = (): void => {
    const gen = Atomics.load(control, 1);
    if (Atomics.add(control, 0, 1) === job.workers - 1) {
      Atomics.store(control, 0, 0);
      Atomics.add(control, 1, 1);
      Atomics.notify(control, 1);
    } else {
      while (Atomics.load(control, 1) === gen) Atomics.wait(control, 1, gen, 1000);
    }
  };
  barrier();
  const q = new Int32Array(job.queues[0]![job.id - 1]!);
  const got = new Int32Array(2);
  for (;;) {
    if (!pop(q, got)) {
      if (Atomics.load(control, 2 + job.workers + 1) === 1 && !pop(q, got)) break;
      if (Atomics.load(control, 2 + job.workers + 1) !== 1) {
        Atomics.wait(control, 1, Atomics.load(control, 1), 0.05);
        continue;
      }
    }
    const p = got[0]!;
    const n = got[1]!;
    for (let w = p >>> 2, end = (p + n) >>> 2, k = Math.imul(p, 0x9e3779b1); w < end; w++) {
      if (words[w] !== (k ^ w)) {
        r.corrupted++;
        break;
      }
    }
    for (let g = p >>> 3, end = (p + n - 1) >>> 3; g <= end; g++) {
      if (Atomics.compareExchange(map, g, 1, 0) !== 1) r.lost++; // the owner (id 1) claimed it
    }
    slab.deallocate(p);
    r.remoteFrees++;
    r.ops++;
    if ((r.ops & 1023) === 0) Atomics.store(control, 2 + job.id, r.ops);
  }
  Atomics.add(control, 2 + job.workers + 2, 1); // this remote is done
  Atomics.notify(control, 2 + job.workers + 2);
  return r;
}

if (!isMainThread) {
  const job = workerData as StressJob;
  if (job.kind === "slab" && job.id !== 1) {
    void remote(job).then((r) => parentPort!.postMessage({ result: r }));
  } else {
    parentPort!.postMessage({ result: run(job) });
  }
}
