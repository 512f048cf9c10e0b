// The hot loops of bench/heap.ts and bench/traces.ts. Each allocator imports its own copy of this module
// (`import("./replay-loop.js?for=<name>")`): a separate module instance has separate functions, so every call site
// below sees one allocator only and V8 can inline it, instead of one shared, megamorphic call site that would charge
// every JavaScript allocator for the others' presence. See `loopsFor` in bench/trace-format.ts.

/** What a replay calls; `oldSize` is the block's current size (for allocators without an unsized realloc). */
export interface ReplayTarget {
  alloc(size: number): number;
  free(ptr: number): void;
  realloc(ptr: number, size: number, oldSize: number): number;
  /** `align` above 16. */
  alignedAlloc(align: number, size: number): number;
  alignedFree(ptr: number): void;
}

/**
 * Replays a trace's events (two words each, from `start`): pointers by id in `ptrs`, current sizes in `sizes`.
 * Returns the number of failed allocations (a failed one leaves pointer 0, which later frees skip).
 */
export function replay(
  words: Int32Array,
  start: number,
  ptrs: Int32Array,
  sizes: Int32Array,
  t: ReplayTarget,
): number {
  let failed = 0;
  for (let i = start, end = words.length; i < end; i += 2) {
    const w = words[i]!;
    const id = w >>> 8;
    const op = w & 7;
    if (op === 0) {
      const size = words[i + 1]!;
      const p = (w & 0xf8) === 0 ? t.alloc(size) : t.alignedAlloc(1 << ((w >>> 3) & 31), size);
      if (p === 0) failed++;
      ptrs[id] = p;
      sizes[id] = size;
    } else if (op === 1) {
      const p = ptrs[id]!;
      if (p !== 0) {
        if ((w & 0xf8) === 0) t.free(p);
        else t.alignedFree(p);
      }
    } else {
      const size = words[i + 1]!;
      const p = ptrs[id]!;
      const q = p === 0 ? t.alloc(size) : t.realloc(p, size, sizes[id]!);
      if (q === 0) {
        failed++; // the old block stays as it was
      } else {
        ptrs[id] = q;
        sizes[id] = size;
      }
    }
  }
  return failed;
}

/**
 * The random-size churn of bench/heap.ts (b): `steps` times, free the victim's block and allocate the next size in
 * its place. Returns the cursor to continue from.
 */
export function churn(
  alloc: (size: number) => number,
  free: (ptr: number) => void,
  live: Int32Array,
  liveSize: Int32Array,
  sizes: Int32Array,
  victims: Int32Array,
  cursor: number,
  steps: number,
): number {
  const mask = sizes.length - 1;
  let c = cursor;
  for (let k = 0; k < steps; k++, c = (c + 1) & mask) {
    const v = victims[c]!;
    free(live[v]!);
    const p = alloc(sizes[c]!);
    if (p === 0) throw new Error("out of memory");
    live[v] = p;
    liveSize[v] = sizes[c]!;
  }
  return c;
}

/** (a): `n` times, allocate `size` bytes and free them at once. */
export function roundTrips(
  alloc: (size: number) => number,
  free: (ptr: number) => void,
  size: number,
  n: number,
): void {
  for (let i = 0; i < n; i++) free(alloc(size));
}
