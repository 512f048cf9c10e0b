// forge-alloc: corrupts memory on purpose (run-tests keeps it out of the debug-level pass)
// Slab with a MAC: an entry of the free set in memory that is a real free slot at its recorded place but carries a
// wrong or replayed tag must be refused by the MAC itself (the top entry is checked against the slab's own copy; an
// entry is signed when a later free buries it). The position check cannot see it, so a Slab that skipped
// `protection.verify` on allocation passed every other test (issue #15); these fail with that mutant every time.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayBufferBacked, CorruptionError, HalfSipHashMac } from "../index.js";
import { Slab } from "./slab.js";

const CAP = 8;
const signed = (): Slab =>
  new Slab(new ArrayBufferBacked(1 << 12), {
    blockSize: 32,
    capacity: CAP,
    metadata: new ArrayBufferBacked(1 << 10),
    protection: new HalfSipHashMac(),
  });
/** The free set the slab keeps in its metadata memory: stack, then positions, then tags (what an attacker can write). */
const freeSet = (slab: Slab): Int32Array => (slab as unknown as { freeSet: Int32Array }).freeSet;

test("Slab with a MAC: a buried free entry at its recorded place with a flipped tag is refused, counted and not followed", () => {
  for (let bit = 0; bit < 32; bit++) {
    const slab = signed();
    const blocks = Array.from({ length: 4 }, () => slab.allocate(32));
    slab.deallocate(blocks[0]!, 32); // position 0: signed when the next free buries it
    slab.deallocate(blocks[1]!, 32); // the top, position 1: checked against the slab's own copy, not a tag
    const set = freeSet(slab);
    assert.equal(set[0], blocks[0]);
    set[2 * CAP]! ^= 1 << bit;
    assert.equal(slab.allocate(32), blocks[1], "the intact top is followed");
    assert.throws(() => slab.allocate(32), CorruptionError, `bit ${bit} of the tag`);
    assert.equal(slab.corruptionEvents(), 1);
    // The abandoned free list is never followed: the next blocks come from the untouched tail.
    const next = slab.allocate(32);
    assert.ok(!blocks.includes(next), `handed out ${next} from the abandoned free list`);
  }
});

test("Slab with a MAC: an old tag replayed for the same slot at the same place is refused (the sequence differs)", () => {
  const slab = signed();
  const a = slab.allocate(32);
  const b = slab.allocate(32);
  slab.deallocate(a, 32);
  slab.deallocate(b, 32); // buries a: a is signed at position 0
  const set = freeSet(slab);
  const oldTag = set[2 * CAP]!;
  assert.equal(slab.allocate(32), b);
  assert.equal(slab.allocate(32), a, "the intact entry is followed");
  slab.deallocate(a, 32);
  slab.deallocate(b, 32); // a is signed again, with a new sequence number
  assert.notEqual(set[2 * CAP], oldTag, "each burial signs with a new sequence number");
  set[2 * CAP] = oldTag;
  assert.equal(slab.allocate(32), b);
  assert.throws(() => slab.allocate(32), CorruptionError);
  assert.equal(slab.corruptionEvents(), 1);
});

test("Slab with a MAC: intact entries are followed in LIFO order and count no corruption", () => {
  const slab = signed();
  const blocks = Array.from({ length: CAP }, () => slab.allocate(32));
  for (const p of blocks) slab.deallocate(p, 32);
  const again = Array.from({ length: CAP }, () => slab.allocate(32));
  assert.deepEqual(again, [...blocks].reverse());
  assert.equal(slab.corruptionEvents(), 0);
});
