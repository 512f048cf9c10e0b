/**
 * `BumpArena`: the cheapest allocator: a cursor that moves forward over a fixed range, freed all at once.
 *
 * Complexity: O(1) allocate (validate, align, compare, add); `deallocate` validates and reclaims nothing;
 * `reset`, `rewindTo` and scope disposal are O(1).
 * Required backing: any `FixedRange` (every backing, a `StaticBacked` range, an OS mapping). It carves the
 * backing's whole range `[base, base + size)` and never calls the backing's `allocate`; it calls `commit` before
 * handing out bytes beyond the committed part, so a growable memory grows on demand.
 * Threads: one agent (see `SharedBumpArena` for several workers).
 * Per-allocation overhead: alignment padding only. Every power-of-two alignment up to `MAX_ALIGN` (2 MiB).
 * Capabilities: always a `FixedRange` (its own range, the backing's); `OsBacked` exactly when the backing is, as the
 * Rust crate's `impl<B: OsBacked> OsBacked for BumpArena<B>`: `basePtr`, `regionSize`, `releasePages` and `protect`
 * then forward to the backing (so an `ArenaPool` can give an idle arena's pages back, and `NumaLocal` or `GuardPage`
 * can stand over an arena), and are `undefined` otherwise, in the types as at run time (`isOsBacked` is false).
 *
 * ```text
 *  base                          mark()                     top                         end
 *  | blocks (live until reset) .. | blocks of an open scope .. | free (committed or not) .. |
 * ```
 * Invariant: `base <= mark <= top <= end`; every issued block lies in `[base, top)`.
 *
 * Composition limits: hardening wrappers go *outside* the arena (a wrapper used as its backing is bypassed).
 * Do not allocate from the backing itself while the arena uses it. `deallocate` cannot detect a double free
 * (there is no per-block state); use `Slab` or `StackAlloc` where that matters.
 *
 * @example
 * ```ts
 * const arena = new BumpArena(new ArrayBufferBacked(1 << 20));
 * const p = arena.allocate(64, 16);
 * { using scope = arena.scope(); scope.allocArray(Float64Array, 100); } // rewound here
 * const scope: BumpScope = arena.scope(); // or dispose a scope by hand
 * scope.allocate(64);
 * scope.dispose();
 * arena.reset();
 * ```
 *
 * @module
 */
import {
  AllocError,
  type FixedRange,
  InvalidPointerError,
  NULL as IMPORTED_NULL,
  type OsBacked,
  type ProtectFlags,
  type TypedArray,
  type TypedArrayConstructor,
  describePointer,
  checkCarvable,
  isFixedRange,
  isInt32,
  isOsBacked,
  isValidLayout,
  layoutError,
  RangeBacking,
} from "../core/index.js";
import { allocArray, allocDataView, allocUtf8 } from "./typed.js";

// `NULL`, bound module-locally: V8 folds a local constant (an imported binding is a load and a check at every use).
const NULL = IMPORTED_NULL;

// The shared layout check, bound to a module-local constant: V8 folds it (an imported binding is a load and a
// check at every call).
const validLayout = isValidLayout;

/**
 * The type of one of a {@link BumpArena}'s `OsBacked` calls: the backing's own type for it when the backing's type
 * is `OsBacked`, else the call or `undefined` (so an arena over a JavaScript buffer is not an `OsBacked` to the type
 * checker either, while every `BumpArena<X>` is still a `BumpArena`).
 *
 * @typeParam TBacking - the arena's backing type.
 * @typeParam K - the call's name.
 */
export type OsCallOf<TBacking, K extends keyof OsBacked> = (TBacking & Partial<OsBacked>)[K];

/**
 * A bump allocator over a `FixedRange` (see the module documentation).
 *
 * @typeParam TBacking - the range carved; when it is `OsBacked` (an OS mapping), so is the arena.
 */
export class BumpArena<TBacking extends FixedRange = FixedRange> extends RangeBacking {
  /** The range the arena carves. */
  readonly backing: TBacking;
  /**
   * `OsBacked.basePtr`, forwarded to the backing: the offset of the mapping's first byte. `undefined` (in the type
   * too) when the backing is not `OsBacked`.
   */
  readonly basePtr: OsCallOf<TBacking, "basePtr">;
  /** `OsBacked.regionSize`, forwarded to the backing; `undefined` when the backing is not `OsBacked`. */
  readonly regionSize: OsCallOf<TBacking, "regionSize">;
  /**
   * `OsBacked.releasePages`, forwarded to the backing: whole pages go back to the OS and read as zeros. Blocks of
   * the arena in those pages lose their contents; meant for an idle (reset) arena. `undefined` when the backing is
   * not `OsBacked`.
   */
  readonly releasePages: OsCallOf<TBacking, "releasePages">;
  /** `OsBacked.protect`, forwarded to the backing; `undefined` when the backing is not `OsBacked`. */
  readonly protect: OsCallOf<TBacking, "protect">;
  /** Incremented by `reset()`: scopes opened before a reset do not rewind after it. */
  private epoch: number;

  /**
   * @param backing - the range to carve, e.g. `new ArrayBufferBacked(1 << 20)`.
   * @throws `AllocError` when `backing` is not a `FixedRange` or its range is empty.
   */
  constructor(backing: TBacking) {
    if (!isFixedRange(backing)) {
      throw new AllocError(
        "BumpArena: the backing must be a FixedRange (base, size, commit, contains), e.g. a backing",
      );
    }
    checkCarvable("BumpArena", backing);
    const base = backing.base();
    const size = backing.size();
    if (!(size > 0)) throw new AllocError(`BumpArena: the backing's range is empty (size ${size})`);
    super("BumpArena", backing.memory, base, base + size);
    this.backing = backing;
    // Own properties, so the arena has the OsBacked calls exactly when the backing has them (the casts: TypeScript
    // cannot narrow the conditional property types by the run-time check).
    const os: OsBacked | null = isOsBacked(backing) ? backing : null;
    this.basePtr = (os === null ? undefined : () => os.basePtr()) as never;
    this.regionSize = (os === null ? undefined : () => os.regionSize()) as never;
    this.releasePages = (os === null ? undefined : (p: number, n: number) => os.releasePages(p, n)) as never;
    this.protect = (
      os === null ? undefined : (p: number, n: number, flags: ProtectFlags) => os.protect(p, n, flags)
    ) as never;
    this.epoch = 0;
  }

  /**
   * Bump-allocates `size` bytes aligned to `align` (default 8); `NULL` when the range is exhausted or the backing
   * cannot commit more (I1-I3). The block can grow in place while it is the last one.
   *
   * @throws `LayoutError` for a bad size or alignment (I9).
   */
  override allocate(size: number, align = 8): number {
    // Own copy of the bump (not RangeBacking's) so this call site only ever sees BumpArena receivers.
    // The one layout check (its typeof tests first: a BigInt or a Symbol gets a LayoutError, not a TypeError).
    if (!validLayout(size, align)) throw layoutError("BumpArena.allocate", size, align);
    const m = align - 1;
    const top = this.top;
    const p = top + (-top & m);
    const end = p + size;
    if (end > this.committed && !this.commitTo(end)) {
      if (this.memory.retired) throw this.retiredError();
      return NULL;
    }
    this.top = end;
    return p;
  }

  /** Frees every block at once (I7); scopes opened before the reset will not rewind. */
  override reset(): void {
    this.top = this.rangeBase;
    this.epoch++;
  }

  /** The current cursor, to pass to {@link BumpArena.rewindTo} later. */
  mark(): number {
    return this.top;
  }

  /**
   * Frees every block allocated since `mark` was taken.
   *
   * @throws `InvalidPointerError` when `mark` is not an offset between the arena's start and its cursor (a mark
   *   taken before a `reset` or a deeper rewind is no longer valid).
   */
  rewindTo(mark: number): void {
    if (!isInt32(mark) || mark < this.rangeBase || mark > this.top) {
      throw new InvalidPointerError(
        mark,
        `BumpArena.rewindTo: mark ${describePointer(mark)} is not between the arena's start ${this.rangeBase} and ` +
          `its cursor ${this.top}; marks taken before reset() or a deeper rewind are no longer valid`,
      );
    }
    this.top = mark;
  }

  /**
   * Opens a scope: everything allocated until the scope is disposed is freed then, in one step. With
   * `using scope = arena.scope()` that happens at the end of the block, even when it throws. Scopes nest.
   */
  scope(): BumpScope {
    return new BumpScope(this, this.top, this.epoch);
  }

  /** @internal Called by a scope when it is disposed. */
  closeScope(mark: number, epoch: number): void {
    if (epoch === this.epoch && mark < this.top) this.top = mark;
  }

  /**
   * Allocates `length` elements of `ctor` and returns a view of exactly them.
   *
   * @throws `AllocError` when out of memory, `LayoutError` for a bad length.
   */
  allocArray<T extends TypedArray>(ctor: TypedArrayConstructor<T>, length: number): T {
    return allocArray(this, "BumpArena.allocArray", ctor, length);
  }

  /** Allocates `size` bytes and returns a `Uint8Array` of exactly them. @throws `AllocError` when out of memory. */
  allocBytes(size: number): Uint8Array {
    return allocArray(this, "BumpArena.allocBytes", Uint8Array, size);
  }

  /** Allocates a `DataView` of exactly `size` bytes. @throws `AllocError` when out of memory. */
  allocDataView(size: number, align = 8): DataView {
    return allocDataView(this, "BumpArena.allocDataView", size, align);
  }

  /** Stores `text` as UTF-8 and returns the bytes. @throws `AllocError` when out of memory. */
  allocUtf8(text: string): Uint8Array {
    return allocUtf8(this, "BumpArena.allocUtf8", text);
  }

  /** Checks the arena's invariant (`base <= top <= committed <= end`); throws an `Error` naming it when broken. */
  validate(): void {
    if (!(this.rangeBase <= this.top && this.top <= this.committed && this.committed <= this.rangeEnd)) {
      throw new Error(
        `BumpArena.validate: cursor ${this.top} outside [${this.rangeBase}, ${this.committed}]`,
      );
    }
  }

  /** Commits through the backing, as the Rust arena does, instead of growing the memory directly. */
  protected override commitTo(end: number): boolean {
    if (end > this.rangeEnd || this.memory.retired) return false;
    const from = this.committed;
    if (!this.backing.commit(from, end - from)) return false;
    this.committed = Math.min(this.rangeEnd, this.memory.byteLength);
    return this.committed >= end;
  }
}

/**
 * A checkpoint of a {@link BumpArena}: allocations through it (or through the arena) after it opened are freed
 * when it is disposed. Disposing twice is harmless; allocating through a disposed scope throws.
 */
export class BumpScope implements Disposable {
  /** The arena the scope belongs to. */
  readonly arena: BumpArena;
  private readonly start: number;
  private readonly epoch: number;
  private open: boolean;

  /** @internal Use `arena.scope()`. */
  constructor(arena: BumpArena, start: number, epoch: number) {
    this.arena = arena;
    this.start = start;
    this.epoch = epoch;
    this.open = true;
  }

  /** As `BumpArena.allocate`, inside the scope. @throws `AllocError` when the scope was disposed. */
  allocate(size: number, align = 8): number {
    this.checkOpen();
    return this.arena.allocate(size, align);
  }

  /** As `BumpArena.allocArray`, inside the scope. */
  allocArray<T extends TypedArray>(ctor: TypedArrayConstructor<T>, length: number): T {
    this.checkOpen();
    return this.arena.allocArray(ctor, length);
  }

  /** As `BumpArena.allocBytes`, inside the scope. */
  allocBytes(size: number): Uint8Array {
    this.checkOpen();
    return this.arena.allocBytes(size);
  }

  /** As `BumpArena.allocUtf8`, inside the scope. */
  allocUtf8(text: string): Uint8Array {
    this.checkOpen();
    return this.arena.allocUtf8(text);
  }

  /** Opens a nested scope. */
  scope(): BumpScope {
    this.checkOpen();
    return this.arena.scope();
  }

  /** True until the scope is disposed. */
  get isOpen(): boolean {
    return this.open;
  }

  /** Frees everything allocated since the scope opened (unless the arena was reset since). */
  dispose(): void {
    if (!this.open) return;
    this.open = false;
    this.arena.closeScope(this.start, this.epoch);
  }

  /** `using` support: the same as {@link BumpScope.dispose}. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  private checkOpen(): void {
    if (!this.open)
      throw new AllocError("BumpScope: this scope was disposed; open a new one with arena.scope()");
  }
}
