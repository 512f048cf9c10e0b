// Minimal hand-written allocators: the baselines our primitives are measured against, in the same run.
// They validate nothing and detect nothing; that is the point of a baseline. They get the same field
// representation hint as our classes (a hot counter starts as `undefined`, see TAGGED_FIELD in src/core/debug.ts),
// so a ratio measures our checks, not a V8 quirk that would favour us.

const TAGGED = undefined as unknown as number;

/** A bare bump pointer. */
export class RefBump {
  private top: number;
  constructor(
    private readonly base: number,
    private readonly end: number,
  ) {
    this.top = TAGGED;
    this.top = base;
  }
  allocate(size: number, align: number): number {
    const p = (this.top + align - 1) & -align;
    const e = p + size;
    if (e > this.end) return 0;
    this.top = e;
    return p;
  }
  reset(): void {
    this.top = this.base;
  }
}

/** A bare free-list slab: a stack of free slot indices in an Int32Array. `stride` need not be a power of two. */
export class RefSlab {
  private readonly free: Int32Array;
  private n: number;
  constructor(
    private readonly base: number,
    private readonly stride: number,
    capacity: number,
  ) {
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.n = TAGGED;
    this.n = capacity;
  }
  allocate(): number {
    if (this.n === 0) return 0;
    return this.base + this.free[--this.n]! * this.stride;
  }
  deallocate(ptr: number): void {
    this.free[this.n++] = ((ptr - this.base) / this.stride) | 0;
  }
}
