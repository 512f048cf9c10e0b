// What ConcurrentHeap's white-box tests read of its shared page table: the fields of a worker's view and the word
// offsets of the layout (copied from src/layout/concurrent-heap.ts, where they are private; a change there must be
// made here too, and the tests that use these fail until it is).

/** The shared page table and this worker's view of it (see the module documentation of concurrent-heap.ts). */
export interface ConcurrentHeapInternals {
  words: Int32Array;
  headers: number;
  owners: Uint16Array;
  meta: Int32Array;
  records: Int32Array;
  owner: number;
  base: number;
  pageCount: number;
}
/** Words per page header, and the header's owner and class words. */
export const H_WORDS = 16;
export const H_OWNER = 0;
export const H_CLASS = 1;
/** The control word holding the bump cursor (in pages). */
export const C_NEXT_PAGE = 2;
/** Bytes per page, and 16-byte granules per page. */
export const PAGE = 1 << 16;
export const PAGE_GRANULES = PAGE >>> 4;
