// The seed's tests (shared/seed/numa.rs.txt), ported, plus what we add. Real mbind/get_mempolicy on Linux.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { AllocError } from "../core/index.js";
import {
  MPOL,
  MmapBacked,
  NodeSet,
  NumaLocal,
  NumaPolicy,
  OsError,
  clearLastOsError,
  currentNumaNode,
  lastOsError,
  mbindArgs,
  numaTopology,
  onlineNumaNodes,
  parseNodeList,
} from "./index.js";

const region = (): MmapBacked => new MmapBacked(64 * 1024);

describe("NodeSet (seed tests)", () => {
  test("nodeset_single", () => {
    const s = NodeSet.single(3)!;
    assert.equal(s.mask(), 0b1000n);
    assert.equal(s.maxNodePlusOne(), 4);
  });

  test("nodeset_with", () => {
    const s = NodeSet.single(0)!.with(2)!.with(5)!;
    assert.equal(s.mask(), 0b100101n);
    assert.equal(s.maxNodePlusOne(), 6);
    assert.deepEqual(s.nodes(), [0, 2, 5]);
  });

  test("nodeset_rejects_overflow: undefined (the seed's None) beyond Linux's 1024 nodes and for non-integers", () => {
    for (const bad of [1024, 5000, -1, 1.5, NaN]) assert.equal(NodeSet.single(bad), undefined, String(bad));
    assert.equal(NodeSet.empty().with(1024), undefined);
  });

  test("goes beyond 64 nodes: up to 1023, with maxnode sized to cover the set (+1 for the kernel)", () => {
    const s = NodeSet.single(1023)!;
    assert.equal(s.mask(), 1n << 1023n);
    assert.equal(s.words().length, 16);
    assert.equal(s.mbindMaxnode(), 1025);
    assert.equal(NodeSet.single(64)!.mbindMaxnode(), 129);
    // The kernel reads maxnode - 1 bits: with the Rust constant 64, node 63 could never be bound.
    assert.equal(NodeSet.single(63)!.mbindMaxnode(), 65);
    assert.equal(NodeSet.empty().isEmpty(), true);
    assert.equal(NodeSet.of(1, 2)!.toString(), "{1,2}");
    assert.equal(NodeSet.of(1, 2000), undefined);
  });
});

describe("mbindArgs: the pure policy mapping (seed tests, on every platform)", () => {
  test("mbind_args_bind_builds_nodemask", () => {
    const a = mbindArgs(NumaPolicy.bind(NodeSet.single(0)!.with(3)!));
    assert.deepEqual([a.mode, a.nodemask[0], a.nodemask.length, a.maxnode], [MPOL.BIND, 0b1001n, 1, 65]);
  });
  test("mbind_args_interleaved_builds_nodemask", () => {
    const a = mbindArgs(NumaPolicy.interleaved(NodeSet.single(1)!));
    assert.deepEqual([a.mode, a.nodemask[0], a.maxnode], [MPOL.INTERLEAVE, 0b10n, 65]);
  });
  test("mbind_args_preferred_single_node", () => {
    const a = mbindArgs(NumaPolicy.preferred(2));
    assert.deepEqual([a.mode, a.nodemask[0], a.maxnode], [MPOL.PREFERRED, 0b100n, 65]);
  });
  test("mbind_args_rejects_empty_and_out_of_range", () => {
    assert.throws(() => mbindArgs(NumaPolicy.bind(NodeSet.empty())), /node set is empty/);
    assert.throws(() => mbindArgs(NumaPolicy.interleaved(NodeSet.empty())), AllocError);
    assert.throws(() => mbindArgs(NumaPolicy.preferred(1024)), /expected an integer from 0 to 1023/);
    assert.throws(() => mbindArgs(NumaPolicy.preferred(9999)), AllocError);
  });
});

describe("NumaLocal over a real mapping (seed tests, real syscalls)", () => {
  test("empty_bind_rejected, before any syscall", () => {
    clearLastOsError();
    const inner = region();
    assert.throws(() => new NumaLocal(inner, NumaPolicy.bind(NodeSet.empty())), AllocError);
    assert.equal(lastOsError(), undefined, "no syscall failed: the policy was refused first");
    inner.dispose();
  });

  test("preferred_out_of_range_node_rejected_uniformly", () => {
    const inner = region();
    assert.throws(() => new NumaLocal(inner, NumaPolicy.preferred(9999)), AllocError);
    inner.dispose();
  });

  test("bind_to_node_zero_succeeds, and get_mempolicy and /proc/self/numa_maps read it back", () => {
    using inner = new MmapBacked(16 * 4096);
    const local = new NumaLocal(inner, NumaPolicy.bind(NodeSet.single(0)!));
    assert.equal(local.enforced, true);
    assert.deepEqual(local.appliedPolicy(), { mode: "bind", nodes: [0] });
    const u8 = local.memory.u8;
    for (let i = 0; i < 16; i++) u8[i * 4096 + 100] = 1; // fault every page in
    const maps = readFileSync("/proc/self/numa_maps", "utf8").split("\n");
    assert.ok(
      maps.some((l) => l.includes("bind:0") && /anon=16\b/.test(l) && /N0=16\b/.test(l)),
      "a bind:0 range with our 16 pages on node 0",
    );
    assert.equal(local.nodeOfPage(4096 * 3), 0);
  });

  test("interleaved_succeeds and reads back", () => {
    using inner = region();
    const local = new NumaLocal(inner, NumaPolicy.interleaved(NodeSet.single(0)!));
    assert.deepEqual(local.appliedPolicy(), { mode: "interleave", nodes: [0] });
  });

  test("preferred_succeeds and reads back", () => {
    using inner = region();
    const local = new NumaLocal(inner, NumaPolicy.preferred(0));
    assert.deepEqual(local.appliedPolicy(), { mode: "preferred", nodes: [0] });
  });

  test("a node that is not online is refused with EINVAL, in the error and in lastOsError()", () => {
    clearLastOsError();
    using inner = region();
    assert.throws(
      () => new NumaLocal(inner, NumaPolicy.bind(NodeSet.single(5)!)),
      (e: unknown) =>
        e instanceof OsError && e.code === "EINVAL" && e.errno === 22 && /not online/.test(e.message),
    );
    assert.deepEqual(lastOsError(), { errno: 22, code: "EINVAL", syscall: "mbind" });
    // {0,5} would succeed at the kernel, which silently drops node 5: we refuse it too.
    assert.throws(() => new NumaLocal(inner, NumaPolicy.bind(NodeSet.of(0, 5)!)), OsError);
  });

  test("move: true migrates pages that were faulted in before the bind", () => {
    using inner = region();
    inner.memory.u8.fill(1);
    const local = new NumaLocal(inner, NumaPolicy.bind(NodeSet.single(0)!), { move: true });
    assert.equal(local.nodeOfPage(0), 0);
  });

  test("forwards usableSize, commit and the OsBacked calls to the inner allocator", () => {
    using inner = region();
    const local = new NumaLocal(inner, NumaPolicy.bind(NodeSet.single(0)!));
    const p = local.allocate(100);
    assert.equal(local.usableSize(p, 100), inner.usableSize(p, 100));
    assert.equal(local.commit(local.base(), 8), true);
    assert.deepEqual(
      [local.basePtr(), local.regionSize(), local.base(), local.size()],
      [0, 65536, inner.base(), inner.size()],
    );
    local.memory.u8.fill(7, 4096, 8192);
    local.releasePages(4096, 4096);
    assert.equal(local.memory.u8[5000], 0);
    assert.throws(() => new NumaLocal({} as never, NumaPolicy.preferred(0)), /must be OsBacked/);
  });

  test("current_numa_node names an online node", () => {
    const node = currentNumaNode();
    assert.ok(node !== undefined && onlineNumaNodes()!.includes(node));
  });

  test("numaTopology reads nodes, CPUs and memory from sysfs", () => {
    const { nodes } = numaTopology();
    assert.ok(nodes.length >= 1);
    assert.equal(nodes[0]!.id, 0);
    assert.ok(nodes[0]!.cpus.length >= 1 && nodes[0]!.memTotalBytes > 0);
    assert.deepEqual(parseNodeList("0-2,5,7-8\n"), [0, 1, 2, 5, 7, 8]);
  });
});
