/**
 * `forge-alloc/core`: Layer 0, the contract. The `Allocator`, `FixedRange` and `OsBacked` interfaces and their
 * numbered invariants (I1-I11), `Memory`, the address-model constants, the typed errors and their codes, the
 * free-list MAC, `RangeBacking` (the base of every backing, for custom ones), regions for pictures, and the
 * wrapper report (`WRAPS`, `isFixedRange`, `isOsBacked`).
 *
 * This file is the public contract of the layer: every name it exports is listed here, by hand, and checked by the
 * API report (`etc/forge-alloc.api.md`, `npm run api:report`). The validation helpers, the dispatch forwarders,
 * the raw protocol and the engine hints in `src/core/` are internal (`@internal`): forge-alloc's layers import them
 * from `src/core/index.ts`, and they may change in any release.
 *
 * @packageDocumentation
 */
import "./core/disposable.js";

export {
  type Allocator,
  type Deallocator,
  type FixedRange,
  type OsBacked,
  ProtectFlags,
} from "./core/allocator.js";
export {
  DEFAULT_ALIGN,
  MAX_ALIGN,
  MAX_MEMORY_BYTES,
  MAX_SIZE,
  NULL,
  RESERVED_LOW_BYTES,
  WASM_PAGE_SIZE,
} from "./core/constants.js";
export {
  AllocError,
  type AllocErrorCode,
  CorruptionError,
  InvalidPointerError,
  InvariantError,
  LayoutError,
  UnsupportedError,
} from "./core/errors.js";
export { type AllocateForwarder, type DeallocateForwarder } from "./core/dispatch.js";
export { type FreelistProtection, HalfSipHashMac } from "./core/mac.js";
export {
  type PagePlacement,
  type PlacementStats,
  type ProcessSharedBacking,
  type ProcessSharing,
  type SharedWaitOutcome,
  type SharedWaiting,
} from "./core/processes.js";
export {
  type AnyBuffer,
  Memory,
  type MemoryKind,
  type MemorySource,
  type TypedArray,
  type TypedArrayConstructor,
} from "./core/memory.js";
export { RangeBacking } from "./core/range-backing.js";
export { type HasRegions, type Region, type RegionKind, hasRegions } from "./core/regions.js";
export { WRAPS, type WrapperInfo, isFixedRange, isOsBacked } from "./core/wrapping.js";
