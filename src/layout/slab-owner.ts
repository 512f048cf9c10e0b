/**
 * `SlabOwner` and `SlabRemote`: a slab that one worker (the owner) allocates from and frees into without any atomic
 * operation on its fast path, while any other worker can free its blocks: a remote free is pushed onto a lock-free
 * ring in the shared memory (`RemoteFreeRing`), and the owner drains the ring in batches. This is the Rust
 * `SlabOwner`/`SlabRemote` with the lock-free ring the Rust crate promised for a later release.
 *
 * Draining follows a `BatchPolicy`: `BatchPolicy.fixed(n)` drains once `n` frees wait; `BatchPolicy.adaptive()`
 * moves between 8, 16, 32, 64 and 128 with the Rust rules (a step down when the ring is more than three quarters
 * full, a step up when it is less than a quarter full, at most once per 16 checks). The owner checks every
 * `threshold` allocations, and always before it reports out of memory.
 *
 * A full ring makes `SlabRemote.tryDeallocate` say `"full"`; `SlabRemote.deallocate` then waits with `Atomics.wait`
 * and a timeout (never a busy spin). `SlabOwner.close()` refuses further pushes and drains what was accepted.
 *
 * Across processes: over a memory several processes map (`SharedMmapBacked` of forge-alloc/os), the owner lives in
 * one process and `SlabRemote.join(backing, owner.location())` opens the ring in another
 * (`SharedMmapBacked.attach(descriptor)` there; `location()` is plain JSON, for `child_process` IPC). The ring is
 * then crash-safe (`RemoteFreeRing`'s one-CAS push): a remote process killed at any step of a push has pushed its
 * free whole or not at all, and the ring goes on for the others; a full ring is waited for through the mapping's
 * process-shared futex (`SharedWaiting`; a system call per wait, and one per drain while a producer waits).
 *
 * Complexity: O(1) owner operations; a drain is O(batch). Overhead: the ring (`4 * ringCapacity + 128` bytes).
 * Threads: the owner object in one worker, `SlabRemote`s in any (or in other processes). The slab's own state stays
 * in the owner's heap.
 *
 * @example
 * ```ts
 * const owner = new SlabOwner(new SharedArrayBufferBacked(1 << 20), { blockSize: 64, capacity: 1024 });
 * const ptr = owner.allocate(64);
 * const message = owner.share(); // post it (and ptr) to a worker: new Worker(url, { workerData: message })
 * SlabRemote.attach(message).deallocate(ptr); // in the worker: queued for the owner
 * console.log(owner.drain(), owner.slab.liveCount()); // 1 0
 * owner.close();
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  InvalidPointerError,
  type Memory,
  Memory as MemoryClass,
  type SharedWaiting,
  MAX_SIZE,
  NULL,
  alignUp,
  UnsupportedError,
  checkInteger,
  checkResize,
  describePointer,
  faultError,
  isInt32,
  isValidLayout,
  layoutError,
  zeroBlock,
  sharedWaitingOf,
} from "../core/index.js";
import { StaticBacked } from "../backing/index.js";
import { RemoteFreeRing } from "./remote-ring.js";
import { Slab, type SlabOptions, slabGeometry } from "./slab.js";

/** When the owner drains remote frees. */
export interface BatchPolicy {
  /** `"fixed"` or `"adaptive"`. */
  readonly kind: "fixed" | "adaptive";
  /** The fixed threshold (for `"fixed"`). */
  readonly threshold: number;
}

/** The adaptive policy's levels (the Rust `ADAPTIVE_LEVELS`). */
export const ADAPTIVE_LEVELS: readonly number[] = Object.freeze([8, 16, 32, 64, 128]);
/** Checks between two adaptive level changes (the Rust `ADAPTIVE_COOLDOWN_TICKS`). */
export const ADAPTIVE_COOLDOWN_TICKS = 16;

/** Constructors of {@link BatchPolicy}. */
export const BatchPolicy: {
  /** Drain once `n` remote frees wait (1 to 2^20). */
  fixed(n: number): BatchPolicy;
  /** Move between 8 and 128 by how full the ring is. */
  adaptive(): BatchPolicy;
} = Object.freeze({
  fixed: (n: number): BatchPolicy =>
    Object.freeze({ kind: "fixed", threshold: checkInteger("BatchPolicy.fixed", "n", n, 1, 1 << 20) }),
  adaptive: (): BatchPolicy => Object.freeze({ kind: "adaptive", threshold: 64 }),
});

/** Options of {@link SlabOwner}. */
export interface SlabOwnerOptions extends Omit<SlabOptions, "metadata" | "protection"> {
  /** When to drain. @defaultValue `BatchPolicy.fixed(64)` */
  policy?: BatchPolicy;
  /** Ring slots (a power of two). @defaultValue 1024 */
  ringCapacity?: number;
}

/**
 * Where an owner's ring and blocks are in its memory: what `SlabOwner.location()` returns, plain JSON, for
 * `SlabRemote.join` in another process that maps the same memory.
 */
export interface SlabRemoteLocation {
  /** Always `"SlabRemote"`. */
  readonly kind: "SlabRemote";
  /** The ring's offset and capacity. */
  readonly ring: number;
  /** Ring slots. */
  readonly ringCapacity: number;
  /** The slab's region, stride and capacity (remote frees are checked against them). */
  readonly region: number;
  /** Bytes between blocks. */
  readonly stride: number;
  /** Blocks. */
  readonly capacity: number;
}

/** What `SlabOwner.share()` returns: the location and the shared storage, for `SlabRemote.attach` in a worker. */
export interface SlabRemoteDescriptor extends SlabRemoteLocation {
  /** The shared storage. */
  readonly source: SharedArrayBuffer | WebAssembly.Memory;
}

/** The owning side (see the module documentation). */
export class SlabOwner implements Allocator {
  /** The shared memory. */
  readonly memory: Memory;
  /** The owner's slab. */
  readonly slab: Slab;
  /** The remote-free ring. */
  readonly ring: RemoteFreeRing;
  private readonly adaptive: boolean;
  private threshold: number;
  private level: number;
  private cooldown: number;
  private countdown: number;
  private remoteErrors: number;
  private readonly sink: (word: number) => void;

  /**
   * Takes one block of `backing` for the ring and the slab's region together, after every option was checked, so a
   * refused construction keeps no bytes (not even of a bump backing).
   *
   * @throws `AllocError` when the memory is not shared (a `SharedArrayBuffer`, or a mapping processes share), an
   *   option is out of range, the backing cannot hold the slab and the ring, or the memory it gave holds a live ring.
   */
  constructor(backing: Allocator, options: SlabOwnerOptions) {
    const waiting = backing?.memory?.shared ? undefined : sharedWaitingOf(backing);
    if (!backing?.memory?.shared && waiting === undefined)
      throw new AllocError(
        "SlabOwner: the backing's memory must be shared (SharedArrayBufferBacked, or a mapping processes share: SharedMmapBacked)",
      );
    const ringCapacity = RemoteFreeRing.checkCapacity(options.ringCapacity ?? 1024);
    const shape = slabGeometry("SlabOwner", options);
    const policy = options.policy ?? BatchPolicy.fixed(64);
    if (policy?.kind !== "fixed" && policy?.kind !== "adaptive")
      throw new AllocError("SlabOwner: policy must be BatchPolicy.fixed(n) or BatchPolicy.adaptive()");
    const align = Math.max(128, shape.align);
    const ringSpan = alignUp(RemoteFreeRing.bytesFor(ringCapacity), align);
    const total = ringSpan + shape.bytes;
    const at = total > MAX_SIZE ? NULL : backing.allocate(total, align);
    if (at === NULL) {
      throw new AllocError(
        `SlabOwner: the backing cannot provide ${total} bytes (a ${ringCapacity}-slot ring and ` +
          `${shape.capacity} blocks of ${shape.stride})`,
      );
    }
    try {
      this.ring = new RemoteFreeRing(backing.memory, at, ringCapacity, true, { waiting });
      this.slab = new Slab(new StaticBacked(backing.memory, { offset: at + ringSpan, size: shape.bytes }), {
        blockSize: shape.blockSize,
        capacity: shape.capacity,
        align: shape.align,
      });
    } catch (error) {
      backing.deallocate(at, total, align);
      throw error;
    }
    this.memory = backing.memory;
    this.adaptive = policy.kind === "adaptive";
    this.level = 3;
    this.threshold = this.adaptive ? ADAPTIVE_LEVELS[3]! : policy.threshold;
    this.cooldown = 0;
    this.countdown = this.threshold;
    this.remoteErrors = 0;
    this.sink = (word: number): void => {
      try {
        this.slab.deallocate(word, 1, 1);
      } catch {
        this.remoteErrors++; // a remote double free or a stale pointer: counted, the slab stays consistent
      }
    };
  }

  /**
   * A description for `SlabRemote.attach` in another worker.
   *
   * @throws `UnsupportedError` over a mapping processes share (its buffer would be copied, not shared): send
   *   {@link SlabOwner.location} and call `SlabRemote.join` there.
   */
  share(): SlabRemoteDescriptor {
    if (!this.memory.shared)
      throw new UnsupportedError(
        "SlabOwner.share: this owner is in a mapping processes share; send location() and the mapping's share() descriptor, and call SlabRemote.join(SharedMmapBacked.attach(descriptor), location) in the other process",
      );
    return { ...this.location(), source: this.memory.source as SharedArrayBuffer | WebAssembly.Memory };
  }

  /** Where the ring and the blocks are (plain JSON): for `SlabRemote.join` in a process that maps the same memory. */
  location(): SlabRemoteLocation {
    return {
      kind: "SlabRemote",
      ring: this.ring.offset,
      ringCapacity: this.ring.capacity,
      region: this.slab.base(),
      stride: this.slab.stride,
      capacity: this.slab.capacity,
    };
  }

  /**
   * The slab's block; every `threshold` calls (and before giving up) it drains remote frees first.
   * @throws `LayoutError` naming `SlabOwner` for a bad size or alignment (nothing is drained then).
   */
  allocate(size: number, align = 8): number {
    if (!isValidLayout(size, align)) throw layoutError("SlabOwner.allocate", size, align);
    if (--this.countdown <= 0) this.tick();
    const p = this.slab.allocRaw(size, align);
    if (p !== NULL) return p;
    if (this.drain() === 0) return NULL;
    return this.slab.allocRaw(size, align);
  }

  /** As {@link SlabOwner.allocate}, zeroed. */
  allocateZeroed(size: number, align = 8): number {
    const p = this.allocate(size, align);
    if (p !== NULL) zeroBlock(this.memory, p, size);
    return p;
  }

  /**
   * The owner's own free: straight into the slab, no atomics.
   * @throws `LayoutError` or `InvalidPointerError` naming `SlabOwner`; nothing changes then.
   */
  deallocate(ptr: number, size: number, align = 8): void {
    if (!isValidLayout(size, align)) throw layoutError("SlabOwner.deallocate", size, align);
    const r = this.slab.tryFree(ptr, size, align);
    if (r !== 0) throw faultError("SlabOwner.deallocate", r, ptr, size, align);
  }

  /** In place when the slot holds `newSize` (I5), else `NULL`. @throws as `deallocate`, naming `SlabOwner.grow`. */
  grow(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.resize("grow", ptr, oldSize, newSize, align);
  }

  /** Always in place (I5). @throws as `deallocate`, naming `SlabOwner.shrink`. */
  shrink(ptr: number, oldSize: number, newSize: number, align = 8): number {
    return this.resize("shrink", ptr, oldSize, newSize, align);
  }

  private resize(what: string, ptr: number, oldSize: number, newSize: number, align: number): number {
    checkResize(`SlabOwner.${what}`, oldSize, newSize, align, what === "grow");
    const usable = this.slab.checkFree(ptr, oldSize, align, false);
    if (usable < 0) throw faultError(`SlabOwner.${what}`, usable, ptr, oldSize, align);
    return this.slab.resizeRaw(ptr, oldSize, newSize, align);
  }

  /** Drains, then resets the slab. */
  reset(): void {
    this.drain();
    this.slab.reset();
  }

  /** The slot's usable bytes (its stride). @throws as `deallocate`, naming `SlabOwner.usableSize`. */
  usableSize(ptr: number, size: number): number {
    if (!isValidLayout(size, 1)) throw layoutError("SlabOwner.usableSize", size, 1);
    const usable = this.slab.checkFree(ptr, size, 1, false);
    if (usable < 0) throw faultError("SlabOwner.usableSize", usable, ptr, size, 1);
    return usable;
  }

  /** The slab's capacity. */
  capacityBytes(): number {
    return this.slab.capacityBytes();
  }

  /** The slab's corruption count plus remote frees that were not live blocks. */
  corruptionEvents(): number {
    return this.slab.corruptionEvents() + this.remoteErrors;
  }

  /** Takes every remote free published so far. Returns how many. */
  drain(): number {
    return this.ring.drain(this.sink);
  }

  /** The drain threshold in force (moves under the adaptive policy). */
  currentThreshold(): number {
    return this.threshold;
  }

  /** Remote frees that were refused by the slab (double frees, stale pointers). */
  remoteFreeErrors(): number {
    return this.remoteErrors;
  }

  /**
   * Refuses further remote frees and drains every accepted one (waiting, with `Atomics.wait`, for pushes that were
   * reserved before the close to be published; a crash-safe ring has none). Idempotent.
   */
  close(timeoutMs = 1000): void {
    this.ring.close();
    const deadline = Date.now() + timeoutMs;
    while (!this.ring.settled()) {
      if (this.drain() === 0) {
        if (Date.now() > deadline)
          throw new AllocError("SlabOwner.close: a remote push was reserved but never published");
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // a 1 ms pause, not a spin
      }
    }
  }

  /** `using` support: `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Every `threshold` allocations: drain if enough frees wait, and adapt the threshold. */
  private tick(): void {
    const pending = this.ring.pending();
    if (pending >= this.threshold) this.drain();
    if (this.adaptive) {
      if (this.cooldown > 0) this.cooldown--;
      else {
        const cap = this.ring.capacity;
        if (pending * 4 > cap * 3 && this.level > 0) {
          this.level--;
          this.cooldown = ADAPTIVE_COOLDOWN_TICKS;
        } else if (pending * 4 < cap && this.level < ADAPTIVE_LEVELS.length - 1) {
          this.level++;
          this.cooldown = ADAPTIVE_COOLDOWN_TICKS;
        }
        this.threshold = ADAPTIVE_LEVELS[this.level]!;
      }
    }
    this.countdown = this.threshold;
  }
}

/** The freeing side, in any worker (see the module documentation). */
export class SlabRemote {
  /** The shared memory. */
  readonly memory: Memory;
  /** The owner's ring. */
  readonly ring: RemoteFreeRing;
  private readonly region: number;
  private readonly stride: number;
  private readonly capacity: number;

  private constructor(memory: Memory, location: SlabRemoteLocation, waiting?: SharedWaiting) {
    this.memory = memory;
    this.ring = new RemoteFreeRing(memory, location.ring, location.ringCapacity, false, { waiting });
    this.region = location.region;
    this.stride = location.stride;
    this.capacity = location.capacity;
  }

  /** The freeing side of a shared owner. @throws `AllocError` for a descriptor that does not describe one. */
  static attach(descriptor: SlabRemoteDescriptor): SlabRemote {
    if (descriptor?.kind !== "SlabRemote")
      throw new AllocError("SlabRemote.attach: not a SlabRemote descriptor");
    return new SlabRemote(MemoryClass.of(descriptor.source), descriptor);
  }

  /**
   * The freeing side of an owner in another process, over the same mapping attached in this one
   * (`SlabRemote.join(SharedMmapBacked.attach(descriptor), location)`, with `location` from the owner's
   * `location()`). Checks that the ring and the blocks lie inside the mapping and that a ring is formatted there.
   *
   * @throws `AllocError` when the backing is not a mapping processes share, or the location does not describe an
   *   owner in it.
   */
  static join(backing: { readonly memory: Memory }, location: SlabRemoteLocation): SlabRemote {
    const waiting = sharedWaitingOf(backing);
    if (waiting === undefined)
      throw new AllocError(
        "SlabRemote.join: the backing is not a mapping processes share (SharedMmapBacked); workers of one process use SlabRemote.attach(owner.share())",
      );
    const l = location as Partial<SlabRemoteLocation> | null | undefined;
    const bytes = backing.memory.byteLength;
    const int = (v: unknown, min: number): v is number =>
      typeof v === "number" && Number.isInteger(v) && v >= min && v < bytes;
    if (
      l?.kind !== "SlabRemote" ||
      !int(l.ring, 0) ||
      !int(l.ringCapacity, 1) ||
      !int(l.region, 16) ||
      !int(l.stride, 1) ||
      !int(l.capacity, 1) ||
      l.ring + RemoteFreeRing.bytesFor(l.ringCapacity) > bytes ||
      l.region + l.stride * l.capacity > bytes
    )
      throw new AllocError(
        "SlabRemote.join: not a location inside this mapping; expected what SlabOwner.location() returns ({ kind, ring, ringCapacity, region, stride, capacity })",
      );
    return new SlabRemote(backing.memory, l as SlabRemoteLocation, waiting);
  }

  /**
   * Pushes a free onto the owner's ring: `"ok"`, `"full"` (try again after the owner drains) or `"closed"`.
   *
   * @throws `InvalidPointerError` when `ptr` is not the start of one of the owner's blocks.
   */
  tryDeallocate(ptr: number): "ok" | "full" | "closed" {
    this.check(ptr);
    return this.ring.push(ptr);
  }

  /**
   * Pushes a free, waiting (with `Atomics.wait`, up to `timeoutMs` in all) while the ring is full.
   *
   * @throws `AllocError` when the owner is closed or the wait times out; `InvalidPointerError` for a non-block.
   */
  deallocate(ptr: number, timeoutMs = 5000): void {
    this.check(ptr);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.ring.push(ptr);
      if (r === "ok") return;
      if (r === "closed")
        throw new AllocError(
          `SlabRemote.deallocate: the owner is closed; ${describePointer(ptr)} was not freed`,
        );
      const left = deadline - Date.now();
      if (left <= 0 || !this.ring.waitForSpace(left)) {
        throw new AllocError(
          `SlabRemote.deallocate: the ring stayed full for ${timeoutMs} ms (is the owner draining?)`,
        );
      }
    }
  }

  private check(ptr: number): void {
    const off = isInt32(ptr) ? ptr - this.region : -1; // a typeof test first: no value can make this throw
    const idx = Math.floor(off / this.stride);
    if (off < 0 || idx >= this.capacity || idx * this.stride !== off) {
      throw new InvalidPointerError(
        ptr,
        `SlabRemote: ${describePointer(ptr)} is not one of the owner's blocks`,
      );
    }
  }
}
