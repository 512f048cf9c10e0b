/**
 * Where the command line runs: in a clone of the repository (with `examples/` and `bench/`, compiled into
 * `build/` by `npm run build:test`) or from an installed package (`dist/` alone). Some commands need a clone.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The package root: the nearest folder above this file whose package.json is forge-alloc's. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const file = join(dir, "package.json");
    if (
      existsSync(file) &&
      (JSON.parse(readFileSync(file, "utf8")) as { name?: string }).name === "forge-alloc"
    )
      return dir;
    dir = dirname(dir);
  }
  throw new Error("forge-alloc: cannot find the package's package.json above the command line");
}

/** The package's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string })
    .version;
}

/** True in a clone of the repository: the benchmarks' and recipes' sources sit beside `src/`. */
export function inClone(): boolean {
  const root = packageRoot();
  return existsSync(join(root, "bench", "report.ts")) && existsSync(join(root, "examples", "tour.ts"));
}

/**
 * A program of the repository that is not part of the package (the recipes in `examples/`, the benchmarks in
 * `bench/`), compiled by `npm run build:test` into `build/`. `"unbuilt"`: a clone that has not compiled them yet;
 * `"absent"`: an installed package, which has neither.
 */
export async function repoModule<T>(path: string): Promise<T | "unbuilt" | "absent"> {
  const root = packageRoot();
  const built = join(root, "build", path);
  if (existsSync(built)) return (await import(pathToFileURL(built).href)) as T;
  return existsSync(join(root, path.replace(/\.js$/, ".ts"))) ? "unbuilt" : "absent";
}
