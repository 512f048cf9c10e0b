// SlabOwner and SlabRemote, second part: what the first Stryker run of the owner's group (28 November) let live.
// The names in the errors of BatchPolicy.fixed, the constructor and grow; a backing without a memory; the request
// the backing is asked for at and above the largest size; a failed allocateZeroed writing nothing; close()'s
// deadline under a controlled clock; join's edge for the ring; and SlabRemote's pointer check over a stride of 1.
// In a file of its own so that an incremental run retests only the mutants these reach (docs/TESTING.md).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AllocError,
  ArrayBufferBacked,
  InvalidPointerError,
  LayoutError,
  MAX_SIZE,
  NULL,
  SharedArrayBufferBacked,
} from "../index.js";
import type { Allocator, SharedWaitOutcome } from "../core/index.js";
import { RemoteFreeRing } from "./remote-ring.js";
import { BatchPolicy, SlabOwner, SlabRemote } from "./slab-owner.js";

/** A backing other processes map, as far as SlabOwner and SlabRemote can tell (a plain memory and a stand-in futex). */
class ProcessShared extends ArrayBufferBacked {
  readonly processSharing = { pid: 1, stamp: 0, alive: () => true };
  wait(_offset: number, _expected: number, _timeoutMs?: number): SharedWaitOutcome {
    return "timed-out";
  }
  notify(_offset: number): number {
    return 0;
  }
}

const throwsWith =
  (type: new (...args: never[]) => Error, pattern: RegExp) =>
  (e: unknown): boolean =>
    e instanceof type && pattern.test(e.message);

describe("SlabOwner's errors name the call", () => {
  test("BatchPolicy.fixed names itself and n", () => {
    assert.throws(
      () => BatchPolicy.fixed(0),
      throwsWith(AllocError, /^BatchPolicy\.fixed: n 0 is not valid; expected an integer from 1 to 1048576$/),
    );
  });

  test("a bad slab option names SlabOwner", () => {
    assert.throws(
      () => new SlabOwner(new SharedArrayBufferBacked(1 << 16), { blockSize: 0, capacity: 8 }),
      throwsWith(AllocError, /^SlabOwner: blockSize 0 is not valid/),
    );
    assert.throws(
      () => new SlabOwner(new SharedArrayBufferBacked(1 << 16), { blockSize: 16, capacity: 0 }),
      throwsWith(AllocError, /^SlabOwner: capacity 0 is not valid/),
    );
  });

  test("grow with a smaller size names SlabOwner.grow", () => {
    const o = new SlabOwner(new SharedArrayBufferBacked(1 << 16), {
      blockSize: 16,
      capacity: 4,
      ringCapacity: 4,
    });
    const p = o.allocate(16);
    assert.throws(() => o.grow(p, 8, 4), throwsWith(LayoutError, /^SlabOwner\.grow: /));
    assert.throws(() => o.shrink(p, 8, 16), throwsWith(LayoutError, /^SlabOwner\.shrink: /));
    assert.equal(o.slab.liveCount(), 1);
  });

  test("a backing with no memory is refused with an AllocError, not a TypeError", () => {
    for (const backing of [{}, { memory: undefined }, null]) {
      assert.throws(
        () => new SlabOwner(backing as never, { blockSize: 16, capacity: 8 }),
        throwsWith(AllocError, /^SlabOwner: the backing's memory must be shared/),
        JSON.stringify(backing),
      );
    }
  });
});

describe("SlabOwner's request to its backing", () => {
  /** A shared backing that records what it is asked for and has nothing to give. */
  const recording = (): { backing: Allocator; asked: [number, number][] } => {
    const shared = new SharedArrayBufferBacked(4096);
    const asked: [number, number][] = [];
    const backing = Object.assign(Object.create(shared) as Allocator, {
      memory: shared.memory,
      allocate: (size: number, align: number): number => {
        asked.push([size, align]);
        return NULL;
      },
      deallocate: (): void => assert.fail("nothing was handed out"),
    });
    return { backing, asked };
  };

  test("exactly the largest size is asked of the backing; one byte more never reaches it", () => {
    // a 16-slot ring takes 256 bytes (128-aligned); 2^22 - 1 blocks of 256 fill the rest of 2^30 exactly
    const exact = recording();
    assert.throws(
      () => new SlabOwner(exact.backing, { blockSize: 256, capacity: (1 << 22) - 1, ringCapacity: 16 }),
      throwsWith(AllocError, new RegExp(`^SlabOwner: the backing cannot provide ${MAX_SIZE} bytes `)),
    );
    assert.deepEqual(exact.asked, [[MAX_SIZE, 128]]);
    // 2^10 blocks of 1 MiB are the largest region by themselves; with the ring they are more than any block
    const over = recording();
    assert.throws(
      () => new SlabOwner(over.backing, { blockSize: 1 << 20, capacity: 1 << 10, ringCapacity: 8 }),
      throwsWith(
        AllocError,
        new RegExp(
          `^SlabOwner: the backing cannot provide ${MAX_SIZE + 256} bytes \\(a 8-slot ring and 1024 blocks of 1048576\\)$`,
        ),
      ),
    );
    assert.deepEqual(over.asked, [], "a size above the largest is not a valid request");
  });
});

describe("SlabOwner's allocateZeroed", () => {
  test("a full slab: NULL, and no byte of the memory written (not even at address 0)", () => {
    const o = new SlabOwner(new SharedArrayBufferBacked(1 << 16), {
      blockSize: 64,
      capacity: 1,
      ringCapacity: 4,
    });
    assert.ok(o.ring.offset >= 64, "the low bytes belong to no one here");
    o.allocate(64);
    o.memory.u8.fill(0x5a, 0, 64);
    assert.equal(o.allocateZeroed(64), NULL);
    assert.ok(
      o.memory.u8.subarray(0, 64).every((b) => b === 0x5a),
      "the failed request zeroed nothing",
    );
  });
});

describe("SlabOwner.close's deadline", () => {
  /**
   * Runs `close(timeoutMs)` with a reserved push still unpublished, under a clock that reads `start` when close
   * takes its deadline and `start + elapsed` at its first check; the push is published at that check (as another
   * worker would while close waits).
   */
  const closeWithClock = (timeoutMs: number, elapsed: number): { o: SlabOwner; reads: number } => {
    const o = new SlabOwner(new SharedArrayBufferBacked(1 << 16), {
      blockSize: 16,
      capacity: 4,
      ringCapacity: 4,
    });
    const remote = SlabRemote.attach(o.share());
    const p = o.allocate(16);
    const seq = remote.ring.reserve() as number;
    const start = 1_000_000;
    let reads = 0;
    const now = Date.now;
    Date.now = (): number => {
      reads++;
      if (reads === 1) return start;
      if (reads === 2) remote.ring.publish(seq, p);
      return start + elapsed;
    };
    try {
      o.close(timeoutMs);
    } finally {
      Date.now = now;
    }
    return { o, reads };
  };

  test("a push published while close waits, with time left or exactly at the deadline, is drained", () => {
    for (const elapsed of [0, 49, 50]) {
      const { o, reads } = closeWithClock(50, elapsed);
      assert.equal(reads, 2, "the deadline, then one check before the wait");
      assert.equal(o.slab.liveCount(), 0, `drained (${elapsed} ms of 50)`);
      assert.equal(o.ring.settled(), true);
    }
  });

  test("past the deadline close gives up, naming what it waited for", () => {
    assert.throws(
      () => closeWithClock(50, 51),
      throwsWith(AllocError, /^SlabOwner\.close: a remote push was reserved but never published$/),
    );
  });
});

describe("SlabRemote.join and its pointer check at the edges", () => {
  test("a ring that ends exactly at the mapping's end is inside it", () => {
    const backing = new ProcessShared(1 << 16);
    const o = new SlabOwner(backing, { blockSize: 16, capacity: 8, ringCapacity: 4 });
    const bytes = backing.memory.byteLength;
    const at = bytes - RemoteFreeRing.bytesFor(32);
    assert.equal(at % 128, 0);
    new RemoteFreeRing(backing.memory, at, 32, true, { waiting: backing });
    const remote = SlabRemote.join(backing, { ...o.location(), ring: at, ringCapacity: 32 });
    assert.equal(remote.ring.offset, at);
    assert.equal(remote.tryDeallocate(o.location().region), "ok");
  });

  test("over a stride of 1, a pointer that is not an integer is not a block", () => {
    const backing = new ProcessShared(1 << 16);
    const o = new SlabOwner(backing, { blockSize: 16, capacity: 8, ringCapacity: 4 });
    const remote = SlabRemote.join(backing, { ...o.location(), region: 16, stride: 1, capacity: 4 });
    for (const bad of [1.5, Number.NaN, "17", -1, 15, 20]) {
      assert.throws(
        () => remote.tryDeallocate(bad as never),
        throwsWith(InvalidPointerError, /^SlabRemote: .* is not one of the owner's blocks$/),
        String(bad),
      );
    }
    assert.equal(o.ring.pending(), 0, "nothing pushed");
    for (const p of [16, 17, 19]) assert.equal(remote.tryDeallocate(p), "ok");
  });
});
