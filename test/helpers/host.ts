// What an OS test needs of its host, said once per test: `needs("linux", "addon", "root")` gives the options of a
// `test` or `describe`. Where something is missing the test is skipped with the reason (what is missing and how to
// get it); under CI=true (`.ci/run`: Linux, root, the addon built, Chromium installed) a missing requirement fails
// instead: the options let the test run, and a test named after the requirement fails with the reason, so a CI host
// that lost something cannot pass by skipping.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { nativeStatus } from "../../src/os/native.js";

/** The things an OS test may need. */
export type Need = "linux" | "addon" | "root" | "numa" | "unshare" | "cc";

const uid = (): number | undefined => process.getuid?.();

/** Why `need` is missing here (what, and how to get it), or undefined when the host has it. */
function missing(need: Need): string | undefined {
  switch (need) {
    case "linux":
      return process.platform === "linux" ? undefined : `Linux (this host is ${process.platform})`;
    case "addon": {
      const s = nativeStatus();
      return s.loaded ? undefined : `the native addon (${s.reason}; npm rebuild forge-alloc builds it)`;
    }
    case "root":
      return uid() === 0 ? undefined : `root (running as uid ${uid() ?? "unknown"}; CI runs as root)`;
    case "numa": {
      const dir = "/sys/devices/system/node";
      const nodes = existsSync(dir) ? readdirSync(dir).filter((n) => /^node\d+$/.test(n)) : [];
      return nodes.length > 0 ? undefined : `a NUMA kernel (${dir}/node* is absent)`;
    }
    case "cc": {
      const cc = process.env.CC ?? "cc";
      return spawnSync(cc, ["--version"]).status === 0
        ? undefined
        : `a C compiler (${cc}; apt-get install gcc)`;
    }
    case "unshare":
      return uid() === 0 ? undefined : `root, for a private mount namespace (unshare -m; CI runs as root)`;
  }
}

const failing = new Set<string>();

/**
 * The options of a test (or suite) that needs `needs`: `{ skip: "needs ..." }` where one is missing, `{}` where
 * all are here. Under CI=true a missing one does not skip: a test named after it fails, once per file.
 */
export function needs(...needs: Need[]): { skip?: string } {
  const gaps = needs.map(missing).filter((m): m is string => m !== undefined);
  if (gaps.length === 0) return {};
  const reason = `needs ${gaps.join(", and ")}`;
  if (process.env.CI !== "true") return { skip: reason };
  if (!failing.has(reason)) {
    failing.add(reason);
    test(`host requirement under CI=true: ${reason}`, () => {
      assert.fail(`CI=true: the OS tests must run here, and this host lacks what they need: ${reason}`);
    });
  }
  return {};
}

/** True when the host has every one of `needs` (for a part of a test that adapts, such as a diagnostic). */
export function has(...list: Need[]): boolean {
  return list.every((n) => missing(n) === undefined);
}

/**
 * The exported names whose use maps memory through the addon: the mapping backings, and the slabs that build their
 * own mappings (every OS wrapper stands on one of these). A documentation example that names one needs the addon.
 */
export const MAPPING_NAMES = [
  "MmapBacked",
  "SharedMmapBacked",
  "LockedMmapBacked",
  "HugePageBacked",
  "HardenedSlab",
  "CryptoSlab",
] as const;

/** The needs of an example's `source`: Linux and the addon when it names one of {@link MAPPING_NAMES}. */
export function exampleNeeds(source: string): Need[] {
  return MAPPING_NAMES.some((name) => new RegExp(`\\b${name}\\b`).test(source)) ? ["linux", "addon"] : [];
}
