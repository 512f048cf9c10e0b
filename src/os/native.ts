/**
 * The bridge to the forge_os addon (`native/forge_os.c`): loading it, and turning its `-errno` results into
 * {@link OsError}s. Everything else in `forge-alloc/os` goes through here.
 *
 * If the addon is missing or cannot load, importing `forge-alloc/os` throws one {@link AllocError} that says why
 * (the build log in `native/build/status.json`, or the loader's message) and how to fix it. The rest of
 * forge-alloc does not import this module and keeps working.
 *
 * @example
 * ```ts
 * clearLastOsError();
 * try {
 *   using mapping = new MmapBacked(1 << 16);
 *   new NumaLocal(mapping, NumaPolicy.bind(NodeSet.of(1000)!)); // node 1000 is not online
 * } catch (error) {
 *   const info = lastOsError(); // { errno, code, syscall } of the failure
 *   console.log(error instanceof OsError, info?.syscall, info && errnoName(info.errno)); // true mbind EINVAL
 * }
 * ```
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AllocError } from "../core/index.js";

/** The addon's functions. Offsets and lengths are byte counts into the buffer; results are `0` or `-errno`. */
export interface NativeOs {
  pageSize(): number;
  map(length: number, flags: number, hugeShift: number, alignShift: number): ArrayBuffer | number;
  unmap(buffer: ArrayBuffer, munlockFirst: boolean): number;
  isMapping(buffer: ArrayBuffer): boolean;
  baseAlignment(buffer: ArrayBuffer): number;
  protect(buffer: ArrayBuffer, offset: number, length: number, prot: number): number;
  advise(buffer: ArrayBuffer, offset: number, length: number, advice: number): number;
  lock(buffer: ArrayBuffer, offset: number, length: number): number;
  unlock(buffer: ArrayBuffer, offset: number, length: number): number;
  currentCpu(): number;
  mbind?(
    buffer: ArrayBuffer,
    offset: number,
    length: number,
    mode: number,
    mask: BigUint64Array,
    maxnode: number,
    flags: number,
  ): number;
  getMempolicy?(buffer: ArrayBuffer, offset: number, flags: number, out: BigUint64Array): number;
  currentNode?(): number;
}

/** `map` flags. */
export const MAP_POPULATE = 1;
/** `map` flags. */
export const MAP_HUGETLB = 2;
/** `map` flags: no swap space reserved (`MAP_NORESERVE`); pages are committed on first touch. */
export const MAP_NORESERVE = 4;
/** `advise` codes understood by the addon. */
export const Advice = {
  DONTNEED: 0,
  DONTDUMP: 1,
  HUGEPAGE: 2,
  WILLNEED: 3,
  DODUMP: 4,
  NOHUGEPAGE: 5,
} as const;

function findAddon(): string[] {
  // dist/os/native.js and build/src/os/native.js both sit below the package root.
  const candidates: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    candidates.push(join(dir, "native", "build", "forge_os.node"));
    dir = dirname(dir);
  }
  return candidates;
}

function load(): NativeOs {
  const candidates = findAddon();
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    const statusFile = candidates.map((p) => join(dirname(p), "status.json")).find((p) => existsSync(p));
    const why = statusFile
      ? (JSON.parse(readFileSync(statusFile, "utf8")) as { detail: string }).detail
      : "the addon was never built (the install script did not run)";
    throw new AllocError(
      `forge-alloc/os: the native addon is not available: ${why}. The rest of forge-alloc works without it. ` +
        `To build it: have a C compiler and Node's headers, then run \`npm rebuild forge-alloc\` ` +
        `(in this repository: \`node scripts/build-native.mjs\`).`,
    );
  }
  try {
    return createRequire(import.meta.url)(path) as NativeOs;
  } catch (error) {
    throw new AllocError(
      `forge-alloc/os: the native addon at ${path} could not be loaded: ${(error as Error).message}. ` +
        `Rebuild it for this Node.js (${process.version}) with \`npm rebuild forge-alloc\`.`,
    );
  }
}

/** The loaded addon. Importing this module throws when it cannot be loaded. */
export const native: NativeOs = load();

/** The system page size in bytes. */
export const PAGE_SIZE: number = native.pageSize();

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The symbolic name of an errno (`"EINVAL"`), or `"E<n>"` when unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** What the last failing OS-layer call of this agent reported. */
export interface OsErrorInfo {
  /** The errno (positive). */
  readonly errno: number;
  /** Its name, e.g. `"EPERM"`. */
  readonly code: string;
  /** The call that failed, e.g. `"mbind"`. */
  readonly syscall: string;
}

let last: OsErrorInfo | undefined;

/**
 * The errno of the last failing OS-layer call in this agent (worker), as Rust's `mmap_last_os_error()`: set by
 * every failing mmap, mprotect, madvise, mlock and mbind, and by the synthetic `EINVAL` of a node that is not
 * online. `undefined` until something failed (or after {@link clearLastOsError}).
 */
export function lastOsError(): OsErrorInfo | undefined {
  return last;
}

/** Forgets the recorded error, so a later {@link lastOsError} reports only what fails after this call. */
export function clearLastOsError(): void {
  last = undefined;
}

/** An OS call failed. Carries the errno and its name; also recorded for {@link lastOsError}. */
export class OsError extends AllocError {
  override name = "OsError";
  /** The errno (positive), e.g. 22. */
  readonly errno: number;
  /** Its name, e.g. `"EINVAL"`. */
  readonly code: string;
  /** The call that failed, e.g. `"mlock"`. */
  readonly syscall: string;
  /** @param syscall - the call; @param errno - positive errno; @param message - what was being done and a hint. */
  constructor(syscall: string, errno: number, message: string) {
    const code = errnoName(errno);
    super(`${message} (${syscall}: ${code}, errno ${errno})`);
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
  }
}

/** Records `errno` for {@link lastOsError} and returns the error to throw. */
export function osError(syscall: string, errno: number, message: string): OsError {
  last = { errno, code: errnoName(errno), syscall };
  return new OsError(syscall, errno, message);
}

/** Throws an {@link OsError} when `rc` is a `-errno` result. */
export function check(rc: number, syscall: string, message: string): void {
  if (rc < 0) throw osError(syscall, -rc, message);
}
