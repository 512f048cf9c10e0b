// Deterministic race tests (issue 15): two logical workers in one thread, the second stepping in before each
// shared-memory operation of the first (test/helpers/interleave.ts), for every preemption point. Each protocol
// step that must be a CAS is checked by a schedule that breaks when it is a plain store.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  NULL,
  RemoteFreeRing,
  SharedArrayBufferBacked,
  SharedBumpArena,
  StaticBacked,
} from "../src/index.js";
import { Memory } from "../src/core/index.js";
import { everySchedule } from "./helpers/interleave.js";

/** Blocks `[p, p + size)` as pairs; throws naming the first two that overlap. */
function assertDisjoint(blocks: [number, number][], what: string): void {
  const sorted = [...blocks].sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < sorted.length; i++) {
    const [p, n] = sorted[i - 1]!;
    if (sorted[i]![0] < p + n) {
      throw new assert.AssertionError({
        message: `${what}: [${p}, ${p + n}) and [${sorted[i]![0]}, ${sorted[i]![0] + sorted[i]![1]}) overlap`,
      });
    }
  }
}

/** Both workers allocate 64-byte blocks in turn until neither can; returns every block. */
function drain(a: SharedBumpArena, b: SharedBumpArena): [number, number][] {
  const out: [number, number][] = [];
  for (let live = true; live;) {
    live = false;
    for (const w of [a, b]) {
      const p = w.allocate(64);
      if (p !== NULL) {
        out.push([p, 64]);
        live = true;
      }
    }
  }
  return out;
}

interface Pair {
  a: SharedBumpArena;
  b: SharedBumpArena;
  blocks: [number, number][];
}

function pair(bytes = 1 << 15): Pair {
  const a = new SharedBumpArena(new SharedArrayBufferBacked(bytes));
  return { a, b: SharedBumpArena.attach(a.share()), blocks: [] };
}

describe("SharedBumpArena, step by step", () => {
  test("two refills racing for the cursor never take the same chunk (the cursor moves by CAS)", () => {
    const runs = everySchedule(
      () => pair(),
      (s) => s.blocks.push([s.a.allocate(8), 8]),
      (s) => s.blocks.push([s.b.allocate(8), 8]),
      (s, k) => assertDisjoint([...s.blocks, ...drain(s.a, s.b)], `preempted before step ${k}`),
    );
    assert.ok(runs >= 3, `${runs} schedules`);
  });

  test("a reset in the middle of a refill: no worker bumps in a chunk from before it (epoch read before the CAS)", () => {
    const runs = everySchedule(
      () => {
        const s = pair();
        s.a.allocate(3000); // both workers hold chunks
        s.b.allocate(8);
        return s;
      },
      (s) => s.a.allocate(2048), // does not fit in A's chunk: a refill, with room left in the new chunk
      (s) => s.b.reset(),
      (s, k) => assertDisjoint(drain(s.a, s.b), `reset before step ${k} of the refill`),
    );
    assert.ok(runs >= 3, `${runs} schedules`);
  });

  test("a refill in the middle of a reset: the cursor goes back before the epoch moves on", () => {
    const runs = everySchedule(
      () => {
        const s = pair();
        for (let i = 0; i < 3; i++) s.a.allocate(4096); // the cursor is well past the start
        s.b.allocate(8);
        return s;
      },
      (s) => s.b.reset(),
      (s) => s.a.allocate(2048), // a refill that leaves room in its chunk
      (s, k) => assertDisjoint(drain(s.a, s.b), `refill before step ${k} of the reset`),
    );
    assert.equal(
      runs,
      5,
      "the reset takes three steps (the state check, the cursor, the epoch): four points, then alone",
    );
  });

  test("after a reset every worker's cached chunk is dropped, however far it was used", () => {
    const s = pair();
    const before = s.b.allocate(8);
    s.a.reset();
    const after: [number, number][] = [];
    for (let i = 0; i < 8; i++) after.push([s.a.allocate(8), 8], [s.b.allocate(8), 8]);
    assertDisjoint(after, "blocks after the reset");
    assert.notEqual(after[1]![0], before + 8, "B did not go on bumping in its old chunk");
    assert.equal(s.a.resetEpoch(), 1);
    assert.equal(s.b.resetEpoch(), 1);
  });

  test("two workers formatting the same memory at once: exactly one wins (the state word moves by CAS)", () => {
    let made = 0;
    const runs = everySchedule(
      () => ({ memory: new SharedArrayBufferBacked(1 << 14), won: [] as string[], lost: [] as string[] }),
      (s) => {
        try {
          new SharedBumpArena(new StaticBacked(s.memory.memory, { offset: 128, size: 8192 }));
          s.won.push("a");
        } catch (e) {
          assert.ok(e instanceof AllocError);
          s.lost.push("a");
        }
      },
      (s) => {
        try {
          new SharedBumpArena(new StaticBacked(s.memory.memory, { offset: 128, size: 8192 }));
          s.won.push("b");
        } catch (e) {
          assert.ok(e instanceof AllocError);
          s.lost.push("b");
        }
      },
      (s, k, preempted) => {
        made++;
        assert.equal(s.won.length, 1, `exactly one arena formatted when preempted before step ${k}`);
        assert.equal(s.lost.length, preempted ? 1 : 0);
      },
    );
    assert.equal(made, runs);
  });
});

describe("SharedBumpArena over memory that holds a live arena", () => {
  test("formatting it again is refused, attach joins it, release lets it be formatted anew", () => {
    const backing = new SharedArrayBufferBacked(1 << 16);
    const a = new SharedBumpArena(backing);
    const p = a.allocate(64);
    const range = () => new StaticBacked(backing.memory, { offset: 16, size: (1 << 16) - 16 });
    assert.throws(() => new SharedBumpArena(range()), /already holds a live SharedBumpArena.*attach/);
    assert.equal(a.allocate(64), p + 64, "the refused construction changed nothing");
    const joined = SharedBumpArena.attach(a.share());
    assert.ok(joined.allocate(8) >= p + 4096, "the attached worker takes its own chunk");
    a.release();
    assert.throws(() => SharedBumpArena.attach(a.share()), /no live arena/);
    assert.throws(() => joined.allocate(8192), /released/, "a refill after release throws");
    const again = new SharedBumpArena(range());
    assert.equal(again.allocate(64), p, "formatted anew from the start");
  });

  test("a released arena refuses reset", () => {
    const a = new SharedBumpArena(new SharedArrayBufferBacked(1 << 14));
    a.release();
    a.release(); // idempotent
    assert.throws(() => a.reset(), AllocError);
  });

  test("attach of a memory never formatted is refused", () => {
    const memory = Memory.of(new SharedArrayBuffer(1 << 14));
    assert.throws(
      () =>
        SharedBumpArena.attach({
          kind: "SharedBumpArena",
          source: memory.source as SharedArrayBuffer,
          control: 128,
        }),
      /no live arena/,
    );
  });
});

describe("RemoteFreeRing, step by step", () => {
  test("two owners formatting one ring at once: exactly one wins, the other is refused", () => {
    const format = (s: { memory: Memory; won: number; lost: number }): void => {
      try {
        new RemoteFreeRing(s.memory, 256, 8, true);
        s.won++;
      } catch (e) {
        assert.ok(e instanceof AllocError);
        s.lost++;
      }
    };
    everySchedule(
      () => ({ memory: Memory.of(new SharedArrayBuffer(4096)), won: 0, lost: 0 }),
      format,
      format,
      (s, k, preempted) => {
        assert.equal(s.won, 1, `one ring formatted when preempted after step ${k}`);
        assert.equal(s.lost, preempted ? 1 : 0);
      },
    );
  });
});
