// ConcurrentHeap: what its first run over lines 481 to 626 (validate, release, reclaim; 28 November) left
// unasserted: a record whose start or block disagrees with its page while the engine's own checks pass, the last
// page of the heap, a free first page holding an entry at granule 0, and reclaim of worker 0 and of a worker of
// the second bitmap word. Written for the mutants of the concurrent heap's group (docs/TESTING.md,
// `npm run mutate -- concurrent-heap`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, SharedArrayBufferBacked } from "../index.js";
import { ConcurrentHeap } from "./concurrent-heap.js";
import { RECORD } from "./page-engine.js";
import { isError, validateFails } from "../../test/helpers/assertions.js";

/** The shared page table and this worker's view of it (see the module documentation of concurrent-heap.ts). */
interface Internals {
  words: Int32Array;
  headers: number;
  owners: Uint16Array;
  meta: Int32Array;
  records: Int32Array;
  base: number;
  pageCount: number;
}
const H_WORDS = 16;
const H_OWNER = 0;
const C_NEXT_PAGE = 2;
const PAGE = 1 << 16;
const PAGE_GRANULES = PAGE >>> 4;
const { START, BLK, BLK_BYTES } = RECORD;

const internals = (h: ConcurrentHeap): Internals => h as unknown as Internals;
const pageOf = (h: ConcurrentHeap, p: number): number => ((p - internals(h).base) >>> 16) + 1;
const broken = (h: ConcurrentHeap, message: RegExp): void => validateFails(h, "ConcurrentHeap", message);

describe("ConcurrentHeap.validate: a record that disagrees with its page, the last page, page 1", () => {
  test("a record whose block starts before its slots, or whose slots start a slot into the page, is named", () => {
    // the block 16 bytes lower and 16 bytes longer: the engine's fit checks pass, the face's does not
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const page = pageOf(a, a.allocate(64));
    const I = internals(a);
    const r = I.records[page]!;
    a.validate();
    I.meta[r + BLK]! -= 16;
    I.meta[r + BLK_BYTES]! += 16;
    broken(a, new RegExp(`^ConcurrentHeap\\.validate: page ${page}: its record's start is not the page's$`));
    // slots and block one slot (16 KiB) up in a full page of 16 KiB blocks: the slots then read are the page's last
    // three and the next page's first granule, which names this page (so the engine counts four live slots)
    const b = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const blocks = Array.from({ length: 4 }, () => b.allocate(16384));
    const full = pageOf(b, blocks[0]!);
    const J = internals(b);
    const q = J.records[full]!;
    b.validate();
    J.meta[q + START]! += 16384;
    J.meta[q + BLK]! += 16384;
    J.owners[full * PAGE_GRANULES] = full;
    broken(b, new RegExp(`^ConcurrentHeap\\.validate: page ${full}: its record's start is not the page's$`));
  });

  test("the heap's last page is checked too", () => {
    const h = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    h.allocate(64);
    const I = internals(h);
    const last = I.pageCount;
    assert.ok(last > Atomics.load(I.words, C_NEXT_PAGE) + 1);
    h.validate();
    I.words[I.headers + (last - 1) * H_WORDS + H_OWNER] = 0;
    broken(h, new RegExp(`page ${last} is past the cursor \\d+ but has owner 0$`));
  });

  test("a free page 1 holding an entry at its first granule is named", () => {
    const h = new ConcurrentHeap(new SharedArrayBufferBacked(8 << 16));
    const blocks = Array.from({ length: 65 }, () => h.allocate(1024)); // page 1 full, page 2 current
    assert.equal(pageOf(h, blocks[0]!), 1);
    for (const p of blocks.slice(0, 64)) h.free(p); // page 1 empties: back to the pool
    h.validate();
    const I = internals(h);
    assert.equal(I.words[I.headers + H_OWNER], 0, "page 1 is free");
    I.owners[0] = 1;
    broken(h, /free page 1 holds a live block$/);
  });
});

describe("ConcurrentHeap.reclaim: the ids at the ends of the bitmap", () => {
  test("worker 0 can be reclaimed, and a worker of the second bitmap word; an id far past 63 is refused", () => {
    const a = new ConcurrentHeap(new SharedArrayBufferBacked(1 << 20));
    const workers = Array.from({ length: 33 }, () => ConcurrentHeap.attach(a.share()));
    const w32 = workers[31]!;
    assert.equal(w32.workerId, 32);
    a.allocate(64);
    w32.allocate(64);
    const b = workers[0]!;
    assert.equal(b.reclaim(0), 1, "worker 0's page");
    assert.equal(b.reclaim(32), 1, "worker 32's page");
    assert.equal(b.stats().workers, 32);
    for (const bad of [0, 32, 2 ** 30, 2 ** 31 - 1]) {
      assert.throws(
        () => b.reclaim(bad),
        isError(
          AllocError,
          /^ConcurrentHeap\.reclaim: .* is not the id of another worker attached to this heap/,
        ),
        String(bad),
      );
    }
  });
});
