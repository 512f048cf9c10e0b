/**
 * The raw protocol: how layers talk to each other once the outermost object has validated a call.
 *
 * The public methods of the `Allocator` contract validate their arguments (I9) and pointers (I4). When one
 * allocator calls another (a `Heap` carving pages from its `Tlsf`, a wrapper forwarding to its inner), the arguments
 * were already checked by the object the user called, so checking them again at every layer only costs time and
 * names the wrong object in the message. An allocator that implements {@link RawAllocator} offers the same
 * operations without the checks; the caller promises their preconditions:
 *
 * | method | precondition (the caller checked it) | result |
 * |---|---|---|
 * | `allocRaw(size, align)` | `size` an integer in `1 .. MAX_SIZE`, `align` a power of two in `1 .. MAX_ALIGN` | offset, or `NULL` (I3) |
 * | `sizeOf(ptr)` | none: any JavaScript value | the live block's usable size, or `-1` for anything else |
 * | `freeRaw(ptr)` | `sizeOf(ptr) > 0` just before, nothing in between | frees the block |
 *
 * `sizeOf` is the one liveness probe: it never throws for a bad pointer (it returns -1) but it does throw
 * `CorruptionError` (and counts it) when the metadata that answers it is found overwritten, since handing out or
 * freeing memory on the word of corrupt metadata is never safe.
 *
 * @internal This is the contract between forge-alloc's own layers; it is not a public API and may change.
 * @module
 */

/** An allocator that also offers the unchecked operations of the raw protocol (see the module documentation). */
export interface RawAllocator {
  /** `allocate` without the layout check. @internal */
  allocRaw(size: number, align: number): number;
  /** The usable size of the live block `ptr`, or -1 for anything that is not one. Never throws for a bad pointer. @internal */
  sizeOf(ptr: unknown): number;
  /** Frees a block that {@link RawAllocator.sizeOf} just reported live. @internal */
  freeRaw(ptr: number): void;
}
