/**
 * `forge-alloc/debug`: the debug level. Under it every allocator checks its invariants after each operation
 * (`validate()` of every level of the composition, plus the contract's checks: aligned and in-range results,
 * zeroed blocks, kept bytes on resize, typed errors for refused calls that changed nothing, a corruption count that
 * never decreases) and throws an `InvariantError` that names the invariant, the allocator and the call.
 *
 * Turn it on for a whole process with the environment variable, read once when this module loads:
 *
 * ```sh
 * FORGE_ALLOC_DEBUG=1 node --import forge-alloc/debug app.js
 * ```
 *
 * or from code, for the classes you pass (the browser-safe ones of `forge-alloc` by default; add `forge-alloc/os`
 * classes yourself):
 *
 * ```ts
 * import { disableDebugChecks, enableDebugChecks } from "forge-alloc/debug";
 * enableDebugChecks();
 * const slab = new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 8 });
 * slab.allocate(64); // validated after the call
 * disableDebugChecks();
 * ```
 *
 * Cost: nothing when it is off. The checks are instrumentation put on the classes' prototypes, not branches in
 * the hot paths, so a process that never turns them on runs exactly the code it ran before. When on, each call
 * costs a `validate()` walk (O(blocks)): a level for tests and for chasing a bug, not for production.
 *
 * Limits: it checks what one object can tell about itself; overlap between live blocks and exact frees (I2, I4)
 * need a model of every live block, which `forge-alloc/testing`'s conformance kit keeps. `validate()` wants a
 * quiet heap: do not turn it on while several workers use one `ConcurrentHeap` or `SharedBumpArena`.
 *
 * @packageDocumentation
 */
import * as api from "./index.js";
import {
  type DebugCheckedClass,
  installDebugChecks,
  isDebugChecked,
  uninstallDebugChecks,
} from "./testing/debug-checks.js";

export { InvariantError } from "./core/errors.js";
export { DEBUG_CHECKED_METHODS, type DebugCheckedClass, isDebugChecked } from "./testing/debug-checks.js";

/** Reads `FORGE_ALLOC_DEBUG` where there is a `process.env` (Node.js, Bun, Deno); 0 elsewhere. */
function readDebugLevel(): 0 | 1 {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const value = env?.FORGE_ALLOC_DEBUG;
  return value === undefined || value === "" || value === "0" || value === "false" ? 0 : 1;
}

/**
 * The debug level from the environment variable `FORGE_ALLOC_DEBUG`, read once when this module loads: `0` (unset,
 * empty, `0` or `false`) or `1` (any other value). At `1`, loading this module turns the checks on at once.
 */
export const DEBUG_LEVEL: 0 | 1 = readDebugLevel();

/** Every class exported by the `forge-alloc` entry: what {@link enableDebugChecks} instruments by default. */
function publicClasses(): DebugCheckedClass[] {
  const values: unknown[] = Object.values(api);
  return values.filter(
    (v): v is DebugCheckedClass =>
      typeof v === "function" && /^class\s/.test(Function.prototype.toString.call(v)),
  );
}

/**
 * Turns the checks on for `classes` (default: every class of the `forge-alloc` entry) and the library classes they
 * extend: from now on each call of `allocate`, `deallocate`, `grow`, `shrink`, `reset`, `usableSize`, `malloc`,
 * `free`, ... on any of their objects is checked afterwards. Calling it again adds classes; nothing is instrumented
 * twice. Returns how many methods it instrumented.
 */
export function enableDebugChecks(classes: Iterable<DebugCheckedClass> = publicClasses()): number {
  return installDebugChecks(classes);
}

/** Turns every check off again (the original methods come back). Returns how many methods it restored. */
export function disableDebugChecks(): number {
  return uninstallDebugChecks();
}

/** True when the checks are on for the classes of `forge-alloc` (probed on `Slab`). */
export function debugChecksEnabled(): boolean {
  return isDebugChecked(api.Slab.prototype.allocate);
}

if (DEBUG_LEVEL > 0) enableDebugChecks();
