// What ConcurrentHeap's white-box tests read of its shared page table: the fields of a worker's view (private in
// src/layout/concurrent-heap.ts: a change there must be made here too) and the word offsets of the layout (the
// module's internal LAYOUT export).
import { LAYOUT } from "../../src/layout/concurrent-heap.js";

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
/** The layout's word offsets and sizes, as the white-box tests use them. */
export const { H_WORDS, H_OWNER, H_CLASS, H_REMOTE, C_NEXT_PAGE, C_FREE_HINT, PAGE, PAGE_GRANULES } = LAYOUT;
