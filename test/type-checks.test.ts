// Compositions the types refuse: the TypeScript stand-in for the Rust crate's compile_fail doctests (STYLE §16).
// Each `@ts-expect-error` line below must fail to type-check (`npm run check` and the build run tsc over this file;
// an expectation that no longer fails is itself a compile error). The functions are never called: each refused
// composition also has a run-time test here that shows what happens when the types are bypassed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AllocError, ArrayBufferBacked, BumpArena, type OsBacked } from "../src/index.js";
import { GuardPage, MmapBacked } from "../src/os.js";

/** `BumpArena<B>` is `OsBacked` exactly when `B` is (the Rust `impl<B: OsBacked> OsBacked for BumpArena<B>`). */
export function bumpArenaOsBacked(): void {
  const os = new BumpArena(new MmapBacked(1 << 16));
  const n: number = os.basePtr() + os.regionSize();
  const asOs: OsBacked = os;
  new GuardPage(os);
  const js = new BumpArena(new ArrayBufferBacked(1 << 16));
  // @ts-expect-error an arena over a JavaScript buffer has no basePtr
  js.basePtr();
  // @ts-expect-error nor is it OsBacked
  const notOs: OsBacked = js;
  // @ts-expect-error so GuardPage refuses it
  new GuardPage(js);
  // Every BumpArena<X> is a BumpArena; a plain BumpArena may or may not be OsBacked, so the types refuse it too.
  const general: BumpArena = os;
  const alsoGeneral: BumpArena = js;
  // @ts-expect-error maybe not OsBacked
  new GuardPage(general);
  void [n, asOs, notOs, alsoGeneral];
}

describe("compositions the types refuse are refused at run time too", () => {
  test("GuardPage over a BumpArena of a JavaScript buffer", () => {
    const js = new BumpArena(new ArrayBufferBacked(1 << 16));
    assert.throws(() => new GuardPage(js as never), AllocError);
  });

  test("and accepts the arena over a mapping, as the types do", () => {
    const guarded = new GuardPage(new BumpArena(new MmapBacked(1 << 16)));
    assert.notEqual(guarded.allocate(64), 0);
  });
});
