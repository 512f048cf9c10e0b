/**
 * Helpers shared by allocator implementations: the default (move) resize, zeroing, and composition checks.
 * These are the TypeScript form of the Rust trait's default methods.
 *
 * @module
 */
import type { Allocator } from "./allocator.js";
import { NULL } from "./constants.js";
import { AllocError, LayoutError } from "./errors.js";
import type { Memory } from "./memory.js";
import { isValidLayout, isValidSize, layoutError } from "./validate.js";

/**
 * Sets `[start, end)` of `memory` to the byte `value`. Short spans are written in a loop (by 32-bit words when
 * aligned): `TypedArray.prototype.fill` costs a builtin call (about 15 ns on Node 20), more than 256 bytes by hand.
 *
 * @internal
 */
export function fillBytes(memory: Memory, value: number, start: number, end: number): void {
  const n = end - start;
  if (n > 256) {
    memory.u8.fill(value, start, end);
  } else if (((start | n) & 3) === 0) {
    const u32 = memory.u32;
    const word = Math.imul(value & 255, 0x01010101) >>> 0;
    for (let i = start >>> 2, last = end >>> 2; i < last; i++) u32[i] = word;
  } else {
    const u8 = memory.u8;
    for (let i = start; i < end; i++) u8[i] = value;
  }
}

/** Sets `size` bytes at `ptr` to 0. @internal */
export function zeroBlock(memory: Memory, ptr: number, size: number): void {
  fillBytes(memory, 0, ptr, ptr + size);
}

/**
 * Validates the arguments of `grow` (`growing`) or `shrink` (I9, I5): both sizes valid, the alignment valid,
 * and the new size on the right side of the old one.
 *
 * @throws {@link LayoutError} naming what was wrong.
 *
 * @internal
 */
export function checkResize(
  where: string,
  oldSize: number,
  newSize: number,
  align: number,
  growing: boolean,
): void {
  if (!isValidLayout(oldSize, align)) throw layoutError(where, oldSize, align);
  if (!isValidSize(newSize)) throw layoutError(where, newSize, align);
  if (growing ? newSize < oldSize : newSize > oldSize) {
    throw new LayoutError(
      `${where}: new size ${newSize} is ${growing ? "smaller" : "larger"} than the old size ${oldSize}; ` +
        `use ${growing ? "shrink" : "grow"} instead`,
    );
  }
}

/**
 * The default resize: allocate `newSize` bytes, copy the first `min(oldSize, newSize)`, free the old block.
 * The caller has already checked that `ptr` is live. Returns `NULL` (old block intact) when the allocation fails.
 *
 * @internal
 */
export function moveBlock(
  allocator: Allocator,
  ptr: number,
  oldSize: number,
  newSize: number,
  align: number,
): number {
  const q = allocator.allocate(newSize, align);
  if (q === NULL) return NULL;
  allocator.memory.u8.copyWithin(q, ptr, ptr + Math.min(oldSize, newSize));
  allocator.deallocate(ptr, oldSize, align);
  return q;
}

/**
 * Checks that every part of a composition serves the same memory (I11).
 *
 * @throws {@link AllocError} naming the parts and their memories when they differ.
 *
 * @internal
 */
export function checkSameMemory(where: string, first: { memory: Memory }, second: { memory: Memory }): void {
  if (first.memory !== second.memory) {
    throw new AllocError(
      `${where}: the parts serve different memories (${first.memory.kind} of ${first.memory.byteLength} bytes and ` +
        `${second.memory.kind} of ${second.memory.byteLength} bytes); a pointer is an offset into one memory, so ` +
        `every part of a composition must be built over the same Memory (carve ranges of one backing with ` +
        `backing.carve(size), or wrap one buffer with StaticBacked)`,
    );
  }
}
