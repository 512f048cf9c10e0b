// Runs JavaScript in a child Node process, for what would kill the test runner (SIGSEGV on a guard page) or
// needs other limits (a refused mlock). `OS` is the file URL of the built forge-alloc/os entry.
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const OS = pathToFileURL(join(ROOT, "build", "src", "os.js")).href;
export const CORE = pathToFileURL(join(ROOT, "build", "src", "index.js")).href;

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `code` (an ES module body) in `node`, optionally under a command prefix such as `prlimit ...`. */
export function runChild(code: string, prefix: string[] = []): ChildResult {
  const argv = [...prefix, process.execPath, "--input-type=module", "-e", code];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", cwd: ROOT, timeout: 60_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
