/**
 * `StaticBacked`: a backing over a range of a memory the caller owns: part of a buffer, a `Uint8Array`'s
 * window, or a block carved from another allocator with {@link StaticBacked.carve}.
 *
 * Complexity: O(1) bump allocation. Threads: one agent. Overhead: none. Several `StaticBacked` ranges of one
 * memory share that `Memory`, so they compose (for example under `WithFallback`).
 *
 * Bytes below offset 16 are never handed out: a range that starts there starts at 16 instead.
 *
 * Composition limits: as every backing: a layout over it carves its whole range. The caller keeps the range
 * alive and must not hand it to anything else.
 *
 * @example
 * ```ts
 * const pool = new ArrayBufferBacked(1 << 20);
 * const scratch = new BumpArena(StaticBacked.carve(pool, 1 << 16)); // a range of pool's memory
 * const whole = new StaticBacked(new Uint8Array(4096));              // [16, 4096) of that buffer
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  Memory,
  type MemorySource,
  NULL,
  RESERVED_LOW_BYTES,
  checkInteger,
  RangeBacking,
} from "../core/index.js";

/** The part of a memory a `StaticBacked` manages. */
export interface StaticRange {
  /** First offset. @defaultValue 16 */
  offset?: number;
  /** Length in bytes. @defaultValue to the end of the memory (its maximum, if growable) */
  size?: number;
}

/** A backing over a caller-owned range (see the module documentation). */
export class StaticBacked extends RangeBacking {
  /**
   * @param source - a `Memory`, a buffer or WebAssembly memory (with `range`), or a typed array / `DataView`
   *   whose window is the range.
   * @throws `AllocError` when the range is empty or leaves the memory, or `range` is given with a view.
   */
  constructor(source: Memory | MemorySource | ArrayBufferView, range: StaticRange = {}) {
    const where = "StaticBacked";
    let memory: Memory;
    let offset: number;
    let size: number;
    if (ArrayBuffer.isView(source)) {
      if (range.offset !== undefined || range.size !== undefined) {
        throw new AllocError(
          `${where}: a view already names its range; pass the buffer to give offset and size`,
        );
      }
      memory = Memory.of(source.buffer);
      offset = source.byteOffset;
      size = source.byteLength;
    } else {
      memory = source instanceof Memory ? source : Memory.of(source);
      offset = checkInteger(where, "offset", range.offset ?? RESERVED_LOW_BYTES, 0, memory.maxByteLength - 1);
      size = checkInteger(
        where,
        "size",
        range.size ?? memory.maxByteLength - offset,
        1,
        memory.maxByteLength - offset,
      );
    }
    const end = offset + size;
    const base = Math.max(offset, RESERVED_LOW_BYTES);
    if (end <= base || end > memory.maxByteLength) {
      throw new AllocError(
        `${where}: the range [${offset}, ${end}) holds no usable byte of this ${memory.maxByteLength}-byte memory ` +
          `(offsets below ${RESERVED_LOW_BYTES} are reserved)`,
      );
    }
    super(where, memory, base, end);
  }

  /**
   * Allocates `size` bytes from `from` and returns them as a `StaticBacked` range of the same memory: the way to
   * give several layouts disjoint ranges of one memory. The block stays allocated in `from`.
   *
   * @throws `AllocError` when `from` cannot allocate `size` bytes; `LayoutError` for a bad size or alignment.
   */
  static carve(from: Allocator, size: number, align = 8): StaticBacked {
    const ptr = from.allocate(size, align);
    if (ptr === NULL) {
      throw new AllocError(
        `StaticBacked.carve: the source allocator has no ${size} bytes (aligned to ${align}) left`,
      );
    }
    return new StaticBacked(from.memory, { offset: ptr, size });
  }
}
