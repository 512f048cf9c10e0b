// What Heap's white-box tests read of its pages (fields private in src/layout/heap.ts and the page engine: a change
// there must be made here too).
import type { Heap } from "../../src/layout/heap.js";

/** A page's record (by a slot's owner id), the records' words, and the page map. */
export interface HeapPages {
  meta: Int32Array;
  records: Int32Array;
  owners: Uint16Array;
  map: Int32Array;
  base: number;
}

/** `h`'s page tables. */
export const pages = (h: Heap): HeapPages => h as unknown as HeapPages;
