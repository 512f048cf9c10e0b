/**
 * Per-class call sites for wrappers: a hand-made polymorphic inline cache that needs no `eval`.
 *
 * A wrapper reaches its inner through one call site shared by every instance of the wrapper class. Once five inner
 * classes pass through a site, V8 makes it megamorphic and every call pays a global cache lookup (measured: about
 * +15 ns per round trip). Here every inner class gets a small id once, at construction, and with it a forwarder:
 * a tiny function of its own (`a.allocate(size, align)`), written out once per id. Each forwarder's call site only
 * ever sees one class, so it stays monomorphic and V8 inlines the inner's method into it; the wrapper's call of its
 * forwarder is a plain call of a known function when the wrapper sees one inner class, and a cheap indirect call
 * (no property lookup) when it sees many. Ids beyond the table share the last, generic forwarder.
 *
 * The forwarders are written out on purpose: forwarders made by one factory would share one call site, and
 * generating them would need `eval`, which content-security policies forbid in browsers.
 *
 * @module
 */
import type { Allocator } from "./allocator.js";

/** Forwards `allocate` to one inner class: the type of `Wrapper`'s protected `innerAllocate`. */
export type AllocateForwarder = (a: Allocator, size: number, align: number) => number;
/** Forwards `deallocate` to one inner class: the type of `Wrapper`'s protected `innerDeallocate`. */
export type DeallocateForwarder = (a: Allocator, ptr: number, size: number, align: number) => void;

const ids = new Map<unknown, number>();

/** The dispatch id of an allocator's class (assigned on first sight, stable for the process). @internal */
export function dispatchKind(allocator: object): number {
  const ctor = (allocator as { constructor?: unknown }).constructor;
  let id = ids.get(ctor);
  if (id === undefined) {
    id = ids.size;
    ids.set(ctor, id);
  }
  return id;
}

// One literal per id: each has its own call site (see the module documentation). The last one is shared.
const ALLOCATE: readonly AllocateForwarder[] = [
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align),
  (a, size, align) => a.allocate(size, align), // shared by every later class
];

const DEALLOCATE: readonly DeallocateForwarder[] = [
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align),
  (a, ptr, size, align) => a.deallocate(ptr, size, align), // shared by every later class
];

/** How many inner classes get a forwarder of their own. @internal */
export const DISPATCH_CASES: number = ALLOCATE.length - 1;

/** The `allocate` forwarder for the class of `kind`. @internal */
export function allocateForwarder(kind: number): AllocateForwarder {
  return ALLOCATE[kind < DISPATCH_CASES ? kind : DISPATCH_CASES]!;
}

/** The `deallocate` forwarder for the class of `kind`. @internal */
export function deallocateForwarder(kind: number): DeallocateForwarder {
  return DEALLOCATE[kind < DISPATCH_CASES ? kind : DISPATCH_CASES]!;
}
