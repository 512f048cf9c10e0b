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
import { AllocError, type Memory, checkInteger } from "../core/index.js";

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
const STATE_FORMATTING = 1;
const STATE_LIVE = 2;

/** The control block's size; the slots follow it. */
export const RING_CONTROL_BYTES = 128;

/** The result of a push. */
export type PushResult = "ok" | "full" | "closed";

/** A lock-free MPSC ring in shared memory (see the module documentation). */
export class RemoteFreeRing {
  /** The shared memory. */
  readonly memory: Memory;
  /** Offset of the control block (128-aligned). */
  readonly offset: number;
  /** Slots (a power of two). */
  readonly capacity: number;
  private readonly w: number;
  private readonly slots: number;

  /**
   * Uses (and with `format`, initialises) a ring of `capacity` slots at `offset` of a shared memory.
   *
   * @throws `AllocError` when the memory is not shared, the offset is not 128-aligned, the capacity not a power of
   *   two in `[1, 2^20]`, (with `format`) a live ring is there, or (without `format`) no ring is there. Nothing is
   *   written when it throws.
   */
  constructor(memory: Memory, offset: number, capacity: number, format: boolean) {
    if (!memory.shared)
      throw new AllocError(
        "RemoteFreeRing: the memory must be shared (a SharedArrayBuffer or shared WebAssembly memory)",
      );
    RemoteFreeRing.checkCapacity(capacity);
    if (offset % 128 !== 0) throw new AllocError(`RemoteFreeRing: offset ${offset} is not 128-aligned`);
    this.memory = memory;
    this.offset = offset;
    this.capacity = capacity;
    this.w = offset >>> 2;
    this.slots = (offset + RING_CONTROL_BYTES) >>> 2;
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
      for (let k = 0; k < capacity; k++) Atomics.store(i32, this.slots + k, 0);
      Atomics.store(i32, w + W_CAPACITY, capacity);
      Atomics.store(i32, w + W_MAGIC, MAGIC);
      Atomics.store(i32, w + W_STATE, STATE_LIVE);
    } else if (
      Atomics.load(i32, this.w + W_MAGIC) !== MAGIC ||
      Atomics.load(i32, this.w + W_CAPACITY) !== capacity
    ) {
      throw new AllocError(`RemoteFreeRing: no ring of ${capacity} slots at offset ${offset}`);
    }
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
    const i32 = this.memory.i32;
    Atomics.store(i32, this.slots + (seq & (this.capacity - 1)), word);
    Atomics.add(i32, this.w + W_PUSHED, 1);
  }

  /** Reserve and publish in one call. `word` must be non-zero. */
  push(word: number): PushResult {
    if ((word | 0) !== word || word === 0)
      throw new AllocError(`RemoteFreeRing.push: ${String(word)} is not a non-zero 32-bit word`);
    const seq = this.reserve();
    if (typeof seq !== "number") return seq;
    this.publish(seq, word);
    return "ok";
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
    while (taken < max) {
      const slot = this.slots + (head & (this.capacity - 1));
      const word = Atomics.load(i32, slot);
      if (word === 0) break;
      Atomics.store(i32, slot, 0);
      head = (head + 1) | 0;
      Atomics.store(i32, w + W_HEAD, head);
      sink(word);
      taken++;
    }
    if (taken > 0) {
      Atomics.add(i32, w + W_DRAINED, taken);
      Atomics.add(i32, w + W_SPACE, 1);
      Atomics.notify(i32, w + W_SPACE);
    }
    return taken;
  }

  /** Words pushed and not yet drained (reserved ones included): an estimate while producers run. */
  pending(): number {
    const i32 = this.memory.i32;
    return (Atomics.load(i32, this.w + W_TAIL) - Atomics.load(i32, this.w + W_HEAD)) | 0;
  }

  /** Waits (with `Atomics.wait`, never a spin) until a drain makes space or `timeoutMs` passes. False on timeout. */
  waitForSpace(timeoutMs: number): boolean {
    const i32 = this.memory.i32;
    const seen = Atomics.load(i32, this.w + W_SPACE);
    if (this.pending() < this.capacity) return true;
    return Atomics.wait(i32, this.w + W_SPACE, seen, timeoutMs) !== "timed-out";
  }

  /** Refuses every later push. Words already reserved are still published and must be drained (see `SlabOwner.close`). */
  close(): void {
    Atomics.store(this.memory.i32, this.w + W_CLOSED, 1);
    Atomics.add(this.memory.i32, this.w + W_SPACE, 1);
    Atomics.notify(this.memory.i32, this.w + W_SPACE);
  }

  /** True once closed. */
  get closed(): boolean {
    return Atomics.load(this.memory.i32, this.w + W_CLOSED) !== 0;
  }

  /** Totals since formatting: words pushed and drained (readable by any worker). */
  counters(): { pushed: number; drained: number } {
    const i32 = this.memory.i32;
    return { pushed: Atomics.load(i32, this.w + W_PUSHED), drained: Atomics.load(i32, this.w + W_DRAINED) };
  }
}
