// The wasm peers of bench/heap.ts and bench/traces.ts, built at bench time into a temporary directory:
// - the AssemblyScript runtime's TLSF (bench/wasm/tlsf.ts, compiled with the assemblyscript dev dependency);
// - wasi-libc's malloc (dlmalloc, the malloc Emscripten-class toolchains ship), behind bench/wasm/cmalloc.c,
//   compiled with Debian's clang and linked with lld against Debian's wasi-libc. The module imports nothing.
// Nothing here is part of forge-alloc.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** One instance of a wasm malloc, its exports used raw (each call is one JS-to-wasm call). */
export interface WasmPeer {
  readonly name: string;
  readonly alloc: (size: number) => number;
  readonly free: (ptr: number) => void;
  readonly realloc: (ptr: number, size: number) => number;
  /**
   * `size` bytes aligned to `align` (a power of two above 16), freed with {@link WasmPeer.alignedFree}. The C malloc
   * uses `posix_memalign`; the AssemblyScript TLSF has no aligned entry point, so its block is over-allocated by
   * `align` and the aligned address is remembered (only aligned blocks pay for that).
   */
  readonly alignedAlloc: (align: number, size: number) => number;
  readonly alignedFree: (ptr: number) => void;
  /** Where the heap starts: memory above it is what the malloc has taken. */
  readonly heapBase: number;
  /** The instance's memory size now, in bytes. */
  memoryBytes(): number;
  /** The instance's memory now (it changes when the memory grows). */
  buffer(): ArrayBuffer;
}

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The compiled modules; instantiate each as often as a fresh heap is needed. */
export interface WasmPeerModules {
  readonly tlsf: WebAssembly.Module;
  readonly cmalloc: WebAssembly.Module;
}

let cached: WasmPeerModules | undefined;

/**
 * Compiles both peers, once per process, and keeps the binaries in the temporary directory under a hash of their
 * sources and the compilers' versions, so the bench scripts (each its own process) build them once between them.
 *
 * @throws when the C toolchain is missing, naming the packages to install.
 */
export function compileWasmPeers(): WasmPeerModules {
  if (cached !== undefined) return cached;
  const dir = join(tmpdir(), "forge-alloc-wasm-peers");
  mkdirSync(dir, { recursive: true });
  const ascVersion = (
    JSON.parse(readFileSync(join(root, "node_modules", "assemblyscript", "package.json"), "utf8")) as {
      version: string;
    }
  ).version;
  const tlsfOut = built(
    dir,
    "tlsf",
    [readFileSync(join(root, "bench", "wasm", "tlsf.ts"), "utf8"), ascVersion],
    (out) =>
      execFileSync(process.execPath, [
        join(root, "node_modules", "assemblyscript", "bin", "asc.js"),
        join(root, "bench", "wasm", "tlsf.ts"),
        "--runtime",
        "minimal",
        "-O3",
        "--noAssert",
        "--outFile",
        out,
      ]),
  );
  const cOut = built(
    dir,
    "cmalloc",
    [readFileSync(join(root, "bench", "wasm", "cmalloc.c"), "utf8"), clangVersion(), wasiLibc()],
    buildCMalloc,
  );
  cached = {
    tlsf: new WebAssembly.Module(new Uint8Array(readFileSync(tlsfOut))),
    cmalloc: new WebAssembly.Module(new Uint8Array(readFileSync(cOut))),
  };
  return cached;
}

/** The cached binary for `inputs`, built by `build` into a temporary name and renamed (atomic for racing builds). */
function built(dir: string, name: string, inputs: string[], build: (out: string) => unknown): string {
  const hash = createHash("sha256").update(inputs.join("\u0000")).digest("hex").slice(0, 16);
  const out = join(dir, `${name}-${hash}.wasm`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.tmp`;
    build(tmp);
    renameSync(tmp, out);
  }
  return out;
}

function clangVersion(): string {
  try {
    return execFileSync("clang", ["--version"], { encoding: "utf8" });
  } catch {
    throw new Error(`bench: clang not found; ${MISSING}`);
  }
}

/** The wasi-libc the C peer links (its libc.a path and size). */
function wasiLibc(): string {
  const lib = LIBC.find((p) => existsSync(p));
  if (lib === undefined)
    throw new Error(`bench: no wasi-libc found (looked for ${LIBC.join(", ")}); ${MISSING}`);
  return `${lib} ${readFileSync(lib).length}`;
}

const MISSING =
  "the C malloc peer needs clang, lld and wasi-libc: install them with `apt-get install -y clang lld wasi-libc` (Debian/Ubuntu)";

// Debian's wasi-libc puts its headers and libc.a where clang's wasm32-wasi target looks by default; a wasi-sdk
// style sysroot lives in /usr/share/wasi-sysroot.
const LIBC = ["/usr/lib/wasm32-wasi/libc.a", "/usr/share/wasi-sysroot/lib/wasm32-wasi/libc.a"];

function buildCMalloc(out: string): void {
  const sysroot = "/usr/share/wasi-sysroot";
  const args = [
    "--target=wasm32-wasi",
    ...(existsSync(LIBC[0]!) ? [] : [`--sysroot=${sysroot}`]),
    "-O2",
    "-nostartfiles",
    // libc only: malloc needs no compiler-rt builtins, so Debian's libclang-rt-*-dev-wasm32 is not required
    "-nodefaultlibs",
    "-Wl,--no-entry",
    "-Wl,--strip-all",
    "-o",
    out,
    join(root, "bench", "wasm", "cmalloc.c"),
    "-lc",
  ];
  try {
    execFileSync("clang", args, { stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === "ENOENT") throw new Error(`bench: clang not found; ${MISSING}`);
    throw new Error(
      `bench: building bench/wasm/cmalloc.c failed (${MISSING}):\n${e.stderr?.toString() ?? e.message}`,
    );
  }
}

/** A fresh AssemblyScript TLSF heap. */
export function asTlsf(modules: WasmPeerModules = compileWasmPeers()): WasmPeer {
  const abort = (): never => {
    throw new Error("wasm abort (AssemblyScript TLSF)");
  };
  const e = new WebAssembly.Instance(modules.tlsf, { env: { abort } }).exports as {
    memory: WebAssembly.Memory;
    alloc: (n: number) => number;
    free: (p: number) => void;
    realloc: (p: number, n: number) => number;
    heapBase: () => number;
  };
  const raw = new Map<number, number>();
  return {
    name: "AssemblyScript TLSF (wasm)",
    alloc: e.alloc,
    free: e.free,
    realloc: e.realloc,
    alignedAlloc: (align, size) => {
      const p = e.alloc(size + align);
      const q = (p + align - 1) & -align;
      raw.set(q, p);
      return q;
    },
    alignedFree: (q) => {
      e.free(raw.get(q)!);
      raw.delete(q);
    },
    heapBase: e.heapBase() >>> 0,
    memoryBytes: () => e.memory.buffer.byteLength,
    buffer: () => e.memory.buffer,
  };
}

/** A fresh C malloc (dlmalloc from wasi-libc) heap. */
export function cMalloc(modules: WasmPeerModules = compileWasmPeers()): WasmPeer {
  const e = new WebAssembly.Instance(modules.cmalloc, {}).exports as {
    memory: WebAssembly.Memory;
    alloc: (n: number) => number;
    free: (p: number) => void;
    realloc: (p: number, n: number) => number;
    alignedAlloc: (a: number, n: number) => number;
    heapBase: () => number;
  };
  return {
    name: "C malloc (wasi-libc dlmalloc, wasm)",
    alloc: e.alloc,
    free: e.free,
    realloc: e.realloc,
    alignedAlloc: e.alignedAlloc,
    alignedFree: e.free,
    heapBase: e.heapBase() >>> 0,
    memoryBytes: () => e.memory.buffer.byteLength,
    buffer: () => e.memory.buffer,
  };
}
