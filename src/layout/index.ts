export * from "./bump-arena.js";
export * from "./slab.js";
export * from "./stack-alloc.js";
export * from "./tlsf.js";
export * from "./typed.js";
export * from "./with-fallback.js";
