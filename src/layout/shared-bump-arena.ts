/**
 * `SharedBumpArena`: a bump arena that any number of workers allocate from at once, over one shared memory (a
 * `SharedArrayBuffer`, growable or not, or a shared `WebAssembly.Memory`). The cursor lives in the memory and moves
 * by `Atomics.compareExchange`, so two workers never get overlapping blocks; there is no lock.
 *
 * ```text
 *  control (384 bytes, 128-aligned), then the blocks up to `end`:
 *   word 0 magic | 1 cursor | 2 end | 3 state | 5 start     (bytes 0..63: written by a CAS once per chunk)
 *   word 32 allocations | 33 failures                       (bytes 128..191: written every 256 allocations)
 *   word 64 epoch                                           (bytes 256..383: written only by reset())
 * ```
 * `state` is `LIVE` while an arena is formatted there: the constructor claims the word with a CAS and refuses
 * memory that holds a live arena (or one being formatted), so a second `new SharedBumpArena` over the same memory
 * cannot silently reformat it; `attach` is the only way to join, and `release()` gives the memory back.
 * `epoch` counts resets: each worker remembers the epoch its chunk was taken in and checks it on the fast path, so
 * after `reset()` no worker goes on bumping inside a chunk from before the reset (it takes a new one).
 * Protocol: a refill reads the epoch, then moves the cursor by CAS; `reset()` stores the cursor, then increments
 * the epoch. So a chunk taken from the old cursor is always tagged with the old epoch (and dropped on the next
 * allocation), and a worker that sees the new epoch takes its chunk from the new cursor.
 * `share()` returns a small structured-cloneable descriptor (the shared buffer or memory, and the range); in another
 * worker `SharedBumpArena.attach(descriptor)` works on the same cursor.
 *
 * Across processes: over a memory several processes map (`SharedMmapBacked` of forge-alloc/os, read through
 * core's `ProcessSharing`), the arena is formatted with a table of 64 worker slots after the control block, and
 * each process joins with `SharedBumpArena.join(backing)` (the creator holds slot 0): its slot records its pid and
 * start stamp, and `reclaimDead()` gives back the slots of processes that ended. The cursor, the reset epoch and
 * the counters are the same words in every process, so `reset()` in one process sends every other process's next
 * allocation to a fresh chunk. A process that dies loses nothing the others depend on: the cursor moves by one CAS,
 * so its chunk was either taken whole or not at all, and a chunk taken is never handed out again (its unused tail
 * stays unused until `reset()`, at most 64 KiB per dead process); its unpublished allocation count (under 4,096)
 * is missing from `stats()`.
 * ```text
 *  worker slot (16 B each, 64 of them; only over a memory processes share): pid | start stamp | reclaim flag | 0
 * ``` Each worker takes 4 KiB chunks of the range
 * with one CAS and bumps inside its chunk without atomics, so workers do not fight over one cache line; the unused
 * tail of a chunk is given up when the next one is taken (at most 4 KiB per refill). Statistics live in the control
 * block too (each worker adds its count every 256 allocations, and on `flush()` and `stats()`).
 *
 * Complexity: O(1); one CAS per 4 KiB chunk. Overhead: 384 bytes per arena; alignment padding.
 * Composition limits: `reset()` frees every worker's blocks; every worker's next allocation takes a fresh chunk,
 * but an allocation that runs at the same moment as `reset()` may still return a block from before it, so reset
 * when the other workers are between allocations (after a barrier). `deallocate` checks and reclaims nothing, as
 * every bump allocator.
 *
 * @example
 * ```ts
 * const arena = new SharedBumpArena(new SharedArrayBufferBacked(1 << 24));
 * const message = arena.share(); // post it to a worker: new Worker(url, { workerData: message })
 * const mine = SharedBumpArena.attach(message); // in the worker
 * console.log(mine.allocate(64) > 0); // true
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  type FixedRange,
  InvalidPointerError,
  Memory,
  NULL,
  type ProcessSharing,
  TAGGED_FIELD,
  UnsupportedError,
  checkCarvable,
  describePointer,
  isFixedRange,
  isInt32,
  isValidLayout,
  layoutError,
  moveBlock,
  checkResize,
  processSharingOf,
  zeroBlock,
} from "../core/index.js";
import { StaticBacked } from "../backing/index.js";

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

const CONTROL = 384;
const MAGIC = 0x5b4d_4152; // "SBMA"
const W_MAGIC = 0;
const W_CURSOR = 1;
const W_END = 2;
const W_ALLOCATIONS = 32; // the counters sit a cache line pair away from the cursor
const W_FAILURES = 33;
const W_STATE = 3;
const W_START = 5;
const W_SLOTS = 6; // byte offset of the worker-slot table (over a memory processes share), else 0
const W_WORKERS = 48; // the claimed worker slots, a 64-bit map in two words (written on join and leave only)
const W_EPOCH = 64; // its own 128-byte pair of cache lines: the fast path reads it, only reset() writes it
/** `state` values (0: nothing formatted, as in a fresh zeroed memory): being formatted, live, released. */
const STATE_FORMATTING = 1;
const STATE_LIVE = 2;
const STATE_RELEASED = 3;
/**
 * Bytes a worker takes from the shared cursor at a time (one CAS per chunk, not per block): 4 KiB at first, doubling
 * with each chunk the worker takes up to 64 KiB, and never more than a sixteenth of what is left, so a busy worker
 * touches the shared cursor rarely (measured with two workers: 4 KiB chunks of 8-byte blocks put the cursor's cache
 * line between the cores every 512 allocations) while a nearly full arena is still shared out finely.
 */
const CHUNK = 4096;
const MAX_CHUNK = 65536;
/** Worker slots over a memory processes share, and their layout (16 bytes each). */
const MAX_WORKERS = 64;
const SLOT_BYTES = 16;
const S_PID = 0;
const S_STAMP = 1;
const S_RECLAIM = 2; // won by the process that gives a dead process's slot back (reclaimDead)

/** What `share()` returns: post it to a worker and `attach` it there. */
export interface SharedBumpArenaDescriptor {
  /** Always `"SharedBumpArena"`. */
  readonly kind: "SharedBumpArena";
  /** The shared storage. */
  readonly source: SharedArrayBuffer | WebAssembly.Memory;
  /** The control block's offset. */
  readonly control: number;
}

/** Counters of a {@link SharedBumpArena}, the same in every worker. */
export interface SharedBumpStats {
  /** Successful allocations by all workers. */
  readonly allocations: number;
  /** Allocations that returned `NULL`. */
  readonly failures: number;
  /** Bytes issued (padding included). */
  readonly allocatedBytes: number;
  /** Bytes the arena can issue in all. */
  readonly capacityBytes: number;
  /** Processes joined now (worker slots held), over a memory processes share; 0 over one only threads share. */
  readonly workers: number;
}

/** A lock-free bump arena shared by workers (see the module documentation). */
export class SharedBumpArena implements Allocator {
  /** The shared memory. */
  readonly memory: Memory;
  /** This process's worker slot, or -1 (see {@link SharedBumpArena.workerId}). */
  private slotId: number;
  /** Who this process is, over a memory other processes map; else undefined. */
  private readonly sharing: ProcessSharing | undefined;
  /** Word index of the worker-slot table (0: none). */
  private readonly slotWords: number;
  private readonly control: number;
  private readonly words: number;
  private readonly source: SharedArrayBuffer | WebAssembly.Memory;
  /** This worker's chunk of the shared range: allocations bump inside it with no atomic operation. */
  private chunkStart: number;
  private chunkPtr: number;
  private chunkEnd: number;
  /** The size of this worker's next chunk (see `CHUNK`). */
  private chunkBytes: number;
  /** Allocations not yet added to the shared counter (published every 64, and on refill, flush and stats). */
  private pending: number;
  /** The reset epoch this worker's chunk was taken in; the fast path compares it with the shared one. */
  private epoch: number;
  /** Word index of the shared epoch. */
  private readonly epochWord: number;
  /**
   * A one-word view of the shared epoch, kept for the fast path. Safe to keep, unlike views in general: the memory
   * is shared, so growth never detaches it (a shared buffer only gets longer, and an old view goes on seeing the
   * same bytes), and the control block lies below the length committed at construction.
   */
  private readonly epochCell: Int32Array;

  /**
   * Formats the control block at the start of `backing`'s range (`attaching` is internal: `attach` uses it).
   *
   * @throws `AllocError` when the memory is not shared, the backing is not a range, the range is too small, or the
   *   range already holds a live arena (join it with `attach`, or `release()` it first); nothing is written then.
   */
  constructor(backing: FixedRange, attaching = false) {
    if (!isFixedRange(backing)) throw new AllocError("SharedBumpArena: the backing must be a FixedRange");
    checkCarvable("SharedBumpArena", backing);
    const memory = backing.memory;
    const sharing = processSharingOf(backing);
    if (!memory.shared && sharing === undefined) {
      throw new AllocError(
        "SharedBumpArena: the memory is not shared; use SharedArrayBufferBacked, a shared WebAssembly memory, or a mapping processes share (SharedMmapBacked)",
      );
    }
    const control = (backing.base() + 127) & ~127;
    const end = backing.base() + backing.size();
    const table = sharing === undefined ? 0 : MAX_WORKERS * SLOT_BYTES;
    if (end - control <= CONTROL + table) throw new AllocError("SharedBumpArena: the range is too small");
    if (!backing.commit(control, CONTROL + table))
      throw new AllocError("SharedBumpArena: the backing cannot commit the control block");
    this.memory = memory;
    this.slotId = -1;
    this.sharing = sharing;
    this.control = control;
    this.words = control >>> 2;
    this.source = memory.source as SharedArrayBuffer | WebAssembly.Memory;
    this.chunkPtr = TAGGED_FIELD; // representation hints (see TAGGED_FIELD)
    this.pending = TAGGED_FIELD;
    this.chunkStart = 0;
    this.chunkPtr = 0;
    this.chunkEnd = 0;
    this.chunkBytes = CHUNK;
    this.pending = 0;
    this.epoch = 0;
    this.epochWord = this.words + W_EPOCH;
    const i32 = memory.i32;
    this.epochCell = new Int32Array(memory.buffer, 4 * this.epochWord, 1);
    const w = this.words;
    if (attaching) {
      if (Atomics.load(i32, w + W_MAGIC) !== MAGIC || Atomics.load(i32, w + W_STATE) !== STATE_LIVE) {
        throw new AllocError(
          "SharedBumpArena.attach: no live arena is formatted at that offset of the shared memory",
        );
      }
      const slots = Atomics.load(i32, w + W_SLOTS);
      if ((sharing !== undefined) !== (slots !== 0))
        throw new AllocError(
          "SharedBumpArena.join: the arena there was formatted for threads of one process, not for processes (or the other way round)",
        );
      this.slotWords = slots >>> 2;
      if (slots !== 0) this.claimSlot();
      return;
    }
    this.slotWords = table === 0 ? 0 : (control + CONTROL) >>> 2;
    // Claim the state word with a CAS; refuse a live arena (magic and LIVE) and one another worker is formatting.
    const state = Atomics.load(i32, w + W_STATE);
    const live = state === STATE_LIVE && Atomics.load(i32, w + W_MAGIC) === MAGIC;
    if (
      live ||
      state === STATE_FORMATTING ||
      Atomics.compareExchange(i32, w + W_STATE, state, STATE_FORMATTING) !== state
    ) {
      throw new AllocError(
        `SharedBumpArena: the memory at offset ${control} already holds a live SharedBumpArena (or one being ` +
          "formatted); join it with SharedBumpArena.attach(descriptor), or release() it before formatting anew",
      );
    }
    for (let k = 0; k < table >>> 2; k++) Atomics.store(i32, this.slotWords + k, 0);
    Atomics.store(i32, this.words + W_WORKERS, 0);
    Atomics.store(i32, this.words + W_WORKERS + 1, 0);
    Atomics.store(i32, this.words + W_SLOTS, table === 0 ? 0 : control + CONTROL);
    Atomics.store(i32, this.words + W_START, control + CONTROL + table);
    Atomics.store(i32, this.words + W_END, end);
    Atomics.store(i32, this.words + W_ALLOCATIONS, 0);
    Atomics.store(i32, this.words + W_FAILURES, 0);
    Atomics.store(i32, this.words + W_CURSOR, control + CONTROL + table);
    Atomics.store(i32, this.epochWord, 0);
    Atomics.store(i32, this.words + W_MAGIC, MAGIC);
    Atomics.store(i32, this.words + W_STATE, STATE_LIVE);
    if (table !== 0) this.claimSlot();
  }

  /**
   * Joins, from another process, the arena formatted over the same range of a memory several processes map
   * (`SharedBumpArena.join(SharedMmapBacked.attach(descriptor))`; the range must be the one the creator's
   * `new SharedBumpArena(backing)` used): this process gets a worker slot that records its pid, and allocates from
   * the same cursor as every other process.
   *
   * @throws `AllocError` when no live arena for processes is formatted there, or 64 processes are joined.
   */
  static join(backing: FixedRange): SharedBumpArena {
    if (processSharingOf(backing) === undefined)
      throw new AllocError(
        "SharedBumpArena.join: the backing is not a mapping processes share (SharedMmapBacked); workers of one process use attach(share())",
      );
    return new SharedBumpArena(backing, true);
  }

  /**
   * Works on an arena another worker created and shared.
   *
   * @throws `AllocError` when the descriptor does not describe a formatted arena.
   */
  static attach(descriptor: SharedBumpArenaDescriptor): SharedBumpArena {
    if (descriptor?.kind !== "SharedBumpArena")
      throw new AllocError("SharedBumpArena.attach: not a SharedBumpArena descriptor");
    const memory = Memory.of(descriptor.source);
    const w = descriptor.control >>> 2;
    if (
      !memory.shared ||
      (descriptor.control & 127) !== 0 ||
      descriptor.control + CONTROL > memory.byteLength ||
      Atomics.load(memory.i32, w + W_MAGIC) !== MAGIC ||
      Atomics.load(memory.i32, w + W_STATE) !== STATE_LIVE
    ) {
      throw new AllocError(
        `SharedBumpArena.attach: no live arena is formatted at offset ${String(descriptor.control)} of the shared memory`,
      );
    }
    const end = memory.i32[w + W_END]!;
    const range = new StaticBacked(memory, { offset: descriptor.control, size: end - descriptor.control });
    return new SharedBumpArena(range, true);
  }

  /**
   * A structured-cloneable description for `SharedBumpArena.attach` in another worker.
   *
   * @throws `UnsupportedError` over a memory processes share (its buffer would be copied, not shared): send the
   *   mapping's own descriptor and call {@link SharedBumpArena.join} there.
   */
  share(): SharedBumpArenaDescriptor {
    if (!this.memory.shared)
      throw new UnsupportedError(
        "SharedBumpArena.share: this arena is in a mapping processes share; send the mapping's share() descriptor and call SharedBumpArena.join(SharedMmapBacked.attach(descriptor)) in the other process",
      );
    return { kind: "SharedBumpArena", source: this.source, control: this.control };
  }

  /**
   * Bumps inside this worker's chunk, with no atomic operation; when the chunk is used up, takes the next chunk of
   * the shared range with one CAS. `NULL` when the range is exhausted (I1-I3).
   */
  allocate(size: number, align = 8): number {
    // The one layout check (its typeof tests first: a BigInt or a Symbol gets a LayoutError, not a TypeError).
    if (!validLayout(size, align)) throw layoutError("SharedBumpArena.allocate", size, align);
    const m = align - 1;
    const top = this.chunkPtr;
    const p = top + (-top & m);
    const next = p + size;
    // One plain load of the shared epoch (its own cache line, written only by reset): a chunk from before a
    // reset is never bumped into again.
    if (next > this.chunkEnd || this.epochCell[0] !== this.epoch) return this.refill(size, align);
    this.chunkPtr = next;
    if (++this.pending === 4096) this.flush();
    return p;
  }

  /** Adds this worker's unpublished allocations to the shared counter (`stats()` in any worker then sees them). */
  flush(): void {
    if (this.pending !== 0) {
      Atomics.add(this.memory.i32, this.words + W_ALLOCATIONS, this.pending);
      this.pending = 0;
    }
  }

  /** Slow path: a new chunk of at least `CHUNK` bytes (or the rest of the range) from the shared cursor. */
  private refill(size: number, align: number): number {
    this.flush();
    const i32 = this.memory.i32;
    const w = this.words;
    const end = i32[w + W_END]!;
    const epoch = Atomics.load(i32, this.epochWord); // before the cursor: see the protocol in the module docs
    if (Atomics.load(i32, w + W_STATE) !== STATE_LIVE) throw this.notLive("allocate");
    if (this.slotId < 0 && this.slotWords !== 0)
      throw new AllocError("SharedBumpArena.allocate: this process left the arena (leave()); join it again");
    for (;;) {
      const old = Atomics.load(i32, w + W_CURSOR);
      const p = old + (-old & (align - 1));
      if (p + size > end) {
        Atomics.add(i32, w + W_FAILURES, 1);
        return NULL;
      }
      const chunk = Math.max(CHUNK, Math.min(this.chunkBytes, (end - old) >>> 4));
      const chunkEnd = Math.min(end, Math.max(p + size, old + chunk));
      if (Atomics.compareExchange(i32, w + W_CURSOR, old, chunkEnd) === old) {
        if (
          chunkEnd > this.memory.byteLength &&
          !this.memory.grow(Math.min(end, Math.max(chunkEnd, this.memory.byteLength * 2)))
        ) {
          // The shared memory could not grow to cover the chunk: give it up (the cursor cannot move back safely
          // while others allocate) and report out of memory.
          Atomics.add(i32, w + W_FAILURES, 1);
          return NULL;
        }
        this.chunkStart = old;
        this.chunkPtr = p + size;
        this.chunkEnd = chunkEnd;
        this.chunkBytes = Math.min(MAX_CHUNK, this.chunkBytes * 2);
        this.epoch = epoch;
        this.pending++;
        return p;
      }
    }
  }

  /** As {@link SharedBumpArena.allocate}, zeroed. */
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /** Checks that `ptr` was issued and does nothing else (space returns on `reset`). */
  deallocate(ptr: number, size: number, align = 8): void {
    this.checkIssued("deallocate", ptr, size, align);
  }

  /** Moves the block (another worker may have allocated after it). */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("SharedBumpArena.grow", oldSize, newSize, align, true);
    this.checkIssued("grow", ptr, oldSize, align);
    return moveBlock(this, ptr, oldSize, newSize, align);
  }

  /** In place. */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    checkResize("SharedBumpArena.shrink", oldSize, newSize, align, false);
    this.checkIssued("shrink", ptr, oldSize, align);
    return ptr;
  }

  /**
   * Frees every block of every worker: the cursor goes back to the start, then the epoch moves on, so each worker's
   * next allocation takes a new chunk instead of bumping in its old one. Call it when no other worker is in the
   * middle of an allocation (see the module documentation).
   */
  reset(): void {
    const i32 = this.memory.i32;
    if (Atomics.load(i32, this.words + W_STATE) !== STATE_LIVE) throw this.notLive("reset");
    Atomics.store(i32, this.words + W_CURSOR, i32[this.words + W_START]!);
    Atomics.add(i32, this.epochWord, 1);
    this.chunkStart = 0;
    this.chunkPtr = 0;
    this.chunkEnd = 0;
  }

  /**
   * Ends the arena for every worker: the memory may be formatted anew (by `new SharedBumpArena`), and every
   * worker's next refill throws. Blocks already issued stay readable; chunks already taken stay usable until their
   * worker's next refill (release when the workers are done). Idempotent.
   */
  release(): void {
    const i32 = this.memory.i32;
    if (Atomics.compareExchange(i32, this.words + W_STATE, STATE_LIVE, STATE_RELEASED) === STATE_LIVE) {
      Atomics.add(i32, this.epochWord, 1); // every worker's next allocation goes to the refill, which refuses
    }
    this.chunkStart = 0;
    this.chunkPtr = 0;
    this.chunkEnd = 0;
  }

  /** The reset epoch (how many times the arena was reset or released), the same in every worker. */
  resetEpoch(): number {
    return Atomics.load(this.memory.i32, this.epochWord);
  }

  /** Exactly `size`. */
  usableSize(ptr: number, size: number): number {
    this.checkIssued("usableSize", ptr, size, 1);
    return size;
  }

  /** Bytes the arena can issue in all. */
  capacityBytes(): number {
    const i32 = this.memory.i32;
    return i32[this.words + W_END]! - i32[this.words + W_START]!;
  }

  /** Always 0. */
  corruptionEvents(): number {
    return 0;
  }

  /** The shared counters (the same numbers in every worker). */
  stats(): SharedBumpStats {
    this.flush();
    const i32 = this.memory.i32;
    const w = this.words;
    return {
      allocations: Atomics.load(i32, w + W_ALLOCATIONS),
      failures: Atomics.load(i32, w + W_FAILURES),
      allocatedBytes: Atomics.load(i32, w + W_CURSOR) - i32[w + W_START]!,
      capacityBytes: i32[w + W_END]! - i32[w + W_START]!,
      workers: popcount(Atomics.load(i32, w + W_WORKERS)) + popcount(Atomics.load(i32, w + W_WORKERS + 1)),
    };
  }

  /**
   * This process's worker slot (0 to 63) over a memory processes share (`SharedMmapBacked`); -1 over a memory only
   * threads share (workers there hold no slot) and after {@link SharedBumpArena.leave}.
   */
  get workerId(): number {
    return this.slotId;
  }

  /**
   * Gives this process's worker slot back (over a memory processes share): its unpublished count is added, its
   * chunk is dropped, and any later allocation through this object throws. The arena stays live for the others,
   * and blocks already issued stay valid. Idempotent; nothing to do over a memory only threads share.
   */
  leave(): void {
    if (this.slotId < 0) return;
    this.flush();
    const i32 = this.memory.i32;
    const id = this.slotId;
    this.slotId = -1;
    this.chunkStart = 0;
    this.chunkPtr = 0;
    this.chunkEnd = 0; // the fast path falls to refill, which refuses
    Atomics.store(i32, this.slotWords + id * (SLOT_BYTES >>> 2) + S_PID, 0);
    Atomics.and(i32, this.words + W_WORKERS + (id >>> 5), ~(1 << (id & 31)));
  }

  /**
   * Over a memory processes share: finds the worker slots whose process has ended (a process that is gone, a
   * zombie, or a later process with the same pid) and gives them back, so that a new process can join. What a dead
   * process held needs no repair (see the module documentation): its chunk is never handed out again. Any process
   * may call it at any time; two callers never reclaim the same slot, and a slot a new process is claiming this
   * moment is left alone. Returns the slots given back (none over a memory only threads share). O(slots), with a
   * liveness probe (a system call or two) per slot of another process.
   */
  reclaimDead(): number[] {
    const out: number[] = [];
    const sharing = this.sharing;
    if (sharing === undefined || this.slotWords === 0) return out;
    const i32 = this.memory.i32;
    for (let id = 0; id < MAX_WORKERS; id++) {
      if (
        id === this.slotId ||
        (Atomics.load(i32, this.words + W_WORKERS + (id >>> 5)) & (1 << (id & 31))) === 0
      )
        continue;
      const at = this.slotWords + id * (SLOT_BYTES >>> 2);
      const pid = Atomics.load(i32, at + S_PID);
      const stamp = Atomics.load(i32, at + S_STAMP);
      if (pid === 0 || pid === sharing.pid || sharing.alive(pid, stamp)) continue;
      if (Atomics.compareExchange(i32, at + S_RECLAIM, 0, 1) !== 0) continue; // another process is on it
      // a process that claimed the slot since zeroed it before writing its pid: it must still name the dead one
      if (Atomics.load(i32, at + S_PID) !== pid || Atomics.load(i32, at + S_STAMP) !== stamp) {
        Atomics.compareExchange(i32, at + S_RECLAIM, 1, 0);
        continue;
      }
      Atomics.store(i32, at + S_PID, 0);
      Atomics.and(i32, this.words + W_WORKERS + (id >>> 5), ~(1 << (id & 31)));
      out.push(id);
    }
    return out;
  }

  /** Claims a free worker slot and records this process in it (over a memory processes share). */
  private claimSlot(): void {
    const i32 = this.memory.i32;
    for (let id = 0; id < MAX_WORKERS; id++) {
      const bit = 1 << (id & 31);
      if ((Atomics.or(i32, this.words + W_WORKERS + (id >>> 5), bit) & bit) !== 0) continue;
      const at = this.slotWords + id * (SLOT_BYTES >>> 2);
      for (let k = 0; k < SLOT_BYTES >>> 2; k++) Atomics.store(i32, at + k, 0);
      // after the zeroing: a process that reads this slot's pid sees 0 (skip) or this process, never a stale one
      Atomics.store(i32, at + S_STAMP, this.sharing!.stamp);
      Atomics.store(i32, at + S_PID, this.sharing!.pid);
      this.slotId = id;
      return;
    }
    throw new AllocError(
      `SharedBumpArena.join: ${MAX_WORKERS} processes are joined already (reclaimDead() gives back the slots of those that ended)`,
    );
  }

  private notLive(what: string): AllocError {
    return new AllocError(
      `SharedBumpArena.${what}: the arena was released; no block can be allocated from it`,
    );
  }

  private checkIssued(what: string, ptr: number, size: number, align: number): void {
    if (!validLayout(size, align)) throw layoutError(`SharedBumpArena.${what}`, size, align);
    if (!isInt32(ptr)) throw this.notIssued(what, ptr, size);
    const i32 = this.memory.i32;
    const start = i32[this.words + W_START]!;
    const cursor = Atomics.load(i32, this.words + W_CURSOR);
    const unissued = ptr >= this.chunkStart && ptr + size > this.chunkPtr && ptr < this.chunkEnd; // our chunk's tail
    if (ptr < start || ptr + size > cursor || (ptr & (align - 1)) !== 0 || unissued) {
      throw this.notIssued(what, ptr, size);
    }
  }

  /** The `InvalidPointerError` of a pointer this arena did not issue (any value: the message builder never throws). */
  private notIssued(what: string, ptr: unknown, size: number): InvalidPointerError {
    return new InvalidPointerError(
      ptr,
      `SharedBumpArena.${what}: ${describePointer(ptr)} (size ${size}) was not issued by this arena`,
    );
  }
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v !== 0; v &= v - 1) n++;
  return n;
}
