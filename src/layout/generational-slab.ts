/**
 * `GenerationalSlab`: a pool of slots addressed by handles that know their slot's generation. Removing a value bumps
 * the slot's generation, so an old handle no longer reaches the slot's next occupant (a use after recycle returns
 * `undefined` instead of the wrong object). A slot whose generation would wrap is retired for good, and a handle
 * from another pool is refused with an error (the Rust crate cannot tell).
 *
 * A handle is a plain number (it can be posted to workers and stored in typed arrays):
 * `pool id (12 bits) * 2^41 + generation (20 bits) * 2^21 + slot index (21 bits)`, below 2^53.
 *
 * Pool ids never collide: no two live pools share one, and an id is given again only after its pool was
 * `dispose()`d or garbage-collected, with every slot's generation starting above every generation the old pool
 * issued, so the old pool's handles read as stale in the new one (never as its values). Ids not used yet are taken
 * first; with 4,095 pools alive, constructing another throws `AllocError` (dispose pools you are done with).
 * Each slot also owns `blockSize` bytes of memory (`ptr(handle)`), for data kept in the memory rather than in the
 * JavaScript value.
 *
 * Complexity: O(1) insert, get, remove. Overhead: 8 bytes of out-of-band state per slot. Not an `Allocator`.
 *
 * @example
 * ```ts
 * const sessions = new GenerationalSlab<string>(new ArrayBufferBacked(1 << 16), { capacity: 4096 });
 * const h = sessions.insert("alice");
 * sessions.get(h);    // "alice"
 * sessions.remove(h);
 * sessions.get(h);    // undefined: the handle is stale
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  InvalidPointerError,
  type Memory,
  NULL,
  checkInteger,
} from "../core/index.js";

/** Options of {@link GenerationalSlab}. */
export interface GenerationalSlabOptions {
  /** Slots (1 to 2^21). */
  capacity: number;
  /** Bytes of memory per slot (8-aligned). @defaultValue 8 */
  blockSize?: number;
}

/** A handle to a slot of one {@link GenerationalSlab}. A branded number. */
export type Handle = number & { readonly __generationalHandle: true };

const INDEX_BITS = 21;
const GEN_LIMIT = 1 << 20;
const POOL_SPACE = 2 ** 41;
const POOL_IDS = 4095;

/**
 * The pool ids of this realm: ids never used yet come first (`nextPool`), then ids whose pool was disposed or
 * collected (`reusable`), each with the generation its slots must start at (`floors`).
 */
let nextPool = 1;
const reusable: number[] = [];
const floors = new Uint32Array(POOL_IDS + 1);
/** Gives a collected pool's id back; the held value is the pool's `[id, highest generation issued]`. */
const collected = new FinalizationRegistry<Int32Array>((record) => returnPoolId(record));

function returnPoolId(record: Int32Array): void {
  const id = record[0]!;
  if (id === 0) return; // already returned (dispose)
  record[0] = 0;
  const floor = record[1]! + 1;
  floors[id] = floor;
  if (floor < GEN_LIMIT - 1) reusable.push(id); // an id whose generations are spent is retired
}

function takePoolId(): number {
  if (nextPool <= POOL_IDS) return nextPool++;
  const id = reusable.shift();
  if (id === undefined) {
    throw new AllocError(
      `GenerationalSlab: all ${POOL_IDS} pool ids belong to live pools; dispose() a pool you are done with ` +
        "(ids are never shared, so handles of one pool can never reach another)",
    );
  }
  return id;
}

/** Handle-addressed slots with use-after-recycle detection (see the module documentation). */
export class GenerationalSlab<T = undefined> {
  /** The memory the slots' blocks lie in. */
  readonly memory: Memory;
  /** The number of slots. */
  readonly capacity: number;
  /** Bytes per slot block. */
  readonly blockSize: number;
  /** This pool's id (1 to 4095), part of every handle. */
  readonly poolId: number;
  private readonly region: number;
  private readonly generation: Uint32Array;
  private readonly occupied: Uint8Array;
  private readonly freeStack: Int32Array;
  private freeCount: number;
  private carved: number;
  private live: number;
  private retiredCount: number;
  private readonly values: (T | undefined)[];
  /** `[pool id (0 once disposed), highest generation issued]`, shared with the finalization registry. */
  private readonly record: Int32Array;

  /** @throws `AllocError` for bad options or a backing that cannot provide the slots' memory. */
  constructor(backing: Allocator, options: GenerationalSlabOptions) {
    const capacity = checkInteger("GenerationalSlab", "capacity", options?.capacity, 1, 1 << INDEX_BITS);
    const blockSize = checkInteger("GenerationalSlab", "blockSize", options.blockSize ?? 8, 1, 1 << 20);
    const stride = (blockSize + 7) & ~7;
    const region = backing.allocate(stride * capacity, 8);
    if (region === NULL)
      throw new AllocError(`GenerationalSlab: the backing cannot provide ${stride * capacity} bytes`);
    this.memory = backing.memory;
    this.capacity = capacity;
    this.blockSize = stride;
    let id: number;
    try {
      id = takePoolId();
    } catch (error) {
      backing.deallocate(region, stride * capacity, 8);
      throw error;
    }
    this.poolId = id;
    this.region = region;
    const floor = floors[id]!;
    this.generation = new Uint32Array(capacity).fill(floor);
    this.occupied = new Uint8Array(capacity);
    this.freeStack = new Int32Array(capacity);
    this.freeCount = 0;
    this.carved = 0;
    this.live = 0;
    this.retiredCount = 0;
    this.values = new Array<T | undefined>(capacity).fill(undefined);
    this.record = Int32Array.of(id, floor);
    collected.register(this, this.record, this);
  }

  /**
   * Gives the pool id back for a later pool (whose slots start at a higher generation, so this pool's handles stay
   * stale there). Every later call but `dispose` throws. Idempotent.
   */
  dispose(): void {
    if (this.record[0] === 0) return;
    collected.unregister(this);
    returnPoolId(this.record);
  }

  /** `using` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * Stores `value` in a free slot and returns its handle.
   *
   * @throws `AllocError` when every slot is taken (or retired).
   */
  insert(value?: T): Handle {
    if (this.record[0] === 0) throw new AllocError("GenerationalSlab.insert: the pool was disposed");
    let idx: number;
    if (this.freeCount > 0) idx = this.freeStack[--this.freeCount]!;
    else if (this.carved < this.capacity) idx = this.carved++;
    else
      throw new AllocError(
        `GenerationalSlab.insert: all ${this.capacity} slots are taken (${this.retiredCount} retired)`,
      );
    this.occupied[idx] = 1;
    this.values[idx] = value;
    this.live++;
    return (this.poolId * POOL_SPACE + this.generation[idx]! * 2 ** INDEX_BITS + idx) as Handle;
  }

  /** The value of a live handle, or `undefined` for a stale one. @throws `InvalidPointerError` for a foreign handle. */
  get(handle: Handle): T | undefined {
    const idx = this.slot("get", handle);
    return idx < 0 ? undefined : this.values[idx];
  }

  /** Replaces the value of a live handle; false for a stale one. */
  set(handle: Handle, value: T): boolean {
    const idx = this.slot("set", handle);
    if (idx < 0) return false;
    this.values[idx] = value;
    return true;
  }

  /** The offset of a live handle's block, or `NULL` for a stale one. */
  ptr(handle: Handle): number {
    const idx = this.slot("ptr", handle);
    return idx < 0 ? NULL : this.region + idx * this.blockSize;
  }

  /** True while `handle` is live. */
  contains(handle: Handle): boolean {
    return this.slot("contains", handle) >= 0;
  }

  /**
   * Empties the slot and returns its value; later `get`s with this handle return `undefined`. A slot whose
   * generation would wrap is retired. Returns `undefined` for a stale handle.
   */
  remove(handle: Handle): T | undefined {
    const idx = this.slot("remove", handle);
    if (idx < 0) return undefined;
    const value = this.values[idx];
    this.values[idx] = undefined;
    this.occupied[idx] = 0;
    this.live--;
    const g = this.generation[idx]! + 1;
    if (g > this.record[1]!) this.record[1] = g;
    if (g === GEN_LIMIT) {
      this.retiredCount++; // never reused: an old handle can never match again
    } else {
      this.generation[idx] = g;
      this.freeStack[this.freeCount++] = idx;
    }
    return value;
  }

  /** Live slots. */
  liveCount(): number {
    return this.live;
  }

  /** Slots retired because their generation would wrap. */
  retired(): number {
    return this.retiredCount;
  }

  /** The slot index of a live handle, or -1 when stale. Throws for a handle of another pool or a malformed one. */
  private slot(what: string, handle: Handle): number {
    const h = handle as number;
    if (typeof h !== "number" || !Number.isSafeInteger(h) || h < 0) {
      throw new InvalidPointerError(handle, `GenerationalSlab.${what}: ${String(handle)} is not a handle`);
    }
    const pool = Math.floor(h / POOL_SPACE);
    if (this.record[0] === 0)
      throw new InvalidPointerError(handle, `GenerationalSlab.${what}: the pool was disposed`);
    if (pool !== this.poolId) {
      throw new InvalidPointerError(
        handle,
        `GenerationalSlab.${what}: the handle belongs to pool ${pool}, not this pool (${this.poolId})`,
      );
    }
    const rest = h - pool * POOL_SPACE;
    const idx = rest % 2 ** INDEX_BITS;
    const gen = Math.floor(rest / 2 ** INDEX_BITS);
    if (idx >= this.capacity)
      throw new InvalidPointerError(
        handle,
        `GenerationalSlab.${what}: slot ${idx} is beyond the capacity ${this.capacity}`,
      );
    return this.occupied[idx] === 1 && this.generation[idx] === gen ? idx : -1;
  }
}
