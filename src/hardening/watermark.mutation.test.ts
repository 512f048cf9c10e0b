// Watermark: levels crossed by a grow (at the exact level, and not before it), what a shrink after `rearm` does, a
// grow that fails, `reset`, the threshold checks at their bounds, and the carving refusal. Written to kill the
// mutants that survived the rest of the suite (docs/TESTING.md, `npm run mutate -- watermark`).
import assert from "node:assert/strict";
import { test } from "node:test";
import { AllocError, ArrayBufferBacked, BumpArena, NULL } from "../index.js";
import { Watermark, type WatermarkEvent } from "./index.js";

/** A Watermark over a 1000-byte arena (warn at 750 bytes, critical at 900), recording every event. */
function watched(thresholds = {}): { w: Watermark<BumpArena>; events: WatermarkEvent[] } {
  const events: WatermarkEvent[] = [];
  const arena = new BumpArena(new ArrayBufferBacked(1000));
  const w = new Watermark(
    arena,
    { onWarn: (e) => events.push(e), onCritical: (e) => events.push(e), onOom: (e) => events.push(e) },
    thresholds,
  );
  return { w, events };
}

test("Watermark: a grow that reaches the warning level exactly fires it during the grow, with the grown total", () => {
  const { w, events } = watched();
  assert.equal(w.warnBytes, Math.ceil(w.capacityBytes() * 0.75));
  const p = w.allocate(100);
  const q = w.grow(p, 100, w.warnBytes);
  assert.equal(q, p, "the arena grows its last block in place");
  assert.equal(events.length, 1);
  assert.equal(events[0]!.level, "warn");
  assert.equal(events[0]!.allocatedBytes, w.warnBytes);
  assert.equal(w.allocatedBytes(), w.warnBytes);
});

test("Watermark: a grow that stays below the warning level fires nothing and counts the bytes it adds", () => {
  const { w, events } = watched();
  const p = w.allocate(300);
  assert.equal(w.grow(p, 300, 400), p); // 300 + 400 would be past the level; 400 is not
  assert.deepEqual(events, []);
  assert.equal(w.allocatedBytes(), 400);
  assert.equal(w.shrink(p, 400, 150), p);
  assert.equal(w.allocatedBytes(), 150);
  assert.deepEqual(events, []);
});

test("Watermark: after rearm, a shrink that stays above a level fires nothing; the next allocation does", () => {
  const { w, events } = watched();
  const p = w.allocate(800); // warn
  assert.deepEqual(
    events.map((e) => e.level),
    ["warn"],
  );
  w.rearm();
  assert.equal(w.shrink(p, 800, 780), p);
  assert.equal(w.grow(p, 780, 780), p, "a grow to the same size adds nothing");
  assert.deepEqual(
    events.map((e) => e.level),
    ["warn"],
    "a shrink (or a grow by nothing) is not an allocation",
  );
  w.allocate(8);
  assert.deepEqual(
    events.map((e) => e.level),
    ["warn", "warn"],
  );
  assert.equal(events[1]!.allocatedBytes, 788);
});

test("Watermark: a grow that fails reports onOom and leaves the live bytes as they were", () => {
  const { w, events } = watched({ warn: 1, critical: 1 }); // no level below the capacity
  const a = w.allocate(200);
  const b = w.allocate(8);
  const moved = w.grow(a, 200, 400); // moves: the arena keeps the old 200 bytes until reset
  assert.notEqual(moved, a);
  assert.equal(w.allocatedBytes(), 408);
  assert.equal(w.grow(b, 8, 400), NULL, "no room left to move the block");
  assert.equal(w.allocatedBytes(), 408);
  assert.deepEqual(
    events.map((e) => [e.level, e.allocatedBytes, e.requestedSize]),
    [["oom", 408, 400]],
  );
});

test("Watermark.reset resets the inner and the live bytes", () => {
  const { w } = watched();
  const first = w.allocate(500);
  w.reset();
  assert.equal(w.allocatedBytes(), 0);
  assert.equal(w.allocate(500), first, "the arena was reset: the same bytes are handed out again");
});

test("Watermark: thresholds are checked at their bounds", () => {
  const bad = [
    { warn: 0, critical: 0.5 },
    { warn: 0.5, critical: 1.5 },
    { warn: 0.8, critical: 0.5 },
    { warn: 0.5, critical: "0.9" },
    { warn: "0.5", critical: 0.9 },
  ];
  for (const t of bad) {
    assert.throws(() => watched(t as never), AllocError, JSON.stringify(t));
  }
  const { w } = watched({ warn: 0.5, critical: 0.5 }); // equal levels are allowed
  assert.equal(w.warnBytes, w.criticalBytes);
  const full = watched({ warn: 1, critical: 1 }).w;
  assert.equal(full.criticalBytes, full.capacityBytes());
});

test("Watermark under a carving layout is refused: the arena would never call its allocate", () => {
  assert.throws(
    () => new BumpArena(new Watermark(new ArrayBufferBacked(1 << 12))),
    (e: unknown) => e instanceof AllocError && /Watermark/.test(e.message),
  );
});
