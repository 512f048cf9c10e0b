// The AssemblyScript runtime's TLSF, exported raw: the wasm peer of bench/heap.ts. Compiled at bench time with
// `asc bench/wasm/tlsf.ts --runtime minimal -O3` (see bench/heap.ts); nothing here is part of forge-alloc.
export function alloc(size: usize): usize {
  return heap.alloc(size);
}
export function free(ptr: usize): void {
  heap.free(ptr);
}
