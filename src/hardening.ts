/**
 * `forge-alloc/hardening`: Layer 3, the wrappers: canaries, poisoning, zeroizing, quarantine, cache jitter,
 * statistics, watermarks, fault injection, the recipes that stack them, and `Wrapper`, the base for a wrapper of
 * your own. Every name here is public and listed by hand.
 *
 * @packageDocumentation
 */
export { CacheJitter, type CacheJitterOptions } from "./hardening/cache-jitter.js";
export { Canary, type CanaryOptions } from "./hardening/canary.js";
export {
  type AllocFaultPolicy,
  AlwaysFail,
  FailAfter,
  FailEveryNth,
  FailOnSize,
  Faulty,
  NeverFail,
  SeededFailures,
} from "./hardening/faulty.js";
export {
  DEFAULT_POISON,
  PoisonOnFree,
  type PoisonOptions,
  ZeroizeOnFree,
} from "./hardening/poison-on-free.js";
export { Quarantine, type QuarantineOptions } from "./hardening/quarantine.js";
export { observable, uafResistant } from "./hardening/recipes.js";
export { type AllocStats, Statistics } from "./hardening/statistics.js";
export {
  LogHandler,
  Watermark,
  type WatermarkEvent,
  type WatermarkHandlers,
  type WatermarkThresholds,
} from "./hardening/watermark.js";
export { Wrapper } from "./hardening/wrapper.js";
