/**
 * The typed errors of forge-alloc. Every error is an {@link AllocError}; catch the subclass you can handle.
 *
 * Three tiers of failure signal (STYLE §7):
 * 1. out of memory: the core contract returns `NULL` (0); high-level helpers throw {@link AllocError};
 * 2. a contract violation (bad layout, bad pointer, unsupported operation): a typed error, and nothing changes;
 * 3. detected corruption: {@link CorruptionError}, always thrown, never ignored.
 *
 * Messages say what was wrong and what was expected. They never contain secrets.
 *
 * Every error carries a stable `code`, one per class, for code that cannot use `instanceof` (an error that crossed
 * a realm, a log line, a worker's message): match on it rather than on the message, whose wording may change.
 *
 * | class | `code` | what it means |
 * |---|---|---|
 * | {@link AllocError} | `ERR_ALLOC` | a refused construction or option, a composition over different memories, an out-of-memory thrown by a helper |
 * | {@link LayoutError} | `ERR_LAYOUT` | a bad size or alignment (any JavaScript value that is not one), or a layout that does not match the block |
 * | {@link InvalidPointerError} | `ERR_INVALID_POINTER` | a pointer that is not a live block of the allocator called |
 * | {@link CorruptionError} | `ERR_CORRUPTION` | metadata or a guard found overwritten |
 * | {@link UnsupportedError} | `ERR_UNSUPPORTED` | an operation the allocator (or this runtime) does not offer |
 * | {@link InvariantError} | `ERR_INVARIANT` | only under the debug level (`forge-alloc/debug`): a check after an operation found an invariant broken |
 * | `OsError` (`forge-alloc/os`) | the errno name, `"EPERM"`, `"ENOMEM"`, ... | an OS call failed (as Node's own system errors) |
 *
 * A code is never reused or renamed; a subclass added later gets a code of its own.
 *
 * @example
 * ```ts
 * const slab = new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 8 });
 * try { slab.allocate(0); } catch (e) { console.log(e instanceof LayoutError, e instanceof AllocError); } // true true
 * const p = slab.allocate(64);
 * slab.deallocate(p, 64);
 * try { slab.deallocate(p, 64); } catch (e) { console.log(e instanceof InvalidPointerError); } // true: a double free
 * try { inspect({}); } catch (e) { console.log(e instanceof UnsupportedError); } // true: it cannot list regions
 * ```
 *
 * @module
 */

/** Formats an offset for messages: `0x1f0 (496)`. Non-numbers are shown as their type and value. @internal */
export function describePointer(ptr: unknown): string {
  if (typeof ptr === "number") {
    return Number.isInteger(ptr) && ptr >= 0 ? `0x${ptr.toString(16)} (${ptr})` : String(ptr);
  }
  return describeValue(ptr);
}

/**
 * Any JavaScript value as text for an error message: its type and a short rendering (`string "8"`, `bigint 8n`,
 * `object {"a":1}`). Never throws, whatever the value (a BigInt, a cyclic object, a throwing getter, a revoked proxy).
 *
 * @internal
 */
export function describeValue(value: unknown): string {
  try {
    if (typeof value === "bigint") return `bigint ${value}n`;
    if (value === undefined || value === null) return String(value);
    const text = JSON.stringify(value) ?? String(value);
    return `${typeof value} ${text.length > 80 ? `${text.slice(0, 80)}...` : text}`;
  } catch {
    try {
      return `${typeof value} ${Object.prototype.toString.call(value)}`;
    } catch {
      return `${typeof value} (a value that cannot be shown)`;
    }
  }
}

/** The `code` of each forge-alloc error class (see the table in the module documentation). */
export type AllocErrorCode =
  "ERR_ALLOC" | "ERR_LAYOUT" | "ERR_INVALID_POINTER" | "ERR_CORRUPTION" | "ERR_UNSUPPORTED" | "ERR_INVARIANT";

/**
 * The root of every forge-alloc error: an allocation could not be satisfied by a high-level helper, a
 * construction was refused (bad configuration, a composition over different memories), or a subclass below.
 */
export class AllocError extends Error {
  /** Always `"AllocError"` for this class; subclasses set their own name. */
  override name = "AllocError";
  /**
   * A stable identifier of the error's class: `"ERR_ALLOC"` here, one {@link AllocErrorCode} per subclass, and the
   * errno name (`"EPERM"`) on `OsError`. Unlike the message, it never changes between releases.
   */
  readonly code: string = "ERR_ALLOC";
}

/**
 * A size or an alignment is not acceptable: a size that is not an integer in `[1, MAX_SIZE]`, or an alignment
 * that is not a power of two in `[1, MAX_ALIGN]`, or a layout on `deallocate` that does not match the block.
 * Contract I9 (see `Allocator`): nothing changed.
 */
export class LayoutError extends AllocError {
  override name = "LayoutError";
  /** Always `"ERR_LAYOUT"`. */
  override readonly code: "ERR_LAYOUT" = "ERR_LAYOUT";
}

/**
 * A pointer was not a live block of this allocator: never issued, already freed (double free), freed out of order
 * where order matters, issued before a `reset`, or not a number at all. Contract I4 (see `Allocator`): nothing changed.
 */
export class InvalidPointerError extends AllocError {
  override name = "InvalidPointerError";
  /** Always `"ERR_INVALID_POINTER"`. */
  override readonly code: "ERR_INVALID_POINTER" = "ERR_INVALID_POINTER";
  /** The offending pointer, as it was passed. */
  readonly ptr: unknown;
  /** @param ptr - the pointer that was rejected; @param message - what was wrong and what was expected. */
  constructor(ptr: unknown, message: string) {
    super(message);
    this.ptr = ptr;
  }
}

/**
 * Memory the allocator relies on was overwritten (a smashed canary, a forged free-list link). It is always thrown,
 * and the allocator counts it in `corruptionEvents()`. The message never contains the secret that detected it.
 */
export class CorruptionError extends AllocError {
  override name = "CorruptionError";
  /** Always `"ERR_CORRUPTION"`. */
  override readonly code: "ERR_CORRUPTION" = "ERR_CORRUPTION";
}

/**
 * The allocator does not support the operation (for example `reset()` on an allocator that cannot free
 * everything at once). Contract I7 (see `Allocator`): nothing changed.
 */
export class UnsupportedError extends AllocError {
  override name = "UnsupportedError";
  /** Always `"ERR_UNSUPPORTED"`. */
  override readonly code: "ERR_UNSUPPORTED" = "ERR_UNSUPPORTED";
}

/**
 * Thrown only under the debug level (`forge-alloc/debug`, `FORGE_ALLOC_DEBUG=1`): a check run after an operation
 * found one of the contract's invariants broken (a misaligned or overlapping block, a `validate()` that fails, a raw
 * `TypeError` where a typed error was due, a refused call that changed something). It names the invariant
 * ({@link InvariantError.invariant}, `"I1"` .. `"I11"` or `"validate"`), the allocator and the call; the error that
 * revealed it, if any, is its `cause`. A bug in forge-alloc or memory overwritten from outside: never expected.
 *
 * @example
 * ```ts
 * import { disableDebugChecks, enableDebugChecks } from "forge-alloc/debug";
 * class Sloppy {
 *   readonly memory = Memory.of(new ArrayBuffer(4096));
 *   allocate(size: number, align = 8): number {
 *     return 17 + size * 0 + align * 0; // forgets the alignment
 *   }
 * }
 * enableDebugChecks([Sloppy]);
 * try {
 *   new Sloppy().allocate(8);
 * } catch (e) {
 *   console.log(e instanceof InvariantError, (e as InvariantError).invariant); // true I1
 * }
 * disableDebugChecks();
 * ```
 */
export class InvariantError extends AllocError {
  override name = "InvariantError";
  /** Always `"ERR_INVARIANT"`. */
  override readonly code: "ERR_INVARIANT" = "ERR_INVARIANT";
  /** The invariant id (`"I1"` .. `"I11"`, see `Allocator`) or `"validate"` for a failing `validate()`. */
  readonly invariant: string;
  /**
   * @param invariant - the id; @param message - what was observed, after which call;
   * @param options - `cause`: the error that revealed it.
   */
  constructor(invariant: string, message: string, options?: ErrorOptions) {
    super(`${invariant}: ${message}`, options);
    this.invariant = invariant;
  }
}
