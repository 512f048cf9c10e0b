export * from "./array-buffer-backed.js";
export * from "./shared-array-buffer-backed.js";
export * from "./static-backed.js";
export * from "./wasm-memory-backed.js";
