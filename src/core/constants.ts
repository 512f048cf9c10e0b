/**
 * Constants of the address model, shared by every layer.
 *
 * @module
 */

/**
 * The null pointer: `0`. Every allocator returns it, and only it, when it cannot satisfy a request
 * (contract I3 (see `Allocator`)). No allocator ever hands out a block at offset 0, because the first
 * {@link RESERVED_LOW_BYTES} bytes of every memory are reserved.
 */
export const NULL = 0;

/**
 * Bytes at the start of every memory that are never handed out (offsets `0 .. 15`), so that
 * {@link NULL} is never a valid block and a WebAssembly module sees the same rule at the same addresses.
 */
export const RESERVED_LOW_BYTES = 16;

/** The largest request size, in bytes, that any allocator accepts: 2^30 (1 GiB). Larger sizes throw `LayoutError`. */
export const MAX_SIZE = 0x40000000;

/** The largest alignment any allocator accepts: 2 MiB (a huge page on x86-64 Linux). Larger ones throw `LayoutError`. */
export const MAX_ALIGN = 0x200000;

/** The default alignment when a call omits it: 8 bytes, enough for every typed-array element. */
export const DEFAULT_ALIGN = 8;

/** The size of a WebAssembly page, in bytes. */
export const WASM_PAGE_SIZE = 0x10000;

/**
 * The largest memory, in bytes, that forge-alloc manages: 2^31 - 65,536. Offsets then stay below 2^31, so
 * pointer arithmetic stays in V8's fast 32-bit integer range.
 */
export const MAX_MEMORY_BYTES: number = 0x80000000 - WASM_PAGE_SIZE;
