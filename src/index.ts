/**
 * forge-alloc: composable memory allocators for JavaScript runtimes.
 *
 * This entry is pure TypeScript and browser-safe (no `node:` imports): Layer 0 contracts (`forge-alloc/core`),
 * Layer 1 backings (`/backing`), Layer 2 layouts (`/layout`), Layer 3 hardening wrappers (`/hardening`) and the heap
 * pictures of `inspect`. The conformance kit is `forge-alloc/testing`, the invariant-checking debug level
 * `forge-alloc/debug`, and the OS layer `forge-alloc/os` (Node.js).
 *
 * The public API is exactly what the entry files at the top of `src/` export (this one, `core.ts`, `backing.ts`,
 * `layout.ts`, `hardening.ts`, `os.ts`, `testing.ts`, `debug.ts`), each listing its names by hand;
 * `etc/forge-alloc.api.md` records every exported name with its declaration, and a test fails when the two
 * differ (`npm run api:report` updates the report after a deliberate change). Everything else is internal.
 *
 * @packageDocumentation
 */
export * from "./core.js";
export * from "./backing.js";
export * from "./layout.js";
export * from "./hardening.js";
export {
  type HeapPicture,
  type HeapSummary,
  REGION_COLOURS,
  type SvgOptions,
  formatSummary,
  inspect,
  renderHtml,
  renderSvg,
} from "./inspect.js";
