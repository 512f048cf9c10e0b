/**
 * `forge-alloc/layout`: Layer 2, the allocators: bump arenas, stacks, slabs, `Tlsf`, `Heap`, `ConcurrentHeap`,
 * `OffsetAllocator`, size classes, fallbacks, typed helpers and structs. Every name here is public and listed by
 * hand; the rest of `src/layout/` (the page engine, error builders, raw protocol methods) is internal.
 *
 * @packageDocumentation
 */
export { ArenaPool, type ArenaPoolOptions } from "./layout/arena-pool.js";
export { BumpArena, BumpScope, type OsCallOf } from "./layout/bump-arena.js";
export {
  CONCURRENT_CLASSES,
  ConcurrentHeap,
  type ConcurrentHeapDescriptor,
  type ConcurrentHeapOptions,
  type ConcurrentHeapStats,
} from "./layout/concurrent-heap.js";
export { ExtendableSlab, type ExtendableSlabOptions } from "./layout/extendable-slab.js";
export { GenerationalSlab, type GenerationalSlabOptions, type Handle } from "./layout/generational-slab.js";
export { Heap, type HeapOptions, type HeapStats } from "./layout/heap.js";
export { OFFSET_NONE, OffsetAllocator, type OffsetStats } from "./layout/offset-allocator.js";
export { HEAP_CLASSES, type PageStats } from "./layout/page-engine.js";
export {
  type PushResult,
  RING_CONTROL_BYTES,
  RemoteFreeRing,
  type RemoteFreeRingOptions,
} from "./layout/remote-ring.js";
export {
  SharedBumpArena,
  type SharedBumpArenaDescriptor,
  type SharedBumpStats,
} from "./layout/shared-bump-arena.js";
export { DEFAULT_CLASS_SIZES, SizeClassed, type SizeClassedOptions } from "./layout/size-classed.js";
export {
  ADAPTIVE_COOLDOWN_TICKS,
  ADAPTIVE_LEVELS,
  BatchPolicy,
  SlabOwner,
  type SlabOwnerOptions,
  SlabRemote,
  type SlabRemoteDescriptor,
  type SlabRemoteLocation,
} from "./layout/slab-owner.js";
export { Slab, type SlabGeometry, type SlabOptions, slabGeometry } from "./layout/slab.js";
export { StackAlloc, type StackAllocOptions } from "./layout/stack-alloc.js";
export {
  type FieldSpec,
  type FieldType,
  type FieldValue,
  StructArray,
  StructLayout,
  type StructRecord,
  defineStruct,
} from "./layout/struct.js";
export { Tlsf, type TlsfStats } from "./layout/tlsf.js";
export {
  type TypedOptions,
  allocArray,
  allocDataView,
  allocUtf8,
  outOfMemory,
  readUtf8,
} from "./layout/typed.js";
export { WithFallback } from "./layout/with-fallback.js";
