// Opening a page in headless Chromium (Debian's package; .ci/run installs it) and reading the screenshot back.
// Without Chromium the browser part of a test is skipped with the reason, except under CI=true, where it fails.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";

/** The headless Chromium on PATH (Debian's `chromium`, or `chromium-browser`, `google-chrome`), if any. */
export function findChromium(): string | undefined {
  return ["chromium", "chromium-browser", "google-chrome"].find((c) => spawnSync("which", [c]).status === 0);
}

/**
 * The Chromium to render with. Without one, the test is marked skipped with the reason and how to run it; under
 * `CI=true` (`.ci/run`, which installs it) a missing browser fails the test instead.
 */
export function chromiumOrSkip(t: { skip(message?: string): void }): string | undefined {
  const chromium = findChromium();
  if (chromium !== undefined) return chromium;
  const how =
    "headless Chromium is not installed (chromium, chromium-browser or google-chrome on PATH); " +
    "to run this part: apt-get install chromium, or .ci/run";
  assert.notEqual(process.env.CI, "true", `under CI=true the browser tests must run: ${how}`);
  t.skip(`the browser part: ${how}`);
  return undefined;
}

/** Renders `htmlFile` with `chromium` at `width` x `height` and returns how many pixels have each colour (`#rrggbb`). */
export function screenshotColours(
  chromium: string,
  htmlFile: string,
  width: number,
  height: number,
): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), "forge-shot-"));
  try {
    const png = join(dir, "shot.png");
    const shot = spawnSync(
      chromium,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        `--window-size=${width},${height}`,
        `--screenshot=${png}`,
        `file://${htmlFile}`,
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(shot.status, 0, shot.stderr);
    const image = PNG.sync.read(readFileSync(png));
    const count = new Map<string, number>();
    for (let i = 0; i < image.data.length; i += 4) {
      const hex = `#${[0, 1, 2].map((c) => image.data[i + c]!.toString(16).padStart(2, "0")).join("")}`;
      count.set(hex, (count.get(hex) ?? 0) + 1);
    }
    return count;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
