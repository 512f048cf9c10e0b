// Issue 12: the Slab free-list MAC binds a per-free sequence, so a saved and replayed entry is refused; and a
// SlabOwner that refuses to be built keeps no bytes of its backing, nor formats over a live ring.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  CorruptionError,
  HalfSipHashMac,
  InvalidPointerError,
  SharedArrayBufferBacked,
  Statistics,
  Tlsf,
} from "../index.js";
import { RemoteFreeRing, Slab, SlabOwner } from "./index.js";
import { CountingMac } from "../../test/helpers/counting-mac.js";

describe("Slab free-list MAC against replays", () => {
  const signed = (): { slab: Slab; set: Int32Array } => {
    const meta = new ArrayBufferBacked(1 << 12); // the free set lives here, where other code can write
    const slab = new Slab(new ArrayBufferBacked(1 << 14), {
      blockSize: 64,
      capacity: 8,
      metadata: meta,
      protection: new HalfSipHashMac(),
    });
    return { slab, set: new Int32Array(meta.memory.buffer, 16, 3 * 8) };
  };

  test("a free-list entry saved and written back after its block was reissued is refused, not issued twice", () => {
    const { slab, set } = signed();
    const a = slab.allocate(64);
    const b = slab.allocate(64);
    slab.deallocate(a, 64); // entry 0: a, with its tag
    const saved = [set[0]!, set[8 + 0]!, set[16 + 0]!]; // stack, a's position, tag
    assert.equal(slab.allocate(64), a, "a is live again");
    slab.deallocate(b, 64); // entry 0 is now b's, with b's tag
    set[0] = saved[0]!; // the attacker replays a's old entry over b's
    set[8 + (a - slab.base()) / 64] = saved[1]!;
    set[16 + 0] = saved[2]!;
    assert.throws(() => slab.allocate(64), CorruptionError, "a stays live; the replay is detected");
    assert.equal(slab.corruptionEvents(), 1);
    const next = slab.allocate(64);
    assert.notEqual(next, a, "the replayed block is never handed out while live");
    slab.validate();
  });

  test("an entry moved to another position of the stack is refused", () => {
    const { slab, set } = signed();
    const ptrs = Array.from({ length: 3 }, () => slab.allocate(64));
    for (const p of ptrs) slab.deallocate(p, 64);
    set[2] = set[0]!; // copy entry 0 (and its tag) over entry 2
    set[16 + 2] = set[16 + 0]!;
    set[8 + (ptrs[0]! - slab.base()) / 64] = 2;
    assert.throws(() => slab.allocate(64), CorruptionError);
  });

  test("an honest slab with a MAC never reports corruption over a long random run", () => {
    const { slab } = signed();
    const live: number[] = [];
    let seed = 7;
    for (let i = 0; i < 20_000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      if (live.length > 0 && (seed & 1) === 0) slab.deallocate(live.splice(seed % live.length, 1)[0]!, 64);
      else {
        const p = slab.allocate(64);
        if (p !== 0) live.push(p);
      }
    }
    assert.equal(slab.corruptionEvents(), 0);
    slab.validate();
  });
});

describe("Slab free-list MAC: the top entry is signed when a later free buries it", () => {
  const counted = (): { slab: Slab; set: Int32Array; mac: CountingMac } => {
    const meta = new ArrayBufferBacked(1 << 12);
    const mac = new CountingMac();
    const slab = new Slab(new ArrayBufferBacked(1 << 14), {
      blockSize: 64,
      capacity: 8,
      metadata: meta,
      protection: mac,
    });
    return { slab, set: new Int32Array(meta.memory.buffer, 16, 3 * 8), mac };
  };

  test("a free then an allocation computes no tag; k frees then k allocations compute and check k - 1", () => {
    const { slab, mac } = counted();
    const blocks = Array.from({ length: 5 }, () => slab.allocate(64));
    for (const p of blocks) slab.deallocate(p, 64); // onto an empty stack
    for (let i = 0; i < blocks.length; i++) slab.allocate(64);
    assert.deepEqual([mac.signs, mac.verifies], [4, 4]);
    for (let i = 0; i < 100; i++) slab.deallocate(slab.allocate(64), 64);
    assert.deepEqual([mac.signs, mac.verifies], [4, 4], "round trips reuse the top entry: no tag");
    assert.equal(slab.corruptionEvents(), 0);
    slab.validate();
  });

  test("the top entry rewritten before a free buries it is refused: the tag is made from the JS-heap copy", () => {
    const { slab, set } = counted();
    const [a, b, c] = [slab.allocate(64), slab.allocate(64), slab.allocate(64)];
    slab.deallocate(a, 64); // entry 0: a, unsigned, with its copy in the JS heap
    set[0] = b; // the attacker names a live block in the top entry ...
    set[8 + (b - slab.base()) / 64] = 0; // ... and makes the position agree
    slab.deallocate(c, 64); // buries entry 0: its tag is a's, not b's
    assert.equal(slab.allocate(64), c);
    assert.throws(() => slab.allocate(64), CorruptionError, "b, still live, is never handed out");
    assert.equal(slab.corruptionEvents(), 1);
  });

  test("an unsigned top entry that names another block is refused when popped", () => {
    const { slab, set } = counted();
    const [a, b] = [slab.allocate(64), slab.allocate(64)];
    slab.deallocate(a, 64);
    set[0] = b;
    set[8 + (b - slab.base()) / 64] = 0;
    assert.throws(() => slab.allocate(64), CorruptionError);
    assert.notEqual(slab.allocate(64), b, "b stays live");
  });
});

describe("SlabOwner construction", () => {
  test("a refused construction keeps no bytes of its backing", () => {
    const backing = new Statistics(new Tlsf(new SharedArrayBufferBacked(1 << 16)));
    for (const options of [
      { blockSize: 0, capacity: 4 },
      { blockSize: 8, capacity: 0 },
      { blockSize: 8, capacity: 4, ringCapacity: 3 },
      { blockSize: 8, capacity: 4, align: 3 },
      { blockSize: 64, capacity: 100_000 }, // does not fit
    ]) {
      assert.throws(() => new SlabOwner(backing, options), AllocError, JSON.stringify(options));
      assert.equal(backing.stats().liveCount, 0, `${JSON.stringify(options)}: nothing kept`);
    }
    const bump = new SharedArrayBufferBacked(1 << 16);
    assert.throws(() => new SlabOwner(bump, { blockSize: 64, capacity: 100_000 }), AllocError);
    assert.throws(() => new SlabOwner(bump, { blockSize: 8, capacity: 4, ringCapacity: 3 }), AllocError);
    assert.equal(bump.allocated(), 0, "not even from a bump backing");
  });

  test("formatting a ring over a live ring is refused; a closed owner's ring can be formatted anew", () => {
    const backing = new SharedArrayBufferBacked(1 << 16);
    const owner = new SlabOwner(backing, { blockSize: 16, capacity: 16, ringCapacity: 8 });
    const ring = owner.ring;
    assert.throws(
      () => new RemoteFreeRing(backing.memory, ring.offset, 8, true),
      /already holds a live ring/,
    );
    assert.equal(ring.push(owner.allocate(16)), "ok", "the live ring was not touched");
    owner.close();
    const again = new RemoteFreeRing(backing.memory, ring.offset, 8, true);
    assert.equal(again.pending(), 0);
    assert.throws(() => owner.deallocate(12345, 16), InvalidPointerError);
  });
});
