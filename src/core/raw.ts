/**
 * The raw protocol: how layers talk to each other once the outermost object has validated a call.
 *
 * The public methods of the `Allocator` contract validate their arguments (I9) and pointers (I4). When one
 * allocator calls another (a `Heap` carving pages from its `Tlsf`, a wrapper forwarding to its inner), the arguments
 * were already checked by the object the user called, so checking them again at every layer only costs time and
 * names the wrong object in the message. An allocator that implements {@link RawAllocator} offers the same
 * operations without the checks; the caller promises their preconditions:
 *
 * | method | precondition (the caller checked it) | result |
 * |---|---|---|
 * | `allocRaw(size, align)` | `size` an integer in `1 .. MAX_SIZE`, `align` a power of two in `1 .. MAX_ALIGN` | offset, or `NULL` (I3) |
 * | `sizeOf(ptr)` | none: any JavaScript value | the live block's usable size, or `-1` for anything else |
 * | `freeRaw(ptr, size, align)` | the block is live and the layout fits it (`checkFree` > 0 just before) | frees the block |
 *
 * forge-alloc's slabs, its simple layouts and every hardening wrapper implement the whole protocol,
 * {@link RawLayer}, which adds the checks a free needs without throwing:
 *
 * | method | precondition | result |
 * |---|---|---|
 * | `checkFree(ptr, size, align)` | a valid layout; `ptr` any value | the usable size (> 0) when `freeRaw` would be accepted, else a `FAULT_*` code (< 0); changes nothing (a corruption it finds is counted when `freeing`: a free, not a probe) |
 * | `tryFree(ptr, size, align)` | a valid layout; `ptr` any value | `0` after freeing the block, else a `FAULT_*` code and nothing changed |
 * | `resizeRaw(ptr, oldSize, newSize, align)` | `checkFree(ptr, oldSize, align) > 0`; valid sizes on the right side | the block's new offset (maybe `ptr`), or `NULL` with the old block intact |
 *
 * A layer that refuses with a code first calls {@link noteFault} with what it found; the object the user called
 * turns the code into one typed error that names itself ({@link faultError}). So a stack of wrappers validates
 * once, at its outermost object, and every message names the class the user called.
 *
 * `sizeOf` is the one liveness probe: it never throws for a bad pointer (it returns -1) but it does throw
 * `CorruptionError` (and counts it) when the metadata that answers it is found overwritten, since handing out or
 * freeing memory on the word of corrupt metadata is never safe.
 *
 * Layouts that implement only {@link RawAllocator} (`Tlsf`, `Heap`) or none of it (any other `Allocator`) are
 * reached through an adapter ({@link rawLayerOf}) that completes the protocol from what they offer.
 *
 * @internal This is the contract between forge-alloc's own layers; it is not a public API and may change.
 * @module
 */
import type { Allocator } from "./allocator.js";
import { NULL } from "./constants.js";
import { AllocError, CorruptionError, InvalidPointerError, LayoutError, describePointer } from "./errors.js";
import { dispatchKind } from "./dispatch.js";
import { fillBytes } from "./blocks.js";
import type { Memory } from "./memory.js";
import { layoutError } from "./validate.js";

/** An allocator that also offers the unchecked operations of the raw protocol (see the module documentation). */
export interface RawAllocator {
  /** `allocate` without the layout check. @internal */
  allocRaw(size: number, align: number): number;
  /** The usable size of the live block `ptr`, or -1 for anything that is not one. Never throws for a bad pointer. @internal */
  sizeOf(ptr: unknown): number;
  /** Frees a block that was just checked live (see the module documentation). @internal */
  freeRaw(ptr: number, size: number, align: number): void;
}

/** The whole raw protocol (see the module documentation). @internal */
export interface RawLayer extends RawAllocator {
  /** The usable size when a free of `(ptr, size, align)` would be accepted, else a `FAULT_*` code. @internal */
  checkFree(ptr: unknown, size: number, align: number, freeing: boolean): number;
  /** Frees `(ptr, size, align)` and returns 0, or returns a `FAULT_*` code having changed nothing. @internal */
  tryFree(ptr: unknown, size: number, align: number): number;
  /**
   * `tryFree` that first sets the block's usable bytes to `byte` (a scrubbing wrapper's free in one call): the
   * usable size after freeing, or a `FAULT_*` code having written and changed nothing. @internal
   */
  scrubFree(ptr: unknown, size: number, align: number, byte: number): number;
  /** Resizes a checked live block: its new offset, or `NULL` with the old block intact. @internal */
  resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number;
}

/** `checkFree`/`tryFree`: not a live block (never issued, freed, interior, foreign, not a number). */
export const FAULT_NOT_LIVE = -1;
/** `checkFree`/`tryFree`: a live block that the size or alignment cannot describe. */
export const FAULT_LAYOUT = -2;
/** `checkFree`/`tryFree`: the metadata of a live block was overwritten (already counted by the layer that found it). */
export const FAULT_CORRUPT = -3;
/**
 * Not a code any layer returns: a public method's own check found that `(size, align)` is no layout at all, and
 * passes this to {@link faultError} so that one throw serves both refusals. @internal
 */
export const FAULT_ARGS = -4;

let faultDetail = "";

/**
 * Records what a refusing layer found, for the message the outermost object builds; returns `code`.
 * Called only on the way to returning a `FAULT_*` code. @internal
 */
export function noteFault(code: number, detail: string): number {
  faultDetail = detail;
  return code;
}

/**
 * The typed error for a refused free (or resize) of `(ptr, size, align)`, named `where` (the public class and
 * method the user called), with the detail the refusing layer noted. @internal
 */
export function faultError(
  where: string,
  code: number,
  ptr: unknown,
  size: number,
  align: number,
): AllocError {
  if (code === FAULT_ARGS) return layoutError(where, size, align);
  const detail = faultDetail;
  faultDetail = "";
  if (code === FAULT_CORRUPT) {
    return new CorruptionError(
      `${where}: ${detail === "" ? "the block's metadata was overwritten" : detail}`,
    );
  }
  if (code === FAULT_LAYOUT) {
    return new LayoutError(
      `${where}: block ${describePointer(ptr)} cannot have been allocated with size ${size} and align ${align}` +
        (detail === "" ? "; pass the size and alignment it was allocated with" : `: ${detail}`),
    );
  }
  return new InvalidPointerError(
    ptr,
    `${where}: ${describePointer(ptr)} is not a live block` +
      (detail === "" ? ": never issued, freed already, or issued before reset()" : `: ${detail}`),
  );
}

/**
 * `scrubFree` from `checkFree` and `freeRaw`, for a layer with nothing faster: check, fill the usable bytes, free.
 * @internal
 */
export function scrubFreeChecked(
  layer: RawLayer,
  memory: Memory,
  ptr: unknown,
  size: number,
  align: number,
  byte: number,
): number {
  const usable = layer.checkFree(ptr, size, align, true);
  if (usable < 0) return usable;
  fillBytes(memory, byte, ptr as number, (ptr as number) + usable);
  layer.freeRaw(ptr as number, size, align);
  return usable;
}

/** The generic fit of a layout to a live block of `usable` bytes: `size <= usable` and `ptr` aligned to `align`. */
function fits(ptr: number, usable: number, size: number, align: number): number {
  if (size > usable || (ptr & (align - 1)) !== 0) {
    return noteFault(FAULT_LAYOUT, `the block holds ${usable} bytes at offset ${ptr}`);
  }
  return usable;
}

function classify(error: unknown): number {
  if (error instanceof CorruptionError) return noteFault(FAULT_CORRUPT, error.message);
  if (error instanceof LayoutError) return noteFault(FAULT_LAYOUT, error.message);
  if (error instanceof InvalidPointerError) return noteFault(FAULT_NOT_LIVE, error.message);
  throw error;
}

/** Completes the protocol for a layout with `allocRaw`, `sizeOf` and `freeRaw` (`Tlsf`, `Heap`). @internal */
class PartialRawAdapter implements RawLayer {
  /** The adapted layout. */
  readonly target: Allocator & RawAllocator;
  /** @param target - a layout with the three base raw methods. */
  constructor(target: Allocator & RawAllocator) {
    this.target = target;
  }
  /** Forwarded. */
  allocRaw(size: number, align: number): number {
    return this.target.allocRaw(size, align);
  }
  /** Forwarded (anything but a number is not a live block). */
  sizeOf(ptr: unknown): number {
    return typeof ptr === "number" ? this.target.sizeOf(ptr) : -1;
  }
  /** Forwarded. */
  freeRaw(ptr: number, size: number, align: number): void {
    this.target.freeRaw(ptr, size, align);
  }
  /** `sizeOf`, then the generic fit; a corruption `sizeOf` reports becomes `FAULT_CORRUPT`. */
  checkFree(ptr: unknown, size: number, align: number, _freeing: boolean): number {
    if (typeof ptr !== "number") return noteFault(FAULT_NOT_LIVE, "a pointer is a number");
    let usable: number;
    try {
      usable = this.target.sizeOf(ptr);
    } catch (error) {
      return classify(error);
    }
    if (usable < 0) return noteFault(FAULT_NOT_LIVE, "");
    return fits(ptr as number, usable, size, align);
  }
  /** `checkFree`, then `freeRaw`. */
  tryFree(ptr: unknown, size: number, align: number): number {
    const usable = this.checkFree(ptr, size, align, true);
    if (usable < 0) return usable;
    this.target.freeRaw(ptr as number, size, align);
    return 0;
  }
  /** `checkFree`, the fill, then `freeRaw`. */
  scrubFree(ptr: unknown, size: number, align: number, byte: number): number {
    return scrubFreeChecked(this, this.target.memory, ptr, size, align, byte);
  }
  /** The layout's own (checked) `grow`/`shrink`: the arguments were checked, so it does not refuse them. */
  resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    return newSize >= oldSize
      ? this.target.grow(ptr, oldSize, newSize, align)
      : this.target.shrink(ptr, oldSize, newSize, align);
  }
}

/**
 * Completes the protocol for any `Allocator` from its public methods (a layout of another module, a backing, a
 * user's allocator): its checks run again and its refusals are classified by their error class. @internal
 */
class CheckedRawAdapter implements RawLayer {
  /** The adapted allocator. */
  readonly target: Allocator;
  /** @param target - any allocator. */
  constructor(target: Allocator) {
    this.target = target;
  }
  /** `allocate`. */
  allocRaw(size: number, align: number): number {
    return this.target.allocate(size, align);
  }
  /** `usableSize(ptr, 1)`, or -1 when it refuses. */
  sizeOf(ptr: unknown): number {
    if (typeof ptr !== "number") return -1;
    try {
      return this.target.usableSize(ptr as number, 1);
    } catch (error) {
      if (error instanceof CorruptionError) throw error;
      return -1;
    }
  }
  /** `deallocate`. */
  freeRaw(ptr: number, size: number, align: number): void {
    this.target.deallocate(ptr, size, align);
  }
  /** `usableSize(ptr, size)` and the alignment of `ptr`; a refusal is classified by its error class. */
  checkFree(ptr: unknown, size: number, align: number, _freeing: boolean): number {
    if (typeof ptr !== "number") return noteFault(FAULT_NOT_LIVE, "a pointer is a number");
    let usable: number;
    try {
      usable = this.target.usableSize(ptr, size);
    } catch (error) {
      return classify(error);
    }
    if ((ptr & (align - 1)) !== 0) {
      return noteFault(FAULT_LAYOUT, `the block is not aligned to ${align}`);
    }
    return usable;
  }
  /** `checkFree`, then `deallocate`, whose own refusal is classified too. */
  tryFree(ptr: unknown, size: number, align: number): number {
    const usable = this.checkFree(ptr, size, align, true);
    if (usable < 0) return usable;
    try {
      this.target.deallocate(ptr as number, size, align);
    } catch (error) {
      return classify(error);
    }
    return 0;
  }
  /** `checkFree`, the fill, then `deallocate` (which the check makes sure accepts). */
  scrubFree(ptr: unknown, size: number, align: number, byte: number): number {
    return scrubFreeChecked(this, this.target.memory, ptr, size, align, byte);
  }
  /** `grow`/`shrink`. */
  resizeRaw(ptr: number, oldSize: number, newSize: number, align: number): number {
    return newSize >= oldSize
      ? this.target.grow(ptr, oldSize, newSize, align)
      : this.target.shrink(ptr, oldSize, newSize, align);
  }
}

/** True when `value` implements the whole raw protocol. @internal */
export function isRawLayer(value: unknown): value is RawLayer {
  const v = value as Partial<RawLayer> | null;
  return typeof v?.checkFree === "function" && typeof v.tryFree === "function";
}

/** The raw view of an inner allocator: itself when it implements {@link RawLayer}, else an adapter. @internal */
export function rawLayerOf(inner: Allocator): RawLayer {
  if (isRawLayer(inner)) return inner;
  const v = inner as Partial<RawAllocator>;
  if (typeof v.allocRaw === "function" && typeof v.sizeOf === "function" && typeof v.freeRaw === "function") {
    return new PartialRawAdapter(inner as Allocator & RawAllocator);
  }
  return new CheckedRawAdapter(inner);
}

/** Moves a checked live block within `layer`: allocate, copy, free. `NULL` (old block intact) when it cannot. @internal */
export function moveRaw(
  layer: RawLayer,
  u8: Uint8Array,
  ptr: number,
  oldSize: number,
  newSize: number,
  align: number,
): number {
  const q = layer.allocRaw(newSize, align);
  if (q === NULL) return NULL;
  u8.copyWithin(q, ptr, ptr + (oldSize < newSize ? oldSize : newSize));
  layer.freeRaw(ptr, oldSize, align);
  return q;
}

/** Forwards `allocRaw` to one class. */
export type AllocRawForwarder = (a: RawLayer, size: number, align: number) => number;
/** Forwards `tryFree` to one class. */
export type FreeForwarder = (a: RawLayer, ptr: unknown, size: number, align: number) => number;
/** Forwards `checkFree` to one class. */
export type CheckForwarder = (
  a: RawLayer,
  ptr: unknown,
  size: number,
  align: number,
  freeing: boolean,
) => number;
/** Forwards `scrubFree` to one class. */
export type ScrubForwarder = (a: RawLayer, ptr: unknown, size: number, align: number, byte: number) => number;
/** Forwards `freeRaw` to one class. */
export type FreeRawForwarder = (a: RawLayer, ptr: number, size: number, align: number) => void;

// One literal per class id, as in dispatch.ts: each has a call site of its own, so a wrapper class that sees many
// inner classes still reaches each through a monomorphic site. The last one is shared by every later class.
const ALLOC_RAW: readonly AllocRawForwarder[] = [
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l),
  (a, s, l) => a.allocRaw(s, l), // shared by every later class
];

const TRY_FREE: readonly FreeForwarder[] = [
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l),
  (a, p, s, l) => a.tryFree(p, s, l), // shared by every later class
];

const CHECK_FREE: readonly CheckForwarder[] = [
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f),
  (a, p, s, l, f) => a.checkFree(p, s, l, f), // shared by every later class
];

const SCRUB_FREE: readonly ScrubForwarder[] = [
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b),
  (a, p, s, l, b) => a.scrubFree(p, s, l, b), // shared by every later class
];

const FREE_RAW: readonly FreeRawForwarder[] = [
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l),
  (a, p, s, l) => a.freeRaw(p, s, l), // shared by every later class
];

const LAST = ALLOC_RAW.length - 1;

/** The four hot raw forwarders for one inner (see the module documentation). @internal */
export interface RawForwarders {
  /** `allocRaw` of the inner's class. */
  readonly alloc: AllocRawForwarder;
  /** `tryFree` of the inner's class. */
  readonly tryFree: FreeForwarder;
  /** `checkFree` of the inner's class. */
  readonly checkFree: CheckForwarder;
  /** `freeRaw` of the inner's class. */
  readonly freeRaw: FreeRawForwarder;
  /** `scrubFree` of the inner's class. */
  readonly scrubFree: ScrubForwarder;
}

/** The raw forwarders for the class of `layer`. @internal */
export function rawForwarders(layer: RawLayer): RawForwarders {
  const kind = dispatchKind(layer);
  const k = kind < LAST ? kind : LAST;
  return {
    alloc: ALLOC_RAW[k]!,
    tryFree: TRY_FREE[k]!,
    checkFree: CHECK_FREE[k]!,
    freeRaw: FREE_RAW[k]!,
    scrubFree: SCRUB_FREE[k]!,
  };
}

/**
 * The class a wrapper's call sites reach directly (see {@link directInner}): one per module of a wrapper class,
 * set by the first inner that class is built over. @internal
 */
export interface DirectSite {
  /** The first inner class seen, or `undefined`. */
  inner: unknown;
}

/**
 * `layer` when its class is the first one seen at `site`, else `null`. A wrapper calls a non-null result's raw
 * methods directly (`this.direct.allocRaw(...)`): that property access only ever sees one class, so V8 inlines the
 * inner's method even in an application that builds the same wrapper class over many inner classes, where the
 * forwarders ({@link rawForwarders}) would be an indirect call. Every other inner class goes through its
 * forwarder, as before; the first class is the one a hot stack is most likely built over (a wrapper over the
 * application's slab), and the choice never changes behaviour, only speed. @internal
 */
export function directInner(site: DirectSite, layer: RawLayer): RawLayer | null {
  const ctor = (layer as { constructor?: unknown }).constructor;
  if (site.inner === undefined) site.inner = ctor;
  return site.inner === ctor ? layer : null;
}
