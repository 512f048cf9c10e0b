// A child process for src/os/shared-primitives-processes.test.ts: a SlabRemote in another process than its
// SlabOwner. It attaches the owner's SharedMmapBacked (fd 4, inherited through fork's stdio) and joins the ring at
// the owner's location(), then takes the blocks the owner (the parent) leaves in its mailbox in a second mapping
// and frees each remotely: it first drops the block's claim in the ownership tags (a claim already gone is a block
// freed twice or lost), then pushes the free; a full ring makes it wait on the mapping's futex. When its mailbox is
// empty it waits on the mailbox's fill counter.
import { NULL, SlabRemote, type SlabRemoteLocation } from "../../src/index.js";
import { type SharedMappingDescriptor, SharedMmapBacked } from "../../src/os.js";

/** What the parent sends. */
export interface SlabChildOrder {
  slab: SharedMappingDescriptor;
  map: SharedMappingDescriptor;
  location: SlabRemoteLocation;
  index: number;
  ops: number;
}

/** Per child, 16 Int32 words at SLAB_CONTROL + 64 * index. */
export const SLAB_CONTROL = 4096;
export const FREED = 0;
export const LOST = 1;
/** Bumped by the parent each time it puts blocks in the child's mailbox (the child waits on it). */
export const FILLED = 2;
/** Mailboxes: MAILBOX_SLOTS words per child, from SLAB_MAILBOX. */
export const SLAB_MAILBOX = 8192;
export const MAILBOX_SLOTS = 256;
/** The ownership tags (one byte per block of the owner's slab) start here. */
export const SLAB_TAGS = 16384;

function run(order: SlabChildOrder): void {
  const mapping = SharedMmapBacked.attach(order.slab, { fd: 4 });
  const map = SharedMmapBacked.attach(order.map);
  const remote = SlabRemote.join(mapping, order.location);
  const words = map.memory.i32;
  const tags = new Uint8Array(map.memory.buffer, SLAB_TAGS);
  const ctl = (SLAB_CONTROL >>> 2) + 16 * order.index;
  const box = (SLAB_MAILBOX >>> 2) + MAILBOX_SLOTS * order.index;
  const { region, stride } = order.location;
  let freed = 0;
  while (freed < order.ops) {
    const seen = Atomics.load(words, ctl + FILLED);
    let found = 0;
    for (let k = 0; k < MAILBOX_SLOTS && freed < order.ops; k++) {
      const p = Atomics.exchange(words, box + k, 0);
      if (p === NULL) continue;
      const idx = (p - region) / stride;
      if (Atomics.compareExchange(tags, idx, 1, 0) !== 1) Atomics.add(words, ctl + LOST, 1);
      remote.deallocate(p, 30_000);
      found++;
      if (++freed % 100 === 0) Atomics.store(words, ctl + FREED, freed);
    }
    if (found === 0) map.wait(4 * (ctl + FILLED), seen, 100);
  }
  Atomics.store(words, ctl + FREED, freed);
  process.send!({ done: order.index }, () => process.exit(0));
}

process.once("message", (order: SlabChildOrder) => {
  try {
    run(order);
  } catch (error) {
    process.send!({ error: String((error as Error).stack ?? error) }, () => process.exit(1));
  }
});
