/**
 * Pictures of a heap: which ranges of its memory are used, free, quarantined, guarded or bookkeeping, as SVG or
 * HTML, and a text summary of its fragmentation. `forge-alloc inspect` draws the demo heaps; call
 * {@link inspect} and {@link renderSvg} on your own allocator.
 *
 * Works for any allocator that implements `HasRegions` (every layout and wrapper of this package, `GuardPage`
 * included). The picture combines every level of the composition: starting from the bottom (the backing), each
 * level above it redraws the part it manages, so a `Slab` over a `GuardPage` shows its slots between the guards.
 * Not a hot path: O(blocks), and it allocates.
 *
 * @example
 * ```ts
 * const heap = new Quarantine(new Heap(new ArrayBufferBacked(1 << 16)), 8);
 * for (let i = 0; i < 40; i++) heap.allocate(24 + i * 16);
 * const picture = inspect(heap, "my heap");
 * console.log(formatSummary(picture));
 * const svg = renderSvg(picture); // or writeFileSync("heap.html", renderHtml([picture]))
 * const html = renderHtml([picture, inspect(new Slab(new ArrayBufferBacked(4096), { blockSize: 64, capacity: 8 }))]);
 * ```
 *
 * @module
 */
import { type Region, type RegionKind, UnsupportedError, hasRegions, overlayRegions } from "./core/index.js";

/** Totals over a {@link HeapPicture}'s regions. */
export interface HeapSummary {
  /** Bytes in the picture: from its first region's start to its last region's end. */
  readonly spanBytes: number;
  /** Bytes in each kind of region. */
  readonly bytes: Readonly<Record<RegionKind, number>>;
  /** Used regions (blocks or slots in use). */
  readonly usedRegions: number;
  /** Maximal runs of adjacent free bytes. */
  readonly freeRuns: number;
  /** The longest free run: the largest request the picture's free space could hold in one piece. */
  readonly largestFreeRun: number;
  /** `1 - largestFreeRun / free bytes` (0 with no free byte): 0 is one hole, near 1 is free space in crumbs. */
  readonly fragmentation: number;
}

/** What {@link inspect} returns: the combined regions of one allocator, and their totals. */
export interface HeapPicture {
  /** A caption for the picture. */
  readonly title: string;
  /** Sorted, non-overlapping, with adjacent regions of one kind kept apart (slot boundaries stay visible). */
  readonly regions: readonly Region[];
  /** Totals. */
  readonly summary: HeapSummary;
}

const KINDS: readonly RegionKind[] = ["used", "free", "quarantined", "guard", "metadata"];

/** The colours of {@link renderSvg}, by kind. */
export const REGION_COLOURS: Readonly<Record<RegionKind, string>> = Object.freeze({
  used: "#4e79a7",
  free: "#e6e6e6",
  quarantined: "#f28e2b",
  guard: "#e15759",
  metadata: "#76b7b2",
});

/** The allocator the next level down, if any (a wrapper's `inner`, a layout's `backing`). */
function below(x: object): object | null {
  const o = x as { inner?: unknown; backing?: unknown };
  const next = o.inner ?? o.backing;
  return typeof next === "object" && next !== null ? next : null;
}

/**
 * The regions of `alloc` combined over every level of its composition, and their totals.
 *
 * The picture covers the top allocator's own regions, widened to the pair of guard pages around them when a level
 * below has guards; the rest of a shared backing (other allocators' ranges, memory not yet committed) is left out.
 * @throws `UnsupportedError` when `alloc` cannot list its regions (it does not implement `HasRegions`).
 */
export function inspect(alloc: object, title = alloc.constructor.name): HeapPicture {
  if (!hasRegions(alloc)) {
    throw new UnsupportedError(
      `inspect: ${alloc.constructor.name} cannot list its regions; expected an allocator with regions() (HasRegions)`,
    );
  }
  const top = alloc.regions();
  const levels: Region[][] = [];
  for (let x: object | null = alloc, depth = 0; x !== null && depth < 64; x = below(x), depth++) {
    if (!hasRegions(x)) continue;
    try {
      levels.push(x.regions());
    } catch (error) {
      if (!(error instanceof UnsupportedError)) throw error;
    }
  }
  let combined: Region[] = levels.pop() ?? [];
  while (levels.length > 0) combined = overlayRegions(combined, levels.pop()!);
  if (top.length === 0) return { title, regions: [], summary: summarize([]) };
  let start = top[0]!.offset;
  let end = top[top.length - 1]!.offset + top[top.length - 1]!.size;
  // Widen to the guard pages that fence the top allocator's memory, when there are some below it.
  let before: Region | undefined;
  let after: Region | undefined;
  for (const r of combined) {
    if (r.kind !== "guard") continue;
    if (r.offset + r.size <= start) before = r;
    else if (r.offset >= end && after === undefined) after = r;
  }
  if (before !== undefined && after !== undefined) {
    start = before.offset;
    end = after.offset + after.size;
  }
  const regions = clip(combined, start, end);
  return { title, regions, summary: summarize(regions) };
}

function clip(regions: readonly Region[], start: number, end: number): Region[] {
  const out: Region[] = [];
  for (const r of regions) {
    const a = Math.max(r.offset, start);
    const b = Math.min(r.offset + r.size, end);
    if (b > a)
      out.push(a === r.offset && b === r.offset + r.size ? r : { offset: a, size: b - a, kind: r.kind });
  }
  return out;
}

function summarize(regions: readonly Region[]): HeapSummary {
  const bytes: Record<RegionKind, number> = { used: 0, free: 0, quarantined: 0, guard: 0, metadata: 0 };
  let usedRegions = 0;
  let freeRuns = 0;
  let largest = 0;
  let run = 0;
  let runEnd = -1;
  for (const r of regions) {
    bytes[r.kind] += r.size;
    if (r.kind === "used") usedRegions++;
    if (r.kind === "free") {
      run = r.offset === runEnd ? run + r.size : r.size;
      if (r.offset !== runEnd) freeRuns++;
      runEnd = r.offset + r.size;
      if (run > largest) largest = run;
    } else {
      runEnd = -1;
    }
  }
  const first = regions[0];
  const last = regions[regions.length - 1];
  return {
    spanBytes: first === undefined || last === undefined ? 0 : last.offset + last.size - first.offset,
    bytes,
    usedRegions,
    freeRuns,
    largestFreeRun: largest,
    fragmentation: bytes.free === 0 ? 0 : 1 - largest / bytes.free,
  };
}

function human(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(n % (1 << 20) === 0 ? 0 : 2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(n % (1 << 10) === 0 ? 0 : 1)} KiB`;
  return `${n} B`;
}

/** A few lines of text: bytes per kind, free runs, the largest one, fragmentation. */
export function formatSummary(picture: HeapPicture): string {
  const s = picture.summary;
  const share = (n: number): string =>
    s.spanBytes === 0 ? "0%" : `${((100 * n) / s.spanBytes).toFixed(1)}%`;
  const lines = [`${picture.title}: ${human(s.spanBytes)} in ${picture.regions.length} regions`];
  for (const k of KINDS) {
    if (s.bytes[k] > 0)
      lines.push(`  ${k.padEnd(11)} ${human(s.bytes[k]).padStart(10)}  ${share(s.bytes[k]).padStart(6)}`);
  }
  lines.push(
    `  ${s.freeRuns} free runs, the largest ${human(s.largestFreeRun)}; fragmentation ${s.fragmentation.toFixed(3)} ` +
      `(0 = one hole, near 1 = free space in crumbs); ${s.usedRegions} used blocks`,
  );
  return lines.join("\n");
}

/** Options of {@link renderSvg}. */
export interface SvgOptions {
  /** Width of the picture in pixels. @defaultValue 960 */
  width?: number;
  /** Rows the address range is folded into (like lines of text, lowest addresses top left). @defaultValue 24 */
  rows?: number;
}

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot" }[c]};`);
}

/**
 * An SVG picture: the address range folded into rows, each region a coloured bar (adjacent regions of one kind
 * are drawn as one bar, with a thin line between regions where there is room), a legend with the bytes of each
 * kind, and the summary line. Self-contained (no scripts, no external resources).
 */
export function renderSvg(picture: HeapPicture, options: SvgOptions = {}): string {
  const width = options.width ?? 960;
  const rows = options.rows ?? 24;
  const pad = 12;
  const rowHeight = 14;
  const gap = 4;
  const strip = width - 2 * pad;
  const s = picture.summary;
  const first = picture.regions[0]?.offset ?? 0;
  const span = Math.max(1, s.spanBytes);
  const bytesPerRow = Math.ceil(span / rows);
  const px = strip / bytesPerRow;
  const top = 44;
  const height = top + rows * (rowHeight + gap) + 48;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<title>${escape(picture.title)}</title>`,
    `<text x="${pad}" y="20" font-size="15" font-weight="600">${escape(picture.title)}</text>`,
    `<text x="${pad}" y="36" fill="#555">${escape(`offsets ${first} to ${first + s.spanBytes}, ${human(bytesPerRow)} per row; fragmentation ${s.fragmentation.toFixed(3)}, ${s.freeRuns} free runs, largest ${human(s.largestFreeRun)}`)}</text>`,
  ];
  const bar = (from: number, to: number, kind: RegionKind, edge: boolean): void => {
    for (let a = from; a < to;) {
      const row = Math.floor((a - first) / bytesPerRow);
      const rowEnd = first + (row + 1) * bytesPerRow;
      const b = Math.min(to, rowEnd);
      const x = pad + (a - first - row * bytesPerRow) * px;
      const w = Math.max((b - a) * px, 0.5);
      const y = top + row * (rowHeight + gap);
      out.push(
        `<rect class="region ${kind}" x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${rowHeight}" fill="${REGION_COLOURS[kind]}"${edge && w > 3 ? ' stroke="#fff" stroke-width="0.5"' : ""}/>`,
      );
      a = b;
    }
  };
  // Runs of one kind are drawn as one bar unless their regions are wide enough to show their edges.
  const regions = picture.regions;
  for (let i = 0; i < regions.length;) {
    const r = regions[i]!;
    let j = i + 1;
    let end = r.offset + r.size;
    while (j < regions.length && regions[j]!.kind === r.kind && regions[j]!.offset === end) {
      end += regions[j]!.size;
      j++;
    }
    const wide = ((end - r.offset) * px) / (j - i) > 3;
    if (wide)
      for (let k = i; k < j; k++)
        bar(regions[k]!.offset, regions[k]!.offset + regions[k]!.size, r.kind, true);
    else bar(r.offset, end, r.kind, false);
    i = j;
  }
  let x = pad;
  const legendY = top + rows * (rowHeight + gap) + 16;
  for (const k of KINDS) {
    out.push(`<rect x="${x}" y="${legendY}" width="12" height="12" fill="${REGION_COLOURS[k]}"/>`);
    const label = `${k} ${human(s.bytes[k])}`;
    out.push(`<text x="${x + 16}" y="${legendY + 10}">${escape(label)}</text>`);
    x += 24 + label.length * 7;
  }
  out.push("</svg>");
  return out.join("\n");
}

/** A self-contained HTML page with each picture's SVG and text summary. */
export function renderHtml(pictures: readonly HeapPicture[], title = "forge-alloc inspect"): string {
  const body = pictures
    .map((p) => `<section>\n${renderSvg(p)}\n<pre>${escape(formatSummary(p))}</pre>\n</section>`)
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}section{margin-bottom:32px}pre{background:#f6f6f6;padding:8px}</style>
</head>
<body>
<h1>${escape(title)}</h1>
${body}
</body>
</html>
`;
}
