/**
 * forge-alloc: composable memory allocators for JavaScript runtimes.
 *
 * This entry is pure TypeScript and browser-safe (no `node:` imports): Layer 0 contracts (`core`), Layer 1
 * backings, Layer 2 layouts. The conformance kit is `forge-alloc/testing`.
 *
 * @packageDocumentation
 */
export * from "./core/index.js";
export * from "./backing/index.js";
export * from "./layout/index.js";
