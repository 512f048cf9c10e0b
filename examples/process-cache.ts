// One cache of records shared by several processes, cluster-style: run with `node build/examples/process-cache.js`
// after `npm run build:test` (Linux). The parent maps a SharedMmapBacked, formats a ConcurrentHeap in it, and
// allocates the cache's bucket table from the heap; it forks children (as `cluster.fork()` would), each of which
// attaches the mapping by /proc/<parent>/fd, joins the heap, and inserts, looks up and evicts records. A record is
// one heap block (next | key | length | UTF-8 bytes); any process frees any record (a remote free when another
// process allocated it). One lock guards the table: a word of the mapping, taken with compare-and-swap and waited
// on with the process-shared futex (SharedMmapBacked.wait/notify). The cache keeps at most `capacity` records:
// inserting past it evicts the oldest bucket head the clock hand finds.
//
// Limits (see docs/PROCESSES.md): a process that dies while it holds the lock leaves it held (the lock is not a
// robust futex); its records stay in the cache, and its heap pages are reclaimed by `reclaimDead()`.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ConcurrentHeap } from "../src/index.js";
import { type SharedMappingDescriptor, SharedMmapBacked } from "../src/os.js";

// table header words (Int32, at the table's offset), then one bucket head per bucket
const T_LOCK = 0; // 0 free, 1 held, 2 held with waiters
const T_COUNT = 1;
const T_CAPACITY = 2;
const T_HAND = 3; // the clock hand: the next bucket eviction looks at
const T_EVICTED = 4;
const T_READY = 5; // children that reached the barrier
const T_BUCKETS = 8;
// record words: next record | key | byte length, then the bytes
const R_NEXT = 0;
const R_KEY = 1;
const R_LEN = 2;
const R_BYTES = 12;

/** A cache of string records keyed by positive 31-bit integers, in a heap several processes share. */
export class SharedRecordCache {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly t: number;
  private readonly buckets: number;

  /** Uses the table at `table` (made by {@link SharedRecordCache.create}) of `heap`, in `shared`. */
  constructor(
    readonly shared: SharedMmapBacked,
    readonly heap: ConcurrentHeap,
    readonly table: number,
    buckets: number,
  ) {
    this.words = shared.memory.i32;
    this.bytes = shared.memory.u8;
    this.t = table >>> 2;
    this.buckets = buckets;
  }

  /** Allocates and clears a table of `buckets` buckets in the heap, for at most `capacity` records. */
  static create(
    shared: SharedMmapBacked,
    heap: ConcurrentHeap,
    buckets: number,
    capacity: number,
  ): SharedRecordCache {
    const table = heap.allocateZeroed((T_BUCKETS + buckets) * 4, 16);
    if (table === 0) throw new Error("SharedRecordCache: the heap has no room for the table");
    shared.memory.i32[(table >>> 2) + T_CAPACITY] = capacity;
    return new SharedRecordCache(shared, heap, table, buckets);
  }

  /** Inserts or replaces `key`; evicts records while the cache is full. Returns false when the heap is full. */
  put(key: number, value: string): boolean {
    const data = new TextEncoder().encode(value);
    this.lock();
    try {
      this.removeLocked(key);
      const w = this.words;
      while (w[this.t + T_COUNT]! >= w[this.t + T_CAPACITY]!) this.evictLocked();
      const r = this.heap.allocate(R_BYTES + data.length, 16);
      if (r === 0) return false;
      const b = this.t + T_BUCKETS + (key % this.buckets);
      w[(r >>> 2) + R_NEXT] = w[b]!;
      w[(r >>> 2) + R_KEY] = key;
      w[(r >>> 2) + R_LEN] = data.length;
      this.bytes.set(data, r + R_BYTES);
      w[b] = r;
      w[this.t + T_COUNT]!++;
      return true;
    } finally {
      this.unlock();
    }
  }

  /** The value of `key`, or undefined. */
  get(key: number): string | undefined {
    this.lock();
    try {
      const w = this.words;
      for (let r = w[this.t + T_BUCKETS + (key % this.buckets)]!; r !== 0; r = w[(r >>> 2) + R_NEXT]!) {
        if (w[(r >>> 2) + R_KEY] === key) {
          const len = w[(r >>> 2) + R_LEN]!;
          return new TextDecoder().decode(this.bytes.slice(r + R_BYTES, r + R_BYTES + len));
        }
      }
      return undefined;
    } finally {
      this.unlock();
    }
  }

  /** Records in the cache, and records evicted so far. */
  counts(): { records: number; evicted: number } {
    return {
      records: Atomics.load(this.words, this.t + T_COUNT),
      evicted: Atomics.load(this.words, this.t + T_EVICTED),
    };
  }

  /**
   * Walks every chain: each record must be a live block of the heap big enough for its bytes, in the heap once,
   * and the chains must hold exactly `counts().records`. Returns the records seen, or throws.
   */
  check(): number {
    this.lock();
    try {
      const w = this.words;
      const seen = new Set<number>();
      for (let b = 0; b < this.buckets; b++) {
        for (let r = w[this.t + T_BUCKETS + b]!; r !== 0; r = w[(r >>> 2) + R_NEXT]!) {
          if (seen.has(r)) throw new Error(`record ${r} is in the cache twice`);
          if (this.heap.sizeOf(r) < R_BYTES + w[(r >>> 2) + R_LEN]!)
            throw new Error(`record ${r} is not a live block`);
          if (w[(r >>> 2) + R_KEY]! % this.buckets !== b)
            throw new Error(`record ${r} is in the wrong bucket`);
          seen.add(r);
        }
      }
      if (seen.size !== w[this.t + T_COUNT])
        throw new Error(`${seen.size} records in the chains, count says ${w[this.t + T_COUNT]}`);
      return seen.size;
    } finally {
      this.unlock();
    }
  }

  /** Frees every record and the table (when the cache is no longer used by anyone). */
  clear(): void {
    this.lock();
    const w = this.words;
    for (let b = 0; b < this.buckets; b++) {
      for (let r = w[this.t + T_BUCKETS + b]!; r !== 0;) {
        const next = w[(r >>> 2) + R_NEXT]!;
        this.heap.free(r);
        r = next;
      }
      w[this.t + T_BUCKETS + b] = 0;
    }
    w[this.t + T_COUNT] = 0;
    this.unlock();
  }

  /** Waits until `n` processes have arrived (a barrier on a word of the table). */
  arriveAndWait(n: number): void {
    const at = this.t + T_READY;
    Atomics.add(this.words, at, 1);
    this.shared.notify(at << 2);
    for (let v = Atomics.load(this.words, at); v < n; v = Atomics.load(this.words, at))
      this.shared.wait(at << 2, v, 1000);
  }

  private removeLocked(key: number): void {
    const w = this.words;
    let link = this.t + T_BUCKETS + (key % this.buckets);
    for (let r = w[link]!; r !== 0; link = (r >>> 2) + R_NEXT, r = w[link]!) {
      if (w[(r >>> 2) + R_KEY] === key) {
        w[link] = w[(r >>> 2) + R_NEXT]!;
        this.heap.free(r);
        w[this.t + T_COUNT]!--;
        return;
      }
    }
  }

  private evictLocked(): void {
    const w = this.words;
    for (let i = 0; i < this.buckets; i++) {
      const b = w[this.t + T_HAND]!;
      w[this.t + T_HAND] = (b + 1) % this.buckets;
      const r = w[this.t + T_BUCKETS + b]!;
      if (r === 0) continue;
      w[this.t + T_BUCKETS + b] = w[(r >>> 2) + R_NEXT]!;
      this.heap.free(r);
      w[this.t + T_COUNT]!--;
      w[this.t + T_EVICTED]!++;
      return;
    }
  }

  /** A futex mutex (Drepper's): CAS 0 -> 1; when contended, mark 2 and wait in the kernel until woken. */
  private lock(): void {
    const w = this.words;
    const at = this.t + T_LOCK;
    let c = Atomics.compareExchange(w, at, 0, 1);
    if (c === 0) return;
    if (c !== 2) c = Atomics.exchange(w, at, 2);
    while (c !== 0) {
      this.shared.wait(at << 2, 2);
      c = Atomics.exchange(w, at, 2);
    }
  }

  private unlock(): void {
    const at = this.t + T_LOCK;
    if (Atomics.sub(this.words, at, 1) !== 1) {
      Atomics.store(this.words, at, 0);
      this.shared.notify(at << 2, 1);
    }
  }
}

/** What the parent sends each child. */
interface CacheJob {
  mapping: SharedMappingDescriptor;
  table: number;
  buckets: number;
  index: number;
  processes: number;
  records: number;
}

/** What {@link runProcessCache} reports. */
export interface ProcessCacheReport {
  processes: number;
  inserted: number;
  lookups: number;
  hits: number;
  evicted: number;
  records: number;
  ms: number;
}

/**
 * Forks `processes` children that share one cache of at most `capacity` records: each inserts `records` records,
 * waits for the others, then looks up every key of every process. Returns the counts; the heap is validated and
 * left empty.
 */
export async function runProcessCache(
  processes = 3,
  records = 2000,
  capacity = 4000,
  say: (line: string) => void = console.log,
): Promise<ProcessCacheReport> {
  const t0 = performance.now();
  using shared = new SharedMmapBacked(32 << 20);
  const heap = new ConcurrentHeap(shared);
  const buckets = 1024;
  const cache = SharedRecordCache.create(shared, heap, buckets, capacity);
  const script = fileURLToPath(import.meta.url);
  const results = Array.from({ length: processes }, (_, index) => {
    const child = fork(script, ["--cache-child"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    child.send({
      mapping: shared.share(),
      table: cache.table,
      buckets,
      index,
      processes,
      records,
    } satisfies CacheJob);
    return new Promise<{ lookups: number; hits: number }>((resolve, reject) => {
      child.once("message", resolve);
      child.once(
        "exit",
        (code) => code !== 0 && reject(new Error(`cache child ${index} exited with ${code}`)),
      );
    });
  });
  const per = await Promise.all(results);
  const lookups = per.reduce((a, r) => a + r.lookups, 0);
  const hits = per.reduce((a, r) => a + r.hits, 0);
  const { records: left, evicted } = cache.counts();
  const checked = cache.check();
  say(`${processes} processes inserted ${processes * records} records into one cache of at most ${capacity}`);
  say(`evicted ${evicted}; ${left} records left, ${checked} of them checked: each a live heap block, once`);
  say(`${lookups} lookups across processes, ${hits} hits (what eviction left)`);
  heap.reclaimDead(); // nothing to do: every child released its worker slot before it exited
  cache.clear();
  heap.free(cache.table);
  heap.validate();
  say(`after clearing: heap validated, ${heap.stats().workers} worker attached (this one)`);
  heap.release();
  return {
    processes,
    inserted: processes * records,
    lookups,
    hits,
    evicted,
    records: left,
    ms: performance.now() - t0,
  };
}

if (process.argv.includes("--cache-child")) {
  process.once("message", (job: CacheJob) => {
    const shared = SharedMmapBacked.attach(job.mapping);
    const heap = ConcurrentHeap.join(shared);
    const cache = new SharedRecordCache(shared, heap, job.table, job.buckets);
    const key = (p: number, k: number): number => 1 + p * 1_000_000 + k;
    for (let k = 0; k < job.records; k++) {
      if (!cache.put(key(job.index, k), `user ${job.index}.${k}: ${"x".repeat(k % 200)}`))
        throw new Error("the heap is full");
    }
    cache.arriveAndWait(job.processes);
    let lookups = 0;
    let hits = 0;
    for (let p = 0; p < job.processes; p++) {
      for (let k = 0; k < job.records; k += 7) {
        lookups++;
        const v = cache.get(key(p, k));
        if (v !== undefined) {
          if (!v.startsWith(`user ${p}.${k}: `))
            throw new Error(`record ${key(p, k)} holds ${v.slice(0, 20)}`);
          hits++;
        }
      }
    }
    heap.release();
    shared.dispose();
    process.send!({ lookups, hits }, () => process.exit(0));
  });
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runProcessCache();
}
