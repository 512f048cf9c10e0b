// Issue "Nothing crashes, leaks or overlaps": every layout over a disposed mapping refuses to allocate with a clear
// error (before, BumpArena, Slab over GuardPage, HardenedSlab and CryptoSlab kept handing out blocks of the zero
// pages left in place of the mapping). The layouts learn it from the memory (Memory.retire notifies them), so their
// fast paths carry no check.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, BumpArena, Heap, Slab, StackAlloc, Tlsf } from "../index.js";
import { CryptoSlab, GuardPage, HardenedSlab, MmapBacked } from "../os.js";
import { needs } from "../../test/helpers/host.js";

const refused = (f: () => unknown): void => {
  assert.throws(f, (e: unknown) => e instanceof AllocError && /disposed/.test((e as Error).message));
};

describe("layouts over a disposed mapping refuse to allocate", needs("linux", "addon"), () => {
  test("BumpArena: its fast path had room left", () => {
    const region = new MmapBacked(1 << 16);
    const arena = new BumpArena(region);
    assert.notEqual(arena.allocate(64), 0);
    region.dispose();
    refused(() => arena.allocate(64));
    refused(() => arena.allocate(8, 8));
  });

  test("StackAlloc: its fast path had room left", () => {
    const region = new MmapBacked(1 << 16);
    const stack = new StackAlloc(region);
    stack.deallocate(stack.allocate(64), 64);
    region.dispose();
    refused(() => stack.allocate(64));
  });

  test("Slab over a GuardPage: free slots were left on its free stack", () => {
    const region = new MmapBacked(1 << 16);
    const guarded = new GuardPage(region);
    const slab = new Slab(guarded, { blockSize: 64, capacity: 16 });
    slab.deallocate(slab.allocate(64), 64);
    region.dispose();
    refused(() => slab.allocate(64));
  });

  test("HardenedSlab and CryptoSlab", () => {
    const keys = new HardenedSlab({ blockSize: 64, capacity: 16 });
    keys.deallocate(keys.allocate(64), 64);
    keys.dispose();
    refused(() => keys.allocate(64));
    const secrets = new CryptoSlab({ blockSize: 32, capacity: 16 });
    secrets.deallocate(secrets.allocate(32), 32);
    secrets.dispose();
    refused(() => secrets.allocate(32));
  });

  test("Tlsf and Heap (small blocks from a current page, and large ones)", () => {
    const a = new MmapBacked(1 << 20);
    const tlsf = new Tlsf(a);
    tlsf.free(tlsf.allocate(100));
    a.dispose();
    refused(() => tlsf.allocate(100));
    const b = new MmapBacked(1 << 20);
    const heap = new Heap(b);
    heap.free(heap.allocate(64)); // its page stays current, with every slot free
    b.dispose();
    refused(() => heap.allocate(64));
    refused(() => heap.allocate(100_000));
    refused(() => heap.malloc(16));
  });
});
