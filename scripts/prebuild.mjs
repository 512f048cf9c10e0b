#!/usr/bin/env node
// `prepack`: builds the addon for every platform the package ships prebuilt, into prebuilds/<platform>-<arch>/,
// so that installing the package needs no C compiler there. linux-x64 and linux-arm64 (glibc), one compiled
// natively and the other cross-compiled with Debian's toolchain (gcc-aarch64-linux-gnu or gcc-x86-64-linux-gnu).
// Fails the pack, saying what to install, when a compiler is missing: a package without its prebuilds is broken.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT, compileAddon, elfArch, headerDirs } from "./native-compile.mjs";

// FORGE_ALLOC_PREBUILD_ARCHS=x64 limits the targets (the tests use it where no cross compiler is installed; a
// package for the registry is always packed with both).
const only = process.env.FORGE_ALLOC_PREBUILD_ARCHS?.split(",");
const TARGETS = [
  { arch: "x64", triple: "x86_64-linux-gnu", apt: "gcc-x86-64-linux-gnu" },
  { arch: "arm64", triple: "aarch64-linux-gnu", apt: "gcc-aarch64-linux-gnu" },
].filter((t) => only === undefined || only.includes(t.arch));
const include = headerDirs()[0];
if (!include) {
  console.error("prebuild: no Node-API headers: run `npm ci` (node-api-headers is a dev dependency)");
  process.exit(1);
}
const has = (cc) => spawnSync(cc, ["--version"]).status === 0;
let failed = false;
for (const t of TARGETS) {
  const candidates = [
    `${t.triple}-gcc`,
    ...(process.platform === "linux" && process.arch === t.arch ? ["cc", "gcc"] : []),
  ];
  const cc = candidates.find(has);
  if (cc === undefined) {
    console.error(
      `prebuild: no compiler for linux-${t.arch} (tried ${candidates.join(", ")}): apt-get install ${t.apt}`,
    );
    failed = true;
    continue;
  }
  const out = join(ROOT, "prebuilds", `linux-${t.arch}`, "forge_os.node");
  const r = compileAddon({ cc, out, include, strict: true, platform: "linux" });
  if (!r.ok) {
    console.error(`prebuild: linux-${t.arch}: ${r.why}`);
    failed = true;
  } else if (elfArch(out) !== t.arch) {
    console.error(`prebuild: ${out} is for ${elfArch(out)}, not ${t.arch} (${cc})`);
    failed = true;
  } else {
    console.error(`prebuild: linux-${t.arch} with ${cc}`);
  }
}
process.exit(failed ? 1 : 0);
