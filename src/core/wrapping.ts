/**
 * How wrappers describe themselves to the allocators around them, without a layer importing a higher one.
 *
 * A wrapper (Layer 3 hardening, or an OS wrapper) forwards `FixedRange` and `OsBacked` only when its inner has
 * them: it reports that under {@link WRAPS}, and {@link isFixedRange} / {@link isOsBacked} honour the report. A
 * wrapper whose protection acts in `allocate`/`deallocate` also names itself there, so a layout that carves a range
 * directly (and would never call that `allocate`) can refuse it with {@link checkCarvable} instead of silently
 * protecting nothing.
 *
 * @module
 */
import { AllocError } from "./errors.js";
import type { FixedRange, OsBacked } from "./allocator.js";

/** What a wrapper reports about itself under {@link WRAPS}. */
export interface WrapperInfo {
  /** The wrapper's class name, for messages. */
  readonly name: string;
  /** True when the wrapper forwards `FixedRange` (its inner is one). */
  readonly fixedRange: boolean;
  /** True when the wrapper forwards `OsBacked` (its inner is one). */
  readonly osBacked: boolean;
  /** True when its protection or observation happens in `allocate`/`deallocate` (a carver would bypass it). */
  readonly actsOnAllocate: boolean;
  /** True when it writes into the memory of blocks it allocates or frees (canaries, headers, scrubbing). */
  readonly writesBlocks: boolean;
}

/** The symbol under which a wrapper exposes its {@link WrapperInfo}. */
export const WRAPS: unique symbol = Symbol.for("forge-alloc.wraps") as never;

function info(value: unknown): WrapperInfo | undefined {
  return (value as { [WRAPS]?: WrapperInfo } | null)?.[WRAPS];
}

/** True when `value` is an object whose properties `names` are all functions. */
function hasMethods(value: unknown, names: readonly string[]): boolean {
  if (typeof value !== "object" || value === null) return false;
  for (const n of names) if (typeof (value as Record<string, unknown>)[n] !== "function") return false;
  return true;
}

/** True when `value` has the `FixedRange` methods and, if it is a wrapper, really forwards them. */
export function isFixedRange(value: unknown): value is FixedRange {
  return hasMethods(value, ["base", "size", "commit", "contains"]) && info(value)?.fixedRange !== false;
}

/** True when `value` has the `OsBacked` methods and, if it is a wrapper, really forwards them. */
export function isOsBacked(value: unknown): value is OsBacked {
  return (
    hasMethods(value, ["basePtr", "regionSize", "protect", "releasePages"]) && info(value)?.osBacked !== false
  );
}

/** The wrappers below `value` (itself included), outermost first, following their `inner`. @internal */
export function wrapperChain(value: unknown): WrapperInfo[] {
  const out: WrapperInfo[] = [];
  for (let v = value; info(v) !== undefined; v = (v as { inner?: unknown }).inner) out.push(info(v)!);
  return out;
}

/**
 * Refuses a range that a carving layout would silently bypass: a wrapper whose protection lives in `allocate`
 * (a `Canary`, a `Quarantine`, `Statistics`, ...) placed under a `BumpArena`, `StackAlloc` or `GuardPage`, which
 * carve their range without calling it.
 *
 * @throws `AllocError` saying where to put the wrapper instead.
 *
 * @internal
 */
export function checkCarvable(where: string, range: unknown): void {
  const i = info(range);
  if (i?.actsOnAllocate === true) {
    throw new AllocError(
      `${where}: ${i.name} as the range under ${where} would do nothing: ${where} carves the range directly and ` +
        `never calls ${i.name}.allocate. Put ${i.name} outside instead: new ${i.name}(new ${where}(range))`,
    );
  }
}
