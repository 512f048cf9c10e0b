/**
 * `ArrayBufferBacked`: a backing that owns a fresh `ArrayBuffer`, fixed or resizable.
 *
 * Complexity: O(1) bump allocation. Required backing: none (it is one). Threads: one agent only (an
 * `ArrayBuffer` cannot be shared; use `SharedArrayBufferBacked`). Per-allocation overhead: none.
 *
 * The memory is `size` bytes long; the range is `[16, size)` (or `[16, maxSize)` when resizable, committed by
 * growing the buffer on demand, at least doubling each time). Offsets stay valid across growth.
 *
 * Composition limits: as every backing (see `RangeBacking`): a layout over it carves its whole range.
 *
 * @example
 * ```ts
 * const fixed = new ArrayBufferBacked(1 << 20);
 * const growable = new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 24 });
 * ```
 *
 * @module
 */
import {
  AllocError,
  Memory,
  RESERVED_LOW_BYTES,
  checkMemoryBytes,
  isBuffer,
  RangeBacking,
} from "../core/index.js";

/** Options of a growable in-memory backing. */
export interface BufferBackedOptions {
  /** Initial length of the buffer in bytes (at least 32). */
  size: number;
  /** Largest length the buffer may grow to; omit (or set equal to `size`) for a fixed buffer. @defaultValue `size` */
  maxSize?: number;
}

/** Smallest buffer a backing accepts: the reserved low bytes plus room for a block. */
export const MIN_BACKING_BYTES = 32;

/** Reads `size | { size, maxSize }` and checks both. @internal */
export function readBufferOptions(where: string, options: number | BufferBackedOptions): [number, number] {
  if (ArrayBuffer.isView(options) || isBuffer(options)) {
    const kind = Object.prototype.toString.call(options).slice(8, -1);
    const bytes = (options as unknown as { byteLength: number }).byteLength;
    throw new AllocError(
      `${where}: expected a byte length or { size, maxSize } (it creates its own buffer), not a buffer (${kind}, ` +
        `${bytes} bytes); for memory you already have, use new StaticBacked(buffer)`,
    );
  }
  const size = checkMemoryBytes(
    where,
    "size",
    typeof options === "number" ? options : options?.size,
    MIN_BACKING_BYTES,
  );
  const max = typeof options === "number" || options.maxSize === undefined ? size : options.maxSize;
  return [size, checkMemoryBytes(where, "maxSize", max, size)];
}

/** A backing over an `ArrayBuffer` it creates (see the module documentation). */
export class ArrayBufferBacked extends RangeBacking {
  /**
   * @param options - a byte length, or `{ size, maxSize }` for a resizable buffer that grows on demand.
   * @throws `AllocError` when a length is not an integer in `[32, MAX_MEMORY_BYTES]` or `maxSize < size`.
   */
  constructor(options: number | BufferBackedOptions) {
    const [size, max] = readBufferOptions("ArrayBufferBacked", options);
    const buffer = max > size ? new ArrayBuffer(size, { maxByteLength: max }) : new ArrayBuffer(size);
    super("ArrayBufferBacked", Memory.of(buffer), RESERVED_LOW_BYTES, max);
  }
}
