// The recorded real-program traces (bench/traces/): each file is a well-formed trace, and a prefix of each replays
// through Heap, Tlsf and ConcurrentHeap with no failed allocation, no block overlapping a live one, and every block
// keeping the pattern written into it until it is freed. The checker itself is shown to catch a broken allocator.
// Timings belong to bench/traces.ts, not here.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import {
  type ReplayTarget,
  TRACE_HEADER_WORDS,
  type Trace,
  loadTraces,
  parseTrace,
  verifyReplay,
} from "../bench/trace-format.js";
import { ArrayBufferBacked, ConcurrentHeap, Heap, SharedArrayBufferBacked, Tlsf } from "../src/index.js";

const PREFIX = 20_000;
const traces = loadTraces();

interface Made {
  target: ReplayTarget;
  range: () => readonly [number, number];
  bytes: () => Uint8Array;
}

const ALLOCATORS: [string, () => Made][] = [
  [
    "Heap",
    () => {
      const h = new Heap(new ArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 27 }));
      return {
        target: {
          alloc: (n) => h.allocate(n),
          free: (p) => h.free(p),
          realloc: (p, n) => h.realloc(p, n),
          alignedAlloc: (a, n) => h.allocate(n, a),
          alignedFree: (p) => h.free(p),
        },
        range: () => [0, h.memory.byteLength],
        bytes: () => h.memory.u8,
      };
    },
  ],
  [
    "Tlsf",
    () => {
      const t = new Tlsf(new ArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 27 }));
      return {
        target: {
          alloc: (n) => t.allocate(n),
          free: (p) => t.free(p),
          realloc: (p, n) => t.realloc(p, n),
          alignedAlloc: (a, n) => t.allocate(n, a),
          alignedFree: (p) => t.free(p),
        },
        range: () => [0, t.memory.byteLength],
        bytes: () => t.memory.u8,
      };
    },
  ],
  [
    "ConcurrentHeap",
    () => {
      const h = new ConcurrentHeap(new SharedArrayBufferBacked(1 << 26));
      return {
        target: {
          alloc: (n) => h.allocate(n),
          free: (p) => h.free(p),
          realloc: (p, n, old) => (n > old ? h.grow(p, old, n) : h.shrink(p, old, n)),
          alignedAlloc: (a, n) => h.allocate(n, a),
          alignedFree: (p) => h.free(p),
        },
        range: () => [0, h.memory.byteLength],
        bytes: () => h.memory.u8,
      };
    },
  ],
];

describe("recorded traces", () => {
  test("at least three programs, each trace well formed: ids in range, every block freed once, sizes valid", () => {
    assert.ok(traces.length >= 3, `${traces.length} traces`);
    for (const t of traces) {
      const live = new Uint8Array(t.ids);
      let allocs = 0;
      let frees = 0;
      let reallocs = 0;
      for (let i = TRACE_HEADER_WORDS; i < t.words.length; i += 2) {
        const w = t.words[i]!;
        const id = w >>> 8;
        const op = w & 7;
        const size = t.words[i + 1]!;
        assert.ok(id < t.ids, `${t.name}: id ${id} of ${t.ids}`);
        if (op === 0) {
          assert.equal(live[id], 0, `${t.name}: id ${id} allocated twice`);
          assert.ok(size >= 1 && size <= 2 ** 30, `${t.name}: size ${size}`);
          live[id] = 1;
          allocs++;
        } else if (op === 1) {
          assert.equal(live[id], 1, `${t.name}: id ${id} freed while not live`);
          live[id] = 0;
          frees++;
        } else {
          assert.equal(op, 2, `${t.name}: op ${op}`);
          assert.equal(live[id], 1, `${t.name}: id ${id} resized while not live`);
          assert.ok(size >= 1 && size <= 2 ** 30, `${t.name}: size ${size}`);
          reallocs++;
        }
      }
      assert.deepEqual([allocs, frees, reallocs], [t.allocs, t.frees, t.reallocs], t.name);
      assert.equal(allocs, frees, `${t.name}: a trace ends with every block freed`);
      assert.equal(allocs + frees + reallocs, t.events);
    }
  });

  test("a file that is not a trace is refused", () => {
    assert.throws(() => parseTrace("x", new Uint8Array([0x1f, 0x8b, 0, 0])), Error);
    // 8 zero words: a header with the wrong magic
    assert.throws(
      () => parseTrace("zeros", new Uint8Array(gzipSync(new Uint8Array(32)))),
      /not a version 1 trace/,
    );
  });

  for (const [name, make] of ALLOCATORS) {
    for (const trace of traces) {
      test(`${name} replays the first ${PREFIX} events of ${trace.name}: no failure, no overlap, patterns intact`, () => {
        const m = make();
        const v = verifyReplay(trace, m.target, { range: m.range, limit: PREFIX, pattern: m.bytes });
        assert.deepEqual(
          {
            failed: v.failed,
            overlaps: v.overlaps,
            misaligned: v.misaligned,
            outOfRange: v.outOfRange,
            corrupted: v.corrupted,
          },
          { failed: 0, overlaps: 0, misaligned: 0, outOfRange: 0, corrupted: 0 },
        );
        assert.equal(v.events, Math.min(PREFIX, trace.events));
      });
    }
  }

  test("the checker catches an allocator that hands out a live block, scribbles, or fails", () => {
    const trace: Trace = traces[0]!;
    // hands out the same address every other time: an overlap
    let n = 0;
    const bump = { top: 4096 };
    const mem = new Uint8Array(1 << 26);
    const alloc = (size: number): number => {
      const p = n++ % 2 === 0 ? 4096 : bump.top;
      bump.top = Math.max(bump.top, p + size + 8) & ~7;
      bump.top += 8;
      return p;
    };
    const target: ReplayTarget = {
      alloc,
      free: () => {},
      realloc: (p, size) => {
        const q = alloc(size);
        mem.copyWithin(q, p, p + size);
        return q;
      },
      alignedAlloc: (_a, size) => alloc(size),
      alignedFree: () => {},
    };
    const v = verifyReplay(trace, target, { range: () => [0, mem.length], limit: 2000, pattern: () => mem });
    assert.ok(v.overlaps > 0, "overlap not seen");
    assert.ok(v.corrupted > 0, "overwritten pattern not seen");
    const failing: ReplayTarget = { ...target, alloc: () => 0 };
    assert.ok(verifyReplay(trace, failing, { range: () => [0, mem.length], limit: 100 }).failed > 0);
  });
});
