/**
 * The explicit-resource-management names forge-alloc's declarations use (`Disposable`, `Symbol.dispose`), declared
 * for TypeScript projects whose `lib` does not include `esnext.disposable` (a browser project with a plain `lib`,
 * say). The declarations match TypeScript's own, so they merge with them where that `lib` is present. Types only:
 * at run time `Symbol.dispose` exists on Node 20 and newer, Bun, Deno and current browsers.
 *
 * @module
 */
declare global {
  interface SymbolConstructor {
    /** The method a `using` declaration calls when its scope ends. */
    readonly dispose: unique symbol;
  }
  /** An object a `using` declaration can hold: its `[Symbol.dispose]()` runs when the scope ends. */
  interface Disposable {
    [Symbol.dispose](): void;
  }
}
export {};
