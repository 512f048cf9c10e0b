/**
 * Typed helpers shared by the layouts: allocate and get back a view of exactly the allocation, and read text back.
 *
 * Views come back **zeroed**, as `new Float64Array(n)` does: a block reused after a free or a `reset()` would
 * otherwise show the old data. The zeroing costs one `fill(0)` over the block (about the cost of writing it once);
 * pass `{ zeroed: false }` when you overwrite every element anyway and the old bytes are not a concern.
 *
 * They throw {@link AllocError} when the allocator is out of memory (the high-level rule), unlike `allocate`,
 * which returns `NULL`. A view of exactly the block is bounds-checked by the runtime: writes past its end are
 * dropped (typed arrays) or throw (`DataView`), so it cannot overflow into a neighbour.
 *
 * A view over a WebAssembly memory goes stale (length 0) when that memory grows; derive a new one with
 * `memory.view(ctor, view.byteOffset, view.length)`. For records of several fields, see `StructLayout`.
 *
 * @example
 * ```ts
 * const arena = new BumpArena(new ArrayBufferBacked(1 << 16));
 * const xs = allocArray(arena, "example", Float64Array, 4); // as arena.allocArray(Float64Array, 4): zeroed
 * const raw = allocArray(arena, "example", Uint8Array, 64, { zeroed: false }); // whatever the block held
 * const header = allocDataView(arena, "example", 16, 8);
 * const name = allocUtf8(arena, "example", "forge");
 * header.setUint32(0, name.byteOffset, true);
 * console.log(xs.length, raw.length, header.byteLength, name.length); // 4 64 16 5
 * console.log(readUtf8(name), readUtf8(arena.memory, name.byteOffset, name.length)); // forge forge
 * // A layout of your own throws the same error from its typed helpers when it has no room:
 * console.log(outOfMemory("MyLayout.allocBytes", 1 << 20, arena).message.startsWith("MyLayout.allocBytes")); // true
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  InvalidPointerError,
  LayoutError,
  type Memory,
  NULL,
  type TypedArray,
  type TypedArrayConstructor,
  isValidSize,
} from "../core/index.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** Options of the typed helpers. */
export interface TypedOptions {
  /**
   * Zero the block before returning its view. `false` skips the `fill(0)`: the view then shows whatever the block
   * held (a freed block's data, or the data from before a `reset()`).
   *
   * @defaultValue `true`
   */
  readonly zeroed?: boolean;
}

/** Checks the options bag; `true` when the block must be zeroed. */
function wantsZero(where: string, options: TypedOptions | undefined): boolean {
  if (options === undefined) return true;
  if (typeof options !== "object" || options === null) {
    throw new LayoutError(
      `${where}: options must be an object such as { zeroed: false }, not ${String(options)}`,
    );
  }
  const z = options.zeroed;
  if (z !== undefined && typeof z !== "boolean") {
    throw new LayoutError(`${where}: options.zeroed must be true or false, not ${String(z)}`);
  }
  return z !== false;
}

/**
 * Allocates `length` elements of `ctor` (aligned to the element size) and returns the view, zeroed unless
 * `options.zeroed` is `false`.
 *
 * @throws `LayoutError` for a length that is not a positive integer in range or bad options; `AllocError` when out
 *   of memory (nothing allocated).
 */
export function allocArray<T extends TypedArray>(
  allocator: Allocator,
  where: string,
  ctor: TypedArrayConstructor<T>,
  length: number,
  options?: TypedOptions,
): T {
  const zero = wantsZero(where, options);
  const bytesPer = ctor.BYTES_PER_ELEMENT;
  const size = length * bytesPer;
  if (!Number.isInteger(length) || !isValidSize(size)) {
    throw new LayoutError(
      `${where}: length ${String(length)} is not valid; expected an integer from 1 to ${Math.floor(0x40000000 / bytesPer)} elements`,
    );
  }
  const ptr = allocator.allocate(size, bytesPer);
  if (ptr === NULL) throw outOfMemory(where, size, allocator);
  const view = new ctor(allocator.memory.buffer, ptr, length);
  if (zero) view.fill(0 as never);
  return view;
}

/**
 * Allocates a `DataView` of exactly `size` bytes, aligned to `align`, zeroed unless `options.zeroed` is `false`.
 *
 * @throws `LayoutError` for a bad size, alignment or options; `AllocError` when out of memory.
 */
export function allocDataView(
  allocator: Allocator,
  where: string,
  size: number,
  align: number,
  options?: TypedOptions,
): DataView {
  const zero = wantsZero(where, options);
  const ptr = allocator.allocate(size, align);
  if (ptr === NULL) throw outOfMemory(where, size, allocator);
  if (zero) new Uint8Array(allocator.memory.buffer, ptr, size).fill(0);
  return new DataView(allocator.memory.buffer, ptr, size);
}

/**
 * Encodes `text` as UTF-8 into a new block of exactly its encoded length and returns the bytes (every byte is
 * written, so there is nothing to zero). The empty string has no bytes and is refused: a block has at least one.
 *
 * @throws `LayoutError` when `text` is not a non-empty string; `AllocError` when out of memory.
 */
export function allocUtf8(allocator: Allocator, where: string, text: string): Uint8Array {
  if (typeof text !== "string") throw new LayoutError(`${where}: expected a string, got ${typeof text}`);
  const bytes = encoder.encode(text);
  const view = allocArray(allocator, where, Uint8Array, bytes.length, { zeroed: false });
  view.set(bytes);
  return view;
}

/**
 * Decodes UTF-8 text: the bytes of `view` (as {@link allocUtf8} returns them), or `byteLength` bytes of `memory` at
 * `ptr`. Invalid sequences decode to U+FFFD. Works over a `SharedArrayBuffer` too (it decodes a copy, since
 * `TextDecoder` refuses shared memory in browsers). Overhead: one copy for shared memory, none otherwise.
 *
 * @throws `LayoutError` for a `byteLength` that is not a non-negative integer; `InvalidPointerError` when
 *   `[ptr, ptr + byteLength)` is not inside the memory.
 */
export function readUtf8(view: Uint8Array): string;
export function readUtf8(memory: Memory, ptr: number, byteLength: number): string;
export function readUtf8(source: Uint8Array | Memory, ptr?: number, byteLength?: number): string {
  let bytes: Uint8Array;
  if (source instanceof Uint8Array) {
    bytes = source;
  } else {
    if (!Number.isInteger(byteLength) || byteLength! < 0) {
      throw new LayoutError(
        `readUtf8: byteLength ${String(byteLength)} is not valid; expected an integer >= 0`,
      );
    }
    if (!Number.isInteger(ptr) || ptr! < 0 || ptr! + byteLength! > source.byteLength) {
      throw new InvalidPointerError(
        ptr,
        `readUtf8: [${String(ptr)}, +${String(byteLength)}) is not inside the memory of ${source.byteLength} bytes`,
      );
    }
    bytes = new Uint8Array(source.buffer, ptr, byteLength);
  }
  const shared = typeof SharedArrayBuffer === "function" && bytes.buffer instanceof SharedArrayBuffer;
  return decoder.decode(shared ? bytes.slice() : bytes);
}

/** The error high-level helpers throw when the allocator returns `NULL`. */
export function outOfMemory(where: string, size: number, allocator: Allocator): AllocError {
  return new AllocError(
    `${where}: out of memory: ${size} bytes requested, capacity ${allocator.capacityBytes()} bytes`,
  );
}
