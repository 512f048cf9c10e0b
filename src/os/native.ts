/**
 * The bridge to the forge_os addon (`native/forge_os.c`): finding and loading it, and turning its `-errno` results
 * into {@link OsError}s. Everything else in `forge-alloc/os` goes through here.
 *
 * Importing `forge-alloc/os` never throws: the addon is looked for once, at import, and where it is missing the
 * pure parts (`NodeSet`, `NumaPolicy`, `mbindArgs`, `parseNodeList`, ...) still work, while the first call that
 * needs the OS (constructing an `MmapBacked`, ...) throws an `UnsupportedError` that says why and how to fix it.
 * This module imports nothing from Node statically (it asks `process.getBuiltinModule`), so bundles for other
 * platforms can include it.
 *
 * Where the addon is looked for, first match wins (see {@link nativeStatus}):
 * 1. the file named by the environment variable `FORGE_ALLOC_NATIVE` (for bundled applications, which copy the
 *    `.node` file next to their bundle); when it is set, nothing else is tried;
 * 2. `native/build/forge_os.node` in the package, compiled by the install script (or `npm rebuild forge-alloc`);
 * 3. `prebuilds/<platform>-<arch>/forge_os.node` in the package, built when the package was packed (linux-x64 and
 *    linux-arm64, glibc).
 *
 * @example
 * ```ts
 * const addon = nativeStatus(); // where the addon came from, or why it is missing
 * console.log(addon.loaded ? `${addon.source}: ${addon.path}` : `no addon: ${addon.reason}`);
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
import { AllocError, UnsupportedError } from "../core/index.js";

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
  mapShared?(length: number): ArrayBuffer | number;
  openShared?(pid: number, fd: number, length: number): ArrayBuffer | number;
  sharedFd?(buffer: ArrayBuffer): number;
  futexWait?(buffer: ArrayBuffer, offset: number, expected: number, timeoutMs: number): number;
  futexWake?(buffer: ArrayBuffer, offset: number, count: number): number;
  processAlive?(pid: number): number;
  setAffinity?(mask: BigUint64Array): number;
  getAffinity?(out: BigUint64Array): number;
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

/** Where the addon came from, or why there is none. */
export interface NativeStatus {
  /** True when the addon is loaded. */
  readonly loaded: boolean;
  /** `"env"` (`FORGE_ALLOC_NATIVE`), `"build"` (compiled here) or `"prebuilt"`; absent when not loaded. */
  readonly source?: "env" | "build" | "prebuilt";
  /** The file loaded, or the file that failed to load. */
  readonly path?: string;
  /** Why it is not loaded, and what to do; absent when loaded. */
  readonly reason?: string;
}

type NodeRequire = (id: string) => unknown;
interface NodeParts {
  readonly fs: typeof import("node:fs");
  readonly path: typeof import("node:path");
  readonly url: typeof import("node:url");
  readonly module: typeof import("node:module");
  readonly os: typeof import("node:os");
}

/** Node's built-in modules without a static import, or undefined outside Node (a browser bundle). */
function nodeParts(): NodeParts | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (typeof proc?.getBuiltinModule !== "function") return undefined;
  const get = (id: string): unknown => proc.getBuiltinModule!(id);
  return {
    fs: get("node:fs") as NodeParts["fs"],
    path: get("node:path") as NodeParts["path"],
    url: get("node:url") as NodeParts["url"],
    module: get("node:module") as NodeParts["module"],
    os: get("node:os") as NodeParts["os"],
  };
}

/** The package root: the nearest folder above this file whose package.json is forge-alloc's. */
function packageRoot(node: NodeParts): string | undefined {
  let dir = node.path.dirname(node.url.fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const file = node.path.join(dir, "package.json");
    try {
      if ((JSON.parse(node.fs.readFileSync(file, "utf8")) as { name?: string }).name === "forge-alloc")
        return dir;
    } catch {
      /* no package.json here: go up */
    }
    dir = node.path.dirname(dir);
  }
  return undefined;
}

const FIX =
  "The rest of forge-alloc works without it. To get it: use linux-x64 or linux-arm64 (glibc), where the package " +
  "ships a prebuilt addon, or have a C compiler and run `npm rebuild forge-alloc`; a bundled application sets " +
  "FORGE_ALLOC_NATIVE to the path of forge_os.node (see `npx forge-alloc doctor`).";

function tryLoad(): { addon?: NativeOs; status: NativeStatus } {
  const node = nodeParts();
  if (node === undefined) {
    return {
      status: {
        loaded: false,
        reason:
          "forge-alloc/os needs Node.js (it maps memory through a Node-API addon); this runtime is not Node",
      },
    };
  }
  const require = node.module.createRequire(import.meta.url) as NodeRequire;
  const load = (
    path: string,
    source: NonNullable<NativeStatus["source"]>,
  ): { addon?: NativeOs; status: NativeStatus } => {
    try {
      return { addon: require(path) as NativeOs, status: { loaded: true, source, path } };
    } catch (error) {
      return {
        status: {
          loaded: false,
          source,
          path,
          reason: `the addon at ${path} could not be loaded: ${(error as Error).message.split("\n")[0]}`,
        },
      };
    }
  };
  const fromEnv = process.env.FORGE_ALLOC_NATIVE;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!node.fs.existsSync(fromEnv)) {
      return {
        status: {
          loaded: false,
          source: "env",
          path: fromEnv,
          reason: `FORGE_ALLOC_NATIVE names ${fromEnv}, which does not exist`,
        },
      };
    }
    return load(node.path.resolve(fromEnv), "env");
  }
  const root = packageRoot(node);
  if (root === undefined) {
    return {
      status: { loaded: false, reason: "the forge-alloc package folder was not found above native.js" },
    };
  }
  const built = node.path.join(root, "native", "build", "forge_os.node");
  const prebuilt = node.path.join(root, "prebuilds", `${process.platform}-${process.arch}`, "forge_os.node");
  const failures: string[] = [];
  for (const [path, source] of [
    [built, "build"],
    [prebuilt, "prebuilt"],
  ] as const) {
    if (!node.fs.existsSync(path)) continue;
    const r = load(path, source);
    if (r.addon) return r;
    failures.push(r.status.reason!);
  }
  let why = failures.join("; ");
  if (why === "") {
    const statusFile = node.path.join(root, "native", "build", "status.json");
    const detail = node.fs.existsSync(statusFile)
      ? (JSON.parse(node.fs.readFileSync(statusFile, "utf8")) as { detail?: string }).detail
      : undefined;
    why =
      `no prebuilt addon for ${process.platform}-${process.arch}, and ` +
      (detail
        ? `the install-time build failed: ${detail}`
        : "none was compiled (the install script did not run)");
  }
  return { status: { loaded: false, reason: why } };
}

const found = tryLoad();

/** Where the addon came from, or why it is not available (what `forge-alloc doctor` reports). */
export function nativeStatus(): NativeStatus {
  return found.status;
}

/**
 * The loaded addon, or an `UnsupportedError` naming `what` (the operation that needs it), why the addon is
 * missing, and how to get it.
 */
export function requireNative(what: string): NativeOs {
  if (found.addon !== undefined) return found.addon;
  throw new UnsupportedError(
    `${what} needs forge-alloc's native addon, which is not available: ${found.status.reason}. ${FIX}`,
  );
}

/** Optional addon functions: where the addon is missing they read as absent, so feature checks say "no". */
const OPTIONAL = new Set<PropertyKey>([
  "mbind",
  "getMempolicy",
  "currentNode",
  "mapShared",
  "openShared",
  "sharedFd",
  "futexWait",
  "futexWake",
  "processAlive",
  "setAffinity",
  "getAffinity",
]);

/**
 * The addon. Where it is not available, reading one of its required functions throws `UnsupportedError` (see
 * {@link requireNative}) and the optional ones (`mbind`, `getMempolicy`, `currentNode`, and the Linux-only calls for
 * shared mappings, futexes, process liveness and CPU affinity) read as `undefined`.
 */
export const native: NativeOs =
  found.addon ??
  (new Proxy({} as NativeOs, {
    get(_target, key) {
      if (OPTIONAL.has(key)) return undefined;
      return requireNative(`forge-alloc/os (${String(key)})`)[key as keyof NativeOs];
    },
  }) as NativeOs);

/** The system page size in bytes as the addon reports it; `0` where the addon is not available. */
export const PAGE_SIZE: number = found.addon?.pageSize() ?? 0;

/**
 * The text of a file such as `/proc/meminfo` or a sysfs node, or `undefined` where it does not exist, cannot be
 * read, or this is not Node. For the OS layer's readers, so that none of its modules needs a static `node:fs`
 * import (which a browser bundle could not resolve).
 */
export function readTextFile(path: string): string | undefined {
  const fs = nodeParts()?.fs;
  try {
    return fs?.existsSync(path) ? fs.readFileSync(path, "utf8") : undefined;
  } catch {
    return undefined;
  }
}

/** The names in a folder, or `undefined` where it does not exist or this is not Node. See {@link readTextFile}. */
export function listFolder(path: string): string[] | undefined {
  const fs = nodeParts()?.fs;
  try {
    return fs?.existsSync(path) ? fs.readdirSync(path) : undefined;
  } catch {
    return undefined;
  }
}

const errnoNames = new Map<number, string>(
  Object.entries(nodeParts()?.os.constants.errno ?? {}).map(([name, n]) => [n, name]),
);

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
  override readonly code: string;
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
