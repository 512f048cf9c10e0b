// PoisonOnFree's reuse check over the layouts that write headers into their memory (Tlsf, and Heap, whose large
// blocks are Tlsf's): under any sequence of allocations (any size, alignments up to 64), frees and checks, the check
// never reports a write the layout made itself, and a byte changed in a block just freed, at any offset, is reported.
// It checks every byte of a freed block: nothing is skipped for the layout's own words.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ArrayBufferBacked, CorruptionError, Heap, NULL, Tlsf } from "../index.js";
import { PoisonOnFree } from "./index.js";
import { isError } from "../../test/helpers/assertions.js";

type Op =
  | { kind: "allocate"; size: number; align: number }
  | { kind: "free"; pick: number; scribble: number | null }
  | { kind: "verify" };

const ops = fc.array(
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant("allocate" as const),
        // small sizes (Heap's pages, Tlsf's quick cache), and sizes that split and merge Tlsf's blocks
        size: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 6000 })),
        align: fc.constantFrom(8, 8, 8, 16, 64),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("free" as const),
        pick: fc.nat(),
        // a fraction of the block's usable size where one byte is changed right after the free
        scribble: fc.option(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { freq: 3 }),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "verify" as const }) },
  ),
  { maxLength: 120 },
);

const layouts = [
  { name: "Tlsf", make: () => new Tlsf(new ArrayBufferBacked(1 << 16)) },
  { name: "Heap", make: () => new Heap(new ArrayBufferBacked({ size: 1 << 18, maxSize: 1 << 20 })) },
];

for (const { name, make } of layouts) {
  test(`PoisonOnFree (checkOnReuse) over a ${name}: no false report under any sequence, every byte of a freed block checked`, () => {
    fc.assert(
      fc.property(ops, (sequence: Op[]) => {
        const pool = new PoisonOnFree(make(), { checkOnReuse: true });
        const u8 = (): Uint8Array => pool.memory.u8;
        const live: { p: number; size: number; align: number }[] = [];
        let scribbled = 0;
        for (const op of sequence) {
          if (op.kind === "allocate") {
            const p = pool.allocate(op.size, op.align);
            if (p === NULL) continue;
            u8().fill(0x5a, p, p + op.size); // the owner writes its whole block
            live.push({ p, size: op.size, align: op.align });
          } else if (op.kind === "free") {
            if (live.length === 0) continue;
            const [b] = live.splice(op.pick % live.length, 1);
            const usable = pool.usableSize(b!.p, b!.size);
            pool.deallocate(b!.p, b!.size, b!.align);
            if (op.scribble !== null) {
              const at = Math.floor(op.scribble * usable);
              u8()[b!.p + at]! ^= 0xff; // a use after free, at any byte of the block
              scribbled++;
              assert.throws(() => pool.verifyFreed(), isError(CorruptionError, new RegExp(`byte ${at} of`)));
            }
          } else pool.verifyFreed(); // throws on a false report
        }
        pool.verifyFreed();
        assert.equal(pool.corruptionEvents(), scribbled, "each scribble reported once");
      }),
      { numRuns: 150 },
    );
  });
}
