// The six application recipes in a row, then a summary table: what `npm start` runs after the primitive tour.
// Run alone: `node build/examples/tour.js` after `npm run build:test`.
import { authService } from "./recipes/auth-service.js";
import { cliBatch } from "./recipes/cli-batch.js";
import { dbExecutor } from "./recipes/db-executor.js";
import { embeddedPool } from "./recipes/embedded-pool.js";
import { gameFrame } from "./recipes/game-frame.js";
import { type RecipeReport, type Say, runIfMain } from "./recipes/shared.js";
import { webService } from "./recipes/web-service.js";

/** The recipes, in the order of the Rust crate's application recipes. */
export const RECIPES: ReadonlyArray<{
  title: string;
  run: (say: Say) => RecipeReport | Promise<RecipeReport>;
}> = [
  { title: "a command-line batch job with a static budget", run: cliBatch },
  { title: "an embedded-style fixed pool", run: embeddedPool },
  { title: "a web service: per-request scratch, a connection pool, a fallback", run: webService },
  { title: "a game frame with a worker that frees audio events remotely", run: gameFrame },
  { title: "an auth service: quarantined, observed tokens", run: authService },
  { title: "a database executor: per-query arenas, a page pool, a hardened audit log", run: dbExecutor },
];

/** Runs every recipe, printing each one's lines indented, then the summary table; returns the reports. */
export async function runRecipes(say: Say): Promise<RecipeReport[]> {
  const reports: RecipeReport[] = [];
  for (const [i, recipe] of RECIPES.entries()) {
    say(`\nrecipe ${i + 1}: ${recipe.title}`);
    reports.push(await recipe.run((line) => say(`   ${line}`)));
  }
  say("\nrecipes: summary");
  const width = Math.max(...reports.map((r) => r.name.length));
  for (const r of reports) say(`  ${r.name.padEnd(width)}  ${r.shows}`);
  const skipped = reports.flatMap((r) => r.skipped.map((s) => `${r.name}: ${s}`));
  say(
    skipped.length === 0
      ? "\nevery OS-layer part ran on this machine"
      : `\nskipped here:\n  ${skipped.join("\n  ")}`,
  );
  return reports;
}

runIfMain(import.meta.url, async (say) => {
  const reports = await runRecipes(say);
  return { name: "tour", composition: "", shows: `${reports.length} recipes ran`, skipped: [], pictures: [] };
});
