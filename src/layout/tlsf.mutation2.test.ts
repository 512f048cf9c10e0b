// Tlsf, second round: the mutants that survived the Tlsf group with tlsf.mutation.test.ts (docs/TESTING.md,
// `npm run mutate -- tlsf`). A new file, so that Stryker's incremental mode keeps the results the first one earned.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ArrayBufferBacked,
  CorruptionError,
  InvalidPointerError,
  LayoutError,
  NULL,
  WasmMemoryBacked,
} from "../index.js";
import { Tlsf } from "./tlsf.js";
import { exactRange } from "../../test/helpers/exact-range.js";

/** The out-of-band state these tests read to set up a case (see the module documentation of tlsf.ts). */
interface Internals {
  rec: Int32Array;
  recTop: number;
  quickCount: Int32Array;
  quickRec: Int32Array;
  quickPtr: Int32Array;
  quickBytes: number;
  first: number;
}
const SIZE = 1;
const PREV = 2;

const header = (t: Tlsf, p: number): number => t.memory.i32[(p - 8) >>> 2]!;
const setHeader = (t: Tlsf, p: number, value: number): void => {
  t.memory.i32[(p - 8) >>> 2] = value;
};

/** Every way of naming a live block refuses `p` with `type` (a `CorruptionError` is counted). */
const refusedEverywhere = (t: Tlsf, p: number, type: typeof CorruptionError | typeof InvalidPointerError) => {
  if (type === CorruptionError) assert.throws(() => t.sizeOf(p), CorruptionError, "sizeOf");
  else assert.equal(t.sizeOf(p), -1, "sizeOf");
  assert.throws(() => t.free(p), type, "free");
  assert.throws(() => t.deallocate(p, 16), type, "deallocate");
  assert.throws(() => t.realloc(p, 200), type, "realloc");
  assert.throws(() => t.usableSize(p, 16), type, "usableSize");
};

describe("Tlsf: headers an overflow overwrote", () => {
  test("the corruption names the call and the block, and says nothing was handed out or freed", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const x = t.allocate(64);
    setHeader(t, x, 12345);
    const message = new RegExp(
      `^Tlsf\\.(free|realloc): the header of block 0x${x.toString(16)} \\(${x}\\) was overwritten \\(an overflow of the block before it\\); nothing was handed out or freed$`,
    );
    assert.throws(
      () => t.sizeOf(x),
      (e: unknown) =>
        e instanceof CorruptionError && message.test(e.message) && /^Tlsf\.free/.test(e.message),
    );
    assert.throws(
      () => t.realloc(x, 100),
      (e: unknown) =>
        e instanceof CorruptionError && message.test(e.message) && /^Tlsf\.realloc/.test(e.message),
    );
  });

  test("a header naming the size word of another record, which holds the block's address, is a corruption", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const I = t as unknown as Internals;
    t.allocate(64);
    const y = t.allocate(64);
    const z = t.allocate(y); // z's size is y's address
    const rz = header(t, z);
    assert.equal(I.rec[rz + SIZE], y, "the word at record index rz + 1 holds y");
    const ry = header(t, y);
    setHeader(t, y, rz + SIZE);
    refusedEverywhere(t, y, CorruptionError);
    assert.equal(t.corruptionEvents(), 5);
    setHeader(t, y, ry); // repaired: y is live again, z untouched
    assert.equal(t.sizeOf(y), 64);
    assert.equal(t.sizeOf(z), y);
    t.free(y);
    t.free(z);
    t.validate();
  });

  test("a header naming the previous-block word of another record, which holds the block's address, is a corruption", () => {
    // One free block of 1,024 bytes at 8: the first allocation splits it into another list, so the block keeps
    // record 8 and the rest gets record 16, whose previous-block word (index 18) holds 8, the block's address.
    const memory = new ArrayBufferBacked(4096).memory;
    const range = { memory, base: () => 0, size: () => 1032, commit: () => false, contains: () => false };
    const t = new Tlsf(range as never);
    const I = t as unknown as Internals;
    const a = t.allocate(16);
    assert.equal(a, 8);
    assert.equal(header(t, a), 8);
    assert.equal(I.rec[16 + PREV], a);
    setHeader(t, a, 16 + PREV);
    refusedEverywhere(t, a, CorruptionError);
    setHeader(t, a, 8);
    t.free(a);
    t.validate();
  });

  test("a destroyed header is a corruption even when the block's own bytes hold its record index", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const x = t.allocate(64);
    const rx = header(t, x);
    t.memory.i32[(x + 8) >>> 2] = rx; // user data that happens to look like the header
    setHeader(t, x, 12345);
    refusedEverywhere(t, x, CorruptionError);
    setHeader(t, x, rx);
    t.free(x);
    t.validate();
  });

  test("the address one past a cached block is not a live block", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const I = t as unknown as Internals;
    const p = t.allocate(64);
    t.allocate(64);
    t.free(p);
    assert.equal(I.quickCount[8], 1, "p is in the quick cache");
    refusedEverywhere(t, p + 1, InvalidPointerError);
    assert.equal(I.quickCount[8], 1);
    t.validate();
    assert.equal(t.allocate(64), p);
    assert.notEqual(t.allocate(64), p, "p was cached once, not twice");
    assert.notEqual(NULL, p);
  });
});

describe("Tlsf: allocation", () => {
  test("allocate refuses a bad size or alignment, naming Tlsf.allocate", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 12));
    for (const [size, align] of [
      [0, 8],
      [-1, 8],
      [16, 3],
      [1.5, 8],
    ] as const)
      assert.throws(
        () => t.allocate(size, align),
        (e: unknown) => e instanceof LayoutError && /^Tlsf\.allocate: /.test(e.message),
      );
    assert.equal(t.stats().usedBlocks, 0);
  });

  test("allocateZeroed zeroes a block handed out again, whatever the program left in it", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const p = t.allocate(64);
    t.memory.u8.fill(0xa5, p, p + 64);
    t.free(p);
    const q = t.allocateZeroed(64);
    assert.equal(q, p, "the same block, from the quick cache");
    assert.ok(t.memory.u8.subarray(q, q + 64).every((b) => b === 0));
  });

  test("allocateZeroed writes its block only", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const before = t.allocate(64);
    const p = t.allocate(64);
    const after = t.allocate(64);
    for (const q of [before, p, after]) t.memory.u8.fill(0xa5, q, q + 64);
    t.free(p);
    assert.equal(t.allocateZeroed(64), p);
    assert.ok(t.memory.u8.subarray(p, p + 64).every((b) => b === 0));
    assert.ok(t.memory.u8.subarray(before, before + 64).every((b) => b === 0xa5));
    assert.ok(t.memory.u8.subarray(after, after + 64).every((b) => b === 0xa5));
  });

  test("the smallest fitting list wins: across first levels, and within one", () => {
    // free blocks of 200 and 6,000 bytes (in first levels 1 and 6), each between used blocks
    const t = new Tlsf(new ArrayBufferBacked(1 << 16));
    const a = t.allocate(6000);
    t.allocate(16);
    const b = t.allocate(200);
    t.allocate(16);
    t.free(a);
    t.free(b);
    t.flushCache();
    assert.equal(t.allocate(100), b, "100 bytes come from the 200-byte block");
    // free blocks of 1,100 and 1,900 bytes in one first level (1,024 .. 2,047)
    const u = new Tlsf(new ArrayBufferBacked(1 << 16));
    const c = u.allocate(1896);
    u.allocate(16);
    const d = u.allocate(1096);
    u.allocate(16);
    u.free(c);
    u.free(d);
    u.flushCache();
    assert.equal(u.allocate(1050), d, "1,050 bytes come from the 1,096-byte block");
    t.validate();
    u.validate();
  });

  test("a block whose rest falls into a smaller list is split into that list", () => {
    // a free block of 1,096 bytes (second level 1 of 1,024 .. 2,047); 16 bytes from it leave 1,072 (level 0)
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const a = t.allocate(1096);
    t.allocate(16);
    t.free(a);
    t.flushCache();
    assert.equal(t.allocate(16), a);
    t.validate();
  });

  test("an aligned request of 1 byte is a block of the smallest payload", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 12));
    const p = t.allocate(1, 64);
    assert.equal(p % 64, 0);
    assert.equal(t.sizeOf(p), 16);
    t.validate();
  });

  test("an aligned block gives back what it does not need after it", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 12));
    const p = t.allocate(16, 64);
    assert.equal(p, 64);
    assert.equal(t.sizeOf(p), 16);
    t.validate();
  });

  test("an aligned block cut from the end of the heap is its last block", () => {
    // base 16: a block of 16 bytes at 24, then a free block of 104 bytes at 48; 16 bytes aligned to 64 take it
    // whole (104 = 16 + 64 + 24): the front [48, 120) goes back, and the block at 128 is the last, with 8 spare bytes
    const t = new Tlsf(new ArrayBufferBacked(152));
    assert.equal(t.allocate(16), 24);
    const p = t.allocate(16, 64);
    assert.equal(p, 128);
    assert.equal(t.sizeOf(p), 24);
    t.validate();
    t.free(p);
    t.validate();
  });
});

describe("Tlsf: freeing and resizing", () => {
  test("deallocate refuses an alignment the block's address does not have", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 12));
    const p = t.allocate(16);
    assert.equal(p % 16, 8, "the first block is 8 past a multiple of 16");
    assert.throws(() => t.deallocate(p, 16, 16), LayoutError);
    assert.equal(t.sizeOf(p), 16, "still live");
    t.deallocate(p, 16, 8);
  });

  test("realloc to the same rounded size keeps the block, whatever follows it", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 12));
    const p = t.allocate(40);
    const q = t.allocate(40);
    assert.equal(t.realloc(p, 40), p);
    assert.equal(t.realloc(p, 33), p);
    assert.equal(t.sizeOf(q), 40);
    t.validate();
  });

  test("realloc next to a used block large enough moves, and leaves that block alone", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const p = t.allocate(64);
    const q = t.allocate(1000);
    t.memory.u8.fill(7, p, p + 64);
    const r = t.realloc(p, 200);
    assert.notEqual(r, p);
    assert.equal(t.sizeOf(q), 1000, "the neighbour is still live");
    assert.ok(t.memory.u8.subarray(r, r + 64).every((b) => b === 7));
    t.validate();
  });

  test("realloc of the last block of a full heap that cannot grow: NULL, the block as it was", () => {
    const t = new Tlsf(new ArrayBufferBacked(1048)); // one free block of 1,024 bytes
    const p = t.allocate(1024);
    assert.equal(t.stats().freeBlocks, 0);
    assert.equal(t.realloc(p, 1032), NULL);
    assert.equal(t.sizeOf(p), 1024);
    t.validate();
  });

  test("realloc of a block that is not the last does not grow the heap when the heap has room", () => {
    const t = new Tlsf(new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 20 }));
    const p = t.allocate(64);
    t.allocate(64);
    t.realloc(p, 4000);
    assert.equal(t.memory.byteLength, 1 << 16);
    t.validate();
  });

  test("realloc of the last block grows the heap by what it needs (doubled), not by the block's size again", () => {
    const end = (1 << 16) + 24; // one free block of 64 KiB
    const range = exactRange(16, 1 << 20, end);
    const t = new Tlsf(range as never);
    const p = t.allocate(1 << 16);
    assert.equal(t.stats().freeBlocks, 0, "p is the whole committed heap");
    assert.equal(t.realloc(p, (1 << 16) + 64), p, "in place: the heap grew behind it");
    assert.deepEqual(range.commits, [[end, end - 16]], "twice the heap");
    t.validate();
  });

  test("grow with an alignment above 8 copies the bytes when it moves the block", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const p = t.allocate(100, 64);
    t.allocate(16);
    for (let i = 0; i < 100; i++) t.memory.u8[p + i] = i + 1;
    const q = t.grow(p, 100, 3000, 64);
    assert.notEqual(q, p);
    assert.equal(q % 64, 0);
    for (let i = 0; i < 100; i++) assert.equal(t.memory.u8[q + i], i + 1);
    t.validate();
  });

  test("grow with an alignment above 8 writes the new block only when it moves", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 15));
    const p = t.allocate(100, 64);
    t.memory.u8.fill(1, p, p + 100);
    const hole = t.allocate(5000);
    const z = t.allocate(64);
    t.memory.u8.fill(9, z, z + 64);
    t.free(hole);
    const q = t.grow(p, 100, 3000, 64);
    assert.ok(q >= hole && q < z, "the block moved into the hole before z");
    assert.ok(
      t.memory.u8.subarray(z, z + 64).every((b) => b === 9),
      "z is untouched",
    );
    t.validate();
  });

  test("realloc into a cached neighbour takes it off its stack wherever it is on it", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const I = t as unknown as Internals;
    const x = t.allocate(64);
    const n = t.allocate(48); // x's neighbour
    const others = Array.from({ length: 4 }, () => [t.allocate(48), t.allocate(16)][0]!);
    t.free(others[0]!);
    t.free(n); // second on the stack of 48-byte blocks
    t.free(others[1]!);
    t.free(others[2]!);
    assert.equal(I.quickCount[6], 4);
    assert.equal(t.realloc(x, 112), x, "in place: the cached neighbour joined it");
    assert.equal(I.quickCount[6], 3);
    t.validate();
    const handed = [t.allocate(48), t.allocate(48), t.allocate(48)].sort((a, b) => a - b);
    assert.deepEqual(
      handed,
      [others[0]!, others[1]!, others[2]!].sort((a, b) => a - b),
    );
    assert.throws(() => t.free(n), InvalidPointerError, "n's old address is inside x now, not a corruption");
    assert.equal(t.corruptionEvents(), 0);
    t.validate();
  });
});

describe("Tlsf: counting and walking", () => {
  test("the largest free block is the largest, wherever it lies", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const a = t.allocate(8000);
    t.allocate(16);
    const b = t.allocate(5000);
    t.allocate(16);
    t.free(a);
    t.free(b);
    const free = t.regions().filter((r) => r.kind === "free");
    assert.equal(free.length, 3, "8,000 and 5,000 bytes, then the rest of the heap, smaller");
    assert.ok(free[2]!.size < 5000);
    assert.equal(t.stats().largestFreeBlock, 8000);
  });

  test("stats and regions end on a block chain that loops (bounded by the records)", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 12));
    const I = t as unknown as Internals;
    t.allocate(64);
    t.allocate(64);
    const r = header(t, t.allocate(64));
    I.rec[r + 3] = I.first; // NEXT back to the first block
    const s = t.stats();
    assert.ok(s.usedBlocks + s.freeBlocks <= I.recTop / 8);
    assert.ok(t.regions().length <= (2 * I.recTop) / 8);
  });

  test("validate names the pointer of the cached entry whose record disagrees, at any depth", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 14));
    const I = t as unknown as Internals;
    const blocks = [t.allocate(32), t.allocate(32), t.allocate(32)];
    t.allocate(16);
    for (const p of blocks) t.free(p);
    const r = I.quickRec[quickBase(4) + 1]!;
    assert.equal(I.quickPtr[quickBase(4) + 1], blocks[1]);
    I.quickPtr[quickBase(4) + 1] = 999;
    assert.throws(() => t.validate(), new RegExp(`quick list 32 names 999 for record ${r}$`));
  });

  test("records of merged blocks are used again: churn does not grow the records", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 16));
    const I = t as unknown as Internals;
    const keep = t.allocate(16);
    for (let i = 0; i < 2000; i++) {
      const a = t.allocate(5000);
      const b = t.allocate(6000);
      t.free(a);
      t.free(b);
    }
    assert.ok(I.recTop <= 8 * 8, `records handed out: ${I.recTop / 8 - 1}`);
    assert.equal(I.rec.length, 64 * 8, "the record array never grew");
    t.free(keep);
    t.validate();
  });
});

/** Where the quick stack of `k * 8`-byte blocks starts in the quick tables (see QUICK_BASE in tlsf.ts). */
function quickBase(k: number): number {
  let base = 0;
  for (let j = 0; j < k; j++) base += Math.max(1, Math.min(64, Math.floor(16384 / Math.max(8, j * 8))));
  return base;
}

describe("Tlsf: growing into the range", () => {
  test("a heap grows into the very end of its range: the request, a header and the smallest block", () => {
    // The heap [65504, 65536) holds one block of 24 bytes; the range ends 96 bytes later: enough for 64 bytes.
    const range = exactRange(65504, 32 + 96, 1 << 16);
    const t = new Tlsf(range as never);
    assert.equal(t.allocate(24), 65512);
    assert.notEqual(t.allocate(64), NULL);
    t.validate();
  });

  test("the heap does not grow when the range cannot hold the request, a header and the smallest block after it", () => {
    // as above, 8 bytes short: 64 bytes (and 128, rounded up to 135 for its list) are refused
    const range = exactRange(65504, 32 + 88, 1 << 16);
    const t = new Tlsf(range as never);
    t.allocate(24);
    assert.equal(t.allocate(64), NULL);
    const wide = new Tlsf(exactRange(65504, 32 + 160, 1 << 16) as never);
    wide.allocate(24);
    assert.equal(wide.allocate(128), NULL, "128 + 7 + 8 + 16 + 7 bytes do not fit in 160");
    assert.notEqual(wide.allocate(120), NULL);
    t.validate();
    wide.validate();
  });

  test("a free block at the end of the heap grows with it and serves the request from its start", () => {
    const t = new Tlsf(new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 20 }));
    t.allocate(60_000);
    const tail = t.regions().at(-1)!;
    assert.equal(tail.kind, "free");
    assert.ok(tail.size < 5600);
    assert.equal(t.allocate(5600), tail.offset);
    t.validate();
  });

  test("a record a merge set free serves the front of a free last block that a growth extended", () => {
    // [a 5,000][b 5,000][c 64][free]: b's request made the heap grow (the search rounds 5,000 up to the next list,
    // above the 5,072 bytes left after a), so a free block follows c. b is freed, then a, which takes b in (b's
    // record is spare, and still names c as its next); a request of 20,000 bytes grows the free last block and
    // takes its front on that record. (tlsf.mutation3 has the heap that ends with a used block.)
    const end = 16 + 8 + 5000 + 8 + 5000 + 8 + 64;
    const t = new Tlsf(exactRange(16, 1 << 20, end) as never);
    const a = t.allocate(5000);
    const b = t.allocate(5000);
    const c = t.allocate(64);
    assert.equal(c, end - 64);
    t.free(b);
    t.free(a);
    t.validate();
    assert.equal(t.allocate(20_000), end + 8);
    t.validate();
    assert.deepEqual(
      t.regions().map((r) => r.kind),
      ["metadata", "free", "metadata", "used", "metadata", "used", "metadata", "free"],
    );
  });

  test("a request the range cannot hold commits nothing", () => {
    const range = exactRange(16, 1 << 20, 1 << 16);
    const t = new Tlsf(range as never);
    assert.equal(t.allocate(2 << 20), NULL);
    assert.equal(t.allocate((1 << 20) - 16), NULL);
    assert.deepEqual(range.commits, []);
    assert.equal(t.memory.byteLength, 1 << 16);
    t.validate();
  });

  test("a heap whose last block is used grows by a new free block after it, twice the heap when that is more", () => {
    const end = (1 << 17) + 24; // one free block of 128 KiB
    const range = exactRange(16, 1 << 22, end);
    const t = new Tlsf(range as never);
    const p = t.allocate(1 << 17); // the whole heap
    assert.equal(t.stats().freeBlocks, 0);
    const q = t.allocate(1000);
    assert.equal(q, end + 8);
    assert.deepEqual(range.commits, [[end, end - 16]], "twice the heap");
    t.validate();
    // a request larger than the heap: what it needs (rounded up to the next list: 786,432 + 32,767, then a
    // header, the smallest block and 7 bytes, to 8), not twice the heap
    const big = t.allocate(3 << 18);
    assert.notEqual(big, NULL);
    const end2 = 2 * end - 16;
    assert.deepEqual(range.commits[1], [end2, ((end2 + (3 << 18) + 32767 + 31) & ~7) - end2]);
    t.validate();
    t.free(p);
    t.free(q);
    t.validate();
  });

  test("a heap grown past its start bitmap keeps a start bit for every block to its end", () => {
    const t = new Tlsf(new ArrayBufferBacked({ size: 1 << 12, maxSize: 1 << 16 }));
    const blocks: number[] = [];
    for (let p = t.allocate(4000); p !== NULL; p = t.allocate(4000)) blocks.push(p);
    for (let p = t.allocate(16); p !== NULL; p = t.allocate(16)) blocks.push(p);
    assert.ok(
      blocks.at(-1)! + 16 + 256 > t.base() + t.size(),
      "the last block is in the heap's last 256 bytes",
    );
    t.validate();
    const last = blocks.at(-1)!;
    setHeader(t, last, 12345);
    assert.throws(() => t.free(last), CorruptionError, "the last block's start bit is set");
  });

  test("after another user grew a WebAssembly memory, a block from the lists gets its header", () => {
    const b = new WasmMemoryBacked({ initial: 1, maximum: 4 });
    const t = new Tlsf(b);
    (t.memory.source as WebAssembly.Memory).grow(1);
    const p = t.allocate(5000);
    assert.equal(t.sizeOf(p), 5000);
    t.free(p);
    assert.equal(t.corruptionEvents(), 0);
    t.validate();
  });
});

describe("Tlsf: a free block that grows within its list keeps its place there", () => {
  // Blocks above the quick cache's largest size go straight to the lists. A list is a stack: the block freed last
  // is handed out first. Sizes from 1 MiB to 1 MiB + 64 KiB share a list.
  const MiB = 1 << 20;

  test("a block freed before a free one joins it in that block's place", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 22));
    const x = t.allocate(MiB + 100);
    t.allocate(16);
    const r = t.allocate(5000);
    const n = t.allocate(MiB);
    t.allocate(16);
    t.free(n);
    t.free(x); // x is on top of the list, n under it
    t.free(r); // r joins n: n's place, under x
    t.validate();
    assert.equal(t.allocate(MiB), x);
    assert.equal(t.allocate(MiB), r, "the block r and n make is next");
    t.validate();
  });

  test("a block freed after a free one joins it in that block's place", () => {
    const t = new Tlsf(new ArrayBufferBacked(1 << 22));
    const y = t.allocate(MiB + 100);
    t.allocate(16);
    const b = t.allocate(MiB);
    const r = t.allocate(5000);
    t.allocate(16);
    t.free(b);
    t.free(y); // y is on top of the list, b under it
    t.free(r); // b takes r in, under y
    t.validate();
    assert.equal(t.allocate(MiB), y);
    assert.equal(t.allocate(MiB), b, "the block b and r make is next");
    t.validate();
  });
});
