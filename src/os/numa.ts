/**
 * NUMA placement: `NumaLocal` binds an OS-mapped region to NUMA nodes with `mbind` once, at construction, the
 * way the Rust `NumaLocal` does (the document this project started from): pages are placed when they are first
 * touched, so the policy must be in force before that, and a refused bind is an error, never silently degraded.
 *
 * Beyond the Rust original:
 * - node sets of up to 1024 nodes (Linux's limit), and `maxnode` sized to cover the set: `bits + 1`, because the
 *   kernel reads one bit fewer than `maxnode` (so the Rust constant 64 could never bind node 63);
 * - a node that is not online is rejected before the syscall (an `OsError` with a synthetic `EINVAL`, also in
 *   `lastOsError()`), where the kernel would silently drop it from a multi-node set;
 * - `move: true` migrates pages that are already faulted in (`MPOL_MF_MOVE`);
 * - `appliedPolicy()` and `nodeOfPage()` read the placement back (`get_mempolicy`), and `numaTopology()` reads the
 *   machine's nodes, CPUs and memory from sysfs.
 *
 * On Linux every refusal of the syscall is an error carrying the errno, as in the seed: `ENOSYS` (a kernel without
 * NUMA), `EPERM` (containers often refuse `mbind`), `EINVAL`. Pass `{ allowUnenforced: true }` to accept an
 * unenforced policy instead; the wrapper then says so (`enforced === false`, `unenforcedBecause`, `stats()`). Where
 * the OS has no `mbind` at all (not Linux), `NumaLocal` is the seed's pass-through: the policy is validated and
 * stored, `enforced === false`.
 *
 * @example
 * ```ts
 * console.log(parseNodeList("0-2,4")); // [0, 1, 2, 4]: the sysfs list format
 * const nodes = onlineNumaNodes() ?? [0]; // undefined where sysfs has no NUMA
 * const { nodes: info } = numaTopology(); // ids, CPUs and memory of each node
 * const args = mbindArgs(NumaPolicy.bind(NodeSet.of(nodes[0]!))); // what mbind(2) receives: mode, mask, maxnode
 * console.log(args.maxnode > nodes[0]!, info.length >= 0, numaSupported() ? currentNumaNode() : "no NUMA");
 * ```
 *
 * @module
 */
import { AllocError, type OsBacked } from "../core/index.js";
import { OsRangeForwarder } from "./forwarding.js";
import { check, errnoName, listFolder, native, osError, readTextFile } from "./native.js";

/** The most NUMA nodes Linux supports (`CONFIG_NODES_SHIFT` = 10). */
export const MAX_NUMA_NODES = 1024;
const WORDS = MAX_NUMA_NODES / 64;

/** An immutable set of NUMA node ids, `0 .. 1023`. */
export class NodeSet {
  private readonly bits: BigUint64Array;

  private constructor(bits: BigUint64Array) {
    this.bits = bits;
  }

  /** The empty set. */
  static empty(): NodeSet {
    return new NodeSet(new BigUint64Array(WORDS));
  }

  /** The set `{ node }`, or `undefined` when `node` is not an integer in `0 .. 1023` (the seed's `None`). */
  static single(node: number): NodeSet | undefined {
    return NodeSet.empty().with(node);
  }

  /** The set of `nodes`, or `undefined` when any is out of range. */
  static of(...nodes: number[]): NodeSet | undefined {
    let set: NodeSet | undefined = NodeSet.empty();
    for (const n of nodes) set = set?.with(n);
    return set;
  }

  /** This set plus `node`, or `undefined` when `node` is out of range. The set itself is unchanged. */
  with(node: number): NodeSet | undefined {
    if (!Number.isInteger(node) || node < 0 || node >= MAX_NUMA_NODES) return undefined;
    const bits = this.bits.slice();
    bits[node >>> 6]! |= 1n << BigInt(node & 63);
    return new NodeSet(bits);
  }

  /** True when `node` is in the set. */
  has(node: number): boolean {
    if (!Number.isInteger(node) || node < 0 || node >= MAX_NUMA_NODES) return false;
    return ((this.bits[node >>> 6]! >> BigInt(node & 63)) & 1n) === 1n;
  }

  /** The set as a bit mask (bit n = node n); a `bigint`, since sets can exceed 64 nodes. */
  mask(): bigint {
    let m = 0n;
    for (let w = WORDS - 1; w >= 0; w--) m = (m << 64n) | this.bits[w]!;
    return m;
  }

  /** True when the set is empty. */
  isEmpty(): boolean {
    return this.bits.every((w) => w === 0n);
  }

  /** The node ids, ascending. */
  nodes(): number[] {
    const out: number[] = [];
    for (let n = 0; n < MAX_NUMA_NODES; n++) if (this.has(n)) out.push(n);
    return out;
  }

  /** The highest node id plus one; 0 for the empty set. */
  maxNodePlusOne(): number {
    const nodes = this.nodes();
    return nodes.length === 0 ? 0 : nodes[nodes.length - 1]! + 1;
  }

  /**
   * The `maxnode` to pass to `mbind` with {@link NodeSet.words}: the bits of the words that cover the set, plus one,
   * because the kernel reads `maxnode - 1` bits. 65 for any set of nodes below 64.
   */
  mbindMaxnode(): number {
    return Math.max(1, Math.ceil(this.maxNodePlusOne() / 64)) * 64 + 1;
  }

  /** The nodemask words that cover the set (at least one), as `mbind` reads them. A copy. */
  words(): BigUint64Array {
    return this.bits.slice(0, Math.max(1, Math.ceil(this.maxNodePlusOne() / 64)));
  }

  /** `"{0,2,5}"`. */
  toString(): string {
    return `{${this.nodes().join(",")}}`;
  }
}

/** A NUMA placement policy. Build one with `NumaPolicy.bind`, `.preferred` or `.interleaved`. */
export type NumaPolicy =
  | { readonly kind: "bind"; readonly nodes: NodeSet }
  | { readonly kind: "preferred"; readonly node: number }
  | { readonly kind: "interleaved"; readonly nodes: NodeSet };

/** Constructors of {@link NumaPolicy}. */
export const NumaPolicy: {
  /** `MPOL_BIND`: pages only from these nodes; allocation fails when they are full. The strictest. */
  bind(nodes: NodeSet): NumaPolicy;
  /** `MPOL_PREFERRED`: a hint; other nodes are used under memory pressure. */
  preferred(node: number): NumaPolicy;
  /** `MPOL_INTERLEAVE`: pages round-robin over the nodes. For bandwidth-bound data. */
  interleaved(nodes: NodeSet): NumaPolicy;
} = Object.freeze({
  bind: (nodes: NodeSet): NumaPolicy => Object.freeze({ kind: "bind", nodes }),
  preferred: (node: number): NumaPolicy => Object.freeze({ kind: "preferred", node }),
  interleaved: (nodes: NodeSet): NumaPolicy => Object.freeze({ kind: "interleaved", nodes }),
});

/** Linux `mbind` modes (`<linux/mempolicy.h>`), kept here so the policy mapping is testable everywhere. */
export const MPOL = {
  DEFAULT: 0,
  PREFERRED: 1,
  BIND: 2,
  INTERLEAVE: 3,
  LOCAL: 4,
  PREFERRED_MANY: 5,
  WEIGHTED_INTERLEAVE: 6,
} as const;
/** `mbind` flag: migrate pages already faulted in to the policy's nodes. */
export const MPOL_MF_MOVE = 2;
const MPOL_F_NODE = 1;
const MPOL_F_ADDR = 2;
const MODE_FLAGS_MASK = ~((1 << 15) | (1 << 14) | (1 << 13)); // MPOL_F_STATIC_NODES, RELATIVE_NODES, NUMA_BALANCING

/** The arguments of `mbind` for a policy. */
export interface MbindArgs {
  /** `MPOL_BIND`, `MPOL_PREFERRED` or `MPOL_INTERLEAVE`. */
  readonly mode: number;
  /** The nodemask words. */
  readonly nodemask: BigUint64Array;
  /** The `maxnode` argument (bits + 1). */
  readonly maxnode: number;
}

/**
 * The pure mapping from a policy to `mbind`'s `(mode, nodemask, maxnode)`: runs and is tested on every platform.
 *
 * @throws `AllocError` for an empty bind or interleave set, or a preferred node outside `0 .. 1023`.
 */
export function mbindArgs(policy: NumaPolicy): MbindArgs {
  if (policy.kind === "preferred") {
    const set = NodeSet.single(policy.node);
    if (set === undefined) {
      throw new AllocError(
        `NumaPolicy.preferred: node ${String(policy.node)} is not valid; expected an integer from 0 to ${MAX_NUMA_NODES - 1}`,
      );
    }
    return { mode: MPOL.PREFERRED, nodemask: set.words(), maxnode: set.mbindMaxnode() };
  }
  if (!(policy.nodes instanceof NodeSet) || policy.nodes.isEmpty()) {
    throw new AllocError(`NumaPolicy.${policy.kind}: the node set is empty; expected at least one node`);
  }
  return {
    mode: policy.kind === "bind" ? MPOL.BIND : MPOL.INTERLEAVE,
    nodemask: policy.nodes.words(),
    maxnode: policy.nodes.mbindMaxnode(),
  };
}

/** Parses a sysfs list such as `"0-3,5"`. */
export function parseNodeList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(",")) {
    if (part === "") continue;
    const [a, b] = part.split("-").map(Number);
    for (let n = a!; n <= (b ?? a)!; n++) out.push(n);
  }
  return out;
}

const NODE_DIR = "/sys/devices/system/node";

/** The online NUMA nodes, from sysfs; `undefined` where the OS does not say (not Linux, no sysfs). */
export function onlineNumaNodes(): number[] | undefined {
  const text = readTextFile(`${NODE_DIR}/online`);
  return text === undefined ? undefined : parseNodeList(text);
}

/** One NUMA node of {@link numaTopology}. */
export interface NumaNodeInfo {
  /** The node id. */
  readonly id: number;
  /** The CPUs of the node. */
  readonly cpus: number[];
  /** The node's memory in bytes (`MemTotal` of its meminfo). */
  readonly memTotalBytes: number;
}

/** The machine's online NUMA nodes with their CPUs and memory, from sysfs (`{ nodes: [] }` where unavailable). */
export function numaTopology(): { nodes: NumaNodeInfo[] } {
  const online = onlineNumaNodes() ?? [];
  return {
    nodes: online.map((id) => {
      const dir = `${NODE_DIR}/node${id}`;
      const cpulist = readTextFile(`${dir}/cpulist`);
      const cpus = cpulist === undefined ? [] : parseNodeList(cpulist);
      const meminfo = readTextFile(`${dir}/meminfo`) ?? "";
      const kb = Number(/MemTotal:\s+(\d+)\s*kB/.exec(meminfo)?.[1] ?? 0);
      return { id, cpus, memTotalBytes: kb * 1024 };
    }),
  };
}

/** Whether this OS can apply NUMA policies at all (Linux with the syscalls and a node directory). */
export function numaSupported(): boolean {
  return typeof native.mbind === "function" && (listFolder(NODE_DIR) ?? []).some((n) => /^node\d+$/.test(n));
}

/** The NUMA node the calling thread runs on now (`getcpu`), or `undefined` where unknown. */
export function currentNumaNode(): number | undefined {
  const n = native.currentNode?.() ?? -1;
  return n >= 0 ? n : undefined;
}

/** What `get_mempolicy` reports for an address. */
export interface AppliedPolicy {
  /** `"default"`, `"preferred"`, `"bind"`, `"interleave"`, `"local"`, ... */
  readonly mode: string;
  /** The policy's nodes. */
  readonly nodes: number[];
}

const MODE_NAMES = [
  "default",
  "preferred",
  "bind",
  "interleave",
  "local",
  "preferred-many",
  "weighted-interleave",
];

/** Options of {@link NumaLocal}. */
export interface NumaLocalOptions {
  /** Migrate pages that are already faulted in (`MPOL_MF_MOVE`); otherwise only later faults follow the policy. @defaultValue false */
  move?: boolean;
  /**
   * Accept a policy the kernel refuses to apply, instead of throwing: the wrapper is then built with
   * `enforced === false` and `unenforcedBecause` naming the errno (e.g. `ENOSYS` from a kernel without NUMA,
   * `EPERM` in a container). Off by default, as in the seed: a refused bind is an error.
   * @defaultValue false
   */
  allowUnenforced?: boolean;
}

/** What {@link NumaLocal.stats} reports. */
export interface NumaLocalStats {
  /** The policy asked for. */
  readonly policy: NumaPolicy;
  /** True when the kernel applied it. */
  readonly enforced: boolean;
  /** Why it is not enforced (`undefined` when it is). */
  readonly unenforcedBecause: string | undefined;
}

/** How `NumaLocal` treats an `mbind` result: `"enforced"`, `"unenforced"` (accepted by option) or an error. @internal */
export function mbindOutcome(rc: number, allowUnenforced: boolean): "enforced" | "unenforced" | "error" {
  if (rc === 0) return "enforced";
  return allowUnenforced ? "unenforced" : "error";
}

/**
 * Binds an `OsBacked` allocator's whole region to NUMA nodes, once (see the module documentation), and forwards
 * every `Allocator` and `OsBacked` call unchanged, `usableSize` included (so a wrapper above still sees the
 * inner's slack), and the `FixedRange` calls with `commit` exactly when the inner is a `FixedRange` (as the seed's
 * `impl<I: FixedRange> FixedRange`). Pages given back with `releasePages` come back under the same policy when
 * touched again.
 *
 * On Linux every refusal of `mbind` is an `OsError` carrying the errno, `ENOSYS` included (as the seed); the
 * `allowUnenforced` option accepts it instead and then says so in `enforced`, `unenforcedBecause` and `stats()`.
 * Where the OS has no `mbind` (not Linux) it is the seed's no-op: the policy is validated and stored, `enforced`
 * is false.
 *
 * @typeParam TInner - the wrapped allocator: an OS mapping (and a `FixedRange` when it is one).
 */
export class NumaLocal<TInner extends OsBacked> extends OsRangeForwarder<TInner> {
  /** The wrapped allocator. */
  readonly inner: TInner;
  /** The policy asked for. */
  readonly policy: NumaPolicy;
  /** True when the kernel applied the policy; false where the OS has no `mbind`, or a refusal was accepted. */
  readonly enforced: boolean;
  /** Why the policy is not enforced: `"mbind: ENOSYS (errno 38)"`, or `"no mbind on <platform>"`; `undefined` when it is. */
  readonly unenforcedBecause: string | undefined;

  /**
   * @throws `AllocError` for an invalid policy or inner (before any syscall); `OsError` with the errno when a node
   *   is not online (synthetic `EINVAL`) or the kernel refuses the bind (`ENOSYS` without NUMA, `EPERM` in many
   *   containers, `EINVAL`, `ENOMEM`), unless `allowUnenforced`. Both are recorded for `lastOsError()`.
   */
  constructor(inner: TInner, policy: NumaPolicy, options: NumaLocalOptions = {}) {
    if (typeof inner?.basePtr !== "function" || typeof inner.regionSize !== "function") {
      throw new AllocError(
        "NumaLocal: the inner allocator must be OsBacked (an OS mapping such as MmapBacked)",
      );
    }
    const args = mbindArgs(policy);
    let enforced = false;
    let because: string | undefined = `no mbind on ${process.platform}; the policy is stored, not enforced`;
    if (typeof native.mbind === "function") {
      const online = onlineNumaNodes();
      const wanted = policy.kind === "preferred" ? [policy.node] : policy.nodes.nodes();
      const offline = online === undefined ? [] : wanted.filter((n) => !online.includes(n));
      if (offline.length > 0) {
        throw osError(
          "mbind",
          22,
          `NumaLocal: node(s) ${offline.join(",")} are not online (online: ${online!.join(",")}); the kernel would ` +
            `silently drop them, so the bind is refused`,
        );
      }
      const rc = native.mbind(
        inner.memory.buffer as ArrayBuffer,
        inner.basePtr(),
        inner.regionSize(),
        args.mode,
        args.nodemask,
        args.maxnode,
        options.move === true ? MPOL_MF_MOVE : 0,
      );
      const outcome = mbindOutcome(rc, options.allowUnenforced === true);
      if (outcome === "error") {
        throw osError(
          "mbind",
          -rc,
          `NumaLocal: the kernel refused ${policy.kind} to ${describePolicy(policy)}` +
            (rc === -38 ? " (a kernel without NUMA support)" : "") +
            (rc === -1 ? " (containers often forbid mbind without CAP_SYS_NICE)" : "") +
            "; pass { allowUnenforced: true } to accept an unenforced policy",
        );
      }
      enforced = outcome === "enforced";
      because = enforced ? undefined : `mbind: ${errnoName(-rc)} (errno ${-rc})`;
    }
    super("NumaLocal", inner, "the inner allocator");
    this.inner = inner;
    this.policy = policy;
    this.enforced = enforced;
    this.unenforcedBecause = because;
  }

  /** The policy, whether the kernel enforces it, and why not. O(1). */
  stats(): NumaLocalStats {
    return { policy: this.policy, enforced: this.enforced, unenforcedBecause: this.unenforcedBecause };
  }

  /** What the kernel reports for the region's first page: the policy actually in force. */
  appliedPolicy(): AppliedPolicy {
    return this.readPolicy(this.inner.basePtr(), MPOL_F_ADDR);
  }

  /**
   * The node whose memory backs the page at `ptr` (faulting it in if it was not yet), or `undefined` where the OS
   * cannot say.
   *
   * @throws `InvalidPointerError`-like `AllocError` when `ptr` is outside the region.
   */
  nodeOfPage(ptr: number): number | undefined {
    if (typeof native.getMempolicy !== "function") return undefined;
    const base = this.inner.basePtr();
    if ((ptr | 0) !== ptr || ptr < base || ptr >= base + this.inner.regionSize()) {
      throw new AllocError(
        `NumaLocal.nodeOfPage: ${String(ptr)} is outside the region [${base}, ${base + this.inner.regionSize()})`,
      );
    }
    const out = new BigUint64Array(1 + WORDS);
    check(
      native.getMempolicy(this.memory.buffer as ArrayBuffer, ptr, MPOL_F_NODE | MPOL_F_ADDR, out),
      "get_mempolicy",
      "NumaLocal.nodeOfPage",
    );
    return Number(out[0]);
  }

  private readPolicy(ptr: number, flags: number): AppliedPolicy {
    if (typeof native.getMempolicy !== "function") return { mode: "default", nodes: [] };
    const out = new BigUint64Array(1 + WORDS);
    check(
      native.getMempolicy(this.memory.buffer as ArrayBuffer, ptr, flags, out),
      "get_mempolicy",
      "NumaLocal.appliedPolicy",
    );
    const mode = Number(out[0]) & MODE_FLAGS_MASK;
    const nodes: number[] = [];
    for (let w = 0; w < WORDS; w++)
      for (let b = 0; b < 64; b++) if ((out[1 + w]! >> BigInt(b)) & 1n) nodes.push(w * 64 + b);
    return { mode: MODE_NAMES[mode] ?? `mode ${mode}`, nodes };
  }
}

function describePolicy(policy: NumaPolicy): string {
  return policy.kind === "preferred" ? `node ${policy.node}` : `nodes ${policy.nodes.toString()}`;
}
