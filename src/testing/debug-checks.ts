/**
 * The debug level's machinery: instrumentation that checks an allocator's invariants after every operation,
 * installed on the classes' prototypes, never written into their hot paths.
 *
 * {@link installDebugChecks} replaces each contract method of the given classes (and of the library's base classes
 * they inherit from) with a checking version: it calls the original, then checks what the call promised and throws
 * an `InvariantError` naming the invariant, the allocator and the call when something is wrong. Only the outermost
 * call on an object is checked (a `grow` that moves a block calls its own `allocate` and `deallocate`; those run
 * unchecked inside it); a call from one allocator into another (a wrapper into its inner, a `Heap` into its `Tlsf`)
 * is the outermost call on that other object, so every level checks itself. {@link uninstallDebugChecks} puts the
 * original methods back. Nothing of this runs, or costs anything, unless it is installed: the hot paths hold no
 * `if (DEBUG)` branch (measured: the same ns per call as before, see the README's "Debug level").
 *
 * The checks after each call, as mimalloc's debug build and AssemblyScript's `if (DEBUG) assert(…)` do:
 * - `validate()` of the object and of every level below it (following `inner`), where it exists and the level has
 *   counted no corruption (after one, a layout runs degraded: it drops what it cannot trust, and its accounting
 *   need not add up);
 * - I1: a non-`NULL` result of `allocate`, `allocateZeroed`, `allocRaw`, `malloc`, `calloc`, `grow`, `shrink` or
 *   `realloc` is an integer, aligned as asked (8 when not given), at or above `RESERVED_LOW_BYTES`, and its bytes lie
 *   inside the memory;
 * - I5: `grow`/`shrink`/`realloc` kept the first `min(old, new)` bytes (compared with a copy taken before the call);
 * - I6: `allocateZeroed`/`calloc` returned only zero bytes;
 * - I8: `usableSize(p, size) >= size`;
 * - I10: `corruptionEvents()` never decreased;
 * - I9/I4 for a refused call: the error is typed (an `AllocError`, never a raw `TypeError` or `RangeError` from the
 *   library), the memory did not grow, `corruptionEvents()` did not move (unless the error is a `CorruptionError`),
 *   and `validate()` still passes.
 *
 * What it does not check: whether two live blocks overlap (I2) and whether a free names a live block (I4) need a
 * model of every live block, which the conformance kit and the property tests keep; `validate()` checks each layout's
 * own bookkeeping. Concurrent use from several workers is not checked: `validate()` wants a quiet heap.
 *
 * @module
 */
import {
  AllocError,
  CorruptionError,
  InvariantError,
  type Memory,
  NULL,
  RESERVED_LOW_BYTES,
  describeValue,
} from "../core/index.js";

/** A class whose prototype the debug level may instrument (`enableDebugChecks` of `forge-alloc/debug`). */
export type DebugCheckedClass = abstract new (...args: never[]) => unknown;

/** The methods the debug level checks (where a class has them). */
export const DEBUG_CHECKED_METHODS: readonly string[] = Object.freeze([
  "allocate",
  "allocateZeroed",
  "allocRaw",
  "deallocate",
  "freeRaw",
  "grow",
  "shrink",
  "reset",
  "usableSize",
  "malloc",
  "calloc",
  "realloc",
  "free",
]);

type Method = (this: object, ...args: unknown[]) => unknown;
interface Checked {
  readonly original: Method;
}

const CHECKED = Symbol("forge-alloc.debug-checked");
/** Originals of every instrumented method, per prototype, so that uninstalling restores them exactly. */
const installed = new Map<object, Map<string, Method>>();
/** How deep the calls into each object are nested right now: only the outermost call is checked. */
const depth = new WeakMap<object, number>();

interface Probe {
  memory?: Memory;
  inner?: unknown;
  validate?: () => void;
  corruptionEvents?: () => number;
}

function labelOf(target: object): string {
  const name = (target as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" ? name : "allocator";
}

function callText(target: object, method: string, args: readonly unknown[]): string {
  return `${labelOf(target)}.${method}(${args.map((a) => (typeof a === "number" ? String(a) : describeValue(a))).join(", ")})`;
}

function memoryOf(target: object): Memory | undefined {
  const m = (target as Probe).memory;
  return typeof m === "object" && m !== null && typeof m.byteLength === "number" ? m : undefined;
}

function corruptionOf(target: object): number {
  const f = (target as Probe).corruptionEvents;
  return typeof f === "function" ? f.call(target) : 0;
}

/** `validate()` of `target` and of each level below it, outermost first. */
function validateChain(target: object, call: () => string): void {
  let v: unknown = target;
  for (let level = 0; level < 64 && typeof v === "object" && v !== null; level++) {
    const validate = (v as Probe).validate;
    // Once a level has counted a corruption it runs degraded (it dropped what it could not trust, leaking it), and
    // its accounting need not add up any more: the CorruptionError was the report.
    if (typeof validate === "function" && corruptionOf(v) === 0) {
      try {
        validate.call(v);
      } catch (error) {
        throw new InvariantError(
          "validate",
          `${labelOf(v)}.validate() fails after ${call()}: ${(error as Error)?.message ?? String(error)}`,
          { cause: error },
        );
      }
    }
    v = (v as Probe).inner;
  }
}

/** What a checked call's result must satisfy: the size and alignment a returned block must have. */
function promised(method: string, args: readonly unknown[]): { size: number; align: number } | undefined {
  const n = (i: number, fallback: number): number => {
    const v = args[i];
    return typeof v === "number" ? v : v === undefined ? fallback : NaN;
  };
  switch (method) {
    case "allocate":
    case "allocateZeroed":
    case "allocRaw":
      return { size: n(0, NaN), align: n(1, 8) };
    case "grow":
    case "shrink":
      return { size: n(2, NaN), align: n(3, 8) };
    case "malloc":
      return { size: n(0, NaN), align: 8 };
    case "calloc":
      return { size: n(0, NaN) * n(1, NaN), align: 8 };
    case "realloc":
      return { size: n(1, NaN), align: 8 };
    default:
      return undefined;
  }
}

/** The bytes a resize must keep, copied before the call: `[ptr, ptr + min(old, new))`. */
function keptBytes(target: object, method: string, args: readonly unknown[]): Uint8Array | undefined {
  const memory = memoryOf(target);
  if (memory === undefined) return undefined;
  const ptr = args[0];
  let keep: unknown;
  if (method === "grow" || method === "shrink") keep = Math.min(args[1] as number, args[2] as number);
  else if (method === "realloc") {
    const usable = (target as { usableSize?: (p: number, s: number) => number }).usableSize;
    if (typeof usable !== "function" || typeof ptr !== "number" || ptr === NULL) return undefined;
    try {
      keep = Math.min(usable.call(target, ptr, 1), args[1] as number);
    } catch {
      return undefined; // not a live block: the call itself will say so
    }
  } else return undefined;
  if (typeof ptr !== "number" || !Number.isInteger(ptr) || typeof keep !== "number") return undefined;
  if (!Number.isInteger(keep) || keep <= 0 || ptr < 0 || ptr + keep > memory.byteLength) return undefined;
  return memory.u8.slice(ptr, ptr + keep);
}

function checkResult(
  target: object,
  method: string,
  args: readonly unknown[],
  result: unknown,
  kept: Uint8Array | undefined,
  call: () => string,
): void {
  const memory = memoryOf(target);
  if (method === "usableSize") {
    const size = args[1];
    if (typeof size === "number" && !((result as number) >= size))
      throw new InvariantError("I8", `${call()} returned ${String(result)}, less than the size asked`);
    return;
  }
  const want = promised(method, args);
  if (want === undefined || memory === undefined || typeof result !== "number" || result === NULL) return;
  const p = result;
  if (!Number.isInteger(p) || p < RESERVED_LOW_BYTES)
    throw new InvariantError(
      "I1",
      `${call()} returned ${p}, not an offset at or above ${RESERVED_LOW_BYTES}`,
    );
  if (Number.isInteger(want.align) && want.align > 0 && p % want.align !== 0)
    throw new InvariantError("I1", `${call()} returned ${p}, not aligned to ${want.align}`);
  if (Number.isInteger(want.size) && p + want.size > memory.byteLength)
    throw new InvariantError(
      "I1",
      `${call()} returned ${p}: its ${want.size} bytes end past the memory (${memory.byteLength} bytes)`,
    );
  if ((method === "allocateZeroed" || method === "calloc") && Number.isInteger(want.size)) {
    const u8 = memory.u8;
    for (let i = p; i < p + want.size; i++) {
      if (u8[i] !== 0)
        throw new InvariantError("I6", `${call()} returned ${p}, whose byte ${i - p} is ${u8[i]}, not 0`);
    }
  }
  if (kept !== undefined) {
    const u8 = memory.u8;
    for (let i = 0; i < kept.length; i++) {
      if (u8[p + i] !== kept[i])
        throw new InvariantError(
          "I5",
          `${call()} returned ${p}, whose byte ${i} changed from ${kept[i]} to ${u8[p + i]}`,
        );
    }
  }
}

function checkRefusal(
  target: object,
  error: unknown,
  byteLength: number | undefined,
  corruption: number,
  call: () => string,
): void {
  if (!(error instanceof AllocError) && (error instanceof TypeError || error instanceof RangeError)) {
    throw new InvariantError(
      "I9",
      `${call()} threw a raw ${error.name} instead of a typed error: ${error.message}`,
      {
        cause: error,
      },
    );
  }
  if (!(error instanceof AllocError)) return; // a user callback's own error passes through as it is
  const memory = memoryOf(target);
  if (memory !== undefined && byteLength !== undefined && memory.byteLength !== byteLength)
    throw new InvariantError(
      "I3",
      `${call()} was refused (${error.name}) but the memory grew from ${byteLength} to ${memory.byteLength} bytes`,
      { cause: error },
    );
  if (corruptionOf(target) !== corruption)
    throw new InvariantError("I10", `${call()} was refused (${error.name}) but corruptionEvents() changed`, {
      cause: error,
    });
}

function checking(method: string, original: Method): Method & Checked {
  const wrapped = function (this: object, ...args: unknown[]): unknown {
    const nested = depth.get(this) ?? 0;
    if (nested > 0) return original.apply(this, args);
    const call = (): string => callText(this, method, args);
    const byteLength = memoryOf(this)?.byteLength;
    const corruption = corruptionOf(this);
    const kept = keptBytes(this, method, args);
    let result: unknown;
    depth.set(this, 1);
    try {
      result = original.apply(this, args);
    } catch (error) {
      depth.set(this, 0);
      // From a level below: it already says where. A detected corruption is itself the report: the memory is known
      // to be overwritten, so validate() would only fail again on what the error already names.
      if (error instanceof InvariantError || error instanceof CorruptionError) throw error;
      checkRefusal(this, error, byteLength, corruption, call);
      validateChain(this, call);
      throw error;
    }
    depth.set(this, 0);
    checkResult(this, method, args, result, kept, call);
    if (corruptionOf(this) < corruption)
      throw new InvariantError("I10", `corruptionEvents() decreased during ${call()}`);
    validateChain(this, call);
    return result;
  } as Method & Checked;
  Object.defineProperty(wrapped, "original", { value: original });
  Object.defineProperty(wrapped, CHECKED, { value: true });
  Object.defineProperty(wrapped, "name", { value: method });
  return wrapped;
}

/** The prototypes of `cls` and its ancestors, up to (not including) `Object.prototype`. */
function prototypes(cls: DebugCheckedClass): object[] {
  const out: object[] = [];
  for (let p: unknown = cls.prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p))
    if (typeof p === "object") out.push(p as object);
  return out;
}

/**
 * Instruments the contract methods ({@link DEBUG_CHECKED_METHODS}) of `classes` and of the classes they extend, so
 * that every later call on any of their objects checks the invariants afterwards (see the module documentation).
 * Installing twice instruments nothing twice. Returns how many methods it instrumented.
 */
export function installDebugChecks(classes: Iterable<DebugCheckedClass>): number {
  let count = 0;
  for (const cls of classes) {
    for (const proto of prototypes(cls)) {
      for (const method of DEBUG_CHECKED_METHODS) {
        const d = Object.getOwnPropertyDescriptor(proto, method);
        if (d === undefined || typeof d.value !== "function" || (d.value as { [CHECKED]?: true })[CHECKED])
          continue;
        let originals = installed.get(proto);
        if (originals === undefined) installed.set(proto, (originals = new Map()));
        originals.set(method, d.value as Method);
        Object.defineProperty(proto, method, { ...d, value: checking(method, d.value as Method) });
        count++;
      }
    }
  }
  return count;
}

/** Puts back every method {@link installDebugChecks} instrumented. Returns how many. */
export function uninstallDebugChecks(): number {
  let count = 0;
  for (const [proto, originals] of installed) {
    for (const [method, original] of originals) {
      const d = Object.getOwnPropertyDescriptor(proto, method)!;
      Object.defineProperty(proto, method, { ...d, value: original });
      count++;
    }
  }
  installed.clear();
  return count;
}

/** True when `method` (a function taken from a prototype) is the debug level's checking version. */
export function isDebugChecked(method: unknown): boolean {
  return typeof method === "function" && (method as { [CHECKED]?: true })[CHECKED] === true;
}
