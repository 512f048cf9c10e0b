#!/usr/bin/env node
// `install`: makes sure forge-alloc/os has an addon here. On linux-x64 and linux-arm64 the package ships prebuilt
// ones (prebuilds/, made by `prepack`): when the one for this machine loads, nothing is compiled. Otherwise it
// compiles native/forge_os.c into native/build/forge_os.node with the system C compiler. It never fails the
// install (the pure-TypeScript library works without the addon), but a failed build prints a banner and is
// recorded in native/build/status.json, which `forge-alloc doctor` (exit code 1) and the UnsupportedError of
// forge-alloc/os quote. npm shows a dependency's install output only with `--foreground-scripts`.
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { ROOT, compileAddon, headerDirs } from "./native-compile.mjs";

const out = join(ROOT, "native", "build");
mkdirSync(out, { recursive: true });
const status = (ok, detail) => {
  writeFileSync(
    join(out, "status.json"),
    JSON.stringify(
      { ok, detail, node: process.version, platform: `${process.platform}-${process.arch}` },
      null,
      2,
    ),
  );
  if (ok) {
    console.error(`forge-alloc: native addon: ${detail}`);
  } else {
    const line = "!".repeat(78);
    console.error(
      `${line}\nforge-alloc: the native addon was NOT built, so forge-alloc/os cannot map memory here:\n  ${detail}\n` +
        `The rest of forge-alloc works. \`npx forge-alloc doctor\` repeats this.\n${line}`,
    );
  }
};

const prebuilt = join(ROOT, "prebuilds", `${process.platform}-${process.arch}`, "forge_os.node");
if (!process.argv.includes("--compile") && existsSync(prebuilt)) {
  try {
    const addon = createRequire(import.meta.url)(prebuilt);
    if (typeof addon.pageSize !== "function" || !(addon.pageSize() > 0)) throw new Error("it does not work");
    rmSync(join(out, "forge_os.node"), { force: true });
    status(true, `using the prebuilt ${prebuilt}`);
    process.exit(0);
  } catch (error) {
    console.error(
      `forge-alloc: the prebuilt addon does not load here (${error.message.split("\n")[0]}); compiling`,
    );
  }
}
if (process.platform !== "linux" && process.platform !== "darwin") {
  status(
    false,
    `no OS layer for ${process.platform}; forge-alloc/os supports Linux (and macOS without NUMA)`,
  );
  process.exit(0);
}
const include = headerDirs()[0];
if (!include) {
  status(false, "no Node-API headers found (install the node-api-headers package, or Node's headers)");
  process.exit(0);
}
const cc = process.env.CC || "cc";
const r = compileAddon({ cc, out: join(out, "forge_os.node"), include });
if (!r.ok) {
  status(
    false,
    `${r.why}; install a C compiler (e.g. apt-get install gcc) and run \`npm rebuild forge-alloc\``,
  );
  process.exit(0);
}
status(true, `compiled with ${cc} and the headers in ${include}`);
