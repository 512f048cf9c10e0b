// The C malloc peer of bench/heap.ts and bench/traces.ts: wasi-libc's malloc (dlmalloc), exported raw. Built at
// bench time with Debian's clang and lld against the wasi-libc package (see bench/wasm-peers.ts); nothing here is
// part of forge-alloc.
#include <stddef.h>
#include <stdlib.h>
#include <malloc.h>

extern unsigned char __heap_base;

__attribute__((export_name("alloc"))) void *bench_alloc(size_t size) { return malloc(size); }

__attribute__((export_name("free"))) void bench_free(void *ptr) { free(ptr); }

__attribute__((export_name("realloc"))) void *bench_realloc(void *ptr, size_t size) { return realloc(ptr, size); }

// `align` is a power of two; NULL (0) when it cannot be served.
__attribute__((export_name("alignedAlloc"))) void *bench_aligned_alloc(size_t align, size_t size) {
  void *p = NULL;
  return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

__attribute__((export_name("usableSize"))) size_t bench_usable_size(void *ptr) { return malloc_usable_size(ptr); }

// Where the heap starts: memory above it is what malloc has taken (sbrk grows the memory from here).
__attribute__((export_name("heapBase"))) size_t bench_heap_base(void) { return (size_t)&__heap_base; }
