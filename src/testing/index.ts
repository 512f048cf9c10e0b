export * from "./conformance.js";
export * from "./random.js";
