// A hand-written allocator of the kind applications bring: 64-byte blocks with its free list inside the free blocks,
// and no regions() (so a wrapper over it cannot list them). For tests of what a wrapper does over an inner that writes
// into the blocks it frees, or that it cannot see into.
import { type Allocator, ArrayBufferBacked, NULL } from "../../src/index.js";

/**
 * A layout of 64-byte blocks that keeps its free list inside the free blocks (the next free block's offset in the
 * first 4 bytes), as many hand-written allocators do: the blocks it frees do not hold the pattern throughout.
 */
export class LinkedBlocks implements Allocator {
  readonly memory = new ArrayBufferBacked(1 << 12).memory;
  private free = NULL;
  private top = 64;
  allocate(size: number): number {
    if (size > 64) return NULL;
    if (this.free !== NULL) {
      const p = this.free;
      this.free = new DataView(this.memory.buffer).getInt32(p, true);
      return p;
    }
    if (this.top + 64 > this.memory.byteLength) return NULL;
    this.top += 64;
    return this.top - 64;
  }
  allocateZeroed(size: number): number {
    const p = this.allocate(size);
    if (p !== NULL) this.memory.u8.fill(0, p, p + 64);
    return p;
  }
  deallocate(ptr: number): void {
    new DataView(this.memory.buffer).setInt32(ptr, this.free, true);
    this.free = ptr;
  }
  grow(): number {
    return NULL;
  }
  shrink(ptr: number): number {
    return ptr;
  }
  reset(): void {
    this.free = NULL;
    this.top = 64;
  }
  usableSize(): number {
    return 64;
  }
  capacityBytes(): number {
    return this.memory.byteLength - 64;
  }
  corruptionEvents(): number {
    return 0;
  }
}
