// The scribble fuzz: seeded runs that allocate and free at random and, between operations, overwrite words a
// program could reach by mistake (a freed block, the header words just before a block, anything the allocator
// reports as metadata), then check that the allocator never hands out memory it does not own: every block it returns
// lies inside its range and overlaps no live block, and every failure it reports is a CorruptionError (or, for a
// request, NULL). Each run is bounded by its operation count; an allocator that loops on a forged link hangs the run,
// which the caller's time limit turns into a failure. Used by test/scribble.test.ts (a CI-sized run) and
// bench/scribble.ts (the full 10,000 runs).
import {
  AllocError,
  ArrayBufferBacked,
  ConcurrentHeap,
  CorruptionError,
  Heap,
  type Memory,
  NULL,
  SharedArrayBufferBacked,
  Tlsf,
  hasRegions,
} from "../../src/index.js";
import { SeededRandom } from "../../src/testing/index.js";

/** What the fuzz needs of an allocator: the contract's two calls, its memory and its range. */
export interface ScribbleSubject {
  readonly memory: Memory;
  allocate(size: number, align?: number): number;
  deallocate(ptr: number, size: number, align?: number): void;
}

/** One allocator under the fuzz: how to make a fresh one, the span its blocks may lie in, and its largest request. */
export interface ScribbleTarget {
  name: string;
  make: () => ScribbleSubject;
  range: (a: ScribbleSubject) => [number, number];
  maxSize: number;
  /**
   * Whether words the scribbles reach (freed blocks, the bytes after a block, regions marked metadata) steer the
   * allocator, so that some scribbles must be detected; false where nothing it reads lives there.
   */
  inBand: boolean;
}

/** The allocators of issue "page engine": Tlsf, Heap and ConcurrentHeap, small enough that runs stay fast. */
export const SCRIBBLE_TARGETS: readonly ScribbleTarget[] = [
  {
    name: "Tlsf",
    make: () => new Tlsf(new ArrayBufferBacked({ size: 1 << 14, maxSize: 1 << 18 })),
    range: (a) => [(a as Tlsf).base(), (a as Tlsf).base() + (a as Tlsf).size()],
    maxSize: 2048,
    inBand: true,
  },
  {
    name: "Heap",
    make: () => new Heap(new ArrayBufferBacked({ size: 1 << 14, maxSize: 1 << 20 })),
    range: (a) => [(a as Heap).tlsf.base(), (a as Heap).tlsf.base() + (a as Heap).tlsf.size()],
    maxSize: 40000,
    inBand: true, // its large blocks and pages are Tlsf blocks with headers
  },
  {
    name: "ConcurrentHeap",
    make: () => new ConcurrentHeap(new SharedArrayBufferBacked(1 << 20)),
    range: (a) => [16, a.memory.byteLength],
    maxSize: 40000,
    inBand: false, // no header and no link in its pages: its tables are out of the blocks' reach
  },
];

/** The totals of a fuzz. */
export interface ScribbleResult {
  runs: number;
  operations: number;
  scribbles: number;
  /** Operations refused with CorruptionError (the allocator noticed). */
  detected: number;
  /** Blocks handed out outside [lo, hi) or past the memory's end. */
  outOfRange: number;
  /** Blocks handed out that overlap a live block. */
  overlaps: number;
  /** Errors other than CorruptionError (a TypeError, a RangeError, an InvalidPointerError for a live block...). */
  wrongErrors: string[];
}

interface Live {
  ptr: number;
  size: number;
}

/**
 * Runs `runs` seeded runs of `ops` operations each against fresh allocators from `make`; `range(a)` is the span a
 * block may lie in.
 */
export function scribbleFuzz(
  make: () => ScribbleSubject,
  range: (a: ScribbleSubject) => [number, number],
  options: { runs: number; ops: number; seed: number; maxSize: number; onRun?: (done: number) => void },
): ScribbleResult {
  const result: ScribbleResult = {
    runs: 0,
    operations: 0,
    scribbles: 0,
    detected: 0,
    outOfRange: 0,
    overlaps: 0,
    wrongErrors: [],
  };
  for (let run = 0; run < options.runs; run++) {
    oneRun(make(), range, options.seed + run, options.ops, options.maxSize, result);
    result.runs++;
    options.onRun?.(run + 1);
  }
  return result;
}

function oneRun(
  a: ScribbleSubject,
  range: (a: ScribbleSubject) => [number, number],
  seed: number,
  ops: number,
  maxSize: number,
  result: ScribbleResult,
): void {
  const rng = new SeededRandom(seed);
  const live: Live[] = [];
  const freed: Live[] = [];
  const [lo, hi] = range(a);
  for (let op = 0; op < ops; op++) {
    result.operations++;
    const r = rng.int(0, 99);
    try {
      if (r < 12) {
        scribble(a, rng, live, freed);
        result.scribbles++;
      } else if (r < 60 || live.length === 0) {
        const size = rng.int(0, 3) === 0 ? rng.int(1, maxSize) : rng.int(1, 96);
        const p = a.allocate(size, 8);
        if (p === NULL) continue;
        if (p < lo || p + size > hi || p + size > a.memory.byteLength) result.outOfRange++;
        else if (live.some((b) => p < b.ptr + b.size && b.ptr < p + size)) result.overlaps++;
        else live.push({ ptr: p, size });
      } else {
        const i = rng.int(0, live.length - 1);
        const b = live[i]!;
        a.deallocate(b.ptr, b.size, 8);
        live.splice(i, 1);
        freed.push(b);
        if (freed.length > 64) freed.shift();
      }
    } catch (e) {
      if (e instanceof CorruptionError) result.detected++;
      else if (!(e instanceof AllocError && /out of memory/.test(e.message)))
        result.wrongErrors.push(`seed ${seed}, op ${op}: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
}

/** Overwrites one word a buggy program could reach: in a freed block, just before a block, or in metadata. */
function scribble(a: ScribbleSubject, rng: SeededRandom, live: Live[], freed: Live[]): void {
  const u32 = a.memory.u32;
  let at: number;
  const where = rng.int(0, 2);
  if (where === 0 && freed.length > 0) {
    const b = freed[rng.int(0, freed.length - 1)]!; // a write after free (the header words included)
    at = b.ptr - 8 + 4 * rng.int(0, Math.max(0, (b.size + 8) / 4 - 1));
  } else if (where === 1 && live.length > 0) {
    const b = live[rng.int(0, live.length - 1)]!; // an overflow into the next block's header
    at = b.ptr + (((b.size + 7) & ~7) + 4 * rng.int(0, 3));
  } else if (hasRegions(a)) {
    const meta = a.regions().filter((x) => x.kind === "metadata" || x.kind === "free");
    if (meta.length === 0) return;
    const m = meta[rng.int(0, meta.length - 1)]!;
    at = m.offset + 4 * rng.int(0, Math.max(0, (m.size >>> 2) - 1));
  } else return;
  at &= ~3;
  if (at < 16 || at + 4 > a.memory.byteLength) return;
  // What to write: random bits, a small size with a flag, a pointer to a live or freed block or next to one.
  const k = rng.int(0, 4);
  const pick = live.length > 0 ? live[rng.int(0, live.length - 1)]! : null;
  u32[at >>> 2] =
    k === 0
      ? rng.nextU32()
      : k === 1
        ? (rng.int(1, 512) << 3) | rng.int(0, 3)
        : k === 2 && pick !== null
          ? pick.ptr + 8 * rng.int(-2, 2)
          : k === 3 && freed.length > 0
            ? freed[rng.int(0, freed.length - 1)]!.ptr
            : u32[at >>> 2]! ^ (1 << rng.int(0, 31));
}
