/**
 * `RemoteFreeRing`: a lock-free, bounded, multi-producer single-consumer ring of non-zero 32-bit words in a shared
 * memory: any worker pushes, one worker (the owner) drains. It carries the remote frees of `SlabOwner`.
 *
 * ```text
 *  control (128 bytes): magic | head (consumer) | tail (producers' reservations) | capacity | closed | pushed |
 *                       drained | space (a word producers wait on when the ring is full) | state
 *  slots: capacity words (a power of two); 0 = empty
 * ```
 * A push reserves a slot with a CAS on `tail` (refused when `tail - head == capacity`, or when closed), then
 * publishes the word with `Atomics.store`. The consumer takes slot `head` only once it holds a non-zero word (a
 * reserved but unpublished slot stops the drain until it is published), clears it, and advances `head`. So a word
 * that was pushed is drained exactly once, and no word is accepted after `close()`.
 *
 * `state` guards the memory: formatting claims it with a CAS and is refused while a ring is formatted there and
 * not closed (or another worker is formatting it), so a second owner cannot silently wipe a live ring; opening
 * without `format` is the only way to join. A closed ring may be formatted anew (a `SlabRemote` of the old owner
 * must not be used after that: its pushes would reach the new ring).
 *
 * Counters are 32-bit and wrap; `tail - head` is computed with `| 0`, so the ring works for ever as long as the
 * capacity is at most 2^30.
 *
 * Crash-safe mode (`crashSafe`, the default over a memory processes share): a producer that dies between the two
 * steps above would leave a reserved slot that stops every later drain. In this mode a push is one compare-and-swap
 * of the slot itself, from the empty value of its lap to the word, and `tail` only follows (any producer that finds
 * the slot at `tail` taken moves `tail` on for the one that took it). The empty value of slot `s & (capacity - 1)`
 * for sequence `s` is `-(s >>> log2(capacity))` (its lap, negated), so a producer holding a stale `tail` can never
 * fill a slot of a later lap; words must be positive (1 to 2^31 - 1). A producer that dies at any step has either
 * pushed its word whole or not at all, and the others go on. `close()` in this mode also seals the ring with a
 * marker in the slot at `tail`, so no push lands after the owner's last drain. `reserve`/`publish` are refused.
 * Over a memory that is not a `SharedArrayBuffer`, a full ring is waited for through the backing's process-shared
 * futex (`SharedWaiting`), and the consumer wakes it only while a producer says it waits.
 *
 * @example
 * ```ts
 * const memory = new SharedArrayBufferBacked(1 << 16).memory;
 * const ring = new RemoteFreeRing(memory, 1024, 64, true); // 64 slots at offset 1024, formatted
 * const peer = new RemoteFreeRing(memory, 1024, 64, false); // another worker opens the same ring
 * peer.push(4096);
 * const got: number[] = [];
 * ring.drain((word) => got.push(word));
 * console.log(got); // [4096]
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Memory,
  type SharedWaiting,
  UnsupportedError,
  checkInteger,
} from "../core/index.js";

const MAGIC = 0x7269_6e67; // "ring"
const W_MAGIC = 0;
const W_HEAD = 1;
const W_TAIL = 2;
const W_CAPACITY = 3;
const W_CLOSED = 4;
const W_PUSHED = 5;
const W_DRAINED = 6;
const W_SPACE = 7;
const W_STATE = 8;
const W_MODE = 9; // 1: crash-safe (one-CAS pushes, lap-tagged empty slots)
const W_WAITERS = 10; // producers waiting for space (crash-safe mode over a process-shared memory)
/** The marker `close()` seals a crash-safe ring with (below every lap's empty value). */
const SEALED = -0x8000_0000;
const STATE_FORMATTING = 1;
const STATE_LIVE = 2;

/** The control block's size; the slots follow it. */
export const RING_CONTROL_BYTES = 128;

/** The result of a push. */
export type PushResult = "ok" | "full" | "closed";

/** Options of {@link RemoteFreeRing}. */
export interface RemoteFreeRingOptions {
  /**
   * How producers wait for space over a memory that is not a `SharedArrayBuffer` (a mapping processes share):
   * the backing's process-shared futex. @defaultValue none: the memory must be shared, and `Atomics.wait` is used
   */
  readonly waiting?: SharedWaiting | undefined;
  /**
   * Format the ring crash-safe (see the module documentation); ignored when opening one, whose mode is in the
   * memory. @defaultValue true when `waiting` is given (processes can die mid-push), else false
   */
  readonly crashSafe?: boolean;
}

/** A lock-free MPSC ring in shared memory (see the module documentation). */
export class RemoteFreeRing {
  /** The shared memory. */
  readonly memory: Memory;
  /** Offset of the control block (128-aligned). */
  readonly offset: number;
  /** Slots (a power of two). */
  readonly capacity: number;
  /** True for a crash-safe ring (read from the memory). */
  readonly crashSafe: boolean;
  private readonly w: number;
  private readonly slots: number;
  private readonly lapShift: number;
  private readonly waiting: SharedWaiting | undefined;

  /**
   * Uses (and with `format`, initialises) a ring of `capacity` slots at `offset` of a shared memory.
   *
   * @throws `AllocError` when the memory is not shared (and no `waiting` is given), the offset is not 128-aligned,
   *   the capacity not a power of two in `[1, 2^20]`, (with `format`) a live ring is there, or (without `format`)
   *   no ring is there. Nothing is written when it throws.
   */
  constructor(
    memory: Memory,
    offset: number,
    capacity: number,
    format: boolean,
    options: RemoteFreeRingOptions = {},
  ) {
    if (!memory.shared && options.waiting === undefined)
      throw new AllocError(
        "RemoteFreeRing: the memory must be shared (a SharedArrayBuffer, a shared WebAssembly memory, or a mapping processes share with its SharedWaiting)",
      );
    RemoteFreeRing.checkCapacity(capacity);
    if (offset % 128 !== 0) throw new AllocError(`RemoteFreeRing: offset ${offset} is not 128-aligned`);
    this.memory = memory;
    this.offset = offset;
    this.capacity = capacity;
    this.w = offset >>> 2;
    this.slots = (offset + RING_CONTROL_BYTES) >>> 2;
    this.lapShift = 31 - Math.clz32(capacity);
    this.waiting = options.waiting;
    const i32 = memory.i32;
    if (format) {
      const w = this.w;
      const state = Atomics.load(i32, w + W_STATE);
      const live =
        state === STATE_LIVE &&
        Atomics.load(i32, w + W_MAGIC) === MAGIC &&
        Atomics.load(i32, w + W_CLOSED) === 0;
      if (
        live ||
        state === STATE_FORMATTING ||
        Atomics.compareExchange(i32, w + W_STATE, state, STATE_FORMATTING) !== state
      ) {
        throw new AllocError(
          `RemoteFreeRing: offset ${offset} already holds a live ring (or one being formatted); open it without ` +
            "format to join it, or close it first",
        );
      }
      for (let k = 1; k < RING_CONTROL_BYTES / 4; k++) if (k !== W_STATE) Atomics.store(i32, w + k, 0);
      for (let k = 0; k < capacity; k++) Atomics.store(i32, this.slots + k, 0); // lap 0's empty value
      Atomics.store(i32, w + W_MODE, (options.crashSafe ?? options.waiting !== undefined) ? 1 : 0);
      Atomics.store(i32, w + W_CAPACITY, capacity);
      Atomics.store(i32, w + W_MAGIC, MAGIC);
      Atomics.store(i32, w + W_STATE, STATE_LIVE);
    } else if (
      Atomics.load(i32, this.w + W_MAGIC) !== MAGIC ||
      Atomics.load(i32, this.w + W_CAPACITY) !== capacity
    ) {
      throw new AllocError(`RemoteFreeRing: no ring of ${capacity} slots at offset ${offset}`);
    }
    this.crashSafe = Atomics.load(i32, this.w + W_MODE) === 1;
  }

  /** @throws `AllocError` unless `capacity` is a power of two in `[1, 2^20]`. Returns it. */
  static checkCapacity(capacity: number): number {
    checkInteger("RemoteFreeRing", "capacity", capacity, 1, 1 << 20);
    if ((capacity & (capacity - 1)) !== 0)
      throw new AllocError(`RemoteFreeRing: capacity ${capacity} is not a power of two`);
    return capacity;
  }

  /** Bytes a ring of `capacity` slots takes. */
  static bytesFor(capacity: number): number {
    return RING_CONTROL_BYTES + 4 * capacity;
  }

  /** Step 1 of a push: reserves a slot. Returns its sequence number, or "full" / "closed". */
  reserve(): number | "full" | "closed" {
    if (this.crashSafe) throw this.twoStepRefused("reserve");
    const i32 = this.memory.i32;
    const w = this.w;
    for (;;) {
      if (Atomics.load(i32, w + W_CLOSED) !== 0) return "closed";
      const tail = Atomics.load(i32, w + W_TAIL);
      const head = Atomics.load(i32, w + W_HEAD);
      if (((tail - head) | 0) >= this.capacity) return "full";
      if (Atomics.compareExchange(i32, w + W_TAIL, tail, (tail + 1) | 0) === tail) return tail;
    }
  }

  /** Step 2 of a push: publishes `word` (non-zero) in the reserved slot `seq`. */
  publish(seq: number, word: number): void {
    if (this.crashSafe) throw this.twoStepRefused("publish");
    const i32 = this.memory.i32;
    Atomics.store(i32, this.slots + (seq & (this.capacity - 1)), word);
    Atomics.add(i32, this.w + W_PUSHED, 1);
  }

  /** Reserve and publish in one call (one CAS of the slot in crash-safe mode). `word` must be non-zero (positive in crash-safe mode). */
  push(word: number): PushResult {
    if ((word | 0) !== word || word === 0 || (this.crashSafe && word < 0))
      throw new AllocError(
        `RemoteFreeRing.push: ${String(word)} is not a ${this.crashSafe ? "positive" : "non-zero"} 32-bit word`,
      );
    if (this.crashSafe) return this.pushOnce(word);
    const seq = this.reserve();
    if (typeof seq !== "number") return seq;
    this.publish(seq, word);
    return "ok";
  }

  /** The empty value of the slot for sequence `seq`: its lap, negated (0 for lap 0, as a fresh ring). */
  private emptyFor(seq: number): number {
    return -(((seq >>> 0) >>> this.lapShift) & 0x7fffffff) | 0;
  }

  /**
   * A crash-safe push: one CAS of the slot at `tail` from its lap's empty value to `word`, then `tail` moves on (by
   * this producer or the next one). Every step leaves the ring consistent: before the CAS nothing is pushed; after
   * it the word is in place whether or not `tail` has moved.
   */
  private pushOnce(word: number): PushResult {
    const i32 = this.memory.i32;
    const w = this.w;
    const mask = this.capacity - 1;
    for (;;) {
      if (Atomics.load(i32, w + W_CLOSED) !== 0) return "closed";
      const tail = Atomics.load(i32, w + W_TAIL);
      const head = Atomics.load(i32, w + W_HEAD);
      if (((tail - head) | 0) >= this.capacity) return "full";
      const slot = this.slots + (tail & mask);
      const empty = this.emptyFor(tail);
      const v = Atomics.load(i32, slot);
      if (v === SEALED) return "closed";
      if (v === empty) {
        if (Atomics.compareExchange(i32, slot, empty, word) !== empty) continue;
        Atomics.compareExchange(i32, w + W_TAIL, tail, (tail + 1) | 0);
        Atomics.add(i32, w + W_PUSHED, 1);
        return "ok";
      }
      // The slot of `tail` is taken (a producer filled it and has not moved `tail`, or died first; or the word
      // was drained already): move `tail` on for it. A stale `tail` fails this CAS and is read again.
      Atomics.compareExchange(i32, w + W_TAIL, tail, (tail + 1) | 0);
    }
  }

  /**
   * Consumer only: takes up to `max` published words, oldest first, passing each to `sink`. Stops at a slot that is
   * reserved but not yet published. Wakes producers waiting for space. Returns how many it took.
   */
  drain(sink: (word: number) => void, max = 0x7fffffff): number {
    const i32 = this.memory.i32;
    const w = this.w;
    let head = Atomics.load(i32, w + W_HEAD);
    let taken = 0;
    const safe = this.crashSafe;
    while (taken < max) {
      const slot = this.slots + (head & (this.capacity - 1));
      const word = Atomics.load(i32, slot);
      if (word === 0 || (safe && word < 0)) break; // empty (any lap's empty value), or sealed
      // cleared before head moves: a producer that sees head past this slot sees it empty for the next lap
      Atomics.store(i32, slot, safe ? this.emptyFor((head + this.capacity) | 0) : 0);
      head = (head + 1) | 0;
      Atomics.store(i32, w + W_HEAD, head);
      sink(word);
      taken++;
    }
    if (taken > 0) {
      Atomics.add(i32, w + W_DRAINED, taken);
      this.wakeProducers();
    }
    if (safe && Atomics.load(i32, w + W_CLOSED) !== 0) this.seal();
    return taken;
  }

  /** Moves the space counter on and wakes the producers waiting on it. */
  private wakeProducers(): void {
    const i32 = this.memory.i32;
    Atomics.add(i32, this.w + W_SPACE, 1);
    if (this.memory.shared) Atomics.notify(i32, this.w + W_SPACE);
    else if (Atomics.load(i32, this.w + W_WAITERS) > 0) this.waiting!.notify(4 * (this.w + W_SPACE));
  }

  /**
   * Crash-safe mode, after `close()`: puts the seal in the slot at `tail` (a CAS from its empty value, so it lands
   * after every word pushed before it and no word lands after it). Returns true once sealed; false while the ring
   * is full (the owner drains, then seals). Any worker may call it (`settled()` does).
   */
  private seal(): boolean {
    const i32 = this.memory.i32;
    const w = this.w;
    for (;;) {
      // The steps of a push, in its order: head is read before the slot, so a slot that still holds a word of the
      // previous lap is always seen as a full ring. (Read after the slot, head could have passed that word and
      // the seal the owner placed meanwhile, and tail would be moved past the seal.) A sealed ring is never full.
      const tail = Atomics.load(i32, w + W_TAIL);
      const head = Atomics.load(i32, w + W_HEAD);
      if (((tail - head) | 0) >= this.capacity) return false;
      const slot = this.slots + (tail & (this.capacity - 1));
      const v = Atomics.load(i32, slot);
      if (v === SEALED) return true;
      const empty = this.emptyFor(tail);
      if (v === empty) {
        if (Atomics.compareExchange(i32, slot, empty, SEALED) === empty) return true;
        continue;
      }
      // A word of this lap whose producer has not moved tail yet (or died first), or one drained already: move
      // tail on for it, as a producer would. A stale tail fails this CAS and is read again.
      Atomics.compareExchange(i32, w + W_TAIL, tail, (tail + 1) | 0);
    }
  }

  /**
   * True once the ring is closed and every word accepted before the close was drained: in crash-safe mode, the
   * seal is placed and the consumer has reached it; else no reserved slot is left.
   */
  settled(): boolean {
    const i32 = this.memory.i32;
    if (Atomics.load(i32, this.w + W_CLOSED) === 0) return false;
    if (!this.crashSafe) return this.pending() <= 0;
    if (!this.seal()) return false;
    // Sealed: tail names the seal's slot for good (tail moves only past a slot that holds a word of its lap, or held
    // one), so the owner has reached the seal once head equals tail. The slot at head would not say it: mid-drain, a
    // word's slot cleared before head moves past it can already hold the next lap's seal.
    return Atomics.load(i32, this.w + W_HEAD) === Atomics.load(i32, this.w + W_TAIL);
  }

  /**
   * Words pushed and not yet drained (reserved ones included): an estimate while producers run. Never negative
   * (in crash-safe mode `tail` may lag the last word by one until the next push).
   */
  pending(): number {
    const i32 = this.memory.i32;
    return Math.max(0, (Atomics.load(i32, this.w + W_TAIL) - Atomics.load(i32, this.w + W_HEAD)) | 0);
  }

  /**
   * Waits, never in a spin, until a drain makes space or `timeoutMs` passes: with `Atomics.wait` over a shared
   * buffer, else through the backing's process-shared futex (`waiting`). False on timeout.
   */
  waitForSpace(timeoutMs: number): boolean {
    const i32 = this.memory.i32;
    const at = this.w + W_SPACE;
    if (this.memory.shared) {
      const seen = Atomics.load(i32, at);
      if (this.pending() < this.capacity) return true;
      return Atomics.wait(i32, at, seen, timeoutMs) !== "timed-out";
    }
    // Announce the wait before reading the counter: a drain that moves the counter after this point sees the
    // announcement and wakes the futex; one that moved it before is seen in the counter or in the space.
    Atomics.add(i32, this.w + W_WAITERS, 1);
    try {
      const seen = Atomics.load(i32, at);
      if (this.pending() < this.capacity || this.closed) return true;
      return this.waiting!.wait(4 * at, seen, timeoutMs) !== "timed-out";
    } finally {
      Atomics.sub(i32, this.w + W_WAITERS, 1);
    }
  }

  /**
   * Refuses every later push. Words already reserved are still published and must be drained (see
   * `SlabOwner.close`, which drains until {@link RemoteFreeRing.settled}). In crash-safe mode, the consumer only:
   * it also seals the ring (now, or on a later drain while the ring is full).
   */
  close(): void {
    Atomics.store(this.memory.i32, this.w + W_CLOSED, 1);
    if (this.crashSafe) this.seal();
    this.wakeProducers();
  }

  /** True once closed. */
  get closed(): boolean {
    return Atomics.load(this.memory.i32, this.w + W_CLOSED) !== 0;
  }

  private twoStepRefused(what: string): UnsupportedError {
    return new UnsupportedError(
      `RemoteFreeRing.${what}: this ring is crash-safe (a producer that died between reserve and publish would stop every drain); use push()`,
    );
  }

  /**
   * Totals since formatting: words pushed and drained (readable by any worker). In crash-safe mode a producer
   * that died between its push and its count leaves `pushed` one short.
   */
  counters(): { pushed: number; drained: number } {
    const i32 = this.memory.i32;
    return { pushed: Atomics.load(i32, this.w + W_PUSHED), drained: Atomics.load(i32, this.w + W_DRAINED) };
  }
}
