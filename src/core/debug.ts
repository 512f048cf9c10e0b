/**
 * The debug level, read once at load from the environment variable `ALLOC_DEBUG` (0-3, default 0), as
 * mimalloc's `MI_DEBUG`. Level 1 and up run cheap internal asserts; level 3 also runs `validate()` after
 * mutating calls where an allocator supports it. Public entry points validate their arguments at every level.
 *
 * Browser-safe: reads `globalThis.process?.env` without importing anything from Node.
 *
 * @module
 */

function readDebugLevel(): 0 | 1 | 2 | 3 {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const raw = env?.["ALLOC_DEBUG"];
  const n = raw === undefined ? 0 : Number(raw);
  return n >= 3 ? 3 : n >= 2 ? 2 : n >= 1 ? 1 : 0;
}

/** The debug level in force for this process: 0 (release), 1, 2 or 3 (validate after every mutating call). */
export const DEBUG: 0 | 1 | 2 | 3 = readDebugLevel();

/** Throws an `Error` whose message starts with the invariant id when `condition` is false. Gate calls on `DEBUG`. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`forge-alloc internal assertion failed: ${message}`);
}
