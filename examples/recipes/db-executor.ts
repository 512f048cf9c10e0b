// Recipe 6, a database executor: an arena per query, a pool of 8 KiB pages, and an audit log that is the one
// hardened part (guard pages around it, its slab state in a separate mapping).
// Run alone: `node build/examples/recipes/db-executor.js` after `npm run build:test`.
import {
  type Allocator,
  ArrayBufferBacked,
  BumpArena,
  Canary,
  Slab,
  StaticBacked,
  inspect,
} from "../../src/index.js";
import { type RecipeReport, type Say, loadOs, runIfMain } from "./shared.js";

const PAGE = 8 << 10;
const AUDIT_ENTRY = 128;

/** Shows paying for hardening only where it is needed, and per-query memory that costs one reset. */
export async function dbExecutor(say: Say): Promise<RecipeReport> {
  const os = await loadOs();
  const skipped: string[] = [];
  const memory = new ArrayBufferBacked({ size: 1 << 20, maxSize: 8 << 20 });
  const query = new BumpArena(StaticBacked.carve(memory, 1 << 20, 64));
  const pages = new Slab(memory, { blockSize: PAGE, capacity: 64, align: 64 });
  let audit: Allocator & { liveCount?: () => number };
  let auditKind: string;
  let close = (): void => {};
  if (typeof os === "string") {
    audit = new Canary(
      new Slab(new ArrayBufferBacked(256 << 10), { blockSize: AUDIT_ENTRY + 32, capacity: 1024 }),
    );
    auditKind = "Canary<Slab> (no guard pages here)";
    skipped.push(`HardenedSlab audit log (guard pages, split metadata): ${os}`);
  } else {
    const log = new os.HardenedSlab({ blockSize: AUDIT_ENTRY, capacity: 1024 });
    audit = log;
    close = () => log[Symbol.dispose]();
    auditKind = "HardenedSlab (guard pages, state in its own mapping)";
  }
  say(`a 1 MiB query arena, a pool of 64 pages of 8 KiB, and an audit log: ${auditKind}`);

  const text = new TextEncoder();
  const entries: number[] = [];
  let pagesBorrowed = 0;
  for (let q = 1; q <= 4; q++) {
    const plan = query.allocate(2048, 16);
    const scratch = query.allocate(2048, 16);
    memory.memory.u8.fill(q, plan, plan + 2048);
    memory.memory.u8.fill(0, scratch, scratch + 2048);
    const borrowed = [pages.allocate(PAGE, 64), pages.allocate(PAGE, 64)];
    pagesBorrowed += borrowed.length;
    for (const p of borrowed) memory.memory.u32[p >>> 2] = q; // the page header: the query that wrote it
    const entry = audit.allocate(AUDIT_ENTRY);
    const line = text.encode(`query ${q}: plan ${plan}, pages ${borrowed.join("+")}`);
    audit.memory.u8.set(line.subarray(0, AUDIT_ENTRY), entry);
    entries.push(entry); // audit entries are kept
    for (const p of borrowed) pages.deallocate(p, PAGE, 64);
    say(
      `  query ${q}: ${query.allocated()} bytes of plan and scratch, 2 pages borrowed and returned, audit entry at ${entry}`,
    );
    query.reset(); // the whole query's memory in one step (the Rust example maps a fresh arena each time)
  }
  const last = new TextDecoder()
    .decode(audit.memory.u8.subarray(entries[3]!, entries[3]! + AUDIT_ENTRY))
    .replace(/\0+$/, "");
  say(`pages live at the end: ${pages.liveCount()}; the last audit entry reads "${last}"`);
  const picture = inspect(
    audit,
    `db-executor: the audit log after 4 entries (${typeof os === "string" ? "Canary<Slab>" : "HardenedSlab"})`,
  );
  close();
  return {
    name: "db-executor",
    composition: `BumpArena per query; Slab of pages; ${typeof os === "string" ? "Canary<Slab>" : "HardenedSlab"} audit log`,
    shows: `4 queries, ${pagesBorrowed} pages borrowed, ${pages.liveCount()} live after; ${entries.length} audit entries kept`,
    skipped,
    pictures: [picture],
  };
}

runIfMain(import.meta.url, dbExecutor);
