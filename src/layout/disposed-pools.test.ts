// Issue "Nothing crashes, leaks or overlaps", the rows left: ExtendableSlab and GenerationalSlab over a disposed OS
// mapping refuse to hand out blocks (before, both kept issuing offsets into the zero pages left in its place).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, HalfSipHashMac, Slab } from "../index.js";
import { GuardPage, MmapBacked } from "../os.js";
import { needs } from "../../test/helpers/host.js";
import { ExtendableSlab, GenerationalSlab } from "./index.js";

const refused = (f: () => unknown): void => {
  assert.throws(f, (e: unknown) => e instanceof AllocError && /disposed/.test((e as Error).message));
};

describe("pools over a disposed mapping refuse to allocate", needs("linux", "addon"), () => {
  test("ExtendableSlab: a freed block on its stack, and room left to carve", () => {
    const region = new MmapBacked(1 << 16);
    const pool = new ExtendableSlab(region, { blockSize: 64, initialCapacity: 4 });
    const p = pool.allocate(64);
    pool.deallocate(p, 64);
    pool.allocate(64);
    pool.deallocate(p, 64); // the fast path has a free block to pop
    region.dispose();
    refused(() => pool.allocate(64));
    refused(() => pool.allocateZeroed(8, 8));
    refused(() => pool.allocate(128)); // as Slab: the refusal comes before "no block is that large"
  });

  test("ExtendableSlab with protection: the link reads zeros, and the refusal comes before any MAC check", () => {
    const region = new MmapBacked(1 << 16);
    const pool = new ExtendableSlab(region, { blockSize: 64, protection: new HalfSipHashMac() });
    pool.deallocate(pool.allocate(64), 64);
    region.dispose();
    refused(() => pool.allocate(64));
    assert.equal(pool.corruptionEvents(), 0);
  });

  test("ExtendableSlab over a GuardPage", () => {
    const region = new MmapBacked(1 << 16);
    const pool = new ExtendableSlab(new GuardPage(region), { blockSize: 32 });
    pool.allocate(32);
    region.dispose();
    refused(() => pool.allocate(32));
  });

  test("GenerationalSlab, straight over the mapping and over a Slab of it", () => {
    const region = new MmapBacked(1 << 16);
    const sessions = new GenerationalSlab<string>(region, { capacity: 16, blockSize: 32 });
    const h = sessions.insert("alice");
    sessions.remove(sessions.insert("bob"));
    const slab = new Slab(region, { blockSize: 512, capacity: 8 });
    const nested = new GenerationalSlab<number>(slab, { capacity: 32, blockSize: 8 });
    nested.insert(1);
    region.dispose();
    refused(() => sessions.insert("carol"));
    refused(() => nested.insert(2));
    assert.equal(sessions.get(h), "alice", "values live in the JavaScript heap; reading them still works");
    assert.equal(sessions.remove(h), "alice");
    sessions.dispose();
    nested.dispose();
  });
});
