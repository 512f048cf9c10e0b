/**
 * `forge-alloc/testing`: the conformance kit. `runConformance` checks the `Allocator` contract (I1-I11) for any
 * allocator, ours or yours, and throws a `ConformanceError` naming the invariant; `SeededRandom` replays a run.
 * Runner-agnostic (plain `Error`s), browser-safe.
 *
 * @packageDocumentation
 */
export {
  BAD_ALIGNS,
  BAD_SIZES,
  CONFORMANCE_CHECKS,
  type ConformanceCapabilities,
  ConformanceError,
  type ConformanceReport,
  runConformance,
} from "./testing/conformance.js";
export { SeededRandom } from "./testing/random.js";
