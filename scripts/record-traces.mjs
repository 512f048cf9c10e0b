#!/usr/bin/env node
// Re-creates the allocation traces under bench/traces/ (see bench/traces/README.md): builds the LD_PRELOAD shim
// (bench/traces/shim.c), runs each program on a generated, seeded input with the shim loaded, and converts the log
// of its heap calls into the compact replay format bench/traces.ts reads. Linux with gcc and the Debian packages
// sqlite3, jq, lua5.4, gawk and gcc (for cc1), and setarch (util-linux). `node scripts/record-traces.mjs [--cap=N]`.
//
// The format (gzip of little-endian int32 words): a header of 8 words [magic 0x46415452, version 1, events, ids,
// allocations, frees, reallocs, peak live bytes], then two words per event: (id << 8) | (log2 align << 3) | op,
// then the size (0 for a free). op 0 = allocate id, 1 = free id, 2 = realloc id to size; log2 align is 0 unless the
// program asked for an alignment above 16. Ids are dense (a freed id is reused), so a replay keeps its pointers in
// an array of `ids` entries. Every block still live when the cap is reached is freed at the end, so a trace leaves
// the allocator empty and can be replayed again.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = fileURLToPath(new URL("..", import.meta.url));
const outDir = join(root, "bench", "traces");
const capArg = process.argv.find((a) => a.startsWith("--cap="));
const CAP = capArg ? Number(capArg.slice(6)) : 200_000;
const MAX_SIZE = 2 ** 30;

const work = mkdtempSync(join(tmpdir(), "forge-traces-"));
const shim = join(work, "shim.so");
execFileSync("cc", ["-O2", "-shared", "-fPIC", "-o", shim, join(outDir, "shim.c"), "-ldl", "-lpthread"]);

// A small seeded generator, so the inputs (and so the traces) are the same on every run.
let seed = 0x2545f491;
const rand = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
};
const word = (n) =>
  Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(rand() * 26))).join("");

function inputs() {
  // sqlite3: a table with text and numbers, an index, joins, grouping and string functions.
  const sql = [
    "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, score REAL, note TEXT);",
    "BEGIN;",
  ];
  for (let i = 0; i < 3000; i++) {
    sql.push(
      `INSERT INTO t(name, grp, score, note) VALUES ('${word(4 + Math.floor(rand() * 12))}', ${Math.floor(rand() * 50)}, ${(rand() * 1000).toFixed(3)}, '${word(Math.floor(rand() * 200))}');`,
    );
  }
  sql.push(
    "COMMIT;",
    "CREATE INDEX t_name ON t(name);",
    "CREATE TABLE g AS SELECT grp, count(*) AS n, avg(score) AS s, group_concat(name, ',') AS names FROM t GROUP BY grp;",
    "SELECT grp, n, length(names) FROM g ORDER BY s DESC;",
    "SELECT a.name, b.name FROM t a JOIN t b ON a.grp = b.grp AND a.id < b.id WHERE a.score > 990 AND b.score > 990;",
    "UPDATE t SET note = upper(note) || name WHERE grp % 3 = 0;",
    "SELECT substr(note, 1, 20), count(*) FROM t GROUP BY substr(note, 1, 2) ORDER BY 2 DESC LIMIT 20;",
    "DELETE FROM t WHERE grp % 2 = 1;",
    "VACUUM;",
    "SELECT count(*), sum(length(note)) FROM t;",
  );
  writeFileSync(join(work, "work.sql"), sql.join("\n"));
  // jq: an array of records, grouped, mapped and re-serialised.
  const records = Array.from({ length: 4000 }, (_, i) => ({
    id: i,
    user: word(6),
    tags: Array.from({ length: Math.floor(rand() * 6) }, () => word(5)),
    score: Math.round(rand() * 10000) / 100,
    text: word(Math.floor(rand() * 120)),
    nested: { a: Math.floor(rand() * 20), b: [rand(), rand()] },
  }));
  writeFileSync(join(work, "work.json"), JSON.stringify(records));
  // gawk: words counted in associative arrays, fields split and reformatted.
  const lines = Array.from({ length: 4000 }, () =>
    Array.from({ length: 3 + Math.floor(rand() * 10) }, () => word(1 + Math.floor(rand() * 9))).join(" "),
  );
  writeFileSync(join(work, "work.txt"), lines.join("\n"));
  // lua5.4: tables, strings, closures and a sort.
  writeFileSync(
    join(work, "work.lua"),
    `local t = {}
for i = 1, 12000 do
  t[#t + 1] = { name = string.rep(string.char(97 + i % 26), 1 + i % 40), n = (i * 7919) % 10007, tags = {} }
  for k = 1, i % 5 do t[#t].tags[k] = tostring(i * k) end
end
table.sort(t, function(a, b) return a.n < b.n end)
local parts = {}
for i, v in ipairs(t) do
  if i % 3 == 0 then parts[#parts + 1] = v.name .. ":" .. v.n end
  if i % 1000 == 0 then parts = { table.concat(parts, ",") } end
end
local index = {}
for _, v in ipairs(t) do index[v.name] = (index[v.name] or 0) + v.n end
local s = 0
for k, v in pairs(index) do s = s + #k + v end
print(#t, s, #parts[1])
`,
  );
  // cc1: a C file of many small functions, structs and switch statements, compiled at -O2.
  const c = ["struct point { int x, y; double w; };"];
  for (let i = 0; i < 40; i++) {
    c.push(
      `static int f${i}(struct point *p, int n) { int s = 0; for (int i = 0; i < n; i++) { switch ((p[i].x + ${i}) % 5) { case 0: s += p[i].y * ${i + 1}; break; case 1: s -= p[i].x; break; case 2: s ^= (int)p[i].w; break; default: s += i; } } return s + ${i}; }`,
    );
  }
  c.push(
    `int run(struct point *p, int n) { int s = 0; ${Array.from({ length: 40 }, (_, i) => `s += f${i}(p, n);`).join(" ")} return s; }`,
  );
  writeFileSync(join(work, "work.c"), c.join("\n"));
}

const cc1 = execFileSync("gcc", ["-print-prog-name=cc1"], { encoding: "utf8" }).trim();
const arch = execFileSync("uname", ["-m"], { encoding: "utf8" }).trim();
const PROGRAMS = [
  {
    name: "sqlite3",
    pkg: "sqlite3",
    file: "sqlite3.trace.gz",
    command: ["sqlite3", ":memory:", ".read work.sql"],
    describe:
      "sqlite3 :memory: '.read work.sql' (3,000 inserts, an index, GROUP BY, a self-join, UPDATE, DELETE, VACUUM)",
  },
  {
    name: "jq",
    pkg: "jq",
    file: "jq.trace.gz",
    command: [
      "jq",
      "-c",
      "group_by(.nested.a) | map({k: .[0].nested.a, n: length, users: map(.user), s: (map(.score) | add), tags: (map(.tags) | add | unique)})",
      "work.json",
    ],
    describe: "jq -c 'group_by(.nested.a) | map({...})' work.json (4,000 records, 0.7 MB)",
  },
  {
    name: "lua5.4",
    pkg: "lua5.4",
    file: "lua.trace.gz",
    command: ["lua5.4", "work.lua"],
    describe: "lua5.4 work.lua (12,000 tables, a sort with a closure, string building)",
  },
  {
    name: "gawk",
    pkg: "gawk",
    file: "gawk.trace.gz",
    command: [
      "gawk",
      '{ for (i = 1; i <= NF; i++) { c[$i]++; l[length($i)] = l[length($i)] " " $i } out[NR % 100] = sprintf("%s|%d", $1, NF) } END { n = 0; for (w in c) n += c[w]; print n, length(l) }',
      "work.txt",
    ],
    describe: "gawk '{ word counts, per-length string building, sprintf }' work.txt (4,000 lines)",
  },
  {
    name: "cc1",
    pkg: "gcc",
    file: "cc1.trace.gz",
    command: [cc1, "-quiet", "-O2", "-frandom-seed=forge", "work.c", "-o", "/dev/null"],
    describe:
      "cc1 -quiet -O2 -frandom-seed=forge work.c (gcc's compiler proper; 40 functions with loops and switches)",
  },
];

function version(pkg) {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Version}", pkg], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "unknown";
}

/** Converts one raw log (records of four u64: op, a, b, result) into the replay format. */
function convert(raw) {
  const n = raw.length / 32;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const words = [];
  const live = new Map(); // address (as a BigInt-free number: addresses fit in 2^53) -> [id, size, alignLog2]
  const freeIds = [];
  let nextId = 0;
  let liveBytes = 0;
  let peak = 0;
  const c = {
    allocs: 0,
    frees: 0,
    reallocs: 0,
    aligned: 0,
    untrackedFrees: 0,
    zeroSizes: 0,
    reused: 0,
    failed: 0,
  };
  let events = 0;
  const emit = (op, id, alignLog2, size) => {
    words.push((id << 8) | (alignLog2 << 3) | op, size);
    events++;
  };
  const alloc = (addr, size, alignLog2) => {
    if (live.has(addr)) {
      // the program lost track of it (or the log raced a free in another thread): free it first
      freeBlock(addr);
      c.reused++;
    }
    if (size === 0) {
      size = 1;
      c.zeroSizes++;
    }
    const id = freeIds.length > 0 ? freeIds.pop() : nextId++;
    live.set(addr, [id, size, alignLog2]);
    liveBytes += size;
    peak = Math.max(peak, liveBytes);
    emit(0, id, alignLog2, size);
    c.allocs++;
    if (alignLog2 > 0) c.aligned++;
  };
  const freeBlock = (addr) => {
    const b = live.get(addr);
    if (b === undefined) {
      c.untrackedFrees++;
      return;
    }
    live.delete(addr);
    liveBytes -= b[1];
    freeIds.push(b[0]);
    emit(1, b[0], b[2], 0);
    c.frees++;
  };
  for (let i = 0; i < n && events < CAP; i++) {
    const op = Number(view.getBigUint64(i * 32, true));
    const a = Number(view.getBigUint64(i * 32 + 8, true));
    const b = Number(view.getBigUint64(i * 32 + 16, true));
    const result = Number(view.getBigUint64(i * 32 + 24, true));
    if (op === 4) {
      freeBlock(a);
      continue;
    }
    const size = op === 2 ? a * b : op === 5 ? b : op === 3 ? b : a;
    if (size > MAX_SIZE) throw new Error(`a request of ${size} bytes: above MAX_SIZE`);
    if (op === 1 || op === 2 || op === 5) {
      if (result === 0) {
        c.failed++;
        continue;
      }
      const alignLog2 = op === 5 && a > 16 ? Math.log2(a) : 0;
      alloc(result, size, alignLog2);
    } else if (op === 3) {
      if (a === 0) {
        if (result !== 0) alloc(result, size, 0);
        else c.failed++;
      } else if (result === 0) {
        if (size === 0)
          freeBlock(a); // realloc(p, 0) freed p
        else c.failed++;
      } else {
        const old = live.get(a);
        if (old === undefined || old[2] > 0) {
          // not ours to resize (allocated before the log began), or aligned: a new block, and the old one freed
          if (old !== undefined) freeBlock(a);
          alloc(result, size, 0);
        } else {
          const s = Math.max(size, 1);
          live.delete(a);
          if (live.has(result)) freeBlock(result);
          live.set(result, [old[0], s, 0]);
          liveBytes += s - old[1];
          peak = Math.max(peak, liveBytes);
          emit(2, old[0], 0, s);
          c.reallocs++;
        }
      }
    }
  }
  const liveAtCap = live.size;
  for (const addr of [...live.keys()]) freeBlock(addr);
  const header = [0x46415452, 1, events, nextId, c.allocs, c.frees, c.reallocs, peak];
  return {
    data: Int32Array.from([...header, ...words]),
    events,
    ids: nextId,
    peak,
    liveAtCap,
    rawRecords: n,
    ...c,
  };
}

inputs();
const rows = [];
for (const p of PROGRAMS) {
  const base = join(work, `log-${p.name}`);
  // without address randomisation: programs that hash pointers (cc1) then allocate the same on every run
  const r = spawnSync("setarch", [arch, "-R", ...p.command], {
    cwd: work,
    // a small fixed environment, so the programs' start-up (locale, variables) allocates the same on every machine
    env: {
      PATH: "/usr/bin:/bin",
      LANG: "C",
      LC_ALL: "C",
      HOME: work,
      LD_PRELOAD: shim,
      FORGE_TRACE_OUT: base,
    },
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`${p.name} failed (${r.status}): ${r.stderr}${r.error ?? ""}`);
  // one file per process; the program's own process is the one with the most calls
  const logs = readdirSync(work)
    .filter((f) => f.startsWith(`log-${p.name}.`))
    .map((f) => readFileSync(join(work, f)));
  const raw = logs.sort((x, y) => y.length - x.length)[0];
  if (raw === undefined) throw new Error(`${p.name}: no log written (is LD_PRELOAD honoured?)`);
  const t = convert(raw);
  const gz = gzipSync(Buffer.from(t.data.buffer), { level: 9 });
  writeFileSync(join(outDir, p.file), gz);
  const row = {
    file: p.file,
    program: p.name,
    version: version(p.pkg),
    command: p.describe,
    rawRecords: t.rawRecords,
    events: t.events,
    allocs: t.allocs,
    frees: t.frees,
    reallocs: t.reallocs,
    aligned: t.aligned,
    ids: t.ids,
    liveAtCap: t.liveAtCap,
    peakLiveBytes: t.peak,
    bytes: gz.length,
    untrackedFrees: t.untrackedFrees,
    zeroSizes: t.zeroSizes,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
writeFileSync(join(outDir, "traces.json"), `${JSON.stringify(rows, null, 2)}\n`);
rmSync(work, { recursive: true, force: true });
