/**
 * `WasmMemoryBacked`: a backing over a `WebAssembly.Memory` (shared or not), so that a wasm module and
 * TypeScript see the same addresses: a pointer handed out here is the module's address of the block.
 *
 * Complexity: O(1) bump allocation. Threads: a shared memory can be posted to workers; the cursor is local.
 * Overhead: none.
 *
 * The range is `[offset, offset + size)`: by default the whole memory above the 16 reserved bytes, up to the
 * memory's maximum when it is given (growth commits pages on demand; `WebAssembly.Memory.grow` detaches the old
 * buffer, and `memory.u8` and the other views are re-derived automatically). Give `offset` to leave a module's
 * static data and stack alone, e.g. its `__heap_base`.
 *
 * Composition limits: as every backing: a layout over it carves its whole range.
 *
 * @example
 * ```ts
 * const backing = new WasmMemoryBacked({ initial: 1, maximum: 256 }); // pages of 64 KiB
 * // Over a module's own memory, above its data: new WasmMemoryBacked(instance.exports.memory, { offset: heapBase })
 * const shared = new WasmMemoryBacked(backing.wasmMemory, { offset: 32768, maximum: 256 });
 * console.log(shared.allocate(16) >= 32768); // true
 * ```
 *
 * @module
 */
import {
  AllocError,
  MAX_MEMORY_BYTES,
  Memory,
  RESERVED_LOW_BYTES,
  WASM_PAGE_SIZE,
  checkInteger,
  RangeBacking,
} from "../core/index.js";

/** Options that create a new `WebAssembly.Memory`, in 64 KiB pages (as `WebAssembly.MemoryDescriptor`). */
export interface WasmMemoryOptions {
  /** Pages at creation (at least 1). */
  initial: number;
  /** Pages the memory may grow to. Required when `shared`. @defaultValue `initial` (not growable) */
  maximum?: number;
  /** Create a shared memory (its buffer is a `SharedArrayBuffer`). @defaultValue `false` */
  shared?: boolean;
}

/** Where in an existing memory the range lies, and how far the memory may grow. */
export interface WasmRangeOptions {
  /** First offset of the range (at least 16). @defaultValue 16 */
  offset?: number;
  /** Length of the range in bytes. @defaultValue up to `maximum` pages, or the memory's current length */
  size?: number;
  /** The memory's maximum in pages, which the runtime does not report. @defaultValue the current page count */
  maximum?: number;
}

const MAX_PAGES = MAX_MEMORY_BYTES / WASM_PAGE_SIZE;

/** A backing over a WebAssembly memory (see the module documentation). */
export class WasmMemoryBacked extends RangeBacking {
  /** The WebAssembly memory itself, e.g. to pass to `WebAssembly.instantiate` as an import. */
  readonly wasmMemory: WebAssembly.Memory;

  /**
   * @param source - an existing `WebAssembly.Memory`, or the descriptor of a new one.
   * @param range - for an existing memory: the part to manage and its maximum.
   * @throws `AllocError` for page counts or offsets out of range, or a range beyond the maximum.
   */
  constructor(source: WebAssembly.Memory | WasmMemoryOptions, range: WasmRangeOptions = {}) {
    const where = "WasmMemoryBacked";
    let wasm: WebAssembly.Memory;
    let maxPages: number;
    if (source instanceof WebAssembly.Memory) {
      wasm = source;
      const current = wasm.buffer.byteLength / WASM_PAGE_SIZE;
      maxPages = checkInteger(
        where,
        "maximum (pages)",
        range.maximum ?? current,
        Math.max(current, 1),
        MAX_PAGES,
      );
    } else {
      const initial = checkInteger(where, "initial (pages)", source?.initial, 1, MAX_PAGES);
      maxPages = checkInteger(where, "maximum (pages)", source.maximum ?? initial, initial, MAX_PAGES);
      const shared = source.shared === true;
      wasm = new WebAssembly.Memory(
        shared || maxPages > initial ? { initial, maximum: maxPages, shared } : { initial },
      );
    }
    const memory = Memory.of(wasm);
    memory.limitWasm(maxPages);
    const limit = maxPages * WASM_PAGE_SIZE;
    const offset = checkInteger(
      where,
      "offset",
      range.offset ?? RESERVED_LOW_BYTES,
      RESERVED_LOW_BYTES,
      limit - 1,
    );
    const size = checkInteger(where, "size", range.size ?? limit - offset, 1, limit - offset);
    if (offset + size > limit) {
      throw new AllocError(
        `${where}: the range [${offset}, ${offset + size}) exceeds the memory's ${maxPages} pages`,
      );
    }
    super(where, memory, offset, offset + size);
    this.wasmMemory = wasm;
  }
}
