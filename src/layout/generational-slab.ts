/**
 * `GenerationalSlab`: a pool of slots addressed by handles that know their slot's generation. Removing a value bumps
 * the slot's generation, so an old handle no longer reaches the slot's next occupant (a use after recycle returns
 * `undefined` instead of the wrong object). A slot whose generation would wrap is retired for good, and a handle
 * from another pool is refused with an error (the Rust crate cannot tell).
 *
 * A handle is a plain number, a safe integer (it can be posted to workers and stored in a `Float64Array`):
 *
 * ```text
 *  handle = (generation * 2^indexBits + slot index) * 2^12 + pool id
 *           | generationBits | indexBits  |  12 bits  |      generationBits + indexBits + 12 <= 53
 * ```
 * `indexBits` is what the capacity needs (`ceil(log2(capacity))`: 21 bits for 2^21 slots, 10 for 1,024, 0 for
 * one). The generation width is the user's choice, as the Rust crate's `GenerationalSlab<T, B, G>` with `G` = `u32`
 * or `u64`: `generationBits` from 1 to `41 - indexBits`, 20 by default. A JavaScript number holds integers exactly up
 * to 2^53, so the three fields share 53 bits: 32-bit generations (Rust's default `u32`) fit a pool of up to 512
 * slots, 41 bits a pool of one slot, and 20 bits (the default) the largest pool. Rust's `u64` has no equivalent; at
 * a million removes per second a 41-bit slot lasts 25 days, a 32-bit one 71 minutes, before it is retired (never
 * reused: a stale handle can never match again, at any width).
 *
 * Pool ids never collide: no two live pools share one, and an id is given again only after its pool was
 * `dispose()`d or garbage-collected, with every handle of the new pool above every handle the old pool issued
 * (its slots start at a higher generation, whatever either pool's widths), so the old pool's handles read as stale
 * in the new one (never as its values). Ids not used yet are taken first; with 4,095 pools alive, constructing
 * another throws `AllocError` (dispose pools you are done with).
 * Each slot also owns `blockSize` bytes of memory (`ptr(handle)`), for data kept in the memory rather than in the
 * JavaScript value.
 *
 * Complexity: O(1) insert, get, remove. Overhead: 13 bytes of out-of-band state per slot. Not an `Allocator`.
 *
 * @example
 * ```ts
 * const sessions = new GenerationalSlab<string>(new ArrayBufferBacked(1 << 16), { capacity: 4096 });
 * const h = sessions.insert("alice");
 * sessions.get(h);    // "alice"
 * sessions.remove(h);
 * sessions.get(h);    // undefined: the handle is stale
 * // Rust's default u32 generations: a pool of up to 512 slots
 * const wide = new GenerationalSlab<string>(new ArrayBufferBacked(1 << 16), { capacity: 512, generationBits: 32 });
 * console.log(wide.generationBits, Number.isSafeInteger(wide.insert("bob"))); // 32 true
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
  describeValue,
} from "../core/index.js";

/** Options of {@link GenerationalSlab}. */
export interface GenerationalSlabOptions {
  /** Slots (1 to 2^21). */
  capacity: number;
  /** Bytes of memory per slot (8-aligned). @defaultValue 8 */
  blockSize?: number;
  /**
   * Bits of each slot's generation: a slot is retired after `2^generationBits` removes. 1 to
   * `41 - ceil(log2(capacity))` (the handle is one safe integer; see the module documentation): up to 32 for 512
   * slots, 41 for one.
   * @defaultValue 20
   */
  generationBits?: number;
}

/** A handle to a slot of one {@link GenerationalSlab}. A branded number. */
export type Handle = number & { readonly __generationalHandle: true };

/** Bits of a handle above the pool id: generation and index share them. */
const SLOT_BITS = 41;
const POOL_SPACE = 2 ** 12;
const POOL_IDS = POOL_SPACE - 1;
const DEFAULT_GENERATION_BITS = 20;

/**
 * The pool ids of this realm: ids never used yet come first (`nextPool`), then ids whose pool was disposed or
 * collected (`reusable`), each with the highest `generation * 2^indexBits + index` its old pools may have issued
 * (`floors`; -1 for none), so a new pool's handles start above it.
 */
let nextPool = 1;
const reusable: number[] = [];
const floors = new Float64Array(POOL_IDS + 1).fill(-1);
/** Gives a collected pool's id back; the held value is the pool's `[id, highest generation reached, indexBits]`. */
const collected = new FinalizationRegistry<Float64Array>((record) => returnPoolId(record));

function returnPoolId(record: Float64Array): void {
  const id = record[0]!;
  if (id === 0) return; // already returned (dispose)
  record[0] = 0;
  const highest = (record[1]! + 1) * 2 ** record[2]! - 1; // the largest handle field it can have issued
  floors[id] = Math.max(floors[id]!, highest);
  if (floors[id]! < 2 ** SLOT_BITS - 1) reusable.push(id); // an id whose handles are spent is retired
}

/** The first generation a pool of this id may use, with `indexBits` bits of index. */
function startGeneration(id: number, indexBits: number): number {
  return Math.floor(floors[id]! / 2 ** indexBits) + 1;
}

function takePoolId(indexBits: number, generationBits: number): number {
  if (nextPool <= POOL_IDS) return nextPool++;
  const at = reusable.findIndex((id) => startGeneration(id, indexBits) < 2 ** generationBits);
  if (at < 0) {
    throw new AllocError(
      `GenerationalSlab: all ${POOL_IDS} pool ids belong to live pools (or have no ${generationBits}-bit ` +
        "generations left); dispose() a pool you are done with (ids are never shared, so handles of one pool can " +
        "never reach another)",
    );
  }
  return reusable.splice(at, 1)[0]!;
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
  /** Bits of each slot's generation (see {@link GenerationalSlabOptions.generationBits}). */
  readonly generationBits: number;
  /** Bits of the slot index in a handle: `ceil(log2(capacity))`. */
  readonly indexBits: number;
  private readonly region: number;
  /** `2^indexBits`. */
  private readonly indexSpace: number;
  /** `2^generationBits`: a slot whose generation reaches it is retired. */
  private readonly generationLimit: number;
  private readonly generation: Float64Array;
  private readonly occupied: Uint8Array;
  private readonly freeStack: Int32Array;
  private freeCount: number;
  private carved: number;
  private live: number;
  private retiredCount: number;
  private readonly values: (T | undefined)[];
  /** `[pool id (0 once disposed), highest generation reached, indexBits]`, shared with the finalization registry. */
  private readonly record: Float64Array;

  /** @throws `AllocError` for bad options or a backing that cannot provide the slots' memory. */
  constructor(backing: Allocator, options: GenerationalSlabOptions) {
    const capacity = checkInteger("GenerationalSlab", "capacity", options?.capacity, 1, 1 << 21);
    const blockSize = checkInteger("GenerationalSlab", "blockSize", options.blockSize ?? 8, 1, 1 << 20);
    const indexBits = capacity === 1 ? 0 : 32 - Math.clz32(capacity - 1);
    const generationBits = options.generationBits ?? DEFAULT_GENERATION_BITS;
    const widest = SLOT_BITS - indexBits;
    if (
      typeof generationBits !== "number" ||
      !Number.isInteger(generationBits) ||
      generationBits < 1 ||
      generationBits > widest
    ) {
      throw new AllocError(
        `GenerationalSlab: generationBits ${describeValue(generationBits)} is not valid for a capacity of ${capacity}; ` +
          `expected an integer from 1 to ${widest} (a handle is one safe integer, 53 bits: 12 for the pool id and ` +
          `${indexBits} for the slot index leave ${widest}; fewer slots leave more)`,
      );
    }
    const stride = (blockSize + 7) & ~7;
    const region = backing.allocate(stride * capacity, 8);
    if (region === NULL)
      throw new AllocError(`GenerationalSlab: the backing cannot provide ${stride * capacity} bytes`);
    this.memory = backing.memory;
    this.capacity = capacity;
    this.blockSize = stride;
    let id: number;
    try {
      id = takePoolId(indexBits, generationBits);
    } catch (error) {
      backing.deallocate(region, stride * capacity, 8);
      throw error;
    }
    this.poolId = id;
    this.generationBits = generationBits;
    this.indexBits = indexBits;
    this.region = region;
    this.indexSpace = 2 ** indexBits;
    this.generationLimit = 2 ** generationBits;
    const floor = startGeneration(id, indexBits);
    this.generation = new Float64Array(capacity).fill(floor);
    this.occupied = new Uint8Array(capacity);
    this.freeStack = new Int32Array(capacity);
    this.freeCount = 0;
    this.carved = 0;
    this.live = 0;
    this.retiredCount = 0;
    this.values = new Array<T | undefined>(capacity).fill(undefined);
    this.record = Float64Array.of(id, floor, indexBits);
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
   * @throws `AllocError` when every slot is taken (or retired), the pool was disposed, or its memory was (an OS
   *   mapping's `dispose()`: the slots' blocks are gone).
   */
  insert(value?: T): Handle {
    if (this.record[0] === 0) throw new AllocError("GenerationalSlab.insert: the pool was disposed");
    if (this.memory.retired) {
      throw new AllocError(
        "GenerationalSlab.insert: its memory was disposed (the OS mapping is gone); no slot block can be handed out any more",
      );
    }
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
    return ((this.generation[idx]! * this.indexSpace + idx) * POOL_SPACE + this.poolId) as Handle;
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
    if (g === this.generationLimit) {
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
    const pool = h % POOL_SPACE;
    if (this.record[0] === 0)
      throw new InvalidPointerError(handle, `GenerationalSlab.${what}: the pool was disposed`);
    if (pool !== this.poolId) {
      throw new InvalidPointerError(
        handle,
        `GenerationalSlab.${what}: the handle belongs to pool ${pool}, not this pool (${this.poolId})`,
      );
    }
    const rest = (h - pool) / POOL_SPACE;
    const idx = rest % this.indexSpace;
    const gen = (rest - idx) / this.indexSpace;
    if (idx >= this.capacity)
      throw new InvalidPointerError(
        handle,
        `GenerationalSlab.${what}: slot ${idx} is beyond the capacity ${this.capacity}`,
      );
    return this.occupied[idx] === 1 && this.generation[idx] === gen ? idx : -1;
  }
}
