// forge-alloc: corrupts memory on purpose (run-tests keeps it out of the debug-level pass)
// Slab, written from the code for its first mutation run (issue #15): the geometry and its exact division for every
// stride shape, scrubFree's fills (inline up to 64 bytes, by words past it, bytewise when a slot is not 8-aligned)
// and what they leave alone, the refusal codes and messages, the free set's checks without a MAC (the top entry's
// JS-heap copy), the MAC's signing protocol (which entries are signed, with which sequence number, and when none
// is), regions, validate, commit/contains, and a retired memory. Deterministic and fast: small slabs only.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AllocError,
  type Allocator,
  ArrayBufferBacked,
  CorruptionError,
  type FreelistProtection,
  HalfSipHashMac,
  InvalidPointerError,
  LayoutError,
  MAX_SIZE,
  Memory,
  NULL,
} from "../index.js";
import { isError, validateFails } from "../../test/helpers/assertions.js";
import { Slab, slabGeometry } from "./slab.js";

type Inside = { freeSet: Int32Array; freeCount: number; carved: number };
const inside = (slab: Slab): Inside => slab as unknown as Inside;

const make = (blockSize: number, capacity: number, align = 8): Slab =>
  new Slab(new ArrayBufferBacked(1 << 16), { blockSize, capacity, align });

/** A protection that records its calls; its tag is a function of both words, and `verify` checks it. */
class Recording implements FreelistProtection {
  signed: [number, number][] = [];
  verified: [number, number, number][] = [];
  sign(next: number, slot: number): number {
    this.signed.push([next, slot]);
    return (Math.imul(next, 0x9e3779b1) ^ Math.imul(slot, 0x85ebca6b) ^ 0x5bd1e995) | 0;
  }
  verify(next: number, slot: number, tag: number): boolean {
    this.verified.push([next, slot, tag]);
    return ((Math.imul(next, 0x9e3779b1) ^ Math.imul(slot, 0x85ebca6b) ^ 0x5bd1e995) | 0) === tag;
  }
}

/** A backing over `memory` that hands out `region` once and records what it is given back. */
function fixedBacking(memory: Memory, region: number): Allocator & { returned: number[][] } {
  const returned: number[][] = [];
  return {
    memory,
    returned,
    allocate: () => region,
    allocateZeroed: () => region,
    deallocate: (p: number, s: number, a: number) => void returned.push([p, s, a]),
  } as unknown as Allocator & { returned: number[][] };
}

test("slabGeometry: the shape of the options, the bounds of each, and the region's limit", () => {
  assert.deepEqual(slabGeometry("MySlab", { blockSize: 20, capacity: 100 }), {
    blockSize: 20,
    capacity: 100,
    align: 8,
    stride: 24,
    bytes: 2400,
  });
  assert.deepEqual(slabGeometry("S", { blockSize: 20, capacity: 3, align: 32 }), {
    blockSize: 20,
    capacity: 3,
    align: 32,
    stride: 32,
    bytes: 96,
  });
  assert.equal(slabGeometry("S", { blockSize: 1, capacity: 1 << 24, align: 1 }).bytes, 1 << 24);
  assert.equal(slabGeometry("S", { blockSize: MAX_SIZE, capacity: 1 }).bytes, MAX_SIZE);
  assert.equal(slabGeometry("S", { blockSize: MAX_SIZE / 2, capacity: 2 }).bytes, MAX_SIZE);
  assert.throws(() => slabGeometry("S", { blockSize: 1, capacity: (1 << 24) + 1 }), AllocError);
  assert.throws(() => slabGeometry("S", { blockSize: MAX_SIZE + 1, capacity: 1 }), AllocError);
  assert.throws(
    () => slabGeometry("MySlab", { blockSize: MAX_SIZE / 2 + 8, capacity: 2 }),
    isError(
      AllocError,
      new RegExp(
        `^MySlab: 2 blocks of ${MAX_SIZE / 2 + 8} bytes exceed the largest region \\(${MAX_SIZE} bytes\\)$`,
      ),
    ),
  );
  assert.throws(() => slabGeometry("S", undefined as never), AllocError);
  assert.throws(() => slabGeometry("S", { blockSize: 8, capacity: 1, align: 12 }), LayoutError);
});

test("Slab construction: each bad option says what it expected, and a refused metadata gives the region back", () => {
  assert.throws(
    () => new Slab({} as never, { blockSize: 8, capacity: 1 }),
    isError(AllocError, /^Slab: the backing must be an Allocator$/),
  );
  assert.throws(
    () => new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 8, capacity: 1, protection: {} as never }),
    isError(
      AllocError,
      /^Slab: the protection option must be a FreelistProtection \(e\.g\. new HalfSipHashMac\(\)\)$/,
    ),
  );
  assert.throws(
    () => new Slab(new ArrayBufferBacked(1 << 10), { blockSize: 64, capacity: 100 }),
    isError(AllocError, /^Slab: the backing cannot provide 6400 bytes \(100 blocks of 64\)$/),
  );
  for (const metadata of [{} as never, new ArrayBufferBacked(64)]) {
    const backing = new ArrayBufferBacked(1 << 12);
    const expected =
      metadata instanceof ArrayBufferBacked
        ? /^Slab: the metadata allocator cannot provide 96 bytes for 8 slots$/
        : /^Slab: the metadata option must be an Allocator$/;
    assert.throws(
      () => new Slab(backing, { blockSize: 32, capacity: 8, metadata, protection: new Recording() }),
      isError(AllocError, expected),
    );
  }
  const memory = new Memory(new ArrayBuffer(4096));
  const backing = fixedBacking(memory, 256);
  assert.throws(() => new Slab(backing, { blockSize: 16, capacity: 4, metadata: {} as never }), AllocError);
  assert.deepEqual(backing.returned, [[256, 64, 8]]);
});

test("Slab metadata: the free set is a zeroed block of the metadata allocator's memory, 8 or 12 bytes a slot", () => {
  for (const [protection, words] of [
    [undefined, 2],
    [new Recording(), 3],
  ] as const) {
    const meta = new ArrayBufferBacked(1 << 10);
    const calls: number[][] = [];
    const recording = Object.create(meta) as ArrayBufferBacked;
    recording.allocateZeroed = (size: number, align?: number) => {
      calls.push([size, align ?? -1]);
      return meta.allocateZeroed(size, align);
    };
    const slab = new Slab(new ArrayBufferBacked(1 << 12), {
      blockSize: 16,
      capacity: 5,
      metadata: recording,
      ...(protection === undefined ? {} : { protection }),
    });
    assert.deepEqual(calls, [[4 * words * 5, 8]]);
    const set = inside(slab).freeSet;
    assert.equal(set.buffer, meta.memory.buffer);
    assert.equal(set.length, words * 5);
    const p = slab.allocate(16);
    slab.deallocate(p, 16);
    assert.equal(
      new Int32Array(meta.memory.buffer)[set.byteOffset >>> 2],
      p,
      "the stack is in the metadata memory",
    );
  }
});

test("Slab: the exact division finds every slot of every stride shape, and refuses everything between them", () => {
  const shapes: [number, number][] = [];
  for (let odd = 1; odd < 64; odd += 2) shapes.push([odd, 1], [odd * 8, 8]);
  shapes.push([12, 4], [20, 4], [96, 32], [160, 32], [8 * 1023, 8], [8 * 4095, 8], [8 * 65535, 8]);
  for (const [blockSize, align] of shapes) {
    const cap = 4;
    const slab = new Slab(new ArrayBufferBacked(4 * blockSize + 4096), { blockSize, capacity: cap, align });
    const stride = slab.stride;
    const blocks = Array.from({ length: cap }, () => slab.allocate(blockSize, align));
    assert.deepEqual(
      blocks,
      blocks.map((_, i) => slab.base() + i * stride),
      `stride ${stride}`,
    );
    for (const p of blocks) {
      for (const off of [1, -1, stride >>> 1, 3]) {
        if (off % stride === 0) continue; // another slot's start
        assert.equal(slab.tryFree(p + off, 1, 1), -1, `stride ${stride}: ${p} + ${off}`);
        assert.equal(slab.sizeOf(p + off), -1);
      }
    }
    assert.equal(slab.tryFree(slab.base() + cap * stride, 1, 1), -1);
    assert.equal(slab.tryFree(slab.base() - stride, 1, 1), -1);
    for (const i of [2, 0, 3, 1])
      assert.equal(slab.tryFree(blocks[i]!, blockSize, align), 0, `stride ${stride} slot ${i}`);
    for (const i of [2, 0, 3, 1])
      assert.equal(slab.tryFree(blocks[i]!, blockSize, align), -1, "a double free");
    assert.deepEqual(
      Array.from({ length: cap }, () => slab.allocate(1, 1)),
      [1, 3, 0, 2].map((i) => blocks[i]),
    );
    slab.validate();
  }
});

test("Slab.allocate: the bounds of a request, and a refused request pops nothing", () => {
  const slab = make(48, 4, 16);
  const a = slab.allocate(48, 16);
  assert.notEqual(a, NULL);
  slab.deallocate(a, 48, 16);
  assert.equal(slab.allocate(49, 8), NULL);
  assert.equal(slab.allocate(8, 32), NULL);
  assert.equal(slab.liveCount(), 0);
  assert.equal(slab.allocate(48, 16), a, "the freed block is still on the stack");
  assert.throws(() => slab.allocate(0), isError(LayoutError, /^Slab\.allocate/));
  assert.throws(() => slab.allocate(8, 3), isError(LayoutError, /^Slab\.allocate/));
  // the carving order and the end
  const b = slab.allocate(1);
  assert.equal(b, a + 48);
  slab.allocate(1);
  slab.allocate(1);
  assert.equal(slab.allocate(1), NULL);
  assert.equal(slab.liveCount(), 4);
});

test("Slab.allocateZeroed: zeroes the requested bytes of a reused block, and writes nothing when it returns NULL", () => {
  const slab = make(32, 2);
  const mem = slab.memory.u8;
  const a = slab.allocate(32);
  const b = slab.allocate(32);
  mem.fill(0xaa, a, a + 64);
  slab.deallocate(a, 32);
  assert.equal(slab.allocateZeroed(10), a);
  assert.deepEqual([...mem.subarray(a, a + 10)], new Array(10).fill(0));
  assert.equal(mem[a + 10], 0xaa);
  assert.equal(mem[b], 0xaa);
  mem.fill(0x77, 0, 16);
  assert.equal(slab.allocateZeroed(8), NULL);
  assert.deepEqual([...mem.subarray(0, 16)], new Array(16).fill(0x77));
});

test("Slab: a free accepted on the fast path with a stale position, and each refusal code", () => {
  const slab = make(16, 4);
  const [a, b, c] = [slab.allocate(16), slab.allocate(16), slab.allocate(16)];
  assert.equal(slab.tryFree(a, 16, 8), 0); // a at position 0
  assert.equal(slab.allocate(16), a); // its position is stale (0, not below the count)
  assert.equal(slab.tryFree(a, 16, 8), 0, "a live block whose stale position equals the count");
  assert.equal(slab.allocate(16), a);
  assert.equal(slab.tryFree(b, 16, 8), 0); // b at position 0 now; a's stale position is 0 too
  assert.equal(slab.tryFree(a, 16, 8), 0, "a live block whose stale position holds another slot");
  assert.equal(slab.tryFree(a, 16, 8), -1, "then a double free");
  assert.equal(slab.tryFree(b, 16, 8), -1);
  assert.equal(slab.tryFree(c, 17, 8), -2);
  assert.equal(slab.tryFree(c, 16, 16), -2);
  assert.equal(slab.tryFree(String(c), 16, 8), -1);
  assert.equal(slab.tryFree(c + 0.5, 16, 8), -1);
  assert.equal(slab.tryFree(c + 16, 16, 8), -1, "the first slot not carved yet");
  assert.equal(slab.liveCount(), 1);
  assert.equal(slab.checkFree(c, 16, 8, true), 16);
  assert.equal(slab.checkFree(a, 17, 8, true), -1, "not live comes before the layout");
  assert.deepEqual([slab.sizeOf(c), slab.sizeOf(a), slab.sizeOf("x"), slab.sizeOf(c + 16)], [16, -1, -1, -1]);
  slab.validate();
});

test("Slab refusals: the error type and message of each", () => {
  const slab = make(48, 4);
  const p = slab.allocate(48);
  const q = slab.allocate(48);
  slab.deallocate(q, 48);
  assert.throws(() => slab.deallocate(p, 0), isError(LayoutError, /^Slab\.deallocate/));
  assert.throws(
    () => slab.deallocate(q, 48),
    isError(InvalidPointerError, /^Slab\.deallocate: .*slot 1 of the slab is not live: a double free/),
  );
  assert.throws(
    () => slab.deallocate(p + 2 * 48, 48),
    isError(InvalidPointerError, /slot 2 of the slab is not live/),
  );
  for (const bad of [p + 4 * 48, p - 48, p + 0.5, p + 24]) {
    assert.throws(
      () => slab.deallocate(bad, 48),
      isError(
        InvalidPointerError,
        new RegExp(`expected the start of one of the slab's 4 slots \\(48-byte stride from ${p}\\)$`),
      ),
      String(bad),
    );
  }
  assert.throws(
    () => slab.deallocate("16" as never, 48),
    isError(InvalidPointerError, /a pointer is a number$/),
  );
  assert.throws(
    () => slab.deallocate(p, 49),
    isError(LayoutError, /^Slab\.deallocate: .*this slab serves size <= 48 and align <= 8$/),
  );
  assert.throws(() => slab.deallocate(p, 48, 16), isError(LayoutError, /serves size <= 48 and align <= 8$/));
  assert.equal(slab.liveCount(), 1);
  slab.deallocate(p, 48);
});

test("Slab resize: in place up to the block, NULL past it, the direction and the pointer checked", () => {
  const slab = make(48, 4, 16);
  const p = slab.allocate(8);
  assert.equal(slab.grow(p, 8, 48), p);
  assert.equal(slab.grow(p, 8, 48, 16), p);
  assert.equal(slab.grow(p, 8, 49), NULL);
  assert.throws(() => slab.grow(p, 8, 16, 32), isError(LayoutError, /^Slab\.grow: .*align <= 16$/));
  assert.equal(slab.shrink(p, 48, 1), p);
  assert.equal(slab.resizeRaw(p, 8, 48, 16), p);
  assert.equal(slab.resizeRaw(p, 8, 48, 32), NULL);
  assert.throws(() => slab.grow(p, 48, 8), LayoutError);
  assert.throws(() => slab.shrink(p, 8, 48), LayoutError);
  assert.throws(() => slab.grow(p + 48, 8, 16), isError(InvalidPointerError, /^Slab\.grow: /));
  assert.throws(() => slab.shrink(p + 48, 16, 8), isError(InvalidPointerError, /^Slab\.shrink: /));
  assert.throws(() => slab.grow(p, 49, 64), isError(LayoutError, /^Slab\.grow: /));
  assert.equal(slab.usableSize(p, 48), 48);
  assert.throws(() => slab.usableSize(p, 0), isError(LayoutError, /^Slab\.usableSize/));
  assert.throws(() => slab.usableSize(p + 48, 8), isError(InvalidPointerError, /^Slab\.usableSize/));
  assert.throws(() => slab.usableSize(p, 49), isError(LayoutError, /^Slab\.usableSize/));
});

test("Slab: the region's extent (base, size, contains, commit, capacityBytes)", () => {
  const slab = make(24, 5);
  const base = slab.base();
  const end = base + 120;
  assert.equal(slab.size(), 120);
  assert.equal(slab.capacityBytes(), 120);
  assert.deepEqual(
    [base - 1, base, base + 7, end - 1, end, base + 0.5, String(base)].map((p) => slab.contains(p as number)),
    [false, true, true, true, false, false, false],
  );
  assert.equal(slab.commit(base, 120), true);
  assert.equal(slab.commit(end - 1, 1), true);
  assert.equal(slab.commit(base + 8, 0), true);
  assert.equal(slab.commit(base, 121), false);
  assert.equal(slab.commit(base - 1, 1), false);
  assert.equal(slab.commit(base, -1), false);
  assert.equal(slab.commit(end, 0), false);
});

test("Slab.regions: each carved slot as used or free, then the uncarved tail as one free region", () => {
  const slab = make(20, 5); // stride 24
  const r = slab.base();
  assert.deepEqual(slab.regions(), [{ offset: r, size: 120, kind: "free" }]);
  const blocks = [slab.allocate(8), slab.allocate(8), slab.allocate(8)];
  slab.deallocate(blocks[1]!, 8);
  assert.deepEqual(slab.regions(), [
    { offset: r, size: 24, kind: "used" },
    { offset: r + 24, size: 24, kind: "free" },
    { offset: r + 48, size: 24, kind: "used" },
    { offset: r + 72, size: 48, kind: "free" },
  ]);
  slab.allocate(8);
  slab.allocate(8);
  slab.allocate(8);
  assert.equal(slab.allocate(8), NULL);
  assert.deepEqual(
    slab.regions(),
    [0, 1, 2, 3, 4].map((i) => ({ offset: r + 24 * i, size: 24, kind: "used" })),
  );
  slab.reset();
  assert.equal(slab.liveCount(), 0);
  assert.deepEqual(slab.regions(), [{ offset: r, size: 120, kind: "free" }]);
  assert.equal(slab.allocate(8), r, "carving starts again");
});

test("Slab.validate: passes at every edge of a sound state and names each broken part", () => {
  const slab = make(16, 4);
  slab.validate(); // nothing carved
  const blocks = Array.from({ length: 4 }, () => slab.allocate(16));
  slab.validate(); // all carved, none free
  for (const p of blocks) slab.deallocate(p, 16);
  slab.validate(); // all free, slot 0 among them
  const s = inside(slab);
  const r = slab.base();

  const broken = (edit: (s: Inside) => void, message: RegExp): void => {
    const fresh = make(16, 4);
    const ps = [fresh.allocate(16), fresh.allocate(16)];
    fresh.deallocate(ps[0]!, 16); // stack [slot 0], carved 2
    edit(inside(fresh));
    validateFails(fresh, "Slab", message);
  };
  broken((x) => (x.freeCount = -1), /^Slab\.validate: freeCount -1, carved 2, capacity 4$/);
  broken((x) => (x.freeCount = 3), /freeCount 3, carved 2/);
  broken((x) => (x.carved = 5), /carved 5, capacity 4/);
  const entry =
    /^Slab\.validate: free stack entry 0 \(slot .*\) is not a unique carved slot that knows its place$/;
  broken((x) => (x.freeSet[0] = r + 1), entry);
  broken((x) => (x.freeSet[0] = r - 16), entry);
  broken((x) => {
    x.freeSet[0] = r + 2 * 16; // the first slot not carved, at a position that matches
    x.freeSet[4 + 2] = 0;
  }, entry);
  broken((x) => (x.freeSet[4 + 0] = 1), entry);
  broken((x) => {
    x.freeSet[1] = r; // slot 0 twice
    x.freeCount = 2;
  }, /free stack entry 1 \(slot 0\)/);
  assert.equal(s.freeCount, 4);
});

test("Slab without a MAC but with its free set in metadata: a forged top entry is caught by the slab's own copy", () => {
  const meta = new ArrayBufferBacked(1 << 10);
  const slab = new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 32, capacity: 4, metadata: meta });
  const [a, b, c] = [slab.allocate(32), slab.allocate(32), slab.allocate(32)];
  // Intact entries: LIFO, below the top too (no MAC to consult)
  slab.deallocate(a, 32);
  slab.deallocate(b, 32);
  assert.equal(slab.allocate(32), b);
  assert.equal(slab.allocate(32), a);
  // The top entry rewritten to name another live slot, with that slot's position set to match
  slab.deallocate(a, 32);
  const set = inside(slab).freeSet;
  set[0] = c;
  set[4 + 2] = 0;
  assert.throws(
    () => slab.allocate(32),
    isError(
      CorruptionError,
      /^Slab\.allocate: free-list entry 0 fails its check \(forged, moved or replayed: not a free slot at its recorded place\); the free list is abandoned and not followed$/,
    ),
  );
  assert.equal(slab.corruptionEvents(), 1);
  assert.equal(slab.allocate(32), slab.base() + 3 * 32, "the untouched tail");
  assert.equal(slab.allocate(32), NULL);
  // A non-slot entry and an entry at the wrong position are refused too
  for (const forge of [(s: Int32Array) => (s[1] = s[1]! + 1), (s: Int32Array) => (s[4 + 1] = 3)]) {
    const other = new Slab(new ArrayBufferBacked(1 << 12), {
      blockSize: 32,
      capacity: 4,
      metadata: new ArrayBufferBacked(1 << 10),
    });
    const [x, y] = [other.allocate(32), other.allocate(32)];
    other.deallocate(x, 32);
    other.deallocate(y, 32);
    forge(inside(other).freeSet);
    assert.throws(() => other.allocate(32), CorruptionError);
    assert.equal(other.corruptionEvents(), 1);
  }
});

test("Slab with a MAC: each burial signs the buried entry once with the next sequence number; a free then an allocation signs nothing", () => {
  const mac = new Recording();
  const slab = new Slab(new ArrayBufferBacked(1 << 12), {
    blockSize: 32,
    capacity: 6,
    metadata: new ArrayBufferBacked(1 << 10),
    protection: mac,
  });
  const blocks = Array.from({ length: 6 }, () => slab.allocate(32));
  slab.deallocate(blocks[0]!, 32);
  assert.equal(slab.allocate(32), blocks[0]);
  assert.deepEqual([mac.signed, mac.verified], [[], []], "a free then an allocation computes no MAC");
  for (const p of blocks.slice(0, 4)) slab.deallocate(p, 32);
  assert.deepEqual(mac.signed, [
    [blocks[0], 1],
    [blocks[1], 2],
    [blocks[2], 3],
  ]);
  const set = inside(slab).freeSet;
  assert.deepEqual(
    [...set.subarray(12, 15)],
    [mac.sign(blocks[0]!, 1), mac.sign(blocks[1]!, 2), mac.sign(blocks[2]!, 3)],
  );
  mac.signed.length = 0;
  for (let i = 3; i >= 0; i--) assert.equal(slab.allocate(32), blocks[i]);
  assert.deepEqual(mac.verified, [
    [blocks[2], 3, set[14]],
    [blocks[1], 2, set[13]],
    [blocks[0], 1, set[12]],
  ]);
  assert.deepEqual(mac.signed, []);
  // scrubFree on a checked slab takes the slow path: it fills, pushes and signs the entry it buries
  assert.equal(slab.scrubFree(blocks[0]!, 32, 8, 0x11), 32);
  assert.equal(slab.scrubFree(blocks[1]!, 32, 8, 0x22), 32);
  assert.deepEqual(mac.signed, [[blocks[0], 4]]);
  assert.equal(slab.memory.u8[blocks[0]! + 31], 0x11);
  // freeRaw after checkFree: the raw protocol's free signs as well
  assert.equal(slab.checkFree(blocks[2]!, 32, 8, true), 32);
  slab.freeRaw(blocks[2]!, 32, 8);
  assert.deepEqual(mac.signed, [
    [blocks[0], 4],
    [blocks[1], 5],
  ]);
  assert.deepEqual(
    [slab.allocate(32), slab.allocate(32), slab.allocate(32)],
    [blocks[2], blocks[1], blocks[0]],
  );
  assert.equal(slab.corruptionEvents(), 0);
});

test("Slab with a MAC: after reset or an abandoned list, the first free signs nothing (the old top is forgotten)", () => {
  const mac = new Recording();
  const slab = new Slab(new ArrayBufferBacked(1 << 12), {
    blockSize: 32,
    capacity: 4,
    metadata: new ArrayBufferBacked(1 << 10),
    protection: mac,
  });
  const a = slab.allocate(32);
  slab.deallocate(a, 32); // unsigned top
  slab.reset();
  const b = slab.allocate(32);
  slab.deallocate(b, 32);
  assert.deepEqual(mac.signed, [], "reset forgot the old top");
  assert.equal(slab.allocate(32), b);
  // abandon: a forged buried tag
  const [c, d] = [slab.allocate(32), slab.allocate(32)];
  slab.deallocate(c, 32);
  slab.deallocate(d, 32);
  inside(slab).freeSet[8]! ^= 1;
  assert.equal(slab.allocate(32), d);
  assert.throws(
    () => slab.allocate(32),
    isError(CorruptionError, /entry 0 fails its check .*its MAC does not match/),
  );
  mac.signed.length = 0;
  slab.deallocate(d, 32);
  assert.deepEqual(mac.signed, [], "the abandoned list's top is forgotten");
  assert.equal(slab.allocate(32), d);
});

test("Slab.scrubFree: fills exactly the slot for every stride up to 64 bytes and past it, and leaves its neighbours", () => {
  const strides = [8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 96, 104, 128, 136, 160];
  for (const stride of strides) {
    for (const byte of [0, 1, 0x5a, 0xfe, 0xff]) {
      const slab = make(stride, 3);
      const u8 = slab.memory.u8;
      const blocks = [slab.allocate(stride), slab.allocate(stride), slab.allocate(stride)];
      u8.fill(0xc3, blocks[0]! - 8, blocks[2]! + stride + 8);
      assert.equal(slab.scrubFree(blocks[1]!, stride, 8, byte), stride, `stride ${stride} byte ${byte}`);
      const got = [...u8.subarray(blocks[0]!, blocks[2]! + stride)];
      const want = [
        ...new Array(stride).fill(0xc3),
        ...new Array(stride).fill(byte),
        ...new Array(stride).fill(0xc3),
      ];
      assert.deepEqual(got, want, `stride ${stride} byte ${byte}`);
      assert.equal(slab.liveCount(), 2);
      assert.equal(slab.scrubFree(blocks[1]!, stride, 8, byte), -1, "a double free writes nothing");
      assert.equal(slab.allocate(stride), blocks[1]);
    }
  }
});

test("Slab.scrubFree: bytewise when the stride or the region is not a multiple of 8", () => {
  // stride 12: every other slot starts at 4 mod 8
  const slab = make(12, 4, 4);
  const u8 = slab.memory.u8;
  const blocks = Array.from({ length: 4 }, () => slab.allocate(12, 4));
  u8.fill(0xc3, blocks[0]!, blocks[3]! + 12);
  assert.equal(slab.scrubFree(blocks[1]!, 12, 4, 0x42), 12);
  assert.equal(slab.scrubFree(blocks[2]!, 12, 4, 0x43), 12);
  assert.deepEqual(
    [...u8.subarray(blocks[0]!, blocks[3]! + 12)],
    [
      ...new Array(12).fill(0xc3),
      ...new Array(12).fill(0x42),
      ...new Array(12).fill(0x43),
      ...new Array(12).fill(0xc3),
    ],
  );
  // stride 8, region at 4 mod 8
  for (const stride of [8, 72]) {
    const memory = new Memory(new ArrayBuffer(4096));
    const odd = new Slab(fixedBacking(memory, 260), { blockSize: stride, capacity: 3, align: 4 });
    const ps = [odd.allocate(stride, 4), odd.allocate(stride, 4), odd.allocate(stride, 4)];
    assert.equal(ps[1], 260 + stride);
    memory.u8.fill(0xc3, 256, 260 + 3 * stride + 8);
    assert.equal(odd.scrubFree(ps[1]!, stride, 4, 0x17), stride);
    assert.deepEqual(
      [...memory.u8.subarray(256, 260 + 3 * stride + 8)],
      [
        ...new Array(4 + stride).fill(0xc3),
        ...new Array(stride).fill(0x17),
        ...new Array(stride + 8).fill(0xc3),
      ],
      `stride ${stride}`,
    );
  }
});

test("Slab.scrubFree: a refused free returns its code and writes nothing", () => {
  for (const stride of [32, 128]) {
    const slab = make(stride, 3);
    const u8 = slab.memory.u8;
    const p = slab.allocate(stride);
    const q = slab.allocate(stride);
    slab.deallocate(q, stride);
    u8.fill(0xc3, p, p + 3 * stride);
    const codes = [
      slab.scrubFree(q, stride, 8, 1),
      slab.scrubFree(p + 8, stride, 8, 1),
      slab.scrubFree(String(p), stride, 8, 1),
      slab.scrubFree(p + 2 * stride, stride, 8, 1),
      slab.scrubFree(p, stride + 1, 8, 1),
      slab.scrubFree(p, stride, 16, 1),
    ];
    assert.deepEqual(codes, [-1, -1, -1, -1, -2, -2], `stride ${stride}`);
    assert.deepEqual([...u8.subarray(p, p + 3 * stride)], new Array(3 * stride).fill(0xc3));
    assert.equal(slab.liveCount(), 1);
  }
});

test("Slab over a retired memory: every allocation refuses, a free block on the stack or not", () => {
  const memory = new Memory(new ArrayBuffer(4096), "os");
  const slab = new Slab(fixedBacking(memory, 64), { blockSize: 32, capacity: 4 });
  const p = slab.allocate(32);
  slab.deallocate(p, 32);
  memory.retire();
  const refused = isError(AllocError, /^Slab\.allocate: its memory was disposed/);
  assert.throws(() => slab.allocate(32), refused);
  assert.throws(() => slab.allocate(64), refused);
  assert.throws(() => slab.allocateZeroed(8), refused);
  assert.equal(slab.liveCount(), 0);
});

test("Slab with HalfSipHashMac: a long run of frees and allocations in mixed order stays sound", () => {
  const slab = new Slab(new ArrayBufferBacked(1 << 14), {
    blockSize: 16,
    capacity: 64,
    metadata: new ArrayBufferBacked(1 << 12),
    protection: new HalfSipHashMac(),
  });
  const live: number[] = [];
  let seed = 7;
  for (let step = 0; step < 2000; step++) {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0;
    if ((seed >>> 16) % 3 !== 0 && live.length > 0) {
      const i = (seed >>> 8) % live.length;
      slab.deallocate(live[i]!, 16);
      live.splice(i, 1);
    } else {
      const p = slab.allocate(16);
      if (p !== NULL) live.push(p);
    }
  }
  assert.equal(slab.liveCount(), live.length);
  assert.equal(slab.corruptionEvents(), 0);
  slab.validate();
});
