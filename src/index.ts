/**
 * forge-alloc: composable memory allocators for JavaScript runtimes.
 *
 * This entry is pure TypeScript and browser-safe (no `node:` imports): Layer 0 contracts (`core`), Layer 1
 * backings, Layer 2 layouts, Layer 3 hardening wrappers. The conformance kit is `forge-alloc/testing`; the OS layer
 * is `forge-alloc/os` (Node.js).
 *
 * @packageDocumentation
 */
export * from "./core/index.js";
export * from "./backing/index.js";
export * from "./layout/index.js";
export * from "./hardening/index.js";
export * from "./inspect.js";
