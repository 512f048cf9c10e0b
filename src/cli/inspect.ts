/**
 * `forge-alloc inspect`: draws demo heaps (or, in a clone, the six application recipes' allocators) as HTML or SVG
 * and prints each one's fragmentation summary.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import {
  ArrayBufferBacked,
  Heap,
  type HeapPicture,
  NULL,
  Quarantine,
  Slab,
  formatSummary,
  inspect,
  renderHtml,
  renderSvg,
} from "../index.js";
import { SeededRandom } from "../testing/index.js";
import { CliError, integerOption } from "./args.js";
import { repoModule } from "./repo.js";

/** A `Quarantine<Heap>` after `ops` seeded mixed-size allocations and frees (about 45% frees). */
function churnedHeap(seed: number, ops: number): HeapPicture {
  const heap = new Quarantine(new Heap(new ArrayBufferBacked({ size: 1 << 18, maxSize: 1 << 28 })), 16);
  const random = new SeededRandom(seed);
  const live: number[] = [];
  for (let i = 0; i < ops; i++) {
    if (live.length > 0 && random.int(0, 99) < 45) {
      const k = 2 * random.int(0, live.length / 2 - 1);
      heap.deallocate(live[k]!, live[k + 1]!);
      live[k] = live[live.length - 2]!;
      live[k + 1] = live[live.length - 1]!;
      live.length -= 2;
    } else {
      const size = random.int(0, 9) < 8 ? random.int(8, 200) : random.int(1000, 5000);
      const p = heap.allocate(size);
      if (p !== NULL) live.push(p, size);
    }
  }
  return inspect(heap, `Quarantine<Heap> after ${ops} seeded operations (seed ${seed})`);
}

/** The demo heaps: a churned heap, a token slab, and (where the OS layer loads) a HardenedSlab. */
async function demoPictures(seed: number, ops: number): Promise<HeapPicture[]> {
  const pictures = [churnedHeap(seed, ops)];
  const slab = new Quarantine(new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 64, capacity: 256 }), 8);
  const tokens = Array.from({ length: 200 }, () => slab.allocate(64));
  for (let i = 0; i < 200; i += 3) slab.deallocate(tokens[i]!, 64);
  pictures.push(inspect(slab, "Quarantine<Slab> of 64-byte tokens, every third one revoked"));
  try {
    const { HardenedSlab } = await import("../os.js");
    const keys = new Quarantine(new HardenedSlab({ blockSize: 64, capacity: 100 }), 4);
    const issued = Array.from({ length: 60 }, () => keys.allocate(64));
    for (const k of issued.slice(20, 30)) keys.deallocate(k, 64);
    pictures.push(inspect(keys, "Quarantine<HardenedSlab>: guard pages around the slots"));
  } catch (error) {
    console.log(`skipped the HardenedSlab picture: ${(error as Error).message}\n`);
  }
  return pictures;
}

/** The six application recipes' pictures (they run quietly), or undefined outside a clone. */
async function recipePictures(): Promise<HeapPicture[] | undefined> {
  const mod = await repoModule<{
    runRecipes: (say: (line: string) => void) => Promise<{ pictures: readonly HeapPicture[] }[]>;
  }>("examples/tour.js");
  if (typeof mod === "string") return undefined;
  const reports = await mod.runRecipes(() => {});
  return reports.flatMap((r) => r.pictures);
}

/** The values `inspect` accepts (see its `--help`). */
export interface InspectValues {
  /** `--out FILE`. */
  readonly out?: string | undefined;
  /** `--seed N`. */
  readonly seed?: string | undefined;
  /** `--ops N`. */
  readonly ops?: string | undefined;
  /** `--recipes`. */
  readonly recipes?: boolean | undefined;
}

/** Runs `inspect`; returns the exit code. Throws {@link CliError} for bad options and unwritable output. */
export async function inspectCommand(values: InspectValues): Promise<number> {
  const seed = integerOption("seed", values.seed, 1, 0xffffffff);
  const ops = integerOption("ops", values.ops, 5000, 10_000_000);
  const out = values.out ?? "forge-alloc-inspect.html";
  if (!/\.(html|svg)$/.test(out)) {
    throw new CliError(`--out ${out}: expected a file name ending in .html or .svg`, 2);
  }
  const pictures = values.recipes === true ? await recipePictures() : await demoPictures(seed, ops);
  if (pictures === undefined) {
    throw new CliError(
      "--recipes: the recipes are programs of the repository (examples/); run it in a clone after `npm run build:test`",
      2,
    );
  }
  for (const p of pictures) console.log(`${formatSummary(p)}\n`);
  try {
    writeFileSync(out, out.endsWith(".svg") ? renderSvg(pictures[0]!) : renderHtml(pictures));
  } catch (error) {
    throw new CliError(`cannot write --out ${out}: ${(error as Error).message}`, 1);
  }
  console.log(
    `wrote ${out}${out.endsWith(".svg") ? " (the first picture)" : ` (${pictures.length} pictures)`}`,
  );
  return 0;
}
