// forge-alloc: corrupts memory on purpose (run-tests keeps it out of the debug-level pass)
// Slab, the second round of mutation tests (issue #15): the survivors of the first run over `slab.ts` lines 1-436
// with slab.mutation2, and the edges of the rest that mutation2 leaves to chance (slot 0 in the messages and in
// sizeOf, a free-set word outside the stack that happens to equal the position a forged entry claims).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AllocError,
  type Allocator,
  ArrayBufferBacked,
  CorruptionError,
  InvalidPointerError,
  Memory,
} from "../index.js";
import { isError, validateFails } from "../../test/helpers/assertions.js";
import { Slab } from "./slab.js";

type Inside = { freeSet: Int32Array; freeCount: number; carved: number };
const inside = (slab: Slab): Inside => slab as unknown as Inside;

test("Slab: slot 0 is a slot in sizeOf and in the double-free message", () => {
  const slab = new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 32, capacity: 4 });
  const p = slab.allocate(32);
  assert.equal(p, slab.base());
  assert.equal(slab.sizeOf(p), 32);
  slab.deallocate(p, 32);
  assert.equal(slab.sizeOf(p), -1);
  assert.throws(
    () => slab.deallocate(p, 32),
    isError(InvalidPointerError, /slot 0 of the slab is not live: a double free/),
  );
});

test("Slab.validate: an entry before the region is refused even when the word its position would be read from matches", () => {
  const slab = new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 16, capacity: 4 });
  const a = slab.allocate(16);
  slab.allocate(16);
  slab.deallocate(a, 16); // stack [slot 0], count 1
  const s = inside(slab);
  s.freeSet[0] = slab.base() - 16; // slot -1: its "position" would be freeSet[4 - 1], an unused stack word
  s.freeSet[3] = 0;
  validateFails(slab, "Slab", /free stack entry 0 \(slot -1\)/);
});

test("Slab with its free set in metadata: a buried entry that is no slot start is refused, whatever the words around it hold", () => {
  const slab = new Slab(new ArrayBufferBacked(1 << 12), {
    blockSize: 32,
    capacity: 4,
    metadata: new ArrayBufferBacked(1 << 10),
  });
  const [x, y] = [slab.allocate(32), slab.allocate(32)];
  slab.deallocate(x, 32);
  slab.deallocate(y, 32);
  assert.equal(slab.allocate(32), y); // x, at position 0, is now the top, and buried (no JS-heap copy of it)
  const set = inside(slab).freeSet;
  set[0] = x + 1;
  set[3] = 0; // the word a lookup of slot -1's position would read
  assert.throws(() => slab.allocate(32), CorruptionError);
  assert.equal(slab.corruptionEvents(), 1);
});

test("Slab options: each bad number names its option; a null backing, metadata or protection is an AllocError", () => {
  const backing = new ArrayBufferBacked(1 << 12);
  assert.throws(
    () => new Slab(backing, { blockSize: 0, capacity: 4 }),
    isError(AllocError, /^Slab: blockSize 0 is not valid; expected an integer from 1 to 1073741824$/),
  );
  assert.throws(
    () => new Slab(backing, { blockSize: 8, capacity: 0 }),
    isError(AllocError, /^Slab: capacity 0 is not valid; expected an integer from 1 to 16777216$/),
  );
  assert.throws(
    () => new Slab(null as never, { blockSize: 8, capacity: 1 }),
    isError(AllocError, /the backing must be an Allocator$/),
  );
  assert.throws(
    () => new Slab(backing, { blockSize: 8, capacity: 1, metadata: null as never }),
    isError(AllocError, /the metadata option must be an Allocator$/),
  );
  assert.throws(
    () => new Slab(backing, { blockSize: 8, capacity: 1, protection: null as never }),
    isError(AllocError, /the protection option must be a FreelistProtection/),
  );
});

/** A backing over `memory` that hands out `region`. */
const at = (memory: Memory, region: number): Allocator =>
  ({
    memory,
    allocate: () => region,
    allocateZeroed: () => region,
    deallocate: () => {},
  }) as unknown as Allocator;

test("Slab.scrubFree: fill bytes 0 and 1 go bytewise too when a slot is not 8-aligned", () => {
  for (const byte of [0, 1]) {
    // stride 12 (every other slot at 4 mod 8), and stride 8 over a region at 4 mod 8
    for (const [stride, region] of [
      [12, 16],
      [8, 260],
      [72, 260],
    ] as const) {
      const memory = new Memory(new ArrayBuffer(4096));
      const slab = new Slab(at(memory, region), { blockSize: stride, capacity: 4, align: 4 });
      const ps = Array.from({ length: 4 }, () => slab.allocate(stride, 4));
      const first = region - 8;
      const end = region + 4 * stride + 8;
      memory.u8.fill(0xc3, first, end);
      assert.equal(slab.scrubFree(ps[1]!, stride, 4, byte), stride);
      assert.equal(slab.scrubFree(ps[2]!, stride, 4, byte), stride);
      const want = new Array(end - first).fill(0xc3);
      for (let i = ps[1]! - first; i < ps[3]! - first; i++) want[i] = byte;
      assert.deepEqual(
        [...memory.u8.subarray(first, end)],
        want,
        `stride ${stride}, region ${region}, byte ${byte}`,
      );
    }
  }
});

test("Slab.scrubFree on a checked slab: slots of one to three words are filled exactly, by the slow path's loop", () => {
  for (const stride of [8, 16, 24, 32]) {
    const slab = new Slab(new ArrayBufferBacked(1 << 12), {
      blockSize: stride,
      capacity: 3,
      metadata: new ArrayBufferBacked(1 << 10),
    });
    const u8 = slab.memory.u8;
    const ps = [slab.allocate(stride), slab.allocate(stride), slab.allocate(stride)];
    u8.fill(0xc3, ps[0]!, ps[2]! + stride + 64);
    assert.equal(slab.scrubFree(ps[1]!, stride, 8, 0x3c), stride);
    const want = new Array(3 * stride + 64).fill(0xc3);
    for (let i = 0; i < stride; i++) want[stride + i] = 0x3c;
    assert.deepEqual([...u8.subarray(ps[0]!, ps[2]! + stride + 64)], want, `stride ${stride}`);
  }
});

test("Slab.scrubFree's fast path records the freed slot's own position: a later double free of it is refused", () => {
  const slab = new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 16, capacity: 4 });
  const ps = [slab.allocate(16), slab.allocate(16), slab.allocate(16)];
  slab.deallocate(ps[0]!, 16);
  assert.equal(slab.scrubFree(ps[2]!, 16, 8, 0x55), 16);
  slab.validate();
  assert.equal(slab.scrubFree(ps[2]!, 16, 8, 0x55), -1);
  assert.equal(slab.tryFree(ps[2]!, 16, 8), -1);
  assert.deepEqual([slab.allocate(16), slab.allocate(16)], [ps[2], ps[0]]);
});

test("Slab: a pointer that is not a number is refused by every raw entry, while slot 1 is live", () => {
  for (const metadata of [undefined, new ArrayBufferBacked(1 << 10)]) {
    const slab = new Slab(new ArrayBufferBacked(1 << 12), {
      blockSize: 32,
      capacity: 4,
      ...(metadata === undefined ? {} : { metadata }),
    });
    const [p, q] = [slab.allocate(32), slab.allocate(32)];
    slab.memory.u8.fill(0xc3, p, p + 64);
    for (const bad of ["x", String(q), null, undefined, { valueOf: () => q }]) {
      assert.equal(slab.sizeOf(bad), -1);
      assert.equal(slab.checkFree(bad, 32, 8, true), -1);
      assert.equal(slab.tryFree(bad, 32, 8), -1);
      assert.equal(slab.scrubFree(bad, 32, 8, 0), -1);
      assert.equal(slab.scrubFree(bad, 32, 8, 0xff), -1);
    }
    assert.deepEqual([...slab.memory.u8.subarray(p, p + 64)], new Array(64).fill(0xc3));
    assert.deepEqual([slab.sizeOf(p), slab.sizeOf(q), slab.liveCount()], [32, 32, 2]);
  }
});
