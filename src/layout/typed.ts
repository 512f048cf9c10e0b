/**
 * Typed helpers shared by the layouts: allocate and get back a view of exactly the allocation.
 *
 * They throw {@link AllocError} when the allocator is out of memory (the high-level rule), unlike `allocate`,
 * which returns `NULL`. A view of exactly the block is bounds-checked by the runtime: writes past its end are
 * dropped (typed arrays) or throw (`DataView`), so it cannot overflow into a neighbour.
 *
 * A view over a WebAssembly memory goes stale (length 0) when that memory grows; derive a new one with
 * `memory.view(ctor, view.byteOffset, view.length)`.
 *
 * @example
 * ```ts
 * const arena = new BumpArena(new ArrayBufferBacked(1 << 16));
 * const xs = allocArray(arena, "example", Float64Array, 4); // as arena.allocArray(Float64Array, 4)
 * const header = allocDataView(arena, "example", 16, 8);
 * const name = allocUtf8(arena, "example", "forge");
 * header.setUint32(0, name.byteOffset, true);
 * console.log(xs.length, header.byteLength, name.length); // 4 16 5
 * // A layout of your own throws the same error from its typed helpers when it has no room:
 * console.log(outOfMemory("MyLayout.allocBytes", 1 << 20, arena).message.startsWith("MyLayout.allocBytes")); // true
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  LayoutError,
  NULL,
  type TypedArray,
  type TypedArrayConstructor,
  isValidSize,
} from "../core/index.js";

const encoder = new TextEncoder();

/** Allocates `length` elements of `ctor` (aligned to the element size) and returns the view. */
export function allocArray<T extends TypedArray>(
  allocator: Allocator,
  where: string,
  ctor: TypedArrayConstructor<T>,
  length: number,
): T {
  const bytesPer = ctor.BYTES_PER_ELEMENT;
  const size = length * bytesPer;
  if (!Number.isInteger(length) || !isValidSize(size)) {
    throw new LayoutError(
      `${where}: length ${String(length)} is not valid; expected an integer from 1 to ${Math.floor(0x40000000 / bytesPer)} elements`,
    );
  }
  const ptr = allocator.allocate(size, bytesPer);
  if (ptr === NULL) throw outOfMemory(where, size, allocator);
  return new ctor(allocator.memory.buffer, ptr, length);
}

/** Allocates a `DataView` of exactly `size` bytes, aligned to `align`. */
export function allocDataView(allocator: Allocator, where: string, size: number, align: number): DataView {
  const ptr = allocator.allocate(size, align);
  if (ptr === NULL) throw outOfMemory(where, size, allocator);
  return new DataView(allocator.memory.buffer, ptr, size);
}

/** Encodes `text` as UTF-8 into a new block of exactly its encoded length and returns the bytes. */
export function allocUtf8(allocator: Allocator, where: string, text: string): Uint8Array {
  if (typeof text !== "string") throw new LayoutError(`${where}: expected a string, got ${typeof text}`);
  const bytes = encoder.encode(text);
  const view = allocArray(allocator, where, Uint8Array, bytes.length);
  view.set(bytes);
  return view;
}

/** The error high-level helpers throw when the allocator returns `NULL`. */
export function outOfMemory(where: string, size: number, allocator: Allocator): AllocError {
  return new AllocError(
    `${where}: out of memory: ${size} bytes requested, capacity ${allocator.capacityBytes()} bytes`,
  );
}
