import assert from "node:assert/strict";
import { test } from "node:test";
import * as api from "../src/index.js";
import * as osApi from "../src/os.js";
import { SUBJECTS } from "./registry.js";

// Exported classes that are not allocators a user builds on their own, with the reason.
const NOT_SUBJECTS = new Map<Function, string>([
  [api.RangeBacking, "the shared base class of the backings"],
  [osApi.MappedBacking, "the shared base class of the OS backings"],
  [api.Wrapper, "the forwarding base class of the hardening wrappers (each wrapper runs the kit)"],
  [osApi.OsForwarder, "the forwarding base class of the OS wrappers (each wrapper runs the kit)"],
  [osApi.OsRangeForwarder, "the forwarding base class of the OS wrappers (each wrapper runs the kit)"],
  [
    osApi.HugePageBacked,
    "needs reserved huge pages: its conformance run is in src/os/mmap.test.ts, under a reservation",
  ],
]);

test("every exported allocator class runs the conformance kit", () => {
  const covered = new Set(SUBJECTS.flatMap((s) => s.covers));
  const missing: string[] = [];
  for (const [name, value] of [...Object.entries(api), ...Object.entries(osApi)]) {
    if (typeof value !== "function") continue;
    const proto = (value as { prototype?: Record<string, unknown> }).prototype;
    if (typeof proto?.["allocate"] !== "function" || typeof proto["deallocate"] !== "function") continue;
    if (!covered.has(value) && !NOT_SUBJECTS.has(value)) missing.push(name);
  }
  assert.deepEqual(missing, [], "add these classes to test/registry.ts");
});

test("the registry covers both composition layers (sanity)", () => {
  assert.ok(SUBJECTS.length >= 10);
  assert.ok(SUBJECTS.some((s) => s.name.startsWith("WithFallback")));
});
