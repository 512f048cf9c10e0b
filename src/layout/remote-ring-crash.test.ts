// The crash-safe RemoteFreeRing (the mode SlabOwner uses across processes), step by step: a producer stopped after
// every one of its shared-memory steps (as a process killed there) leaves the ring consistent, every schedule of two
// pushes and of a push against a whole lap of pushes and drains delivers each word exactly once, and a push racing
// the owner's close is either drained before the ring settles or refused. test/helpers/interleave.ts drives them.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, Memory, UnsupportedError } from "../index.js";
import { RemoteFreeRing } from "./index.js";
import { everySchedule, everyStop } from "../../test/helpers/interleave.js";

const CAP = 4;

/** A crash-safe ring of 4 slots over a SharedArrayBuffer, moved `lap` words along (so sequences are not 0-based). */
function ring(lap = 5): RemoteFreeRing {
  const r = new RemoteFreeRing(Memory.of(new SharedArrayBuffer(4096)), 128, CAP, true, { crashSafe: true });
  for (let i = 0; i < lap; i++) {
    assert.equal(r.push(1000 + i), "ok");
    r.drain(() => {});
  }
  return r;
}

function drainAll(r: RemoteFreeRing): number[] {
  const got: number[] = [];
  r.drain((w) => got.push(w));
  return got;
}

/** After anything: the ring still carries a whole lap and more, in order, each word once. */
function stillWorks(r: RemoteFreeRing, what: string): void {
  for (let round = 0; round < 3; round++) {
    const words = [1, 2, 3].map((i) => 500 + round * 10 + i);
    for (const w of words) assert.equal(r.push(w), "ok", what);
    assert.deepEqual(drainAll(r), words, `${what}: round ${round}`);
  }
  assert.equal(r.pending(), 0, what);
}

describe("RemoteFreeRing, crash-safe", () => {
  test("a producer stopped after any step: its word is pushed whole or not at all, and the ring goes on", () => {
    const outcomes = new Set<string>();
    const runs = everyStop(
      () => ring(),
      (r) => void r.push(77),
      (r, k, stopped) => {
        const what = stopped ? `stopped after ${k} steps` : "finished";
        assert.equal(r.push(88), "ok", what);
        const got = drainAll(r);
        assert.ok(
          JSON.stringify(got) === "[77,88]" || (stopped && JSON.stringify(got) === "[88]"),
          `${what}: drained ${JSON.stringify(got)}`,
        );
        outcomes.add(got.length === 2 ? "pushed" : "not pushed");
        stillWorks(r, what);
      },
    );
    assert.ok(runs >= 6, `${runs} runs`);
    assert.deepEqual([...outcomes].sort(), ["not pushed", "pushed"]);
  });

  test("a producer stopped after its slot is filled: the next producer moves tail on for it", () => {
    // stopped right after the CAS of the slot: the word is in, tail still names its slot
    const stops: number[] = [];
    everyStop(
      () => ring(),
      (x) => void x.push(77),
      (x, k, stopped) => {
        if (!stopped) return;
        // the word is in the ring but pending() does not count it yet (tail lags it)
        const peek = x.memory.i32[(x.offset + 128) / 4 + (5 & (CAP - 1))]!;
        if (peek === 77 && x.pending() === 0) stops.push(k);
        assert.equal(x.push(88), "ok");
        assert.deepEqual(drainAll(x).slice(-1), [88]);
        stillWorks(x, `stopped after ${k} steps`);
      },
    );
    assert.ok(stops.length >= 1, "a stop between the slot's CAS and tail's move exists");
  });

  test("two pushes in every interleaving: both words, once each", () => {
    const runs = everySchedule(
      () => ({ r: ring(), results: [] as string[] }),
      (s) => void s.results.push(s.r.push(11)),
      (s) => void s.results.push(s.r.push(22)),
      (s, k, preempted) => {
        if (!preempted) s.results.push(s.r.push(22));
        assert.deepEqual(s.results.sort(), ["ok", "ok"], `before step ${k}`);
        assert.deepEqual(drainAll(s.r).sort(), [11, 22], `before step ${k}`);
        stillWorks(s.r, `before step ${k}`);
      },
    );
    assert.ok(runs >= 5, `${runs} schedules`);
  });

  test("a push preempted by a whole lap of pushes and drains never lands in a later lap's slot", () => {
    const lap = (s: { r: RemoteFreeRing; got: number[] }): void => {
      for (let i = 0; i < CAP; i++) {
        assert.equal(s.r.push(30 + i), "ok");
        s.r.drain((w) => s.got.push(w));
      }
    };
    const runs = everySchedule(
      () => ({ r: ring(), got: [] as number[], result: "" }),
      (s) => void (s.result = s.r.push(11)),
      lap,
      (s, k, preempted) => {
        if (!preempted) lap(s);
        s.r.drain((w) => s.got.push(w));
        assert.equal(s.result, "ok", `before step ${k}`);
        assert.deepEqual(
          s.got.sort((a, b) => a - b),
          [11, 30, 31, 32, 33],
          `before step ${k}`,
        );
        assert.equal(s.r.pending(), 0, `before step ${k}`);
        stillWorks(s.r, `before step ${k}`);
      },
    );
    assert.ok(runs >= 5, `${runs} schedules`);
  });

  test("a push against the owner's close: drained before the ring settles, or refused", () => {
    let accepted = 0;
    let refused = 0;
    const runs = everySchedule(
      () => ({ r: ring(), result: "", got: [] as number[] }),
      (s) => void (s.result = s.r.push(11)),
      (s) => s.r.close(),
      (s, k, preempted) => {
        if (!preempted) s.r.close();
        for (let n = 0; !s.r.settled(); n++) {
          s.r.drain((w) => s.got.push(w));
          assert.ok(n < 10, `before step ${k}: the ring never settles`);
        }
        assert.equal(s.r.push(99), "closed");
        s.r.drain((w) => s.got.push(w));
        if (s.result === "ok") {
          accepted++;
          assert.deepEqual(s.got, [11], `before step ${k}: an accepted push is drained`);
        } else {
          refused++;
          assert.equal(s.result, "closed", `before step ${k}`);
          assert.deepEqual(s.got, [], `before step ${k}`);
        }
      },
    );
    assert.ok(
      runs >= 5 && accepted > 0 && refused > 0,
      `${runs} schedules, ${accepted} accepted, ${refused} refused`,
    );
  });

  test("a full ring: close seals it on the drain that makes room", () => {
    const r = ring();
    for (let i = 0; i < CAP; i++) assert.equal(r.push(40 + i), "ok");
    assert.equal(r.push(50), "full");
    r.close();
    assert.equal(r.settled(), false, "full: the seal waits for a drain");
    assert.deepEqual(drainAll(r), [40, 41, 42, 43]);
    assert.equal(r.settled(), true);
    assert.equal(r.push(51), "closed");
  });

  test("refuses the two-step protocol, words that are not positive, and a non-shared memory without waiting", () => {
    const r = ring(0);
    assert.equal(r.crashSafe, true);
    assert.throws(() => r.reserve(), UnsupportedError);
    assert.throws(() => r.publish(0, 5), UnsupportedError);
    assert.throws(() => r.push(-5), AllocError);
    assert.throws(() => r.push(0), AllocError);
    assert.equal(r.push(2 ** 31 - 1), "ok");
    assert.deepEqual(drainAll(r), [2 ** 31 - 1]);
    const peer = new RemoteFreeRing(r.memory, 128, CAP, false);
    assert.equal(peer.crashSafe, true, "the mode is read from the memory");
    assert.throws(() => new RemoteFreeRing(Memory.of(new ArrayBuffer(4096)), 128, CAP, true), AllocError);
    const plain = new RemoteFreeRing(Memory.of(new SharedArrayBuffer(4096)), 128, CAP, true);
    assert.equal(plain.crashSafe, false, "threads keep the two-step ring by default");
    assert.equal(plain.push(-5), "ok");
  });
});
