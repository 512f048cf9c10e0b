// A subclass of a wrapper that counts the public calls it sees and lets the wrapper do the work: for tests that a
// subclass's overrides run whatever path the wrapper chose for the instance, and that its `super` calls work.
import { type Allocator } from "../../src/index.js";

// A mixin's base must take any arguments (TypeScript's rule for mixin classes).
type AllocatorClass = new (...args: any[]) => Allocator;

/** `Base` with `allocate` and `deallocate` overridden to count their calls (`allocations`, `frees`). */
export function Counting<TBase extends AllocatorClass>(Base: TBase) {
  return class Counted extends Base {
    allocations = 0;
    frees = 0;
    override allocate(size: number, align = 8): number {
      this.allocations++;
      return super.allocate(size, align);
    }
    override deallocate(ptr: number, size: number, align = 8): void {
      this.frees++;
      super.deallocate(ptr, size, align);
    }
  };
}
