/**
 * `Faulty`: fault injection for tests. Before each allocation it asks a policy whether to fail; a failed request
 * returns `NULL` without touching the inner, so every out-of-memory branch of the code above becomes reachable
 * (a `WithFallback`'s secondary, a `Watermark`'s `onOom`, your own recovery).
 *
 * Policies: {@link NeverFail}, {@link AlwaysFail}, {@link FailAfter}(n), {@link FailEveryNth}(n),
 * {@link FailOnSize}(bytes), and {@link SeededFailures} (a replayable random policy). Any object with
 * `shouldFail(size, align)` works.
 *
 * Complexity: the policy's cost (O(1) for all of ours). Where it may stand: right above the allocator whose
 * out-of-memory you want to simulate. Bad layouts still throw `LayoutError` (validation comes before the policy).
 *
 * @example
 * ```ts
 * const pool = new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 100 });
 * const chaos = new Faulty(pool, new FailEveryNth(3)); // calls 3, 6, 9, ... return NULL
 * console.log([1, 2, 3].map(() => chaos.allocate(64) === NULL)); // [false, false, true]
 * // The other policies: new NeverFail(), new AlwaysFail(), new FailAfter(100), new FailOnSize(4096),
 * // new SeededFailures({ seed: 42, probability: 0.01 }) (1% of calls, reproducibly).
 * for (const policy of [new NeverFail(), new AlwaysFail(), new FailAfter(1), new FailOnSize(64), new SeededFailures({ seed: 42, probability: 0.5 })]) {
 *   new Faulty(new Slab(new ArrayBufferBacked(1 << 12), { blockSize: 64, capacity: 8 }), policy).allocate(64);
 * }
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  NULL as IMPORTED_NULL,
  checkInteger,
  faultError,
  isValidLayout,
  layoutError,
} from "../core/index.js";
import { Wrapper } from "./wrapper.js";

// `NULL`, bound module-locally: V8 folds a local constant (an imported binding is a load and a check at every use).
const NULL = IMPORTED_NULL;

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

/** Decides whether {@link Faulty} fails a request. Must not throw. */
export interface AllocFaultPolicy {
  /** True to make this request return `NULL`. Called once per allocation, zeroed allocation or grow. */
  shouldFail(size: number, align: number): boolean;
}

/** Never fails. */
export class NeverFail implements AllocFaultPolicy {
  /** Always false. */
  shouldFail(): boolean {
    return false;
  }
}

/** Always fails. */
export class AlwaysFail implements AllocFaultPolicy {
  /** Always true. */
  shouldFail(): boolean {
    return true;
  }
}

/** Lets the first `n` requests through, then fails every one (credits never come back). */
export class FailAfter implements AllocFaultPolicy {
  private left: number;
  /** @throws `AllocError` unless `n` is a non-negative integer. */
  constructor(n: number) {
    this.left = checkInteger("FailAfter", "n", n, 0, Number.MAX_SAFE_INTEGER);
  }
  /** True once `n` requests have passed. */
  shouldFail(): boolean {
    if (this.left === 0) return true;
    this.left--;
    return false;
  }
  /** Requests still let through. */
  remaining(): number {
    return this.left;
  }
}

/** Fails requests number `n`, `2n`, `3n`, ... (1-based): with `n = 3`, calls 3, 6, 9 fail. */
export class FailEveryNth implements AllocFaultPolicy {
  private readonly period: number;
  private calls: number;
  /** @throws `AllocError` unless `n >= 1` (the Rust one panics on 0). */
  constructor(n: number) {
    this.period = checkInteger("FailEveryNth", "n", n, 1, Number.MAX_SAFE_INTEGER);
    this.calls = 0;
  }
  /** True on every `n`-th call. */
  shouldFail(): boolean {
    this.calls++;
    return this.calls % this.period === 0;
  }
}

/** Fails every request of `minBytes` or more. */
export class FailOnSize implements AllocFaultPolicy {
  /** The smallest size that fails. */
  readonly minBytes: number;
  /** @throws `AllocError` unless `minBytes` is a positive integer. */
  constructor(minBytes: number) {
    this.minBytes = checkInteger("FailOnSize", "minBytes", minBytes, 1, Number.MAX_SAFE_INTEGER);
  }
  /** True when `size >= minBytes`. */
  shouldFail(size: number): boolean {
    return size >= this.minBytes;
  }
}

/** Fails each request with a probability, from a seeded generator: the same seed replays the same failures. */
export class SeededFailures implements AllocFaultPolicy {
  /** The seed, to replay a run. */
  readonly seed: number;
  /** The failure probability. */
  readonly probability: number;
  private state: number;
  /** @throws `AllocError` unless `0 <= probability <= 1`. */
  constructor(options: { seed: number; probability: number }) {
    const p = options?.probability;
    if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
      throw new AllocError(
        `SeededFailures: probability ${String(p)} is not valid; expected a number from 0 to 1`,
      );
    }
    this.seed = options.seed >>> 0;
    this.probability = p;
    this.state = this.seed;
  }
  /** The next draw. */
  shouldFail(): boolean {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 < this.probability;
  }
}

/**
 * Fault injection over an allocator (see the module documentation).
 *
 * @typeParam TInner - the wrapped allocator.
 * @typeParam TPolicy - the policy.
 */
export class Faulty<
  TInner extends Allocator,
  TPolicy extends AllocFaultPolicy = AllocFaultPolicy,
> extends Wrapper<TInner> {
  /** The policy consulted before every allocation. */
  readonly policy: TPolicy;
  private parted = false;

  /** @throws `AllocError` when `policy` has no `shouldFail`. */
  constructor(inner: TInner, policy: TPolicy) {
    super("Faulty", inner, true);
    if (typeof policy?.shouldFail !== "function")
      throw new AllocError("Faulty: the policy must have shouldFail(size, align)");
    this.policy = policy;
  }

  /** Checked once; `NULL` when the policy says so; otherwise forwarded. @throws `LayoutError` for a bad layout. */
  override allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("Faulty.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /** The raw protocol: `NULL` when the policy says so; otherwise forwarded. @internal */
  override allocRaw(size: number, align: number): number {
    if (this.parted) throw this.partedError();
    if (this.policy.shouldFail(size, align)) return NULL;
    return this.rawAlloc(this.raw, size, align);
  }

  /** Checked once, then forwarded. @throws as `Wrapper.deallocate`. */
  override deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError("Faulty.deallocate", size, align);
    const r = this.rawTryFree(this.raw, ptr, size, align);
    if (r !== 0) throw faultError("Faulty.deallocate", r, ptr, size, align);
  }

  /** The raw protocol: a grow is `NULL` (block intact) when the policy says so for `newSize`; otherwise forwarded. @internal */
  override resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    if (newSize > oldSize) {
      if (this.parted) throw this.partedError();
      if (this.policy.shouldFail(newSize, align)) return NULL;
    }
    return this.raw.resizeRaw(ptr, oldSize, newSize, align);
  }

  /**
   * Hands back the inner and the policy (the Rust `into_parts`): from then on this wrapper refuses to allocate
   * (`AllocError`), so no request escapes the policy's count. Frees still reach the inner.
   */
  intoParts(): { inner: TInner; policy: TPolicy } {
    this.parted = true;
    return { inner: this.inner, policy: this.policy };
  }

  private partedError(): AllocError {
    return new AllocError(
      "Faulty.allocate: the inner and policy were handed back by intoParts(); use them directly",
    );
  }
}
