// The Rust crate's rows that the port lacked (issue "The seed exactly..."): Canary::canary_value, into_parts on
// WithFallback and Faulty, and the Watermark LogHandler.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  BumpArena,
  NULL,
  Slab,
  StaticBacked,
  WithFallback,
} from "../index.js";
import { AlwaysFail, Canary, Faulty, FailAfter, LogHandler, Watermark } from "./index.js";

test("Canary.canaryValue() is the seed as a little-endian u64, and the words around a block hold it", () => {
  const seed = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const c = new Canary(new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 8 }), { seed });
  assert.equal(c.canaryValue(), 0x0807060504030201n);
  const p = c.allocate(24);
  assert.equal(c.memory.dataView.getBigUint64(p + 24, true), c.canaryValue(), "the post canary");
  assert.ok(!JSON.stringify(c).includes("0807060504030201"));
  const zero = new Canary(new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 8 }), {
    seed: new Uint8Array(8),
  });
  assert.equal(zero.canaryValue(), 0xcafebabedeadbeefn, "an all-zero seed is replaced");
});

test("WithFallback.intoParts() hands the parts back; the wrapper then refuses to allocate, frees still route", () => {
  const backing = new ArrayBufferBacked(1 << 16);
  const fast = new Slab(backing, { blockSize: 64, capacity: 8 });
  const slow = new BumpArena(StaticBacked.carve(backing, 1 << 12));
  const both = new WithFallback(fast, slow);
  const p = both.allocate(64);
  const { primary, secondary } = both.intoParts();
  assert.equal(primary, fast);
  assert.equal(secondary, slow);
  assert.throws(() => both.allocate(64), AllocError);
  both.deallocate(p, 64);
  assert.equal(primary.allocate(64), p, "the freed block went back to the primary");
});

test("Faulty.intoParts() hands back the inner and the policy; the wrapper then refuses to allocate", () => {
  const slab = new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 8 });
  const faulty = new Faulty(slab, new FailAfter(1));
  const p = faulty.allocate(64);
  assert.equal(faulty.allocate(64), NULL);
  const { inner, policy } = faulty.intoParts();
  assert.equal(inner, slab);
  assert.ok(policy instanceof FailAfter);
  assert.throws(() => faulty.allocate(64), AllocError);
  faulty.deallocate(p, 64);
  assert.notEqual(inner.allocate(64), NULL);
  assert.ok(new Faulty(slab, new AlwaysFail()).intoParts().policy instanceof AlwaysFail);
});

test("LogHandler writes warn to console.warn and critical and oom to console.error", () => {
  const lines: string[] = [];
  const { warn, error } = console;
  console.warn = (m: string) => lines.push(`warn ${m}`);
  console.error = (m: string) => lines.push(`error ${m}`);
  try {
    const w = new Watermark(
      new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 4 }),
      LogHandler,
    );
    for (let i = 0; i < 5; i++) w.allocate(64);
  } finally {
    console.warn = warn;
    console.error = error;
  }
  assert.deepEqual(lines, [
    "warn forge-alloc Watermark: warn: 192 of 256 bytes allocated",
    "error forge-alloc Watermark: critical: 256 of 256 bytes allocated",
    "error forge-alloc Watermark: out of memory: 256 of 256 bytes allocated; 64 bytes requested",
  ]);
});
