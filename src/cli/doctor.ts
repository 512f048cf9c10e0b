/**
 * `forge-alloc doctor`: what this machine offers the OS layer, and what it refuses: the addon, the page size,
 * NUMA nodes and their CPUs, transparent huge pages, reserved huge pages, the mlock limit, and whether `mbind` is
 * permitted (containers often refuse it). Every fact is read, not assumed; a check that fails says why.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";

/** One line of the doctor's report. */
export interface DoctorFact {
  /** What was checked. */
  readonly name: string;
  /** What was found. */
  readonly value: string;
  /** `ok`, `warn` (works, with a limit worth knowing) or `fail` (unavailable). */
  readonly status: "ok" | "warn" | "fail";
}

function read(path: string): string | undefined {
  try {
    return existsSync(path) ? readFileSync(path, "utf8").trim() : undefined;
  } catch {
    return undefined;
  }
}

function memlockLimit(): string | undefined {
  const line = read("/proc/self/limits")
    ?.split("\n")
    .find((l) => l.startsWith("Max locked memory"));
  if (!line) return undefined;
  const [soft, hard] = line.replace("Max locked memory", "").trim().split(/\s+/);
  const show = (v: string | undefined): string =>
    v === "unlimited" ? "unlimited" : `${Math.round(Number(v) / 1024)} KiB`;
  return `soft ${show(soft)}, hard ${show(hard)}`;
}

function hasIpcLock(): boolean {
  const eff = /CapEff:\s+([0-9a-f]+)/.exec(read("/proc/self/status") ?? "")?.[1];
  return eff !== undefined && ((BigInt(`0x${eff}`) >> 14n) & 1n) === 1n; // CAP_IPC_LOCK = 14
}

/** Gathers the facts. Never throws: a missing addon is a `fail` fact with the reason (and the checks that need it are skipped). */
export async function doctor(): Promise<DoctorFact[]> {
  const facts: DoctorFact[] = [];
  const add = (name: string, value: string, status: DoctorFact["status"] = "ok"): void =>
    void facts.push({ name, value, status });
  add("platform", `${process.platform} ${process.arch}, Node ${process.version}`);
  const mod = await import("../os.js");
  let os: typeof mod | undefined = mod;
  const addon = mod.nativeStatus();
  if (addon.loaded) {
    add(
      "native addon",
      `loaded (${addon.source === "prebuilt" ? "prebuilt" : addon.source === "env" ? "FORGE_ALLOC_NATIVE" : "compiled at install"}: ${addon.path})`,
    );
  } else {
    add("native addon", `not available: ${addon.reason}`, "fail");
    os = undefined;
  }
  if (os) add("page size", `${os.PAGE_SIZE} bytes`);
  const topology = mod.numaTopology();
  if (topology.nodes.length === 0)
    add("NUMA nodes", "none reported by the OS (no /sys/devices/system/node)", "warn");
  for (const n of topology.nodes) {
    add(
      `NUMA node ${n.id}`,
      `CPUs ${n.cpus.join(",") || "none"}, ${(n.memTotalBytes / 2 ** 30).toFixed(1)} GiB`,
    );
  }
  if (os) {
    const node = os.currentNumaNode();
    add(
      "this thread's node",
      node === undefined ? "unknown" : String(node),
      node === undefined ? "warn" : "ok",
    );
  }
  const thp = read("/sys/kernel/mm/transparent_hugepage/enabled");
  add(
    "transparent huge pages",
    thp ?? "not available",
    thp === undefined || thp.includes("[never]") ? "warn" : "ok",
  );
  const pool = mod.hugePagePool();
  add(
    "reserved huge pages",
    pool
      ? `${pool.total} of ${pool.sizeBytes / 1024} KiB (${pool.free} free; set with sysctl vm.nr_hugepages=N)`
      : "unknown",
    pool && pool.total > 0 ? "ok" : "warn",
  );
  const limit = memlockLimit();
  add(
    "RLIMIT_MEMLOCK",
    `${limit ?? "unknown"}${hasIpcLock() ? " (CAP_IPC_LOCK: the limit does not apply)" : ""}`,
    limit ? "ok" : "warn",
  );
  if (os && typeof os.NumaLocal === "function") {
    try {
      using region = new os.MmapBacked(1 << 16);
      const first = os.onlineNumaNodes()?.[0] ?? 0;
      const bound = new os.NumaLocal(region, os.NumaPolicy.bind(os.NodeSet.single(first)!));
      add(
        "mbind",
        bound.enforced
          ? `permitted (bound a test mapping to node ${first})`
          : "no NUMA in this kernel: policies are stored, not enforced",
        bound.enforced ? "ok" : "warn",
      );
    } catch (error) {
      add("mbind", `refused: ${(error as Error).message}`, "fail");
    }
    try {
      using locked = new os.LockedMmapBacked(os.PAGE_SIZE);
      add(
        "mlock",
        `permitted (locked ${locked.regionSize()} bytes${locked.excludedFromDumps ? ", excluded from core dumps" : ""})`,
      );
    } catch (error) {
      add("mlock", `refused: ${(error as Error).message}`, "fail");
    }
  }
  return facts;
}

/** The report as aligned text lines. */
export function formatDoctor(facts: readonly DoctorFact[]): string {
  const width = Math.max(...facts.map((f) => f.name.length));
  const mark = { ok: "ok  ", warn: "warn", fail: "FAIL" } as const;
  return facts.map((f) => `${mark[f.status]}  ${f.name.padEnd(width)}  ${f.value}`).join("\n");
}
