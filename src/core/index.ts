export * from "./allocator.js";
export * from "./blocks.js";
export * from "./constants.js";
export * from "./hints.js";
export * from "./errors.js";
export * from "./memory.js";
export * from "./range-backing.js";
export * from "./validate.js";
