// The kernel's view of this process's mappings (Linux /proc/self/smaps): what a mapping's flags really are, for
// the OS tests that check what the library asked of the kernel (huge pages, no reserve, locked, excluded from dumps).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

/** A mapping of this process and its VmFlags, from /proc/self/smaps. */
export interface Vma {
  start: number;
  end: number;
  flags: string[];
}

/** The mappings of this process (Linux). */
export function vmas(): Vma[] {
  return readFileSync("/proc/self/smaps", "utf8")
    .split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)
    .map((e) => {
      const [start, end] = e
        .split(" ")[0]!
        .split("-")
        .map((h) => parseInt(h, 16));
      return { start: start!, end: end!, flags: (/VmFlags:\s*(.*)/.exec(e)?.[1] ?? "").trim().split(/\s+/) };
    });
}

/**
 * The kernel's VmFlags of the mapping of `bytes` bytes that `create` makes. The kernel may merge a new anonymous
 * mapping with a neighbour of the same flags, so the mapping is found by what changed: a new area of exactly
 * `bytes`, or an area that grew by `bytes` over one that was there before (its flags are the mapping's then).
 */
export function vmFlagsOfNew<T>(bytes: number, create: () => T): [string[], T] {
  const before = vmas();
  const value = create();
  const after = vmas();
  const was = new Set(before.map((v) => `${v.start}-${v.end}`));
  const fresh = after.filter((v) => !was.has(`${v.start}-${v.end}`));
  const exact = fresh.find((v) => v.end - v.start === bytes);
  const merged = fresh.find((v) =>
    before.some(
      (o) => (o.start === v.start || o.end === v.end) && v.end - v.start - (o.end - o.start) === bytes,
    ),
  );
  const found = exact ?? merged;
  assert.ok(found !== undefined, `a mapping of ${bytes} bytes in /proc/self/smaps`);
  return [found.flags, value];
}
