/**
 * `forge-alloc/backing`: Layer 1, the memories allocators carve: `ArrayBufferBacked`, `SharedArrayBufferBacked`,
 * `WasmMemoryBacked` and `StaticBacked` (a caller-owned range). Every name here is public and listed by hand; the
 * rest of `src/backing/` is internal.
 *
 * @packageDocumentation
 */
export {
  ArrayBufferBacked,
  type BufferBackedOptions,
  MIN_BACKING_BYTES,
} from "./backing/array-buffer-backed.js";
export { SharedArrayBufferBacked } from "./backing/shared-array-buffer-backed.js";
export { StaticBacked, type StaticRange } from "./backing/static-backed.js";
export {
  WasmMemoryBacked,
  type WasmMemoryOptions,
  type WasmRangeOptions,
} from "./backing/wasm-memory-backed.js";
