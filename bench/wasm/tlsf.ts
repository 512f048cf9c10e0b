// The AssemblyScript runtime's TLSF, exported raw: the wasm peer of bench/heap.ts and bench/traces.ts. Compiled at
// bench time with `asc bench/wasm/tlsf.ts --runtime minimal -O3` (see bench/wasm-peers.ts); nothing here is part of
// forge-alloc.
export function alloc(size: usize): usize {
  return heap.alloc(size);
}
export function free(ptr: usize): void {
  heap.free(ptr);
}
export function realloc(ptr: usize, size: usize): usize {
  return heap.realloc(ptr, size);
}
/** Where the heap starts: memory above it is what the TLSF has taken. */
export function heapBase(): usize {
  return __heap_base;
}
