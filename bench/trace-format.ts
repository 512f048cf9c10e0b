// Reading the recorded traces of bench/traces/ (format: scripts/record-traces.mjs), loading a private copy of the
// hot loops per allocator, and the verification replay that checks every block a replay hands out.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import type { ReplayTarget } from "./replay-loop.js";

export type { ReplayTarget } from "./replay-loop.js";

/** The first word of every trace. */
export const TRACE_MAGIC = 0x46415452;
/** Words before the first event. */
export const TRACE_HEADER_WORDS = 8;

/** One recorded trace. */
export interface Trace {
  /** The program it was recorded from (bench/traces/traces.json). */
  readonly name: string;
  /** The header, then two words per event. */
  readonly words: Int32Array;
  readonly events: number;
  /** Ids in use (the length a replay's pointer array needs). */
  readonly ids: number;
  readonly allocs: number;
  readonly frees: number;
  readonly reallocs: number;
  readonly peakLiveBytes: number;
}

const dir = new URL("../../bench/traces/", import.meta.url);

/** Parses one trace file's bytes. @throws when they are not a trace. */
export function parseTrace(name: string, gz: Uint8Array): Trace {
  const raw = gunzipSync(gz);
  const words = new Int32Array(raw.buffer, raw.byteOffset, raw.byteLength >>> 2);
  if (raw.byteLength % 8 !== 0 || words[0] !== TRACE_MAGIC || words[1] !== 1) {
    throw new Error(`trace ${name}: not a version 1 trace`);
  }
  const events = words[2]!;
  if (words.length !== TRACE_HEADER_WORDS + 2 * events) throw new Error(`trace ${name}: truncated`);
  return {
    name,
    words: words.slice(),
    events,
    ids: words[3]!,
    allocs: words[4]!,
    frees: words[5]!,
    reallocs: words[6]!,
    peakLiveBytes: words[7]!,
  };
}

/** Every trace listed in bench/traces/traces.json, in its order. */
export function loadTraces(): Trace[] {
  const list = JSON.parse(readFileSync(new URL("traces.json", dir), "utf8")) as {
    file: string;
    program: string;
  }[];
  return list.map((t) => parseTrace(t.program, new Uint8Array(readFileSync(new URL(t.file, dir)))));
}

/** A private instance of bench/replay-loop.ts for one allocator (see the comment there). */
export async function loopsFor(key: string): Promise<typeof import("./replay-loop.js")> {
  const url = new URL(`./replay-loop.js?for=${encodeURIComponent(key)}`, import.meta.url).href;
  return (await import(url)) as typeof import("./replay-loop.js");
}

/** What a verification replay found. */
export interface Verification {
  failed: number;
  /** Blocks that overlapped a live block when handed out. */
  overlaps: number;
  /** Blocks not aligned as asked (8 by default, or the trace's alignment). */
  misaligned: number;
  /** Blocks outside `[lo, hi)`. */
  outOfRange: number;
  /** Blocks whose pattern changed while they were live (only with `pattern`). */
  corrupted: number;
  events: number;
}

/** Options of {@link verifyReplay}. */
export interface VerifyOptions {
  /** Events to replay (all by default). */
  limit?: number;
  /** The allowed address range, re-read after each allocation (memories grow). */
  range: () => readonly [number, number];
  /** Write a per-block pattern on allocation and check it on free and realloc (needs the memory's bytes). */
  pattern?: () => Uint8Array;
}

/**
 * Replays `trace` (untimed) through `t`, checking each block handed out against a byte-granule ownership map: every
 * block starts 8-aligned (or at its requested alignment), lies in range, and shares no 8-byte granule with a live
 * block (granules are exact here because every start is 8-aligned). With `pattern`, each block is filled with a
 * byte derived from its id and checked when it is resized or freed.
 */
export function verifyReplay(trace: Trace, t: ReplayTarget, options: VerifyOptions): Verification {
  const w = trace.words;
  const ptrs = new Int32Array(trace.ids);
  const sizes = new Int32Array(trace.ids);
  const aligned = new Uint8Array(trace.ids);
  let owner = new Int32Array(1 << 16); // granule -> id + 1
  const v: Verification = { failed: 0, overlaps: 0, misaligned: 0, outOfRange: 0, corrupted: 0, events: 0 };
  const limit = Math.min(trace.events, options.limit ?? trace.events);
  const mark = (p: number, size: number, value: number): boolean => {
    const g0 = p >>> 3;
    const g1 = (p + size - 1) >>> 3;
    if (g1 >= owner.length) {
      let n = owner.length;
      while (n <= g1) n *= 2;
      const bigger = new Int32Array(n);
      bigger.set(owner);
      owner = bigger;
    }
    let clash = false;
    for (let g = g0; g <= g1; g++) {
      if (value !== 0 && owner[g] !== 0) clash = true;
      owner[g] = value;
    }
    return clash;
  };
  const stamp = (id: number): number => ((id * 131) & 0xff) | 1;
  const check = (id: number): void => {
    if (options.pattern === undefined) return;
    const u8 = options.pattern();
    const p = ptrs[id]!;
    const b = stamp(id);
    for (let k = p, e = p + sizes[id]!; k < e; k++) {
      if (u8[k] !== b) {
        v.corrupted++;
        return;
      }
    }
  };
  const fill = (id: number, from: number): void => {
    if (options.pattern === undefined) return;
    options.pattern().fill(stamp(id), ptrs[id]! + from, ptrs[id]! + sizes[id]!);
  };
  const take = (id: number, p: number, size: number, align: number): void => {
    const [lo, hi] = options.range();
    if (p % align !== 0) v.misaligned++;
    if (p < lo || p + size > hi) {
      v.outOfRange++;
      ptrs[id] = 0; // not ours to mark
      return;
    }
    if (mark(p, size, id + 1)) v.overlaps++;
    ptrs[id] = p;
    sizes[id] = size;
  };
  for (let i = TRACE_HEADER_WORDS, n = 0; n < limit; n++, i += 2) {
    const x = w[i]!;
    const id = x >>> 8;
    const op = x & 7;
    const alignLog2 = (x >>> 3) & 31;
    const size = w[i + 1]!;
    if (op === 0) {
      const p = alignLog2 === 0 ? t.alloc(size) : t.alignedAlloc(1 << alignLog2, size);
      if (p === 0) {
        v.failed++;
        ptrs[id] = 0;
        continue;
      }
      aligned[id] = alignLog2;
      take(id, p, size, alignLog2 === 0 ? 8 : 1 << alignLog2);
      if (ptrs[id] !== 0) fill(id, 0);
    } else if (op === 1) {
      const p = ptrs[id]!;
      if (p === 0) continue;
      check(id);
      mark(p, sizes[id]!, 0);
      ptrs[id] = 0;
      if (alignLog2 === 0) t.free(p);
      else t.alignedFree(p);
    } else {
      const p = ptrs[id]!;
      if (p !== 0) check(id);
      const old = sizes[id]!;
      const q = p === 0 ? t.alloc(size) : t.realloc(p, size, old);
      if (q === 0) {
        v.failed++;
        continue; // the old block stays live
      }
      if (p !== 0) mark(p, old, 0);
      take(id, q, size, 8);
      if (ptrs[id] !== 0 && options.pattern !== undefined) {
        // the kept prefix must have survived the move; the rest is new
        const u8 = options.pattern();
        const b = stamp(id);
        for (let k = q, e = q + Math.min(old, size); k < e; k++) {
          if (u8[k] !== b) {
            v.corrupted++;
            break;
          }
        }
        fill(id, Math.min(old, size));
      }
    }
  }
  v.events = limit;
  // a prefix leaves blocks live: free them so the allocator is empty again
  for (let id = 0; id < trace.ids; id++) {
    const p = ptrs[id]!;
    if (p === 0) continue;
    check(id);
    mark(p, sizes[id]!, 0);
    if (aligned[id] === 0) t.free(p);
    else t.alignedFree(p);
    ptrs[id] = 0;
  }
  return v;
}
