export * from "./guard-page.js";
export * from "./huge-page-aligned.js";
export * from "./huge-page-backed.js";
export * from "./locked-mmap-backed.js";
export * from "./mapped-backing.js";
export * from "./mmap-backed.js";
export { OsError, type OsErrorInfo, PAGE_SIZE, clearLastOsError, errnoName, lastOsError } from "./native.js";
export * from "./numa.js";
export * from "./split-metadata.js";
