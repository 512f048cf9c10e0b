// The core layer's barrel, for forge-alloc's own layers (a cross-layer import goes through it, see
// test/layering.test.ts): it holds the internals too (validation, dispatch forwarders, the raw protocol, engine
// hints). The public contract of the layer is src/core.ts, which `forge-alloc` and `forge-alloc/core` export.
import "./disposable.js";
export * from "./allocator.js";
export * from "./blocks.js";
export * from "./constants.js";
export * from "./dispatch.js";
export * from "./hints.js";
export * from "./mac.js";
export * from "./errors.js";
export * from "./memory.js";
export * from "./range-backing.js";
export * from "./validate.js";
export * from "./wrapping.js";
export * from "./regions.js";
export * from "./raw.js";
export * from "./processes.js";
