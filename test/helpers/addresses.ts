// An allocator of addresses only, for tests that must request more bytes than any memory holds (the counters of
// Statistics past 2^53 bytes, say).
import { type Allocator, ArrayBufferBacked, NULL } from "../../src/index.js";

/**
 * Every request gets offset 64 and no byte is ever written; every free is accepted; `shrink` keeps the block in
 * place, and `grow` does too when `growInPlace` is set (else it refuses: `NULL`).
 */
export class Addresses implements Allocator {
  readonly memory = new ArrayBufferBacked(128).memory;
  constructor(private readonly growInPlace = false) {}
  allocate(): number {
    return 64;
  }
  allocateZeroed(): number {
    return 64;
  }
  deallocate(): void {}
  grow(ptr: number): number {
    return this.growInPlace ? ptr : NULL;
  }
  shrink(ptr: number): number {
    return ptr;
  }
  reset(): void {}
  usableSize(_ptr: number, size: number): number {
    return size;
  }
  capacityBytes(): number {
    return Infinity;
  }
  corruptionEvents(): number {
    return 0;
  }
}
