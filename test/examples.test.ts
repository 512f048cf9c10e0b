// The examples in examples/ run and print what they claim.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const examples = join(dirname(fileURLToPath(import.meta.url)), "..", "examples");

test("examples/workers: a worker frees the owner's blocks remotely and they all come back", () => {
  const r = spawnSync(process.execPath, [join(examples, "workers.js")], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /freed 500 slab blocks remotely/);
  assert.match(r.stdout, /after draining, the slab has 0 live blocks/);
  assert.match(r.stdout, /served 100 allocations in the worker/);
});
