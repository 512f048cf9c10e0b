/**
 * `NumaPagePlacement`: NUMA placement per worker for a heap whose workers take pages from one pool
 * (`ConcurrentHeap`'s `placement` option). Each page a worker takes is bound (`mbind(MPOL_BIND)`, with
 * `MPOL_MF_MOVE` for a page that already holds data) to the node of the CPU the worker runs on at that moment (or
 * to its planned node when it is pinned), before any block of it is handed out, and then read back: the policy of
 * the range (`get_mempolicy(MPOL_F_ADDR)`) and the node of every OS page (`get_mempolicy(MPOL_F_NODE |
 * MPOL_F_ADDR)`, which faults a page in where it was not yet). `stats()` reports the pages placed, the pages
 * verified, any page found on another node, and the nodes used; `ConcurrentHeap.stats().placement` carries it.
 *
 * Pinning (`pin: "node"` or `"cpu"`) restricts the calling thread (`sched_setaffinity`: this worker thread, not
 * the process) to the CPUs {@link planWorkerPlacement} gives worker `worker`: workers spread round-robin over the
 * nodes that have CPUs. Without pinning the OS may move the thread to another node later; pages already taken stay
 * where they were bound.
 *
 * On a machine with one node the same path runs: every page is bound to node 0 and read back there. Where the
 * kernel refuses `mbind` (`EPERM` in many containers, `ENOSYS` without NUMA) the construction throws an `OsError`,
 * unless `allowUnenforced`, under which pages go where the OS puts them and `stats().enforced` is false.
 *
 * Complexity: per page taken (64 KiB for `ConcurrentHeap`), one `mbind`, one `getcpu` and 1 + (page / 4 KiB)
 * `get_mempolicy` calls with `verify` (a system call each); nothing on the allocation fast path.
 * Threads: one per worker (each worker makes its own; it binds for the thread that calls `place`).
 * Composition limits: the heap's backing must be an OS mapping of this process (`SharedMmapBacked`, or another
 * `MappedBacking`); `MPOL_MF_MOVE` does not move a page several processes map (that needs `CAP_SYS_NICE`): such a
 * page stays where it is and is counted in `mismatches`.
 *
 * @example
 * ```ts
 * using shared = new SharedMmapBacked(8 << 20);
 * const heap = new ConcurrentHeap(shared, { placement: new NumaPagePlacement(shared) });
 * heap.malloc(100);
 * const placed = heap.stats().placement!;
 * console.log(placed.pagesPlaced, placed.mismatches, placed.nodes); // 1 0 [ 0 ]: on a one-node machine
 * heap.release();
 * // the pure plan, for a synthetic machine of two nodes with two CPUs each
 * const topology = { nodes: [{ id: 0, cpus: [0, 1], memTotalBytes: 0 }, { id: 1, cpus: [2, 3], memTotalBytes: 0 }] };
 * console.log(planWorkerPlacement(topology, 3, "cpu")); // { node: 1, cpus: [ 3 ] }
 * console.log(nodeOfCpu(topology, 2)); // 1
 * const allowed = threadAffinity() ?? [0]; // the CPUs this thread may run on
 * pinThread(allowed); // sched_setaffinity: here to the same CPUs, so nothing changes
 * ```
 *
 * @module
 */
import { AllocError, type PagePlacement, type PlacementStats } from "../core/index.js";
import type { MappedBacking } from "./mapped-backing.js";
import { PAGE_SIZE, check, errnoName, native, osError } from "./native.js";
import {
  MPOL,
  MPOL_MF_MOVE,
  NodeSet,
  type NumaNodeInfo,
  NumaPolicy,
  mbindArgs,
  numaTopology,
} from "./numa.js";

const MPOL_F_NODE = 1;
const MPOL_F_ADDR = 2;
const MODE_FLAGS_MASK = 0xff;
const CPU_WORDS = 16; // 1024 CPUs

/** Where a worker's pages go, and the CPUs it is pinned to (see {@link planWorkerPlacement}). */
export interface WorkerPlacementPlan {
  /** The node. */
  readonly node: number;
  /** The CPUs the worker may run on. */
  readonly cpus: readonly number[];
}

/** A machine's nodes, as {@link numaTopology} reads them (or a synthetic one, for planning). */
export interface NumaTopologyInfo {
  /** The online nodes. */
  readonly nodes: readonly NumaNodeInfo[];
}

/** The node whose CPU list holds `cpu`, or -1. Pure. */
export function nodeOfCpu(topology: NumaTopologyInfo, cpu: number): number {
  for (const n of topology.nodes) if (n.cpus.includes(cpu)) return n.id;
  return -1;
}

/**
 * The plan for worker number `worker` (0, 1, ...): workers spread round-robin over the nodes that have CPUs (a
 * node with memory only takes none), in node order; `"node"` pins it to all of its node's CPUs, `"cpu"` to one of
 * them (the workers of a node take its CPUs in turn). Pure: the tests use synthetic topologies.
 *
 * @throws `AllocError` for a worker number that is not a non-negative integer, or a topology with no CPU.
 */
export function planWorkerPlacement(
  topology: NumaTopologyInfo,
  worker: number,
  pin: "node" | "cpu",
): WorkerPlacementPlan {
  if (!Number.isInteger(worker) || worker < 0)
    throw new AllocError(`planWorkerPlacement: worker ${String(worker)} is not a non-negative integer`);
  const withCpus = [...topology.nodes].filter((n) => n.cpus.length > 0).sort((a, b) => a.id - b.id);
  if (withCpus.length === 0) throw new AllocError("planWorkerPlacement: the topology has no node with CPUs");
  const node = withCpus[worker % withCpus.length]!;
  const cpus = [...node.cpus].sort((a, b) => a - b);
  if (pin === "node") return { node: node.id, cpus };
  return { node: node.id, cpus: [cpus[Math.floor(worker / withCpus.length) % cpus.length]!] };
}

/** Restricts the calling thread to `cpus` (`sched_setaffinity`). @throws `AllocError` for a bad list, `OsError`. */
export function pinThread(cpus: readonly number[]): void {
  if (cpus.length === 0 || !cpus.every((c) => Number.isInteger(c) && c >= 0 && c < CPU_WORDS * 64))
    throw new AllocError(
      `pinThread: [${cpus.join(", ")}] is not a non-empty list of CPU numbers (0 to 1023)`,
    );
  if (native.setAffinity === undefined) throw osError("sched_setaffinity", 38, "pinThread: needs Linux");
  const mask = new BigUint64Array(CPU_WORDS);
  for (const c of cpus) mask[c >>> 6] = mask[c >>> 6]! | (1n << BigInt(c & 63));
  check(native.setAffinity(mask), "sched_setaffinity", `pinThread([${cpus.join(", ")}])`);
}

/** The CPUs the calling thread may run on (`sched_getaffinity`); `undefined` where the OS does not say. */
export function threadAffinity(): number[] | undefined {
  if (native.getAffinity === undefined) return undefined;
  const mask = new BigUint64Array(CPU_WORDS);
  if (native.getAffinity(mask) !== 0) return undefined;
  const out: number[] = [];
  for (let w = 0; w < CPU_WORDS; w++)
    for (let b = 0; b < 64; b++) if ((mask[w]! >> BigInt(b)) & 1n) out.push(w * 64 + b);
  return out;
}

/** Options of {@link NumaPagePlacement}. */
export interface NumaPagePlacementOptions {
  /**
   * Pin the calling thread at construction: `"node"` to the CPUs of the node planned for `worker`, `"cpu"` to one
   * of them; its pages then all go to that node. @defaultValue "none": each page goes to the node of the CPU the
   * thread runs on when it takes the page
   */
  readonly pin?: "none" | "node" | "cpu";
  /** The worker's number for the plan (see {@link planWorkerPlacement}). @defaultValue 0 */
  readonly worker?: number;
  /** Read every page back after binding it. @defaultValue true */
  readonly verify?: boolean;
  /** Accept a kernel that refuses `mbind` (report it) instead of throwing at construction. @defaultValue false */
  readonly allowUnenforced?: boolean;
  /** The machine's nodes. @defaultValue {@link numaTopology}() */
  readonly topology?: NumaTopologyInfo;
}

/** Binds each page a worker takes to its node (see the module documentation). */
export class NumaPagePlacement implements PagePlacement {
  /** The node every page goes to when the thread is pinned; -1: the node of the current CPU, page by page. */
  readonly pinnedNode: number;
  private readonly buffer: ArrayBuffer;
  private readonly verify: boolean;
  private enforced: boolean;
  private lastNode: number;
  private placed: number;
  private verified: number;
  private mismatches: number;
  private readonly used: Set<number>;
  private readonly out: BigUint64Array;

  /**
   * @param backing - the heap's backing: an OS mapping of this process.
   * @throws `AllocError` for a backing that is not a live OS mapping or bad options; `OsError` when pinning or
   *   binding is refused (a probe: `mbind(MPOL_DEFAULT)` on the mapping's first page), unless `allowUnenforced`.
   */
  constructor(backing: MappedBacking, options: NumaPagePlacementOptions = {}) {
    const buffer = backing?.memory?.buffer as ArrayBuffer | undefined;
    if (buffer === undefined || backing.memory.kind !== "os" || backing.disposed)
      throw new AllocError(
        "NumaPagePlacement: the backing must be a live OS mapping (SharedMmapBacked, MmapBacked)",
      );
    const pin = options.pin ?? "none";
    if (pin !== "none" && pin !== "node" && pin !== "cpu")
      throw new AllocError(`NumaPagePlacement: pin ${String(pin)} is not "none", "node" or "cpu"`);
    this.buffer = buffer;
    this.verify = options.verify !== false;
    let rc = -38; // ENOSYS where the addon has no mbind
    if (typeof native.mbind === "function" && typeof native.currentNode === "function") {
      // the probe: the default policy on the mapping's first page (its header) changes nothing that matters
      rc = native.mbind(buffer, 0, PAGE_SIZE, MPOL.DEFAULT, new BigUint64Array(1), 1, 0);
    }
    this.enforced = rc === 0;
    if (!this.enforced && options.allowUnenforced !== true)
      throw osError(
        "mbind",
        -rc,
        "NumaPagePlacement: the kernel refuses mbind here (containers often do without CAP_SYS_NICE; a kernel without NUMA says ENOSYS); pass { allowUnenforced: true } to accept unplaced pages",
      );
    if (pin !== "none") {
      const plan = planWorkerPlacement(options.topology ?? numaTopology(), options.worker ?? 0, pin);
      pinThread(plan.cpus);
      this.pinnedNode = plan.node;
    } else {
      this.pinnedNode = -1;
    }
    this.lastNode = -1;
    this.placed = 0;
    this.verified = 0;
    this.mismatches = 0;
    this.used = new Set();
    this.out = new BigUint64Array(1 + 16);
  }

  /** Binds `[offset, offset + length)` to this worker's node, then reads it back (see the module documentation). */
  place(offset: number, length: number): void {
    this.placed += Math.ceil(length / 65536);
    if (!this.enforced) return;
    const node = this.pinnedNode >= 0 ? this.pinnedNode : native.currentNode!();
    if (node < 0) {
      this.enforced = false;
      return;
    }
    const args = mbindArgs(NumaPolicy.bind(NodeSet.single(node)!));
    const rc = native.mbind!(
      this.buffer,
      offset,
      length,
      args.mode,
      args.nodemask,
      args.maxnode,
      MPOL_MF_MOVE,
    );
    if (rc !== 0) {
      this.enforced = false; // recorded, never thrown: the page is usable wherever it lands
      osError("mbind", -rc, `NumaPagePlacement.place: ${errnoName(-rc)}`);
      return;
    }
    this.lastNode = node;
    this.used.add(node);
    if (this.verify) this.readBack(offset, length, node);
  }

  /** What was placed and verified so far. */
  stats(): PlacementStats {
    return {
      policy:
        this.pinnedNode >= 0
          ? `bind to node ${this.pinnedNode} (pinned)`
          : "bind to the worker's current node",
      node: this.lastNode,
      nodes: [...this.used].sort((a, b) => a - b),
      pagesPlaced: this.placed,
      pagesVerified: this.verified,
      mismatches: this.mismatches,
      enforced: this.enforced,
    };
  }

  private readBack(offset: number, length: number, node: number): void {
    const out = this.out;
    const gm = native.getMempolicy!;
    let ok = gm(this.buffer, offset, MPOL_F_ADDR, out) === 0;
    ok &&=
      (Number(out[0]) & MODE_FLAGS_MASK) === MPOL.BIND && out[1 + (node >>> 6)] === 1n << BigInt(node & 63);
    for (let p = offset; p < offset + length; p += PAGE_SIZE) {
      if (ok && gm(this.buffer, p, MPOL_F_NODE | MPOL_F_ADDR, out) === 0 && Number(out[0]) === node)
        this.verified++;
      else this.mismatches++;
    }
  }
}
