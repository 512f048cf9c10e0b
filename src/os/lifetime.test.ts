// Mapping lifetimes that cannot be broken (issue 12): in-flight native I/O over mapping views during dispose(),
// transfers of a mapping's buffer, address reuse after dispose, and allocation over a disposed backing. Each case
// runs in a child process, so a crash (SIGSEGV) is seen as a signal instead of killing the test runner.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, NULL } from "../core/index.js";
import { spawnSync } from "node:child_process";
import { OS, ROOT } from "../../test/helpers/child.js";
import { needs } from "../../test/helpers/host.js";
import {
  GuardPage,
  HugePageAligned,
  MmapBacked,
  NodeSet,
  NumaLocal,
  NumaPolicy,
  SplitMetadata,
} from "./index.js";

/** Runs an ES module body in `node <flags>`. */
function runNode(
  code: string,
  flags: string[] = [],
): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...flags, "--input-type=module", "-e", code], {
    encoding: "utf8",
    cwd: ROOT,
    timeout: 120_000,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `body` in a child with forge-alloc/os imported as `os`; asserts a clean exit and returns its stdout. */
function child(body: string, flags: string[] = []): string {
  const code = `import * as os from ${JSON.stringify(OS)};\n${body}`;
  const r = runNode(code, flags);
  assert.equal(r.signal, null, `no signal; stderr: ${r.stderr}`);
  assert.equal(r.status, 0, `exit 0; stderr: ${r.stderr}`);
  return r.stdout;
}

const OLD = 0x41; // the contents of the disposed mapping
const SECRET = 0x5a; // what a new mapping holds after dispose

/** Shared child code: disposes `m` during an operation, then maps and fills new mappings with SECRET. */
const PRELUDE = `
import { openSync, readFileSync, closeSync, write, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
const SIZE = 64 << 20;
const fresh = () => { const m = new os.MmapBacked(SIZE); m.memory.u8.fill(${OLD}); return m; };
const secrets = [];
const afterDispose = () => { for (let i = 0; i < 4; i++) { const s = new os.MmapBacked(SIZE); s.memory.u8.fill(${SECRET}); secrets.push(s); } };
const only = (bytes, allowed) => { for (let i = 0; i < bytes.length; i += 4093) if (!allowed.includes(bytes[i])) return "byte " + i + " is " + bytes[i]; for (const b of [0, bytes.length - 1]) if (!allowed.includes(bytes[b])) return "byte " + b + " is " + bytes[b]; return "ok"; };
`;

describe(
  "dispose() during in-flight native I/O over mapping views (child processes)",
  needs("linux", "addon"),
  () => {
    test("fs.write from a view, dispose() in the middle: no signal, and the file never holds a new mapping's secret", () => {
      const out = child(`${PRELUDE}
const path = join(tmpdir(), "forge-lifetime-" + process.pid);
const fd = openSync(path, "w+");
const m = fresh();
write(fd, m.memory.u8, 0, SIZE, 0, (err, n) => {
  if (err) throw err;
  const bytes = readFileSync(path);
  console.log(JSON.stringify({ n, length: bytes.length, check: only(bytes, [${OLD}, 0]) }));
  closeSync(fd); unlinkSync(path);
});
m.dispose();
afterDispose();
`);
      const r = JSON.parse(out) as { n: number; length: number; check: string };
      assert.deepEqual(r, { n: 64 << 20, length: 64 << 20, check: "ok" });
    });

    test("zlib.deflate over a view, dispose() in the middle: no signal, output inflates to old bytes or zeros only", () => {
      const out = child(`${PRELUDE}
import { deflate, inflateSync } from "node:zlib";
const m = fresh();
deflate(m.memory.u8, (err, z) => {
  if (err) throw err;
  const back = inflateSync(z);
  console.log(JSON.stringify({ length: back.length, check: only(back, [${OLD}, 0]) }));
});
m.dispose();
afterDispose();
`);
      assert.deepEqual(JSON.parse(out), { length: 64 << 20, check: "ok" });
    });

    test("crypto hashes over views (sync, and webcrypto's async digest), dispose() between and during: no signal", () => {
      const out = child(`${PRELUDE}
import { createHash, webcrypto } from "node:crypto";
const m = fresh();
const view = m.memory.u8.subarray(0, 1 << 20);
const hash = createHash("sha256");
hash.update(view.subarray(0, 1 << 19)); // a hash left open across dispose()
const before = createHash("sha256").update(view).digest("hex");
const pending = webcrypto.subtle.digest("SHA-256", m.memory.u8);
m.dispose();
afterDispose();
hash.update(view.subarray(1 << 19));
const mixed = hash.digest("hex");
const after = createHash("sha256").update(view).digest("hex");
const zeros = createHash("sha256").update(new Uint8Array(1 << 20)).digest("hex");
const half = createHash("sha256").update(Buffer.alloc(1 << 19, ${OLD})).update(new Uint8Array(1 << 19)).digest("hex");
const digest = Buffer.from(await pending).toString("hex");
const oldDigest = createHash("sha256").update(Buffer.alloc(SIZE, ${OLD})).digest("hex");
console.log(JSON.stringify({ differs: before !== after, zerosAfter: after === zeros, openHash: mixed === half, asyncSawOld: digest === oldDigest }));
`);
      assert.deepEqual(JSON.parse(out), {
        differs: true,
        zerosAfter: true,
        openHash: true,
        asyncSawOld: true,
      });
    });
  },
);

describe("transfers of a mapping's buffer", needs("linux", "addon"), () => {
  test("structuredClone and postMessage with transfer copy the bytes (Node keeps the mapping); dispose stays safe", () => {
    const out = child(`
const m = new os.MmapBacked(1 << 16);
m.memory.u8.fill(7);
const copy = structuredClone(m.memory.buffer, { transfer: [m.memory.buffer] });
const { port1, port2 } = new MessageChannel();
const got = new Promise((resolve) => port2.once("message", resolve));
port1.postMessage(m.memory.buffer, [m.memory.buffer]);
const posted = await got;
port1.close(); port2.close();
m.dispose();
console.log(JSON.stringify({ copy: new Uint8Array(copy)[5], posted: new Uint8Array(posted)[5], after: m.memory.u8[5] }));
`);
    // Either the runtime copied (our mapping stays ours and dispose detaches it), or it moved the store and the
    // reservation keeps it alive: in both cases the copies read the old bytes, never crash.
    assert.deepEqual(JSON.parse(out), { copy: 7, posted: 7, after: 0 });
  });

  test("ArrayBuffer.prototype.transfer (--harmony-rab-gsab-transfer on Node 20, default later) moves the mapping; dispose() leaves the moved buffer reading zeros, no signal", () => {
    const r = runNode(
      `import * as os from ${JSON.stringify(OS)};
const m = new os.MmapBacked(1 << 20);
m.memory.u8.fill(9);
if (typeof ArrayBuffer.prototype.transfer !== "function") { console.log("no transfer"); process.exit(0); }
const moved = m.memory.buffer.transfer();
const view = new Uint8Array(moved);
const before = view[4096];
m.dispose();
const after = view[4096];
view[4096] = 3; // writes land in the retired zero pages, nowhere else
globalThis.gc?.();
await new Promise((r) => setTimeout(r, 50));
console.log(JSON.stringify({ before, after, length: view.length, live: m.disposed }));`,
      ["--harmony-rab-gsab-transfer", "--expose-gc"],
    );
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.status, 0, r.stderr);
    assert.notEqual(
      r.stdout.trim(),
      "no transfer",
      "this Node has ArrayBuffer.prototype.transfer behind the flag",
    );
    assert.deepEqual(JSON.parse(r.stdout), { before: 9, after: 0, length: 1 << 20, live: true });
  });
});

describe(
  "the address range is never reused while an old view can reach it, and is unmapped once unreachable",
  needs("linux", "addon"),
  () => {
    test("a disposed mapping stays reserved while a view holds it, and is unmapped after the view is collected", () => {
      // Found in /proc/self/maps by its range (a VmSize difference also moved when V8 gave back memory of its own
      // between the readings, which made the test flaky under load).
      const out = child(
        `
import { readFileSync } from "node:fs";
const ranges = () => readFileSync("/proc/self/maps", "utf8").trim().split("\\n")
  .map((l) => l.split(" ")[0].split("-").map((x) => BigInt("0x" + x)));
const SIZE = 1 << 30; // 1 GiB of address space, never touched
const settle = async () => { for (let i = 0; i < 4; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); } };
await settle();
const before = new Set(ranges().map(([a, b]) => \`\${a}-\${b}\`));
let m = new os.MmapBacked(SIZE);
let view = m.memory.u8;
const mine = ranges().filter(([a, b]) => !before.has(\`\${a}-\${b}\`) && b - a >= BigInt(SIZE));
const start = mine.length === 1 ? mine[0][0] : -1n;
const covered = () => ranges().some(([a, b]) => a <= start && start + BigInt(SIZE) <= b);
const mapped = start >= 0n && covered();
m.dispose();
await settle();
const held = covered() && view.length === SIZE;
m = undefined; view = undefined;
await settle();
console.log(JSON.stringify({ mapped, held, released: !covered() }));
`,
        ["--expose-gc"],
      );
      assert.deepEqual(JSON.parse(out), { mapped: true, held: true, released: true });
    });
  },
);

describe("a disposed backing fails clean", needs("linux", "addon"), () => {
  test("allocate throws AllocError naming dispose; commit returns false; the OS calls refuse", () => {
    const region = new MmapBacked(1 << 16);
    region.dispose();
    assert.throws(
      () => region.allocate(8),
      (e: unknown) => e instanceof AllocError && /dispose/.test(String(e)),
    );
    assert.equal(region.commit(region.base(), 8), false);
    assert.throws(() => region.protect(0, 4096, 0), /dispose/);
    assert.equal(region.memory.retired, true, "the memory says so, for the layouts carved from it");
  });

  test("through every OS wrapper, and GuardPage: commit false, allocate AllocError", () => {
    const region = new MmapBacked(8 << 20, { alignment: 2 << 20 });
    const stacks = [
      new NumaLocal(region, NumaPolicy.bind(NodeSet.single(0)!), { allowUnenforced: true }),
      new SplitMetadata(region, { metaSize: 4096 }),
      new HugePageAligned(region),
    ];
    const guarded = new GuardPage(new MmapBacked(1 << 16));
    region.dispose();
    guarded.inner.dispose();
    for (const s of stacks) {
      assert.equal(s.commit(s.base(), 8), false, s.constructor.name);
      assert.throws(() => s.allocate(8), AllocError, s.constructor.name);
    }
    assert.equal(guarded.commit(guarded.base(), 8), false);
    assert.throws(() => guarded.allocate(8), /dispose/);
    assert.notEqual(NULL, 1);
  });
});

describe(
  "a bad argument to any addon function is a typed error, never a crash (child-process fuzz)",
  needs("linux", "addon"),
  () => {
    test("every function x wrong types, foreign and detached buffers, unaligned, negative, huge and NaN numbers", () => {
      const out = child(
        `
import { createRequire } from "node:module";
const native = (await import(${JSON.stringify(OS.replace(/os\.js$/, "os/native.js"))})).native;
const page = native.pageSize();
const live = native.map(page * 4, 0, 0, 0);
const gone = native.map(page * 4, 0, 0, 0);
native.unmap(gone, false);
const moved = native.map(page * 4, 0, 0, 0);
const foreign = new ArrayBuffer(page * 64);
const sab = new SharedArrayBuffer(page);
const values = [undefined, null, true, "16", {}, [], -1, -0, 0.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 64, 1n,
  Symbol("x"), () => 1, page, page * 3, page * 4, page * 5, 1, 4095, new Uint8Array(8), new BigUint64Array(2),
  new BigUint64Array(0), foreign, sab, live, gone, new DataView(foreign)];
const fns = Object.getOwnPropertyNames(native).filter((k) => typeof native[k] === "function");
let calls = 0, typeErrors = 0, errnos = 0, ok = 0, other = [];
const call = (name, args) => {
  calls++;
  try {
    const r = native[name](...args);
    if (typeof r === "number" && r < 0 && Number.isInteger(r)) errnos++;
    else ok++;
    if (r instanceof ArrayBuffer) native.unmap(r, false);
  } catch (e) {
    if (e instanceof TypeError || e?.code === "ERR_FORGE_OS_ARGUMENT") typeErrors++;
    else other.push(name + ": " + e);
  }
};
let seed = 12345;
const rand = (n) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
for (const name of fns) {
  for (let arity = 0; arity <= 7; arity++) {
    for (let i = 0; i < 300; i++) {
      const args = Array.from({ length: arity }, () => values[rand(values.length)]);
      // Keep real mappings small: a huge random map would only be a slow ENOMEM.
      if (name === "map" && typeof args[0] === "number" && args[0] > page * 16) args[0] = page;
      if (name === "mapShared" && typeof args[0] === "number" && args[0] > page * 16) args[0] = page;
      // A wait that could block: at most a millisecond (a zero word with expected 0 really waits).
      if (name === "futexWait" && typeof args[3] === "number" && !(args[3] <= 1)) args[3] = 1;
      call(name, args);
    }
  }
}
// Spans that must be refused with an errno, on the live mapping.
const spanFns = ["protect", "advise", "lock", "unlock"];
const spans = [[1, page], [0, 1], [0, 0], [page * 3, page * 2], [-page, page], [page * 4, page], [2 ** 52, page], [0, 2 ** 53]];
const refused = [];
for (const f of spanFns) for (const [o, l] of spans) refused.push(native[f](live, o, l, 0));
for (const f of spanFns) refused.push(native[f](foreign, 0, page, 0), native[f](gone, 0, page, 0));
refused.push(native.mbind(foreign, 0, page, 2, new BigUint64Array([1n]), 65, 0));
refused.push(native.mbind(live, 0, page, 2, new BigUint64Array([1n]), 65, 1 << 8)); // MPOL_MF_MOVE_ALL: not allowed
refused.push(native.unmap(foreign, false), native.unmap(gone, false));
const still = new Uint8Array(live); still[0] = 1;
console.log(JSON.stringify({ calls, typeErrors, errnos, ok, other, refused: refused.every((r) => r < 0), n: refused.length, liveOk: still[0] }));
`,
      );
      const r = JSON.parse(out) as {
        calls: number;
        typeErrors: number;
        errnos: number;
        ok: number;
        other: string[];
        refused: boolean;
        n: number;
        liveOk: number;
      };
      assert.deepEqual(r.other, [], "every throw is a TypeError (ERR_FORGE_OS_ARGUMENT)");
      assert.ok(r.calls > 20_000, `${r.calls} calls`);
      assert.ok(r.typeErrors > 0 && r.errnos > 0, JSON.stringify(r));
      assert.equal(
        r.refused,
        true,
        "every bad span, foreign, disposed buffer or flag was refused with -errno",
      );
      assert.equal(r.liveOk, 1);
    });
  },
);
