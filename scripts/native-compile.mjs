// Compiling native/forge_os.c into a Node-API addon: shared by the install-time fallback (build-native.mjs) and
// the pack-time prebuilds (prebuild.mjs). Node-API is ABI-stable, so one binary serves every Node version >= 20.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root (the folder holding native/ and scripts/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Folders holding node_api.h: the node-api-headers package when installed, else Node's own include folder. */
export function headerDirs() {
  const dirs = [];
  try {
    const require = createRequire(import.meta.url);
    dirs.push(dirname(require.resolve("node-api-headers/include/node_api.h")));
  } catch {
    /* not installed: fall back to Node's own headers */
  }
  dirs.push(
    resolve(dirname(process.execPath), "..", "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  );
  return dirs.filter((d) => existsSync(join(d, "node_api.h")));
}

/**
 * Compiles the addon with `cc` into `out`. `strict` adds -Werror (for the prebuilds, whose compiler we choose).
 * Returns `{ ok: true }` or `{ ok: false, why }` with the compiler's first lines of output.
 */
export function compileAddon({ cc, out, include, strict = false, platform = process.platform }) {
  mkdirSync(dirname(out), { recursive: true });
  const args = [
    "-std=c11",
    "-O2",
    "-fPIC",
    "-shared",
    "-Wall",
    "-Wextra",
    ...(strict ? ["-Werror", "-s"] : []),
    "-DNAPI_VERSION=8",
    "-DNODE_GYP_MODULE_NAME=forge_os",
    `-I${include}`,
    join(ROOT, "native", "forge_os.c"),
    "-o",
    out,
  ];
  if (platform === "darwin") args.push("-undefined", "dynamic_lookup");
  const r = spawnSync(cc, args, { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    const text = (r.error?.message ?? r.stderr).trim().split("\n").slice(0, 8).join(" | ");
    return { ok: false, why: `${cc} failed: ${text}` };
  }
  return { ok: true };
}

/** The ELF machine of a shared object: "x64", "arm64", or a number for anything else. */
export function elfArch(file) {
  const head = readFileSync(file).subarray(0, 20);
  if (head.readUInt32BE(0) !== 0x7f454c46) return "not ELF";
  const machine = head.readUInt16LE(18);
  return machine === 0x3e ? "x64" : machine === 0xb7 ? "arm64" : machine;
}
