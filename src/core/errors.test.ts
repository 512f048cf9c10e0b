import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  AllocError,
  CorruptionError,
  InvalidPointerError,
  LayoutError,
  InvariantError,
  UnsupportedError,
  type AllocErrorCode,
} from "./errors.js";

const CODES: readonly [new (...args: never[]) => AllocError, AllocErrorCode, () => AllocError][] = [
  [AllocError, "ERR_ALLOC", () => new AllocError("a")],
  [LayoutError, "ERR_LAYOUT", () => new LayoutError("l")],
  [InvalidPointerError, "ERR_INVALID_POINTER", () => new InvalidPointerError(8, "p")],
  [CorruptionError, "ERR_CORRUPTION", () => new CorruptionError("c")],
  [UnsupportedError, "ERR_UNSUPPORTED", () => new UnsupportedError("u")],
  [InvariantError, "ERR_INVARIANT", () => new InvariantError("I2", "overlap")],
];

test("every error class carries its own stable code, an own property next to its name", () => {
  const seen = new Set<string>();
  for (const [cls, code, make] of CODES) {
    const e = make();
    assert.ok(e instanceof cls && e instanceof AllocError && e instanceof Error);
    assert.equal(e.code, code, cls.name);
    assert.equal(e.name, cls.name);
    assert.ok(Object.prototype.hasOwnProperty.call(e, "code"), `${cls.name}: code is an own property`);
    assert.ok(!seen.has(code), `${code} is used twice`);
    seen.add(code);
  }
  // A subclass made by a user keeps its parent's code unless it sets one.
  class MyLayoutError extends LayoutError {}
  assert.equal(new MyLayoutError("x").code, "ERR_LAYOUT");
});

test("the code table in errors.ts and the README name every code", () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
  const source = readFileSync(join(root, "src", "core", "errors.ts"), "utf8");
  const readme = readFileSync(join(root, "README.md"), "utf8");
  for (const [cls, code] of CODES) {
    assert.match(
      source,
      new RegExp(`\\| \\{@link ${cls.name}\\} \\| \`${code}\` \\|`),
      `errors.ts table: ${code}`,
    );
    assert.match(readme, new RegExp(`\`${cls.name}\`[^\\n]*\`${code}\``), `README: ${code}`);
  }
});
