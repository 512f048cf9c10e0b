/**
 * `Watermark`: watches the bytes live against the inner's capacity and calls you on the rising edge of a warning
 * level (75% by default) and a critical level (90%), and on every out-of-memory. A level fires once; `rearm()`
 * arms both again (falling below a level does not).
 *
 * Complexity: O(1) per call (one compare against the next level on the hot path). Overhead: none in the memory.
 * Where it may stand: over anything with a finite `capacityBytes()`; over an unbounded one the levels never fire
 * (the out-of-memory callback still does). It counts requested sizes; capacity is the inner's (over a
 * `WithFallback`, both parts). Handlers run when the state is consistent, and one that throws loses no block: after
 * a successful allocation the block is freed again before the error propagates (the Rust one leaks it); a grow
 * that would cross a level fires it before the block moves, so a throwing handler refuses the grow and the block
 * stays where it was.
 *
 * @example
 * ```ts
 * const pool = new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 100 });
 * const log: string[] = [];
 * const alarms = new Watermark(
 *   pool,
 *   { onWarn: (e) => log.push(`warn ${e.allocatedBytes}`), onOom: (e) => log.push(`oom ${e.requestedSize}`) },
 *   { warn: 0.75, critical: 0.9 },
 * );
 * for (let i = 0; i < 80; i++) alarms.allocate(64);
 * alarms.allocate(4096); // NULL: larger than a block
 * console.log(log); // ["warn 4800", "oom 4096"]
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  NULL as IMPORTED_NULL,
  TAGGED_FIELD,
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

/** What a {@link Watermark} handler receives. */
export interface WatermarkEvent {
  /** Which level: `"warn"`, `"critical"` or `"oom"`. */
  readonly level: "warn" | "critical" | "oom";
  /** Bytes live after the allocation (before it, for `"oom"`). */
  readonly allocatedBytes: number;
  /** The inner's capacity. */
  readonly capacityBytes: number;
  /** The request that failed (`"oom"` only). */
  readonly requestedSize?: number;
  /** Its alignment (`"oom"` only). */
  readonly requestedAlign?: number;
}

/** The callbacks of a {@link Watermark}; each is optional. */
export interface WatermarkHandlers {
  /** The warning level was crossed (rising edge). */
  onWarn?: (event: WatermarkEvent) => void;
  /** The critical level was crossed (rising edge). */
  onCritical?: (event: WatermarkEvent) => void;
  /** An allocation returned `NULL` (every time). */
  onOom?: (event: WatermarkEvent) => void;
}

/** The levels, as fractions of the capacity. */
export interface WatermarkThresholds {
  /** @defaultValue 0.75 */
  warn?: number;
  /** @defaultValue 0.9 */
  critical?: number;
}

/**
 * Handlers that write each event to the console (the Rust `LogHandler`, which writes to standard error):
 * `console.warn` for `warn`, `console.error` for `critical` and `oom`. Pass it as `new Watermark(inner, LogHandler)`.
 */
export const LogHandler: WatermarkHandlers = Object.freeze({
  onWarn: (e: WatermarkEvent) => console.warn(`forge-alloc Watermark: warn: ${describeEvent(e)}`),
  onCritical: (e: WatermarkEvent) => console.error(`forge-alloc Watermark: critical: ${describeEvent(e)}`),
  onOom: (e: WatermarkEvent) => console.error(`forge-alloc Watermark: out of memory: ${describeEvent(e)}`),
});

function describeEvent(e: WatermarkEvent): string {
  const request = e.requestedSize === undefined ? "" : `; ${e.requestedSize} bytes requested`;
  return `${e.allocatedBytes} of ${e.capacityBytes} bytes allocated${request}`;
}

/**
 * Capacity alarms (see the module documentation).
 *
 * @typeParam TInner - the wrapped allocator.
 */
export class Watermark<TInner extends Allocator> extends Wrapper<TInner> {
  /** The warning level in bytes. */
  readonly warnBytes: number;
  /** The critical level in bytes. */
  readonly criticalBytes: number;
  private readonly handlers: WatermarkHandlers;
  private live: number;
  private gate: number;
  private firedWarn: boolean;
  private firedCritical: boolean;

  /** @throws `AllocError` unless `0 < warn <= critical <= 1`. */
  constructor(inner: TInner, handlers: WatermarkHandlers = {}, thresholds: WatermarkThresholds = {}) {
    super("Watermark", inner, true);
    const warn = thresholds.warn ?? 0.75;
    const critical = thresholds.critical ?? 0.9;
    if (!(
      typeof warn === "number" &&
      typeof critical === "number" &&
      warn > 0 &&
      warn <= critical &&
      critical <= 1
    )) {
      throw new AllocError(
        `Watermark: thresholds warn ${String(warn)}, critical ${String(critical)} are not valid; expected 0 < warn <= critical <= 1`,
      );
    }
    const capacity = inner.capacityBytes();
    this.warnBytes = Math.ceil(capacity * warn);
    this.criticalBytes = Math.ceil(capacity * critical);
    this.handlers = handlers;
    this.live = TAGGED_FIELD; // representation hint (see TAGGED_FIELD)
    this.live = 0;
    this.firedWarn = false;
    this.firedCritical = false;
    this.gate = this.warnBytes;
  }

  /** Checked once; fires a level crossed on the way up, or `onOom` on `NULL`. @throws `LayoutError` for a bad layout. */
  override allocate(size: number, align = 8): number {
    if (!validLayout(size, align)) throw layoutError("Watermark.allocate", size, align);
    return this.allocRaw(size, align);
  }

  /**
   * The raw protocol: forwarded; fires a level crossed on the way up (after the block is counted; a handler that
   * throws gets the block freed again first), or `onOom` on `NULL`. @internal
   */
  override allocRaw(size: number, align: number): number {
    const p = this.rawAlloc(this.raw, size, align);
    if (p === NULL) return this.oom(size, align);
    const live = this.live + size;
    this.live = live;
    if (live >= this.gate) this.crossed(p, size, align);
    return p;
  }

  /** Checked once; the live bytes drop (levels stay fired until `rearm()`). @throws as `Wrapper.deallocate`. */
  override deallocate(ptr: number, size: number, align = 8): void {
    if (!validLayout(size, align)) throw layoutError("Watermark.deallocate", size, align);
    const r = this.tryFree(ptr, size, align);
    if (r !== 0) throw faultError("Watermark.deallocate", r, ptr, size, align);
  }

  /** The raw protocol: forwarded; the live bytes drop when the inner accepts. @internal */
  override tryFree(ptr: unknown, size: number, align: number): number {
    const r = this.rawTryFree(this.raw, ptr, size, align);
    if (r === 0) this.live -= size;
    return r;
  }

  /** The raw protocol: forwarded; the live bytes drop. @internal */
  override freeRaw(ptr: number, size: number, align: number): void {
    this.rawFreeRaw(this.raw, ptr, size, align);
    this.live -= size;
  }

  /**
   * The raw protocol: forwarded; the live bytes follow. A grow that would cross a level fires it before the inner
   * moves anything, so a handler that throws refuses the grow with the block where it was. @internal
   */
  override resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    if (newSize > oldSize && this.live + newSize - oldSize >= this.gate) {
      this.crossed(NULL, newSize - oldSize, align);
    }
    const q = this.raw.resizeRaw(ptr, oldSize, newSize, align);
    if (q === NULL) return this.oom(newSize, align);
    this.live += newSize - oldSize;
    return q;
  }

  /** Forwarded; live bytes drop to 0 (levels stay fired until `rearm()`). */
  override reset(): void {
    this.inner.reset();
    this.live = 0;
  }

  /** Bytes live now (requested sizes). */
  allocatedBytes(): number {
    return this.live;
  }

  /** Arms both levels again; a level already exceeded fires at the next allocation. */
  rearm(): void {
    this.firedWarn = false;
    this.firedCritical = false;
    this.gate = this.warnBytes;
  }

  private event(level: WatermarkEvent["level"], live: number): WatermarkEvent {
    return { level, allocatedBytes: live, capacityBytes: this.inner.capacityBytes() };
  }

  private oom(size: number, align: number): number {
    this.handlers.onOom?.({ ...this.event("oom", this.live), requestedSize: size, requestedAlign: align });
    return NULL;
  }

  /**
   * Slow path: fire the levels now crossed. After an allocation (`p` the new block, already counted) a handler
   * that throws gets the block freed again first; before a grow (`p` is `NULL`, `extra` the bytes the grow adds,
   * not yet counted) it refuses the grow, which has not happened yet.
   */
  private crossed(p: number, extra: number, align: number): void {
    const live = p === NULL ? this.live + extra : this.live;
    try {
      if (!this.firedWarn && live >= this.warnBytes) {
        this.firedWarn = true;
        this.handlers.onWarn?.(this.event("warn", live));
      }
      if (!this.firedCritical && live >= this.criticalBytes) {
        this.firedCritical = true;
        this.firedWarn = true;
        this.handlers.onCritical?.(this.event("critical", live));
      }
    } catch (error) {
      if (p !== NULL) this.freeRaw(p, extra, align);
      throw error;
    } finally {
      this.gate = !this.firedWarn ? this.warnBytes : !this.firedCritical ? this.criticalBytes : Infinity;
    }
  }
}
