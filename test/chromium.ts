// Opening a page in headless Chromium (Debian's package; .ci/run installs it) and reading the screenshot back.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";

/**
 * Renders `htmlFile` in headless Chromium at `width` x `height` and returns how many pixels have each colour
 * (`#rrggbb`). Fails the test, saying how to install it, when Chromium is missing.
 */
export function screenshotColours(htmlFile: string, width: number, height: number): Map<string, number> {
  const chromium = ["chromium", "chromium-browser", "google-chrome"].find(
    (c) => spawnSync("which", [c]).status === 0,
  );
  assert.ok(
    chromium,
    "headless Chromium is needed for this test: apt-get install chromium (.ci/run installs it)",
  );
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
