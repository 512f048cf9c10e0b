// The stress and fault suite at a size CI affords (bench/stress.ts runs it at 2 workers x 1,000,000 operations
// per primitive): real workers doing seeded random allocate / free / reset / remote free on each shared primitive,
// an ownership map in shared memory proving no block is ever live twice and none lost, a pattern in every block
// proving no live block's contents change, and a worker terminated in the middle of its work.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runStress } from "./helpers/stress-run.js";

const OPS = 40_000;

describe("stress: 2 workers, seeded random operations, ownership map and patterns", () => {
  for (const kind of ["bump", "slab", "heap"] as const) {
    test(`${kind}: no block live twice, none lost, no live block changed`, async () => {
      const r = await runStress({ kind, workers: 2, ops: OPS, seed: 7, bytes: 16 << 20 });
      assert.equal(r.results.length, 2, "both workers finished");
      assert.deepEqual([r.duplicates, r.lost, r.corrupted, r.leftover], [0, 0, 0, 0]);
      assert.ok(r.ops >= OPS, `${r.ops} operations`);
      if (kind === "bump") assert.ok(r.results[0]!.resets >= 1, "the arena was reset between rounds");
      if (kind === "slab") {
        const owner = r.results.find((x) => x.id === 1)!;
        assert.deepEqual([owner.slabLive, owner.remoteErrors], [0, 0], "every block came back exactly once");
        assert.ok(
          r.results.some((x) => x.remoteFrees > 0),
          "blocks were freed remotely",
        );
      }
      if (kind === "heap") {
        assert.equal(r.stats["allocations"], r.stats["frees"], "every block allocated was freed");
        assert.ok(
          r.results.every((x) => x.remoteFrees > 0),
          "both workers freed blocks of the other",
        );
      }
    });
  }
});

describe("faults: a worker terminated in the middle of its work", () => {
  for (const kind of ["bump", "heap"] as const) {
    test(`${kind}: the other worker finishes, and nothing allocated afterwards collides with a live block`, async () => {
      const r = await runStress({
        kind,
        workers: 2,
        ops: OPS,
        seed: 9,
        bytes: 16 << 20,
        terminateAfter: OPS / 4,
      });
      assert.equal(r.faults, 1);
      assert.equal(r.results.length, 1, "the survivor reported");
      assert.deepEqual([r.duplicates, r.lost, r.corrupted, r.leftover], [0, 0, 0, 0]);
      assert.equal(r.collisionsAfterFault, 0);
      if (kind === "heap") assert.ok(r.reclaimedPages > 0, "the terminated worker's pages were taken over");
    });
  }
});
