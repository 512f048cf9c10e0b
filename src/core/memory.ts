/**
 * `Memory`: one address space, and the views over it that are always current.
 *
 * A pointer is an integer byte offset into one `Memory`. A `Memory` wraps one of:
 *
 * | source                                   | growable by                 | after growth                              |
 * |------------------------------------------|-----------------------------|-------------------------------------------|
 * | `ArrayBuffer` (fixed or resizable)       | `resize` (up to its max)    | same buffer; views track the new length   |
 * | `SharedArrayBuffer` (fixed or growable)  | `grow` (up to its max)      | same buffer; views track the new length   |
 * | `WebAssembly.Memory` (shared or not)     | `grow` (64 KiB pages)       | a NEW buffer (the old one is detached, or |
 * |                                          |                             | shorter if shared): views are re-derived  |
 * | an OS mapping (`forge-alloc/os`)         | not growable                | detached (length 0) once unmapped         |
 *
 * ```text
 *  offset 0            16                                              byteLength        maxByteLength
 *  |  reserved (NULL)  |  ranges handed to backings ...                  |  growth room ... |
 * ```
 *
 * Views (`u8`, `i32`, `f64`, `dataView`, ...) read through getters that never return a stale view: over a
 * resizable or growable buffer the views are length-tracking; over a WebAssembly memory the getter notices a
 * replaced buffer and rebuilds every view. Offsets stay valid across growth. Do not cache a view across code
 * that may grow the memory (an allocation may); read `memory.u8` again instead (STYLE §11).
 *
 * Threads: a `Memory` object belongs to one agent (worker); a shared buffer can be wrapped in every worker.
 *
 * @example
 * ```ts
 * const memory = Memory.of(new ArrayBuffer(4096, { maxByteLength: 1 << 20 }));
 * memory.u32[16 >>> 2] = 42;
 * (memory.source as ArrayBuffer).resize(8192); // growth: offsets stay valid, views stay current
 * console.log(memory.byteLength, memory.u32[16 >>> 2]); // 8192 42
 * ```
 *
 * @module
 */
import { MAX_MEMORY_BYTES, WASM_PAGE_SIZE } from "./constants.js";
import { AllocError } from "./errors.js";

/** What kind of storage a {@link Memory} wraps. */
export type MemoryKind = "array-buffer" | "shared-array-buffer" | "wasm" | "os";

/** The buffer types a {@link Memory} can expose. */
export type AnyBuffer = ArrayBuffer | SharedArrayBuffer;

/** Anything {@link Memory.of} accepts. */
export type MemorySource = ArrayBuffer | SharedArrayBuffer | WebAssembly.Memory;

/** A typed-array constructor (every member of the family, including the BigInt ones). */
export type TypedArrayConstructor<T extends TypedArray = TypedArray> = {
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

/** Every typed array type a {@link Memory} can produce. */
export type TypedArray =
  | Uint8Array
  | Uint8ClampedArray
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

const cache = new WeakMap<object, Memory>();

/** True for an `ArrayBuffer` or a `SharedArrayBuffer` (where the runtime has one). @internal */
export function isBuffer(value: unknown): value is AnyBuffer {
  return (
    value instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)
  );
}

function isResizable(buffer: AnyBuffer): boolean {
  return (
    (buffer as { resizable?: boolean }).resizable === true ||
    (buffer as { growable?: boolean }).growable === true
  );
}

function maxLengthOf(buffer: AnyBuffer): number {
  return (buffer as { maxByteLength?: number }).maxByteLength ?? buffer.byteLength;
}

/**
 * One address space. Obtain it with {@link Memory.of} (one `Memory` per source object, so two allocators over the
 * same buffer share it) or from any backing's `memory`.
 *
 * @remarks Overhead: twelve view objects per memory, rebuilt only when a WebAssembly memory's buffer changes.
 */
export class Memory {
  /** What this memory wraps. */
  readonly kind: MemoryKind;
  /** True when the storage is a `SharedArrayBuffer` (or a shared WebAssembly memory): workers can share it. */
  readonly shared: boolean;
  /** True when {@link Memory.grow} can make it longer. */
  readonly growable: boolean;
  /** The most bytes this memory can ever hold (its current length when it is not growable), capped at `MAX_MEMORY_BYTES`. */
  readonly maxByteLength: number;
  /** Incremented whenever the memory grows or its views are rebuilt: a cheap "did anything move" check. */
  generation: number;
  /**
   * True once the owner of the memory retired it (`forge-alloc/os`'s `dispose()`): its contents are gone (it reads
   * as zeros) and nothing may be allocated in it any more. Allocators check it to refuse with an `AllocError`.
   */
  retired: boolean;
  private watchers: WeakRef<{ memoryRetired(): void }>[] | null;
  private readonly wasm: WebAssembly.Memory | null;
  private current: AnyBuffer;
  private _u8!: Uint8Array;
  private _u8c!: Uint8ClampedArray;
  private _i8!: Int8Array;
  private _u16!: Uint16Array;
  private _i16!: Int16Array;
  private _u32!: Uint32Array;
  private _i32!: Int32Array;
  private _f32!: Float32Array;
  private _f64!: Float64Array;
  private _i64!: BigInt64Array;
  private _u64!: BigUint64Array;
  private _dataView!: DataView;

  /**
   * Wraps `source`. Prefer {@link Memory.of}, which returns the one `Memory` already made for a source.
   *
   * @param kind - override the kind; `forge-alloc/os` passes `"os"` for a mapping it owns.
   * @throws {@link AllocError} when the source is longer than `MAX_MEMORY_BYTES` or is not a buffer or a
   *   WebAssembly memory.
   */
  constructor(source: MemorySource, kind?: MemoryKind) {
    if (typeof WebAssembly !== "undefined" && source instanceof WebAssembly.Memory) {
      this.wasm = source;
      this.current = source.buffer;
      this.kind = kind ?? "wasm";
      this.shared = typeof SharedArrayBuffer !== "undefined" && this.current instanceof SharedArrayBuffer;
      this.growable = true;
      // WebAssembly.Memory does not report its maximum; WasmMemoryBacked passes it through Memory.limitWasm.
      this.maxByteLength = Math.min(MAX_MEMORY_BYTES, 65536 * WASM_PAGE_SIZE);
    } else if (isBuffer(source)) {
      this.wasm = null;
      this.current = source;
      this.shared = !(source instanceof ArrayBuffer);
      this.kind = kind ?? (this.shared ? "shared-array-buffer" : "array-buffer");
      this.growable = isResizable(source);
      this.maxByteLength = Math.min(MAX_MEMORY_BYTES, maxLengthOf(source));
    } else {
      throw new AllocError(
        `Memory: expected an ArrayBuffer, a SharedArrayBuffer or a WebAssembly.Memory, got ${Object.prototype.toString.call(source)}`,
      );
    }
    if (this.current.byteLength > MAX_MEMORY_BYTES) {
      throw new AllocError(
        `Memory: the buffer holds ${this.current.byteLength} bytes; forge-alloc manages at most ${MAX_MEMORY_BYTES}`,
      );
    }
    this.generation = 0;
    this.retired = false;
    this.watchers = null;
    this.rebuild(this.current);
  }

  /**
   * The one `Memory` for `source`: the same object every time it is asked for the same buffer or WebAssembly
   * memory in this agent. Allocators compare memories by identity, so build them all from `Memory.of`.
   *
   * @param kind - the kind for a source seen for the first time (`forge-alloc/os` passes `"os"`).
   */
  static of(source: MemorySource, kind?: MemoryKind): Memory {
    let memory = cache.get(source);
    if (memory === undefined) {
      memory = new Memory(source, kind);
      cache.set(source, memory);
    }
    return memory;
  }

  /** Records the maximum of a WebAssembly memory, which the runtime does not report. Used by `WasmMemoryBacked`. */
  limitWasm(maximumPages: number): void {
    if (this.wasm === null) throw new AllocError("Memory.limitWasm: this memory is not a WebAssembly memory");
    (this as { maxByteLength: number }).maxByteLength = Math.min(
      MAX_MEMORY_BYTES,
      maximumPages * WASM_PAGE_SIZE,
    );
  }

  /** What the memory wraps: the buffer, or the `WebAssembly.Memory` (what to post to another worker to share it). */
  get source(): MemorySource {
    return this.wasm ?? this.current;
  }

  /** The current buffer. Never cache it across growth of a WebAssembly memory. */
  get buffer(): AnyBuffer {
    if (this.wasm !== null) this.sync();
    return this.current;
  }

  /**
   * Marks the memory {@link Memory.retired} (irreversible) and tells every allocator that asked (`watchRetire`), so
   * each refuses to allocate from then on. Called by the owner of an OS mapping on
   * dispose.
   */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    const watchers = this.watchers;
    this.watchers = null;
    if (watchers !== null) for (const w of watchers) w.deref()?.memoryRetired();
  }

  /**
   * Asks to be told when the memory is retired: `owner.memoryRetired()` runs then (the owner is held weakly). An
   * allocator uses it to move its fast path onto a slow path that refuses, so its hot path needs no check. Only
   * memories that can be retired (kind `"os"`) keep the list; for the others this does nothing.
   *
   * @internal
   */
  watchRetire(owner: { memoryRetired(): void }): void {
    if (this.kind !== "os" || this.retired) return;
    let watchers = (this.watchers ??= []);
    // Allocators made and dropped over one long-lived mapping leave cleared references: sweep them now and then,
    // so the list stays proportional to the allocators alive.
    if (watchers.length >= 64 && (watchers.length & (watchers.length - 1)) === 0) {
      watchers = this.watchers = watchers.filter((w) => w.deref() !== undefined);
    }
    watchers.push(new WeakRef(owner));
  }

  /** The current length in bytes: the committed part; offsets below it can be read and written. */
  get byteLength(): number {
    if (this.wasm !== null) this.sync();
    return this.current.byteLength;
  }

  /** Bytes. */
  get u8(): Uint8Array {
    if (this.wasm !== null) this.sync();
    return this._u8;
  }
  /** Clamped bytes. */
  get u8c(): Uint8ClampedArray {
    if (this.wasm !== null) this.sync();
    return this._u8c;
  }
  /** Signed bytes. */
  get i8(): Int8Array {
    if (this.wasm !== null) this.sync();
    return this._i8;
  }
  /** 16-bit unsigned words; index with `ptr >>> 1`. */
  get u16(): Uint16Array {
    if (this.wasm !== null) this.sync();
    return this._u16;
  }
  /** 16-bit signed words; index with `ptr >>> 1`. */
  get i16(): Int16Array {
    if (this.wasm !== null) this.sync();
    return this._i16;
  }
  /** 32-bit unsigned words; index with `ptr >>> 2`. */
  get u32(): Uint32Array {
    if (this.wasm !== null) this.sync();
    return this._u32;
  }
  /** 32-bit signed words; index with `ptr >>> 2`. */
  get i32(): Int32Array {
    if (this.wasm !== null) this.sync();
    return this._i32;
  }
  /** 32-bit floats; index with `ptr >>> 2`. */
  get f32(): Float32Array {
    if (this.wasm !== null) this.sync();
    return this._f32;
  }
  /** 64-bit floats; index with `ptr >>> 3`. */
  get f64(): Float64Array {
    if (this.wasm !== null) this.sync();
    return this._f64;
  }
  /** 64-bit signed BigInts; index with `ptr >>> 3`. */
  get i64(): BigInt64Array {
    if (this.wasm !== null) this.sync();
    return this._i64;
  }
  /** 64-bit unsigned BigInts; index with `ptr >>> 3`. */
  get u64(): BigUint64Array {
    if (this.wasm !== null) this.sync();
    return this._u64;
  }
  /** A `DataView` over the whole memory, for explicit-endian access. */
  get dataView(): DataView {
    if (this.wasm !== null) this.sync();
    return this._dataView;
  }

  /**
   * A new view of `length` elements of `ctor` at `byteOffset`, over the current buffer. Over a WebAssembly memory
   * the view goes stale (length 0) when the memory grows; derive it again then.
   *
   * @throws RangeError from the runtime when the range is outside the memory or misaligned for `ctor`.
   */
  view<T extends TypedArray>(ctor: TypedArrayConstructor<T>, byteOffset: number, length: number): T {
    return new ctor(this.buffer, byteOffset, length);
  }

  /**
   * Makes the memory at least `byteLength` bytes long. Growth never moves data: every offset stays valid.
   *
   * @returns `true` when the memory now holds at least `byteLength` bytes; `false` when it is not growable or
   *   `byteLength` exceeds {@link Memory.maxByteLength} (nothing changed then).
   */
  grow(byteLength: number): boolean {
    const have = this.byteLength;
    if (byteLength <= have) return true;
    if (!this.growable || byteLength > this.maxByteLength) return false;
    try {
      if (this.wasm !== null) {
        const pages = Math.ceil((byteLength - have) / WASM_PAGE_SIZE);
        this.wasm.grow(pages);
      } else if (this.shared) {
        (this.current as SharedArrayBuffer & { grow(n: number): void }).grow(byteLength);
      } else {
        (this.current as ArrayBuffer & { resize(n: number): void }).resize(byteLength);
      }
    } catch {
      return false; // the engine refused (no memory); nothing changed
    }
    if (this.wasm !== null) this.sync();
    this.generation++;
    return true;
  }

  private sync(): void {
    const buffer = this.wasm!.buffer;
    if (buffer !== this.current) {
      this.current = buffer;
      this.rebuild(buffer);
      this.generation++;
    }
  }

  private rebuild(buffer: AnyBuffer): void {
    const tracking = isResizable(buffer);
    const n = buffer.byteLength;
    // Length-tracking views follow a resizable/growable buffer; fixed ones cover whole elements only.
    const len = (bytes: number): number | undefined => (tracking ? undefined : Math.floor(n / bytes));
    this._u8 = new Uint8Array(buffer, 0, len(1));
    this._u8c = new Uint8ClampedArray(buffer, 0, len(1));
    this._i8 = new Int8Array(buffer, 0, len(1));
    this._u16 = new Uint16Array(buffer, 0, len(2));
    this._i16 = new Int16Array(buffer, 0, len(2));
    this._u32 = new Uint32Array(buffer, 0, len(4));
    this._i32 = new Int32Array(buffer, 0, len(4));
    this._f32 = new Float32Array(buffer, 0, len(4));
    this._f64 = new Float64Array(buffer, 0, len(8));
    this._i64 = new BigInt64Array(buffer, 0, len(8));
    this._u64 = new BigUint64Array(buffer, 0, len(8));
    this._dataView = new DataView(buffer, 0, tracking ? undefined : n);
  }
}
