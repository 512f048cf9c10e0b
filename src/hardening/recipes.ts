/**
 * Composition helpers for the common stacks of docs/COMPOSITION_RECIPES.md. Each returns the stack itself (typed),
 * so every layer stays reachable (`stack.inner.inner`).
 *
 * @module
 */
import type { Allocator } from "../core/index.js";
import { PoisonOnFree } from "./poison-on-free.js";
import { Quarantine } from "./quarantine.js";
import { Statistics } from "./statistics.js";
import { Watermark, type WatermarkHandlers, type WatermarkThresholds } from "./watermark.js";

/**
 * The observable production allocator: `Statistics<Watermark<TInner>>`: counters of requested sizes, plus alarms at
 * 75% / 90% of the inner's capacity and on every out-of-memory.
 */
export function observable<TInner extends Allocator>(
  inner: TInner,
  handlers: WatermarkHandlers = {},
  thresholds: WatermarkThresholds = {},
): Statistics<Watermark<TInner>> {
  return new Statistics(new Watermark(inner, handlers, thresholds));
}

/**
 * The use-after-free-resistant token pool: `Statistics<PoisonOnFree<Quarantine<TInner>>>`: a freed token is
 * poisoned at once (a stale read sees 0xDE), held back from reuse for `epochs` frees, and checked for writes made
 * while it was free when it is reused.
 */
export function uafResistant<TInner extends Allocator>(
  inner: TInner,
  options: { epochs?: number; pattern?: number } = {},
): Statistics<PoisonOnFree<Quarantine<TInner>>> {
  const quarantine = new Quarantine(inner, options.epochs ?? 4);
  return new Statistics(
    new PoisonOnFree(quarantine, { pattern: options.pattern ?? 0xde, checkOnReuse: true }),
  );
}
