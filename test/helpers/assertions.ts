// Predicates and assertions the mutation tests share.
import assert from "node:assert/strict";

/** A predicate for `assert.throws`: an error of class `type` whose message matches every one of `patterns`. */
export const isError =
  (type: new (...args: never[]) => Error, ...patterns: RegExp[]) =>
  (e: unknown): boolean =>
    e instanceof type && patterns.every((p) => p.test(e.message));

/**
 * Asserts that `target.validate()` throws an `Error` whose message starts with `<name>.validate: ` and matches
 * `message`: the broken invariant is named by the class that checks it.
 */
export function validateFails(target: { validate(): unknown }, name: string, message: RegExp): void {
  assert.throws(
    () => target.validate(),
    (err: unknown) =>
      err instanceof Error && err.message.startsWith(`${name}.validate: `) && message.test(err.message),
  );
}
