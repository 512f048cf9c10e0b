/**
 * `SharedArrayBufferBacked`: a backing that owns a fresh `SharedArrayBuffer`, fixed or growable.
 *
 * Complexity: O(1) bump allocation. Threads: the memory can be posted to workers; this backing's own cursor is
 * local to the agent that built it (allocate from several workers with `SharedBumpArena`). Overhead: none.
 * Browsers expose `SharedArrayBuffer` only to cross-origin isolated pages.
 *
 * The range is `[16, size)`, or `[16, maxSize)` when growable (grown on demand, at least doubling).
 *
 * Composition limits: as every backing: a layout over it carves its whole range.
 *
 * @example
 * ```ts
 * const backing = new SharedArrayBufferBacked({ size: 1 << 20, maxSize: 1 << 26 });
 * const buffer = backing.memory.buffer; // post it to a worker: new Worker(url, { workerData: buffer })
 * console.log(buffer instanceof SharedArrayBuffer, backing.allocate(64) > 0); // true true
 * ```
 *
 * @module
 */
import { AllocError, Memory, RESERVED_LOW_BYTES, RangeBacking } from "../core/index.js";
import { type BufferBackedOptions, readBufferOptions } from "./array-buffer-backed.js";

/** A backing over a `SharedArrayBuffer` it creates (see the module documentation). */
export class SharedArrayBufferBacked extends RangeBacking {
  /**
   * @param options - a byte length, or `{ size, maxSize }` for a growable buffer.
   * @throws `AllocError` for a bad length, or when this runtime has no `SharedArrayBuffer`.
   */
  constructor(options: number | BufferBackedOptions) {
    const [size, max] = readBufferOptions("SharedArrayBufferBacked", options);
    if (typeof SharedArrayBuffer === "undefined") {
      throw new AllocError(
        "SharedArrayBufferBacked: this runtime has no SharedArrayBuffer (browsers require cross-origin isolation); " +
          "use ArrayBufferBacked instead",
      );
    }
    const buffer =
      max > size
        ? new (
            SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer
          )(size, { maxByteLength: max })
        : new SharedArrayBuffer(size);
    super("SharedArrayBufferBacked", Memory.of(buffer), RESERVED_LOW_BYTES, max);
  }
}
