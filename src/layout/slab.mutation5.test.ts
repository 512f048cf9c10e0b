// Slab, the fourth round of mutation tests (issue #15): the survivor of the confirming run of 29 November that
// changes behaviour. A slab given a MAC but no `metadata` allocator keeps its free set in the JS heap, where nothing
// else can write it; the MAC protocol is still the documented one (entries signed when buried, checked when popped),
// so the constructor must treat the protection alone as a reason to check. The run's other open mutants are
// listed in stryker/equivalent.json (fills that write the same bytes another way, allocRaw's guard sending every
// request to the slow path, checkFree's unused `_freeing` argument).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayBufferBacked } from "../index.js";
import { Slab } from "./slab.js";
import { CountingMac } from "../../test/helpers/counting-mac.js";

test("Slab with a MAC and its free set in the JS heap: k frees then k allocations sign and check k - 1 entries", () => {
  const mac = new CountingMac();
  const slab = new Slab(new ArrayBufferBacked(1 << 14), { blockSize: 64, capacity: 8, protection: mac });
  assert.equal(slab.protection, mac);
  const blocks = Array.from({ length: 5 }, () => slab.allocate(64));
  for (const p of blocks) slab.deallocate(p, 64);
  assert.deepEqual([mac.signs, mac.verifies], [4, 0], "each free after the first buries the entry below it");
  const again = Array.from({ length: 5 }, () => slab.allocate(64));
  assert.deepEqual([mac.signs, mac.verifies], [4, 4], "every pop below the top checks a tag");
  assert.deepEqual(again, [...blocks].reverse(), "the stack gives the blocks back, last freed first");
  assert.equal(slab.corruptionEvents(), 0);
  slab.validate();
});
