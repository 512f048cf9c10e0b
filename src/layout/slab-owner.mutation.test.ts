// SlabOwner and SlabRemote: the constructor's checks and where it puts the ring and the blocks, the drain schedule
// (fixed and adaptive), remote frees that are refused or counted, the owner's own calls and their error names,
// close() and its deadline, and SlabRemote's attach, join (over a process-shared backing) and pointer checks.
// Written to kill the mutants that survived the owner's group (docs/TESTING.md, `npm run mutate -- slab-owner`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  InvalidPointerError,
  LayoutError,
  Memory,
  NULL,
  SharedArrayBufferBacked,
  UnsupportedError,
} from "../index.js";
import type { Allocator, SharedWaitOutcome } from "../core/index.js";
import {
  ADAPTIVE_COOLDOWN_TICKS,
  ADAPTIVE_LEVELS,
  BatchPolicy,
  SlabOwner,
  SlabRemote,
} from "./slab-owner.js";

const owner = (
  options: Partial<ConstructorParameters<typeof SlabOwner>[1]> = {},
  bytes = 1 << 16,
): SlabOwner =>
  new SlabOwner(new SharedArrayBufferBacked(bytes), {
    blockSize: 16,
    capacity: 32,
    ringCapacity: 16,
    ...options,
  });

/**
 * A backing that other processes map, as far as SlabOwner and SlabRemote can tell: a plain ArrayBuffer's memory
 * with a `processSharing` and a futex stand-in that records what it is asked.
 */
class ProcessShared extends ArrayBufferBacked {
  readonly processSharing = { pid: 1, stamp: 0, alive: () => true };
  readonly notifies: number[] = [];
  readonly waits: number[] = [];
  wait(offset: number, _expected: number, _timeoutMs?: number): SharedWaitOutcome {
    this.waits.push(offset);
    return "timed-out";
  }
  notify(offset: number): number {
    this.notifies.push(offset);
    return 0;
  }
}

const throwsWith =
  (type: new (...args: never[]) => Error, pattern: RegExp) =>
  (e: unknown): boolean =>
    e instanceof type && pattern.test(e.message);

describe("SlabOwner's constructor", () => {
  test("refuses a memory that is not shared, with a message naming what is", () => {
    assert.throws(
      () => new SlabOwner(new ArrayBufferBacked(1 << 16), { blockSize: 16, capacity: 8 }),
      throwsWith(AllocError, /^SlabOwner: the backing's memory must be shared/),
    );
    assert.throws(
      () => new SlabOwner(undefined as never, { blockSize: 16, capacity: 8 }),
      throwsWith(AllocError, /must be shared/),
    );
  });

  test("over a process-shared backing: a crash-safe ring, no share(), a location for join", () => {
    const backing = new ProcessShared(1 << 16);
    const o = new SlabOwner(backing, { blockSize: 16, capacity: 8, ringCapacity: 4 });
    assert.equal(o.ring.crashSafe, true);
    assert.throws(
      () => o.share(),
      throwsWith(UnsupportedError, /^SlabOwner\.share: this owner is in a mapping/),
    );
    const remote = SlabRemote.join(backing, o.location());
    const p = o.allocate(16);
    remote.deallocate(p);
    assert.equal(o.drain(), 1);
    assert.equal(o.slab.liveCount(), 0);
  });

  test("defaults: a 1024-slot ring and a fixed threshold of 64", () => {
    const o = new SlabOwner(new SharedArrayBufferBacked(1 << 16), { blockSize: 16, capacity: 8 });
    assert.equal(o.ring.capacity, 1024);
    assert.equal(o.currentThreshold(), 64);
    assert.equal(owner({ policy: BatchPolicy.fixed(5) }).currentThreshold(), 5);
    assert.equal(owner({ policy: BatchPolicy.adaptive() }).currentThreshold(), 64);
  });

  test("refuses a policy that is not one of BatchPolicy's, and BatchPolicy.fixed checks n", () => {
    for (const policy of [{ kind: "lazy", threshold: 4 }, "fixed"]) {
      assert.throws(
        () => owner({ policy: policy as never }),
        throwsWith(
          AllocError,
          /^SlabOwner: policy must be BatchPolicy\.fixed\(n\) or BatchPolicy\.adaptive\(\)$/,
        ),
      );
    }
    for (const n of [0, (1 << 20) + 1, 1.5]) assert.throws(() => BatchPolicy.fixed(n), AllocError);
    assert.equal(BatchPolicy.fixed(1).threshold, 1);
    assert.equal(BatchPolicy.fixed(1 << 20).threshold, 1 << 20);
    assert.deepEqual({ ...BatchPolicy.adaptive() }, { kind: "adaptive", threshold: 64 });
    assert.deepEqual(ADAPTIVE_LEVELS, [8, 16, 32, 64, 128]);
  });

  test("places the ring 128-aligned and the blocks aligned to their own alignment, after it", () => {
    const backing = new SharedArrayBufferBacked(1 << 16);
    backing.allocate(8); // the next block of the backing is not 128-aligned by itself
    const o = new SlabOwner(backing, { blockSize: 16, capacity: 8, ringCapacity: 4, align: 512 });
    assert.equal(o.ring.offset % 128, 0);
    const region = o.location().region;
    assert.equal(region % 512, 0);
    assert.ok(region >= o.ring.offset + 128 + 16, "the blocks follow the ring");
    for (let i = 0; i < 8; i++) assert.equal(o.allocate(16, 512) % 512, 0);
  });

  test("a backing that cannot hold the ring and the blocks: an AllocError with the sizes, and nothing kept", () => {
    const backing = new SharedArrayBufferBacked(4096);
    assert.throws(
      () => new SlabOwner(backing, { blockSize: 64, capacity: 64, ringCapacity: 8 }),
      throwsWith(
        AllocError,
        /^SlabOwner: the backing cannot provide 4352 bytes \(a 8-slot ring and 64 blocks of 64\)$/,
      ),
    );
    const big = new SharedArrayBufferBacked(4096);
    assert.throws(
      () => new SlabOwner(big, { blockSize: 1 << 20, capacity: 1 << 10, ringCapacity: 8 }),
      AllocError,
      "more than the largest block",
    );
    assert.equal(backing.allocate(4000) !== NULL, true, "the backing keeps all its bytes");
  });

  test("a backing that hands out memory holding a live ring: refused, and the block given back", () => {
    const memory = new SharedArrayBufferBacked(1 << 16);
    const freed: [number, number, number][] = [];
    const fixed: Allocator = Object.assign(Object.create(memory) as Allocator, {
      memory: memory.memory,
      allocate: () => 1024,
      deallocate: (p: number, s: number, a: number) => void freed.push([p, s, a]),
    });
    new SlabOwner(fixed, { blockSize: 16, capacity: 8, ringCapacity: 4 });
    assert.throws(
      () => new SlabOwner(fixed, { blockSize: 16, capacity: 8, ringCapacity: 4 }),
      throwsWith(AllocError, /already holds a live ring/),
    );
    assert.deepEqual(freed, [[1024, 256 + 128, 128]]);
  });
});

describe("SlabOwner's drains", () => {
  test("fixed: every threshold-th allocation drains when at least threshold frees wait", () => {
    const o = owner({ policy: BatchPolicy.fixed(4), capacity: 64 });
    const remote = SlabRemote.attach(o.share());
    const blocks = Array.from({ length: 3 }, () => o.allocate(16)); // countdown 4 -> 1
    for (const p of blocks) remote.deallocate(p);
    o.allocate(16); // the 4th: the tick finds 3 < 4 waiting, no drain
    assert.equal(o.ring.pending(), 3);
    const more = [o.allocate(16)];
    remote.deallocate(more[0]!);
    o.allocate(16);
    o.allocate(16);
    assert.equal(o.ring.pending(), 4, "the countdown is 4 again: not yet");
    o.allocate(16); // the 4th since the last tick: 4 wait, drained
    assert.equal(o.ring.pending(), 0);
    assert.equal(o.slab.liveCount(), 4);
  });

  test("fixed(1): every allocation drains what waits first", () => {
    const o = owner({ policy: BatchPolicy.fixed(1) });
    const remote = SlabRemote.attach(o.share());
    const p = o.allocate(16);
    remote.deallocate(p);
    assert.equal(o.allocate(16), p, "drained first: the freed block is reused at once");
    assert.equal(o.ring.pending(), 0);
  });

  test("a full slab drains before it says NULL, and says NULL only when nothing was drained", () => {
    const o = owner({ capacity: 2, policy: BatchPolicy.fixed(100) });
    const remote = SlabRemote.attach(o.share());
    const a = o.allocate(16);
    o.allocate(16);
    remote.deallocate(a);
    assert.equal(o.allocate(16), a, "the slab was full: the remote free was drained");
    assert.equal(o.allocate(16), NULL);
  });

  test("adaptive: steps up when the ring is under a quarter full, down when over three quarters, with a cooldown", () => {
    const o = owner({ policy: BatchPolicy.adaptive(), capacity: 4096, ringCapacity: 64 }, 1 << 20);
    const remote = SlabRemote.attach(o.share());
    const tick = (): void => {
      for (let n = o.currentThreshold(); n > 0; n--) o.deallocate(o.allocate(16), 16);
    };
    assert.equal(o.currentThreshold(), 64);
    tick(); // empty ring: up a level
    assert.equal(o.currentThreshold(), 128);
    for (let i = 0; i < ADAPTIVE_COOLDOWN_TICKS; i++) {
      tick();
      assert.equal(o.currentThreshold(), 128, `cooldown, tick ${i}`);
    }
    tick(); // at the top level: stays
    assert.equal(o.currentThreshold(), 128);
    // fill the ring past three quarters: 49 of 64
    const held = Array.from({ length: 49 }, () => o.allocate(16));
    for (const p of held) remote.deallocate(p);
    for (let n = o.currentThreshold() - 49; n > 0; n--) o.deallocate(o.allocate(16), 16);
    assert.equal(o.currentThreshold(), 64, "down a level");
    assert.equal(o.ring.pending(), 49, "49 wait, fewer than the threshold of 128: not drained");
    tick(); // the cooldown holds the level; 49 >= 64? no drain
    assert.equal(o.currentThreshold(), 64);
    assert.equal(o.ring.pending(), 49);
  });

  test("adaptive: a ring exactly a quarter or three quarters full keeps the level", () => {
    for (const waiting of [16, 48]) {
      const o = owner({ policy: BatchPolicy.adaptive(), capacity: 4096, ringCapacity: 64 }, 1 << 20);
      const remote = SlabRemote.attach(o.share());
      const held = Array.from({ length: waiting }, () => o.allocate(16));
      for (const p of held) remote.deallocate(p);
      for (let n = 64 - waiting; n > 0; n--) o.deallocate(o.allocate(16), 16);
      assert.equal(o.currentThreshold(), 64, `${waiting} of 64 waiting`);
    }
  });

  test("adaptive: a full ring steps down once per cooldown to the bottom level, 8, and stays there", () => {
    const o = owner({ policy: BatchPolicy.adaptive(), capacity: 64, ringCapacity: 16 }, 1 << 20);
    const remote = SlabRemote.attach(o.share());
    const block = o.location().region;
    // the ring is full at every tick (frees of a block that is not live: counted and dropped when drained)
    const fill = (): void => {
      while (o.ring.pending() < 16) assert.equal(remote.tryDeallocate(block), "ok");
    };
    const seen: number[] = [];
    for (let t = 0; t < 60; t++) {
      for (let n = o.currentThreshold(); n > 0; n--) {
        if (n === 1) fill();
        o.deallocate(o.allocate(16), 16);
      }
      seen.push(o.currentThreshold());
    }
    const step = ADAPTIVE_COOLDOWN_TICKS + 1;
    assert.deepEqual(
      [seen[0], seen[step - 1], seen[step], seen[2 * step - 1], seen[2 * step], seen.at(-1)],
      [32, 32, 16, 16, 8, 8],
    );
  });
});

describe("SlabOwner's own calls", () => {
  test("allocate, deallocate, grow, shrink and usableSize name SlabOwner in their errors and change nothing", () => {
    const o = owner();
    const p = o.allocate(16);
    const calls: [string, () => unknown][] = [
      ["SlabOwner.allocate", () => o.allocate(0)],
      ["SlabOwner.deallocate", () => o.deallocate(p, 16, 3)],
      ["SlabOwner.deallocate", () => o.deallocate(p + 1, 16)],
      ["SlabOwner.grow", () => o.grow(p + 1, 8, 16)],
      ["SlabOwner.shrink", () => o.shrink(p + 1, 16, 8)],
      ["SlabOwner.usableSize", () => o.usableSize(p, 0)],
      ["SlabOwner.usableSize", () => o.usableSize(p + 1, 8)],
    ];
    for (const [name, call] of calls)
      assert.throws(call, (e: unknown) => e instanceof Error && e.message.startsWith(name), name);
    assert.throws(() => o.deallocate(p + 1, 16), InvalidPointerError);
    assert.throws(() => o.allocate(16, 3), LayoutError);
    assert.equal(o.slab.liveCount(), 1);
    assert.equal(o.usableSize(p, 8), 16);
    assert.equal(o.grow(p, 8, 16), p);
    assert.equal(o.grow(p, 16, 17), NULL);
    assert.equal(o.shrink(p, 16, 4), p);
    assert.equal(o.capacityBytes(), 32 * 16);
    o.deallocate(p, 4);
    assert.equal(o.slab.liveCount(), 0);
  });

  test("allocateZeroed zeroes the block; a full slab gives NULL", () => {
    const o = owner({ capacity: 1 });
    const p = o.allocate(16);
    o.memory.u8.fill(0xee, p, p + 16);
    o.deallocate(p, 16);
    const q = o.allocateZeroed(16);
    assert.equal(q, p);
    assert.ok(o.memory.u8.subarray(q, q + 16).every((b) => b === 0));
    assert.equal(o.allocateZeroed(16), NULL);
  });

  test("reset drains the ring first, then frees every block", () => {
    const o = owner();
    const remote = SlabRemote.attach(o.share());
    const p = o.allocate(16);
    o.allocate(16);
    remote.deallocate(p);
    o.reset();
    assert.equal(o.ring.pending(), 0);
    assert.equal(o.slab.liveCount(), 0);
    assert.equal(o.remoteFreeErrors(), 0, "the drained free met a live block");
  });

  test("a remote free of a block that is not live is counted, as corruption too, and changes nothing", () => {
    const o = owner();
    const remote = SlabRemote.attach(o.share());
    const p = o.allocate(16);
    const q = o.allocate(16);
    o.deallocate(q, 16);
    remote.deallocate(q); // a stale pointer
    remote.deallocate(p);
    remote.deallocate(p); // a double free
    assert.equal(o.drain(), 3);
    assert.equal(o.remoteFreeErrors(), 2);
    assert.equal(o.corruptionEvents(), 2);
    assert.equal(o.slab.liveCount(), 0);
  });

  test("close drains what was accepted and refuses later frees; twice is fine; using closes", () => {
    const o = owner();
    const remote = SlabRemote.attach(o.share());
    const p = o.allocate(16);
    const q = o.allocate(16);
    remote.deallocate(p);
    o.close();
    assert.equal(o.slab.liveCount(), 1);
    assert.equal(remote.tryDeallocate(q), "closed");
    assert.throws(
      () => remote.deallocate(q),
      throwsWith(AllocError, /^SlabRemote\.deallocate: the owner is closed; .* was not freed$/),
    );
    o.close();
    const u = owner();
    {
      using scoped = u;
      assert.equal(scoped.ring.closed, false);
    }
    assert.equal(u.ring.closed, true);
  });

  test("close waits for a reserved push to be published, and gives up at its deadline", () => {
    const o = owner();
    const remote = SlabRemote.attach(o.share());
    const p = o.allocate(16);
    const seq = remote.ring.reserve() as number;
    assert.throws(
      () => o.close(5),
      throwsWith(AllocError, /^SlabOwner\.close: a remote push was reserved but never published$/),
    );
    remote.ring.publish(seq, p);
    o.close(5);
    assert.equal(o.slab.liveCount(), 0);
  });
});

describe("SlabRemote", () => {
  test("attach needs a SlabRemote descriptor", () => {
    for (const bad of [undefined, {}, { kind: "SlabOwner" }]) {
      assert.throws(
        () => SlabRemote.attach(bad as never),
        throwsWith(AllocError, /^SlabRemote\.attach: not a SlabRemote descriptor$/),
      );
    }
  });

  test("a pointer must be the start of one of the owner's blocks", () => {
    const o = owner({ blockSize: 24, capacity: 4 });
    const remote = SlabRemote.attach(o.share());
    const { region, stride } = o.location();
    assert.equal(stride, 24);
    for (const bad of [
      region - stride,
      region - 1,
      region + 1,
      region + stride + 8,
      region + 4 * stride,
      1.5,
      NaN,
    ]) {
      assert.throws(
        () => remote.tryDeallocate(bad),
        throwsWith(InvalidPointerError, /^SlabRemote: .* is not one of the owner's blocks$/),
        `ptr ${bad}`,
      );
    }
    assert.equal(o.ring.pending(), 0);
    for (let i = 0; i < 4; i++) assert.equal(remote.tryDeallocate(region + i * stride), "ok");
  });

  test("deallocate on a full ring waits for space, then fails naming its timeout", () => {
    const o = owner({ ringCapacity: 1 });
    const remote = SlabRemote.attach(o.share());
    const [a, b] = [o.allocate(16), o.allocate(16)];
    remote.deallocate(a);
    assert.equal(remote.tryDeallocate(b), "full");
    assert.throws(
      () => remote.deallocate(b, 0),
      throwsWith(
        AllocError,
        /^SlabRemote\.deallocate: the ring stayed full for 0 ms \(is the owner draining\?\)$/,
      ),
    );
    assert.throws(() => remote.deallocate(b, 3), /stayed full for 3 ms/);
    o.drain();
    remote.deallocate(b, 0);
    assert.equal(o.drain(), 1);
  });

  test("deallocate over a process-shared memory waits through the backing's futex", () => {
    const backing = new ProcessShared(1 << 16);
    const o = new SlabOwner(backing, { blockSize: 16, capacity: 8, ringCapacity: 1 });
    const remote = SlabRemote.join(backing, o.location());
    const [a, b] = [o.allocate(16), o.allocate(16)];
    remote.deallocate(a);
    assert.throws(() => remote.deallocate(b, 0), /stayed full for 0 ms/);
    assert.equal(backing.waits.length, 0, "its time was up before it could wait: no wait");
    assert.throws(() => remote.deallocate(b, 50), /stayed full for 50 ms/);
    assert.ok(backing.waits.length >= 1, "waited on the futex");
    assert.equal(backing.waits[0], o.ring.offset + 28, "the ring's space word");
  });

  test("join refuses a backing that is not process-shared and every location not inside the mapping", () => {
    const sab = new SharedArrayBufferBacked(1 << 16);
    const shared = new SlabOwner(sab, { blockSize: 16, capacity: 8, ringCapacity: 4 });
    assert.throws(
      () => SlabRemote.join(sab, shared.location()),
      throwsWith(AllocError, /^SlabRemote\.join: the backing is not a mapping processes share/),
    );
    const backing = new ProcessShared(1 << 16);
    const o = new SlabOwner(backing, { blockSize: 16, capacity: 8, ringCapacity: 4 });
    const good = o.location();
    const bytes = backing.memory.byteLength;
    const bad: unknown[] = [
      null,
      { ...good, kind: "SlabOwner" },
      { ...good, ring: -128 },
      { ...good, ring: 1.5 },
      { ...good, ring: "0" },
      { ...good, ring: bytes },
      { ...good, ringCapacity: 0 },
      { ...good, ringCapacity: bytes },
      { ...good, region: 8 },
      { ...good, region: bytes },
      { ...good, stride: 0 },
      { ...good, stride: bytes },
      { ...good, capacity: 0 },
      { ...good, capacity: bytes },
      { ...good, ring: bytes - 128, ringCapacity: 4 }, // the ring's slots past the end
      { ...good, region: bytes - 64, stride: 16, capacity: 8 }, // the blocks past the end
    ];
    for (const location of bad) {
      assert.throws(
        () => SlabRemote.join(backing, location as never),
        throwsWith(AllocError, /^SlabRemote\.join: not a location inside this mapping/),
        JSON.stringify(location),
      );
    }
    // the edges: a ring and blocks that end exactly at the mapping's end are inside
    const edge = new ProcessShared(1 << 16);
    const e = new SlabOwner(edge, { blockSize: 16, capacity: 8, ringCapacity: 4 });
    const at = e.location();
    assert.ok(SlabRemote.join(edge, { ...at, region: bytes - 16 * 8 }) instanceof SlabRemote);
    assert.ok(SlabRemote.join(edge, { ...at, region: 16, stride: 1, capacity: 1 }) instanceof SlabRemote);
    assert.throws(() => SlabRemote.join(edge, { ...at, ring: 1024 }), AllocError, "no ring there");
    assert.equal(Memory.of(edge.memory.source).shared, false);
  });
});
