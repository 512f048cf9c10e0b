// RemoteFreeRing: the constructor's checks and what formatting writes (and does not write), the mode a ring is
// formatted and opened in, words a push accepts and refuses, drains bounded by `max`, the futex protocol over a
// memory that is not a SharedArrayBuffer (announced waits, wakes only when a producer waits), `pending()` while
// `tail` lags a word, and `settled()`. Written to kill the mutants that survived the ring's group
// (docs/TESTING.md, `npm run mutate -- remote-ring`); the step-by-step schedules are in test/races and
// src/layout/remote-ring-crash.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, Memory, UnsupportedError } from "../index.js";
import type { SharedWaitOutcome, SharedWaiting } from "../core/index.js";
import { RING_CONTROL_BYTES, RemoteFreeRing } from "./remote-ring.js";
import { preemptAt, stopAfter } from "../../test/helpers/interleave.js";

const sab = (bytes = 4096): Memory => Memory.of(new SharedArrayBuffer(bytes));

const drainAll = (r: RemoteFreeRing, max?: number): number[] => {
  const got: number[] = [];
  r.drain((w) => got.push(w), max);
  return got;
};

/** A push's first shared-memory step reads the closed flag. */
const CLOSED_STEPS = 1;
/** The control block's word of tail. */
const W_TAIL = 2;

/**
 * A crash-safe ring of 4 slots, `along` words pushed and drained first, whose producer of word 77 was stopped right
 * after the CAS of its slot: the word is in, tail still names that slot (so `pending()` is 0).
 */
const laggingWord = (along: number): RemoteFreeRing => {
  for (let k = 1; k < 12; k++) {
    const x = new RemoteFreeRing(sab(), 128, 4, true, { crashSafe: true });
    for (let i = 0; i < along; i++) {
      x.push(1000 + i);
      x.drain(() => {});
    }
    stopAfter(k, () => void x.push(77));
    if (x.memory.i32[(x.offset + RING_CONTROL_BYTES) / 4 + (along & 3)] === 77 && x.pending() === 0) return x;
  }
  return assert.fail("a stop between the slot's CAS and tail's move exists");
};

/** A process-shared futex stand-in over a memory that is not a SharedArrayBuffer: records every call. */
class FakeWaiting implements SharedWaiting {
  readonly waits: { offset: number; expected: number; timeoutMs: number | undefined }[] = [];
  readonly notifies: number[] = [];
  /** Runs inside `wait` (another process acting while this one waits); then `outcome` is returned. */
  during: (() => void) | undefined;
  outcome: SharedWaitOutcome = "timed-out";
  wait(offset: number, expected: number, timeoutMs?: number): SharedWaitOutcome {
    this.waits.push({ offset, expected, timeoutMs });
    this.during?.();
    return this.outcome;
  }
  notify(offset: number): number {
    this.notifies.push(offset);
    return 0;
  }
}

const plain = (bytes = 4096): Memory => Memory.of(new ArrayBuffer(bytes));

describe("RemoteFreeRing's constructor", () => {
  test("refuses a memory that is not shared without a waiting, and accepts it with one", () => {
    assert.throws(
      () => new RemoteFreeRing(plain(), 128, 4, true),
      (e: unknown) => e instanceof AllocError && /the memory must be shared/.test((e as Error).message),
    );
    const r = new RemoteFreeRing(plain(), 128, 4, true, { waiting: new FakeWaiting() });
    assert.equal(r.push(5), "ok");
    assert.deepEqual(drainAll(r), [5]);
    // a shared memory needs no waiting
    assert.equal(new RemoteFreeRing(sab(), 128, 4, true).push(5), "ok");
  });

  test("checks the capacity (a power of two in [1, 2^20]) and the offset (128-aligned), writing nothing", () => {
    const memory = sab(1 << 23);
    for (const capacity of [0, 3, 6, 1 << 21, 1.5, -4]) {
      assert.throws(
        () => new RemoteFreeRing(memory, 128, capacity, true),
        (e: unknown) => e instanceof AllocError && /RemoteFreeRing: capacity/.test((e as Error).message),
        `capacity ${capacity}`,
      );
    }
    for (const offset of [64, 1, 200]) {
      assert.throws(
        () => new RemoteFreeRing(memory, offset, 4, true),
        (e: unknown) =>
          e instanceof AllocError &&
          (e as Error).message === `RemoteFreeRing: offset ${offset} is not 128-aligned`,
        `offset ${offset}`,
      );
    }
    assert.ok(
      new Int32Array(memory.buffer).every((w) => w === 0),
      "a refused constructor writes nothing",
    );
    assert.equal(RemoteFreeRing.checkCapacity(1), 1);
    assert.equal(RemoteFreeRing.checkCapacity(1 << 20), 1 << 20);
    assert.equal(new RemoteFreeRing(memory, 0, 1, true).capacity, 1);
    assert.equal(new RemoteFreeRing(memory, 256, 1 << 20, true).capacity, 1 << 20);
    assert.equal(RemoteFreeRing.bytesFor(4), RING_CONTROL_BYTES + 16);
  });

  test("a one-slot ring carries words one at a time, in both modes", () => {
    for (const crashSafe of [false, true]) {
      const r = new RemoteFreeRing(sab(), 0, 1, true, { crashSafe });
      for (let i = 1; i <= 5; i++) {
        assert.equal(r.push(i), "ok");
        assert.equal(r.push(100 + i), "full");
        assert.deepEqual(drainAll(r), [i], `crashSafe ${crashSafe}, word ${i}`);
      }
    }
  });

  test("formatting writes the control block and the slots only: the words on either side are untouched", () => {
    const memory = sab();
    const i32 = memory.i32;
    i32.fill(0x5a5a5a5a);
    new RemoteFreeRing(memory, 256, 8, true);
    const first = 256 / 4;
    const after = (256 + RemoteFreeRing.bytesFor(8)) / 4;
    assert.equal(i32[first - 1], 0x5a5a5a5a, "the word before the ring");
    assert.equal(i32[after], 0x5a5a5a5a, "the word after its last slot");
    for (let k = first + RING_CONTROL_BYTES / 4; k < after; k++) assert.equal(i32[k], 0, `slot ${k}`);
  });

  test("formatting over a closed ring starts it afresh: counters, head, tail and the closed flag are cleared", () => {
    for (const crashSafe of [false, true]) {
      const memory = sab();
      const old = new RemoteFreeRing(memory, 128, 4, true, { crashSafe });
      for (let i = 1; i <= 3; i++) old.push(i);
      old.drain(() => {}, 2);
      old.close();
      const r = new RemoteFreeRing(memory, 128, 4, true, { crashSafe });
      assert.equal(r.closed, false);
      assert.deepEqual(r.counters(), { pushed: 0, drained: 0 });
      assert.equal(r.pending(), 0);
      assert.equal(r.settled(), false);
      for (let i = 1; i <= 4; i++) assert.equal(r.push(10 + i), "ok", `push ${i}`);
      assert.equal(r.push(99), "full", "the whole capacity, no more");
      assert.deepEqual(drainAll(r), [11, 12, 13, 14]);
    }
  });

  test("formatting is refused over a live ring and while another worker formats, allowed over a stale state word", () => {
    const memory = sab();
    new RemoteFreeRing(memory, 128, 4, true);
    assert.throws(
      () => new RemoteFreeRing(memory, 128, 4, true),
      (e: unknown) =>
        e instanceof AllocError &&
        (e as Error).message ===
          "RemoteFreeRing: offset 128 already holds a live ring (or one being formatted); open it without format to join it, or close it first",
    );
    const state = 128 / 4 + 8; // the state word
    const other = sab();
    Atomics.store(other.i32, state, 1); // a worker is formatting there
    assert.throws(() => new RemoteFreeRing(other, 128, 4, true), AllocError);
    // a state word that says "live" where no ring's magic is (the memory was reused): not a live ring
    const reused = sab();
    Atomics.store(reused.i32, state, 2);
    assert.equal(new RemoteFreeRing(reused, 128, 4, true).push(7), "ok");
    // the magic of a ring, but the state word says nothing is formatted there: not a live ring either
    const magicOnly = sab();
    Atomics.store(magicOnly.i32, 128 / 4, 0x7269_6e67);
    assert.equal(new RemoteFreeRing(magicOnly, 128, 4, true).push(7), "ok");
  });

  test("opening needs the ring's magic and its capacity, and takes the mode from the memory", () => {
    const memory = sab();
    assert.throws(
      () => new RemoteFreeRing(memory, 128, 4, false),
      (e: unknown) =>
        e instanceof AllocError &&
        (e as Error).message === "RemoteFreeRing: no ring of 4 slots at offset 128",
    );
    Atomics.store(memory.i32, 128 / 4 + 3, 4); // a capacity word, but no ring's magic
    assert.throws(() => new RemoteFreeRing(memory, 128, 4, false), /no ring of 4 slots at offset 128/);
    new RemoteFreeRing(memory, 128, 4, true, { crashSafe: true });
    assert.throws(() => new RemoteFreeRing(memory, 128, 8, false), /no ring of 8 slots at offset 128/);
    const joined = new RemoteFreeRing(memory, 128, 4, false, { crashSafe: false });
    assert.equal(joined.crashSafe, true, "the mode is the memory's");
    const other = sab();
    new RemoteFreeRing(other, 128, 4, true, { crashSafe: false });
    assert.equal(new RemoteFreeRing(other, 128, 4, false, { crashSafe: true }).crashSafe, false);
  });

  test("the mode: crashSafe when asked, else when a waiting is given", () => {
    assert.equal(new RemoteFreeRing(sab(), 128, 4, true).crashSafe, false);
    assert.equal(new RemoteFreeRing(sab(), 128, 4, true, { crashSafe: true }).crashSafe, true);
    assert.equal(new RemoteFreeRing(plain(), 128, 4, true, { waiting: new FakeWaiting() }).crashSafe, true);
    assert.equal(
      new RemoteFreeRing(plain(), 128, 4, true, { waiting: new FakeWaiting(), crashSafe: false }).crashSafe,
      false,
    );
  });
});

describe("RemoteFreeRing's pushes and drains", () => {
  test("a push refuses words that are not 32-bit integers or are 0, and (crash-safe) negative ones", () => {
    const r = new RemoteFreeRing(sab(), 128, 8, true);
    for (const bad of [0, 1.5, 2 ** 31, -(2 ** 31) - 1, Number.NaN]) {
      assert.throws(
        () => r.push(bad),
        (e: unknown) =>
          e instanceof AllocError &&
          (e as Error).message === `RemoteFreeRing.push: ${String(bad)} is not a non-zero 32-bit word`,
        String(bad),
      );
    }
    assert.equal(r.pending(), 0, "nothing was pushed");
    // a two-step ring carries negative words
    assert.equal(r.push(-5), "ok");
    assert.equal(r.push(-(2 ** 31)), "ok");
    assert.equal(r.push(2 ** 31 - 1), "ok");
    assert.deepEqual(drainAll(r), [-5, -(2 ** 31), 2 ** 31 - 1]);
    const safe = new RemoteFreeRing(sab(), 128, 8, true, { crashSafe: true });
    for (const bad of [-1, -5, 0]) {
      assert.throws(
        () => safe.push(bad),
        (e: unknown) =>
          e instanceof AllocError &&
          (e as Error).message === `RemoteFreeRing.push: ${bad} is not a positive 32-bit word`,
      );
    }
    assert.equal(safe.push(1), "ok");
    assert.equal(safe.push(2 ** 31 - 1), "ok");
    assert.deepEqual(drainAll(safe), [1, 2 ** 31 - 1]);
    assert.throws(
      () => safe.reserve(),
      (e: unknown) =>
        e instanceof UnsupportedError && /RemoteFreeRing\.reserve: this ring is crash-safe/.test(`${e}`),
    );
    assert.throws(
      () => safe.publish(0, 1),
      (e: unknown) =>
        e instanceof UnsupportedError && /RemoteFreeRing\.publish: this ring is crash-safe/.test(`${e}`),
    );
  });

  test("a drain takes at most max words, oldest first, and counts them", () => {
    for (const crashSafe of [false, true]) {
      const r = new RemoteFreeRing(sab(), 128, 8, true, { crashSafe });
      for (let i = 1; i <= 6; i++) r.push(i);
      assert.deepEqual(drainAll(r, 0), []);
      assert.deepEqual(drainAll(r, 1), [1]);
      assert.deepEqual(drainAll(r, 2), [2, 3]);
      assert.equal(r.pending(), 3);
      assert.deepEqual(r.counters(), { pushed: 6, drained: 3 });
      assert.deepEqual(drainAll(r), [4, 5, 6]);
      assert.deepEqual(drainAll(r), [], "an empty ring gives nothing");
      assert.deepEqual(r.counters(), { pushed: 6, drained: 6 });
      // laps around the ring, with partial drains
      const got: number[] = [];
      for (let i = 0; i < 40; i++) {
        assert.equal(r.push(100 + i), "ok");
        if (i % 3 === 2) r.drain((w) => got.push(w), 3);
      }
      r.drain((w) => got.push(w));
      assert.deepEqual(
        got,
        Array.from({ length: 40 }, (_, i) => 100 + i),
        `crashSafe ${crashSafe}`,
      );
    }
  });

  test("two-step pushes: the slot of each reservation, the counters, and 'full' at exactly the capacity", () => {
    const r = new RemoteFreeRing(sab(), 128, 4, true);
    const seqs = [r.reserve(), r.reserve(), r.reserve(), r.reserve()];
    assert.deepEqual(seqs, [0, 1, 2, 3]);
    assert.equal(r.reserve(), "full");
    assert.equal(r.pending(), 4, "reserved slots are pending");
    r.publish(2, 30);
    r.publish(0, 10);
    assert.deepEqual(r.counters(), { pushed: 2, drained: 0 });
    assert.deepEqual(drainAll(r), [10], "slot 1 is reserved, not published: the drain stops there");
    r.publish(1, 20);
    r.publish(3, 40);
    assert.equal(r.reserve(), 4);
    r.publish(4, 50);
    assert.deepEqual(drainAll(r), [20, 30, 40, 50]);
    r.close();
    assert.equal(r.reserve(), "closed");
  });

  test("pending() is 0, never negative, while tail lags a word the owner already drained", () => {
    const r = new RemoteFreeRing(sab(), 128, 4, true, { crashSafe: true });
    const x = laggingWord(0);
    assert.deepEqual(drainAll(x), [77]);
    assert.equal(x.pending(), 0, "head is past tail: nothing is pending");
    assert.equal(r.pending(), 0);
  });
});

describe("RemoteFreeRing's close and settled", () => {
  test("two-step: settled once closed and every reserved slot is published and drained", () => {
    const r = new RemoteFreeRing(sab(), 128, 4, true);
    assert.equal(r.settled(), false, "open");
    r.push(1);
    const seq = r.reserve() as number;
    r.close();
    assert.equal(r.closed, true);
    assert.equal(r.push(2), "closed");
    assert.equal(r.settled(), false, "two words are pending");
    drainAll(r);
    assert.equal(r.settled(), false, "a reserved slot is left");
    r.publish(seq, 3);
    assert.deepEqual(drainAll(r), [3]);
    assert.equal(r.settled(), true);
  });

  test("crash-safe: close seals at tail; settled once the owner drained up to the seal", () => {
    const r = new RemoteFreeRing(sab(), 128, 4, true, { crashSafe: true });
    assert.equal(r.settled(), false, "open");
    r.push(1);
    r.push(2);
    r.close();
    assert.equal(r.push(3), "closed");
    assert.equal(r.settled(), false, "two words before the seal");
    assert.deepEqual(drainAll(r, 1), [1]);
    assert.equal(r.settled(), false, "one word before the seal");
    assert.deepEqual(drainAll(r), [2]);
    assert.equal(r.settled(), true);
    assert.deepEqual(drainAll(r), [], "the seal is not a word");
    assert.equal(r.settled(), true);
  });

  test("crash-safe: a producer that saw the ring open before the close finds the seal and is refused", () => {
    const r = new RemoteFreeRing(sab(), 128, 4, true, { crashSafe: true });
    r.push(1);
    // the producer reads `closed` (its first step) and is preempted: the owner closes, sealing the slot at tail
    let result = "";
    const s = preemptAt(
      1,
      () => void (result = r.push(2)),
      () => r.close(),
    );
    assert.ok(s.preempted);
    assert.equal(result, "closed");
    assert.deepEqual(drainAll(r), [1]);
    assert.equal(r.settled(), true);
    assert.equal(r.pending(), 0, "the producer left tail at the seal");
  });

  test("crash-safe: a full ring's close seals on the drain that makes room; settled only once both words are drained", () => {
    const r = new RemoteFreeRing(sab(), 128, 2, true, { crashSafe: true });
    r.push(1);
    r.push(2);
    r.close();
    assert.equal(r.settled(), false);
    assert.deepEqual(drainAll(r, 1), [1]);
    assert.equal(r.settled(), false, "a word is left before the seal");
    assert.deepEqual(drainAll(r), [2]);
    assert.equal(r.settled(), true);
    assert.equal(r.pending(), 0);
  });
});

describe("RemoteFreeRing's seal (crash-safe)", () => {
  test("a full ring refuses pushes as closed once closed, though the seal waits for room", () => {
    const r = new RemoteFreeRing(sab(), 128, 2, true, { crashSafe: true });
    r.push(1);
    r.push(2);
    r.close();
    assert.equal(r.push(3), "closed", "closed, not full");
  });

  test("a push that read the ring open, against a close of a full ring and the drain after it: refused", () => {
    const r = new RemoteFreeRing(sab(), 128, 2, true, { crashSafe: true });
    r.push(1);
    r.push(2);
    let result = "";
    const got: number[] = [];
    const s = preemptAt(
      CLOSED_STEPS,
      () => void (result = r.push(3)),
      () => {
        r.close(); // full: no seal yet
        r.drain((w) => got.push(w)); // room: the drain seals
      },
    );
    assert.ok(s.preempted);
    assert.equal(result, "closed", "the drain after the close sealed the ring before the producer went on");
    assert.deepEqual(got, [1, 2]);
    assert.equal(r.settled(), true);
  });

  test("a close while a stopped producer's tail lags its word: the seal goes after the word", () => {
    const r = laggingWord(5); // five words along: tail and head are not 0
    r.close();
    assert.equal(r.settled(), false, "a word is still in the ring (pending() does not count it)");
    assert.deepEqual(drainAll(r), [77]);
    assert.equal(r.settled(), true);
    assert.equal(r.push(5), "closed");
  });

  /** The index in `i32` of the slot of sequence `seq` of a ring of 4 slots. */
  const slotOf = (r: RemoteFreeRing, seq: number): number => (r.offset + RING_CONTROL_BYTES) / 4 + (seq & 3);
  /** The steps of a push up to the CAS of its slot: it reads closed, tail, head and the slot. */
  const BEFORE_SLOT_CAS = 4;

  test("a close while a producer between its slot's CAS and tail's move is paused: no push lands after the close", () => {
    // B reads the ring open and is preempted; A pushes and is preempted right after the CAS of its slot (tail
    // lags A's word); the owner closes, and its seal moves tail past A's word (as a producer would) and seals after
    // it; A's own move of tail then fails, and A returns; B goes on. B is refused: no push lands after the close.
    const r = new RemoteFreeRing(sab(), 128, 4, true, { crashSafe: true });
    for (let i = 0; i < 5; i++) {
      r.push(1000 + i); // five words along: tail and head are 5 (past a lap, not 0)
      r.drain(() => {});
    }
    let resultA = "";
    let resultB = "";
    let pausedA = false;
    const s = preemptAt(
      CLOSED_STEPS,
      () => void (resultB = r.push(5)),
      () => {
        pausedA = preemptAt(
          BEFORE_SLOT_CAS + 1,
          () => void (resultA = r.push(77)),
          () => r.close(),
        ).preempted;
      },
    );
    assert.ok(s.preempted && pausedA);
    assert.equal(resultA, "ok", "A's word was in before the close");
    assert.equal(resultB, "closed", "B went on after the close returned");
    assert.deepEqual(drainAll(r), [77]);
    assert.equal(r.settled(), true);
  });

  test("the seal's CAS losing to a producer's slot CAS: the seal goes after that word, no push lands after the close", () => {
    // B reads the ring open and is preempted; the owner closes, and producer A (read the ring open before) does
    // the CAS of its slot after each step of the close; A then moves tail on; B goes on. A's word, if it landed,
    // is drained; B is refused in every schedule.
    let lost = 0;
    for (let k = 0; k < 12; k++) {
      const r = new RemoteFreeRing(sab(), 128, 4, true, { crashSafe: true });
      r.push(1);
      let tailA = -1;
      let landed = false;
      let resultB = "";
      let closeRan = false;
      preemptAt(
        CLOSED_STEPS,
        () => void (resultB = r.push(3)),
        () => {
          const inClose = preemptAt(
            k,
            () => r.close(),
            () => {
              // A's CAS, from lap 0's empty value, of the slot at the tail it read
              tailA = Atomics.load(r.memory.i32, r.offset / 4 + W_TAIL);
              landed = Atomics.compareExchange(r.memory.i32, slotOf(r, tailA), 0, 2) === 0;
            },
          );
          closeRan = inClose.preempted;
          if (landed) Atomics.compareExchange(r.memory.i32, r.offset / 4 + W_TAIL, tailA, tailA + 1); // A goes on
        },
      );
      if (!closeRan) break;
      assert.equal(resultB, "closed", `A stepped in after ${k} steps of the close`);
      assert.deepEqual(drainAll(r), landed ? [1, 2] : [1], `A stepped in after ${k} steps of the close`);
      assert.equal(r.settled(), true);
      if (landed && k > 0) lost++;
    }
    assert.ok(lost > 0, "some schedule has A's word land inside the close");
  });
});

describe("RemoteFreeRing's settled, asked by another process", () => {
  const CLOSE_STORE = 1; // close()'s first shared-memory step stores the closed flag; its seal follows

  test("an owner stopped inside close(), before its seal: another process seals, and settled is true", () => {
    const r = new RemoteFreeRing(sab(), 128, 4, true, { crashSafe: true });
    r.push(1);
    r.drain(() => {});
    stopAfter(CLOSE_STORE, () => r.close());
    assert.equal(r.closed, true);
    const peer = new RemoteFreeRing(r.memory, 128, 4, false);
    assert.equal(peer.settled(), true, "closed, and every word accepted was drained");
    assert.equal(peer.push(2), "closed");
    assert.equal(peer.pending(), 0);
  });

  test("an owner stopped inside close() while tail lags a word: settled is false until that word is drained", () => {
    const r = laggingWord(0);
    stopAfter(CLOSE_STORE, () => r.close());
    const peer = new RemoteFreeRing(r.memory, 128, 4, false);
    assert.equal(peer.settled(), false, "word 77 is in the ring (tail lags it: pending() was 0)");
    assert.deepEqual(drainAll(r), [77]);
    assert.equal(peer.settled(), true);
  });

  /** A crash-safe ring of `capacity` slots, full of words 1, 2, ..., closed (so not sealed: no room for the seal). */
  const fullClosed = (capacity: number): RemoteFreeRing => {
    const r = new RemoteFreeRing(sab(), 128, capacity, true, { crashSafe: true });
    for (let i = 1; i <= capacity; i++) assert.equal(r.push(i), "ok");
    r.close();
    return r;
  };
  const words = (r: RemoteFreeRing): { head: number; tail: number; atHead: number } => {
    const i32 = r.memory.i32;
    const head = Atomics.load(i32, r.offset / 4 + 1);
    const slot = (r.offset + RING_CONTROL_BYTES) / 4 + (head & (r.capacity - 1));
    return { head, tail: Atomics.load(i32, r.offset / 4 + W_TAIL), atHead: Atomics.load(i32, slot) };
  };
  const SEALED = -0x8000_0000;

  test("a full ring that the owner drains and dies before sealing, under another process's settled(): true only once sealed", () => {
    // the owner's drain stopped right after it moved head past the second word (before its seal)
    let drainSteps = 0;
    for (let k = 1; k < 20 && drainSteps === 0; k++) {
      const x = fullClosed(2);
      stopAfter(k, () => void x.drain(() => {}));
      if (x.pending() === 0) drainSteps = k;
    }
    assert.ok(drainSteps > 0);
    // the peer is preempted at each of its steps (closed, tail, head: the ring is full; or, once the drain made room,
    // the slot and the seal's CAS); only a peer that placed the seal itself may answer true
    let foundFull = 0;
    for (let k = 0; ; k++) {
      const r = fullClosed(2);
      const peer = new RemoteFreeRing(r.memory, 128, 2, false);
      let answer: boolean | undefined;
      const s = preemptAt(
        k,
        () => void (answer = peer.settled()),
        () => void stopAfter(drainSteps, () => void r.drain(() => {})),
      );
      if (!s.preempted) break;
      const after = words(r);
      if (answer === true)
        assert.ok(after.atHead === SEALED && after.head === after.tail, `preempted at ${k}`);
      else foundFull++;
      assert.equal(peer.settled(), true, `preempted at ${k}: the peer seals now, and nothing is pending`);
      assert.equal(words(r).atHead, SEALED);
    }
    assert.ok(foundFull > 0, "some schedule has the peer find the ring full, then the drain make room");
  });

  test("a peer's settled() preempted at every step by the owner's whole last drain: tail never passes the seal", () => {
    // the drain seals at its end; a seal() that read the slot at tail (a word of the previous lap) before the drain
    // and head after it would take the ring for not full and move tail past the owner's seal: head, stopped at the
    // seal, would never reach tail again, and settled() would be false for ever
    for (const capacity of [1, 2, 4]) {
      for (let k = 0; ; k++) {
        const r = fullClosed(capacity);
        const peer = new RemoteFreeRing(r.memory, 128, capacity, false);
        let got: number[] = [];
        const s = preemptAt(
          k,
          () => void peer.settled(),
          () => void (got = drainAll(r)),
        );
        if (!s.preempted) break;
        const at = `capacity ${capacity}, preempted at ${k}`;
        assert.equal(got.length, capacity, at);
        assert.deepEqual(words(r), { head: capacity, tail: capacity, atHead: SEALED }, at);
        assert.equal(peer.settled(), true, at);
        assert.equal(r.settled(), true, at);
      }
    }
  });

  test("a producer that read the ring open, a peer's settled() cut short at every step around the owner's last drain: refused", () => {
    // P reads the ring open and is preempted; the owner closes the full ring; a peer's settled() is preempted at its
    // step k by the owner's whole drain (which seals at its end), and the peer dies after j steps in all (the
    // drain's counted: schedules that would cut the drain are skipped); then P goes on. A seal() that moved tail
    // past the owner's seal and died before sealing again would let P push behind the seal, where no drain reaches.
    let schedules = 0;
    for (let k = 0; k < 8; k++) {
      for (let j = k; j < k + 40; j++) {
        const r = fullClosed(2);
        const producer = new RemoteFreeRing(r.memory, 128, 2, false);
        const peer = new RemoteFreeRing(r.memory, 128, 2, false);
        let result = "";
        let drained: number[] | undefined;
        preemptAt(
          CLOSED_STEPS,
          () => void (result = producer.push(77)),
          () =>
            void stopAfter(j, () =>
              preemptAt(
                k,
                () => void peer.settled(),
                () => void (drained = drainAll(r)),
              ),
            ),
        );
        if (drained === undefined) continue; // the stop fell inside the owner's drain
        schedules++;
        const at = `peer preempted at ${k}, stopped after ${j} steps`;
        assert.equal(result, "closed", at);
        assert.deepEqual([...drained, ...drainAll(r)], [1, 2], at);
        assert.equal(r.settled(), true, at);
      }
    }
    assert.ok(schedules > 20, `${schedules} schedules`);
  });

  test("asked at every step of the owner's last drain: true exactly once every word is drained", () => {
    // the ring was full at the close, so the close could not seal: the seal is placed by whoever comes first after
    // the drain makes room, the drain itself or the process asking
    for (let k = 0; k < 40; k++) {
      const r = new RemoteFreeRing(sab(), 128, 2, true, { crashSafe: true });
      r.push(1);
      r.push(2);
      r.close();
      const peer = new RemoteFreeRing(r.memory, 128, 2, false);
      let answer: boolean | undefined;
      let head = -1;
      const s = preemptAt(
        k,
        () => void r.drain(() => {}),
        () => {
          head = Atomics.load(r.memory.i32, r.offset / 4 + 1);
          answer = peer.settled();
        },
      );
      if (!s.preempted) break;
      assert.equal(answer, head === 2, `asked after ${k} steps of the drain (head ${head})`);
      assert.equal(peer.settled(), true, "after the drain");
    }
  });
});

describe("RemoteFreeRing's waits", () => {
  test("over a SharedArrayBuffer: space now is true at once, a full ring times out", () => {
    const r = new RemoteFreeRing(sab(), 128, 2, true);
    assert.equal(r.waitForSpace(0), true, "empty");
    r.push(1);
    assert.equal(r.waitForSpace(0), true, "one slot free");
    r.push(2);
    assert.equal(r.waitForSpace(0), false, "full, no drain");
  });

  test("over a process-shared memory: the wait goes to the futex on the space word, announced to the drain", () => {
    const waiting = new FakeWaiting();
    const r = new RemoteFreeRing(plain(), 128, 2, true, { waiting });
    const spaceOffset = 128 + 7 * 4;
    assert.equal(r.waitForSpace(50), true, "space now: no wait");
    assert.equal(waiting.waits.length, 0);
    r.push(1);
    r.push(2);
    r.drain(() => {}, 1); // nobody waits: no notify
    assert.deepEqual(waiting.notifies, []);
    r.push(3);
    waiting.outcome = "timed-out";
    assert.equal(r.waitForSpace(50), false);
    assert.equal(waiting.waits.length, 1);
    const first = waiting.waits[0]!;
    assert.equal(first.offset, spaceOffset);
    assert.equal(first.timeoutMs, 50);
    assert.equal(first.expected, Atomics.load(r.memory.i32, spaceOffset / 4), "the counter it read");
    // another process drains while this one waits: it sees the announced waiter and wakes the futex
    waiting.during = () => void r.drain(() => {}, 1);
    waiting.outcome = "ok";
    assert.equal(r.waitForSpace(50), true);
    assert.deepEqual(waiting.notifies, [spaceOffset]);
    // the waiter is gone: the next drain wakes no one
    waiting.during = undefined;
    r.drain(() => {});
    assert.deepEqual(waiting.notifies, [spaceOffset]);
    // an empty drain makes no space: no wake even with a waiter
    r.push(4);
    r.push(5);
    waiting.during = () => void r.drain(() => {}, 0);
    waiting.outcome = "timed-out";
    assert.equal(r.waitForSpace(50), false);
    assert.deepEqual(waiting.notifies, [spaceOffset]);
    // a close wakes the waiter, and a closed ring does not wait
    waiting.during = () => r.close();
    waiting.outcome = "ok";
    assert.equal(r.waitForSpace(50), true);
    assert.deepEqual(waiting.notifies, [spaceOffset, spaceOffset]);
    const waits = waiting.waits.length;
    assert.equal(r.waitForSpace(50), true, "closed: nothing to wait for");
    assert.equal(waiting.waits.length, waits);
  });

  test("over a process-shared memory: a drain after a wait that threw wakes no one (the waiter count is restored)", () => {
    const waiting = new FakeWaiting();
    const r = new RemoteFreeRing(plain(), 128, 1, true, { waiting });
    r.push(1);
    waiting.during = () => {
      throw new Error("interrupted");
    };
    assert.throws(() => r.waitForSpace(10), /interrupted/);
    waiting.during = undefined;
    r.drain(() => {});
    assert.deepEqual(waiting.notifies, []);
  });
});
