/**
 * Layer 0: the allocation contract every forge-alloc allocator implements, and the invariants it keeps.
 *
 * The invariants are numbered once, here. Docs, error messages and the conformance kit
 * (`forge-alloc/testing`) cite them by id.
 *
 * - **I1 (aligned, in range)**: a non-`NULL` result `p` of `allocate(size, align)` satisfies `p % align === 0`,
 *   `p >= RESERVED_LOW_BYTES`, and `[p, p + size)` lies inside the allocator's range and below
 *   `memory.byteLength`, so it can be read and written at once.
 * - **I2 (disjoint)**: two live blocks never overlap.
 * - **I3 (failure is clean)**: when a request cannot be satisfied, `allocate` (and `allocateZeroed`, `grow`,
 *   `shrink`) returns `NULL` and the allocator's state is unchanged: the same later calls give the same results.
 * - **I4 (exact frees)**: `deallocate(p, size, align)` accepts exactly the live blocks it issued, with the `size`
 *   and `align` they were requested with (any size up to `usableSize` is accepted). Anything else (a pointer never
 *   issued, a double free, a block issued before `reset`, a non-number) throws `InvalidPointerError` where the
 *   allocator can tell, and changes nothing.
 * - **I5 (resize)**: `grow`/`shrink` return a block whose first `min(oldSize, newSize)` bytes equal the old block's;
 *   the old pointer is then no longer live unless it was returned. On failure they return `NULL`, and the old
 *   block stays live with its bytes unchanged. Where the layout allows it the block is resized in place.
 * - **I6 (zeroed)**: `allocateZeroed` returns a block whose `size` bytes are all 0.
 * - **I7 (reset)**: `reset()` frees every live block at once; their pointers are no longer live. An allocator
 *   that cannot reset throws `UnsupportedError` and changes nothing.
 * - **I8 (usable size)**: `usableSize(p, size) >= size`, and every byte up to it may be written.
 * - **I9 (validated layout)**: every public entry checks `size` (an integer in `1 .. MAX_SIZE`) and `align` (a power
 *   of two in `1 .. MAX_ALIGN`) and throws `LayoutError` naming the bad value, changing nothing.
 * - **I10 (corruption count)**: `corruptionEvents()` never decreases.
 * - **I11 (one memory)**: an allocator serves exactly one `memory`, and a composition of allocators over
 *   different memories is rejected at construction with an `AllocError`.
 *
 * @module
 */
import type { Memory } from "./memory.js";

/** The freeing half of an allocator. Split out so that a deallocation-only token is expressible. */
export interface Deallocator {
  /**
   * Frees a block (I4). `size` and `align` are the ones it was allocated with (`align` defaults to 8).
   *
   * @throws `InvalidPointerError` for a pointer that is not a live block (where detectable), `LayoutError` for a
   *   bad or mismatched layout. Nothing changes when it throws.
   */
  deallocate(ptr: number, size: number, align?: number): void;
}

/** The allocation contract (invariants I1-I11 above). */
export interface Allocator extends Deallocator {
  /** The one memory whose offsets this allocator hands out (I11). */
  readonly memory: Memory;
  /**
   * Allocates `size` bytes aligned to `align` (default 8). Returns the block's offset, or `NULL` (0) when the
   * request cannot be satisfied (I1, I2, I3).
   *
   * @throws `LayoutError` for a bad size or alignment (I9).
   */
  allocate(size: number, align?: number): number;
  /** As {@link Allocator.allocate}, with every byte of the block set to 0 (I6). */
  allocateZeroed(size: number, align?: number): number;
  /**
   * Grows a live block to `newSize >= oldSize` bytes, in place where possible, else by moving it (I5).
   * Returns the (possibly new) offset, or `NULL` with the old block intact.
   */
  grow(ptr: number, oldSize: number, newSize: number, align?: number): number;
  /** Shrinks a live block to `newSize <= oldSize` bytes (I5). Returns the (possibly new) offset, or `NULL`. */
  shrink(ptr: number, oldSize: number, newSize: number, align?: number): number;
  /** Frees every live block at once (I7), or throws `UnsupportedError`. */
  reset(): void;
  /** The bytes of the live block `ptr` (allocated with `size`) that may be used: at least `size` (I8). */
  usableSize(ptr: number, size: number): number;
  /** The most bytes this allocator can hand out in total (its capacity), or `Infinity` if unbounded. */
  capacityBytes(): number;
  /** How many corruptions this allocator (and those it wraps) detected; never decreases (I10). */
  corruptionEvents(): number;
}

/**
 * "My address range is fixed at construction": `[base(), base() + size())` of `memory`.
 *
 * Growable memories reserve their whole maximum range; {@link FixedRange.commit} makes part of it accessible.
 */
export interface FixedRange {
  /** The memory the range lies in. */
  readonly memory: Memory;
  /** The first offset of the range. Always at least `RESERVED_LOW_BYTES`. */
  base(): number;
  /** The length of the range in bytes. */
  size(): number;
  /**
   * Makes `[ptr, ptr + length)` (inside the range) readable and writable, growing the memory if needed.
   * Returns `false` when it cannot ("not committed: do not write"); then nothing changed.
   */
  commit(ptr: number, length: number): boolean;
  /** True when `ptr` lies inside `[base, base + size)`. */
  contains(ptr: number): boolean;
}

/** Page protection for {@link OsBacked.protect}: a bit set of `READ`, `WRITE` and `EXEC`. */
export const ProtectFlags: {
  readonly NONE: 0;
  readonly READ: 1;
  readonly WRITE: 2;
  readonly EXEC: 4;
  readonly RW: 3;
  readonly RX: 5;
} = Object.freeze({ NONE: 0, READ: 1, WRITE: 2, EXEC: 4, RW: 3, RX: 5 } as const);

/** One of the {@link ProtectFlags} values. */
export type ProtectFlags = (typeof ProtectFlags)[keyof typeof ProtectFlags];

/**
 * An allocator that owns an OS mapping (implemented by `forge-alloc/os`). Offsets are offsets into its `memory`.
 */
export interface OsBacked extends Allocator {
  /** The offset of the mapping's first byte in `memory` (page-aligned). */
  basePtr(): number;
  /** The length of the mapping in bytes (a whole number of pages). */
  regionSize(): number;
  /** Returns whole pages of `[ptr, ptr + size)` to the OS; afterwards they read as zeros (Linux). */
  releasePages(ptr: number, size: number): void;
  /** Changes the protection of whole pages of `[ptr, ptr + size)`. */
  protect(ptr: number, size: number, flags: ProtectFlags): void;
}
