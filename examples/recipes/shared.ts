// What the six application recipes share: how they print, how they report, how they reach the OS layer.
import { pathToFileURL } from "node:url";
import { isMainThread } from "node:worker_threads";
import type { HeapPicture } from "../../src/index.js";

/** Where a recipe prints its lines (the console when run alone; the tour indents them). */
export type Say = (line: string) => void;

/** What a recipe reports for the tour's summary table and for the tests that check its claims. */
export interface RecipeReport {
  /** The recipe's name, as in the Rust crate's application recipes. */
  readonly name: string;
  /** The composition, outermost first. */
  readonly composition: string;
  /** One line: what the run showed. */
  readonly shows: string;
  /** OS-layer parts that did not run here, and why (empty when everything ran). */
  readonly skipped: readonly string[];
  /** Pictures of the recipe's allocators at its most telling moment (`forge-alloc inspect --recipes` draws them). */
  readonly pictures: readonly HeapPicture[];
}

/** `forge-alloc/os`, or the reason it cannot be used on this machine. */
export async function loadOs(): Promise<typeof import("../../src/os.js") | string> {
  try {
    const os = await import("../../src/os.js");
    // Importing never throws where the addon is missing (the first mapping does): ask whether it loaded.
    const status = os.nativeStatus();
    return status.loaded ? os : `forge-alloc/os has no native addon here: ${status.reason}`;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Runs `recipe` with console output when `moduleUrl` is the program node was started with. */
export function runIfMain(
  moduleUrl: string,
  recipe: (say: Say) => Promise<RecipeReport> | RecipeReport,
): void {
  const started = process.argv[1];
  if (!isMainThread || started === undefined || pathToFileURL(started).href !== moduleUrl) return;
  void Promise.resolve(recipe((line) => console.log(line))).then(
    (report) => {
      console.log(`\n${report.name}: ${report.shows}`);
      for (const s of report.skipped) console.log(`skipped: ${s}`);
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
