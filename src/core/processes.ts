/**
 * What a backing shared by several processes tells the layouts over it, and how a layout places its pages: two
 * small interfaces, so that `ConcurrentHeap` (a layout) can work across processes and NUMA nodes without importing
 * `forge-alloc/os`, which implements them (`SharedMmapBacked`, `NumaPagePlacement`).
 *
 * - {@link ProcessSharing}: a backing whose memory other processes map too (`SharedMmapBacked`) has a
 *   `processSharing` property. A layout records `pid` and `stamp` where it keeps a worker's state, and another
 *   process asks `alive(pid, stamp)` to find the workers of a process that died.
 * - {@link PagePlacement}: handed to a layout that takes pages from a pool (`ConcurrentHeap`'s `placement`
 *   option); it is called with each page the layout takes, before the page is first touched.
 *
 * @example
 * ```ts
 * // a placement that only counts the pages (NumaPagePlacement in forge-alloc/os binds them to a node)
 * let placed = 0;
 * const counting: PagePlacement = {
 *   place: () => void placed++,
 *   stats: () => ({ policy: "count", node: -1, nodes: [], pagesPlaced: placed, pagesVerified: 0, mismatches: 0, enforced: false }),
 * };
 * counting.place(1 << 16, 1 << 16);
 * console.log(counting.stats().pagesPlaced); // 1
 * ```
 *
 * @module
 */

/**
 * A memory mapped by several processes: who this process is, and whether another one still runs.
 *
 * @remarks `alive` is a system call or two (`kill(pid, 0)`, `/proc/<pid>/stat`): only for slow paths.
 */
export interface ProcessSharing {
  /** This process's id. */
  readonly pid: number;
  /**
   * What tells this process from a later one that gets the same id: its start time (clock ticks since boot, as a
   * signed 32-bit number); 0 when the OS does not say.
   */
  readonly stamp: number;
  /**
   * False only when the process `pid` that had `stamp` is known to have ended (no such process, a zombie, or a
   * process with another start time). True while it runs, or when the OS does not say.
   */
  alive(pid: number, stamp: number): boolean;
}

/** A backing that other processes map too (see {@link ProcessSharing}). */
export interface ProcessSharedBacking {
  /** Who this process is, and whether another one still runs. */
  readonly processSharing: ProcessSharing;
}

/** The result of {@link SharedWaiting.wait}, as `Atomics.wait`'s. */
export type SharedWaitOutcome = "ok" | "not-equal" | "timed-out";

/**
 * Blocking on a word of a memory that several processes map, where `Atomics.wait` cannot (its buffer is not a
 * `SharedArrayBuffer`): a process-shared futex. `SharedMmapBacked` (forge-alloc/os) implements it through the addon;
 * a layout that must block (a full `RemoteFreeRing`) gets it from its backing, so that it needs no import of
 * forge-alloc/os.
 *
 * @remarks Each call is a system call: only for slow paths.
 */
export interface SharedWaiting {
  /**
   * Blocks while the 32-bit word at byte `offset` of the memory holds `expected`, until a `notify` on it from any
   * process, or `timeoutMs`. May return `"ok"` spuriously: wait in a loop that re-checks the word.
   */
  wait(offset: number, expected: number, timeoutMs?: number): SharedWaitOutcome;
  /** Wakes up to `count` threads (in any process) waiting on the word at byte `offset`; returns how many woke. */
  notify(offset: number, count?: number): number;
}

/** The {@link SharedWaiting} of a backing that has one (a `wait` and a `notify` method), else `undefined`. @internal */
export function sharedWaitingOf(backing: unknown): SharedWaiting | undefined {
  const b = backing as Partial<SharedWaiting> | null | undefined;
  return b !== null &&
    typeof b === "object" &&
    typeof b.wait === "function" &&
    typeof b.notify === "function" &&
    processSharingOf(backing) !== undefined
    ? (b as SharedWaiting)
    : undefined;
}

/** The {@link ProcessSharing} of a backing that has one, else `undefined`. @internal */
export function processSharingOf(backing: unknown): ProcessSharing | undefined {
  const s = (backing as Partial<ProcessSharedBacking> | null | undefined)?.processSharing;
  return s !== undefined && typeof s === "object" && typeof s.alive === "function" ? s : undefined;
}

/** What a {@link PagePlacement} reports (in `ConcurrentHeap.stats().placement`). */
export interface PlacementStats {
  /** The policy in words, e.g. `"bind to the worker's node"`. */
  readonly policy: string;
  /** The node the last page was placed on; -1 before any. */
  readonly node: number;
  /** The distinct nodes pages were placed on so far. */
  readonly nodes: readonly number[];
  /** Pages placed (each bound before its first touch). */
  readonly pagesPlaced: number;
  /** OS pages whose placement was read back and found where they were bound. */
  readonly pagesVerified: number;
  /** OS pages read back on another node than the one they were bound to (0 when placement works). */
  readonly mismatches: number;
  /** False when the OS refused the binding (pages then go wherever the OS puts them). */
  readonly enforced: boolean;
}

/**
 * Decides where a layout's pages go in physical memory. The layout calls `place` with the offset and length of
 * every page it takes from its pool, before it hands out any block of it (so before the page is touched).
 *
 * @remarks Called on a slow path only (once per page taken); it may make system calls. It must not throw for a
 * refusal of the OS it can live with (it reports it in `stats().enforced`).
 */
export interface PagePlacement {
  /** Places `[offset, offset + length)` of the layout's memory (whole pages). */
  place(offset: number, length: number): void;
  /** What it did so far. */
  stats(): PlacementStats;
}
