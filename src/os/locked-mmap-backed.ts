/**
 * `LockedMmapBacked`: a mapping whose pages are locked in RAM (`mlock`), so they are never written to swap, and
 * excluded from core dumps (`MADV_DONTDUMP`). For secrets: keys, tokens, passwords.
 *
 * Fails closed: when the OS refuses the lock (`RLIMIT_MEMLOCK` too small, no `CAP_IPC_LOCK`), nothing stays
 * mapped and the constructor throws an `OsError` carrying the errno (`ENOMEM` or `EPERM`). `dispose()` unlocks and
 * unmaps. `releasePages` is a deliberate no-op: returning locked pages would drop the guarantee.
 *
 * Complexity: construction maps and faults in every page (`MAP_POPULATE`) and locks them; allocation is a bump.
 * Threads: one agent. Overhead: the whole size is resident and counts against `RLIMIT_MEMLOCK` (`ulimit -l`,
 * often 8 MiB; root's `CAP_IPC_LOCK` ignores it).
 *
 * Threat model (as the Rust original): it does not cover hibernation images, a `fork` (the child's copy is not
 * locked), `ptrace`, or copies that JavaScript makes of data read out of the view (strings, other buffers).
 *
 * @example
 * ```ts
 * using secrets = new LockedMmapBacked(64 << 10); // throws OsError (EPERM/ENOMEM) if it cannot lock
 * ```
 *
 * @module
 */
import { MAX_MEMORY_BYTES, checkInteger } from "../core/index.js";
import { MappedBacking, roundToPages } from "./mapped-backing.js";
import { mapOrThrow } from "./mmap-backed.js";
import { Advice, MAP_POPULATE, PAGE_SIZE, native, osError } from "./native.js";

/** A locked, non-dumpable mapping (see the module documentation). */
export class LockedMmapBacked extends MappedBacking {
  /** True when `MADV_DONTDUMP` was applied (best effort: kernels without it still lock). */
  readonly excludedFromDumps: boolean;

  /**
   * @param size - bytes to map and lock (rounded up to whole pages), at least 32.
   * @throws `OsError` with the errno when mapping or locking fails (and then nothing stays mapped).
   */
  constructor(size: number) {
    const bytes = checkInteger("LockedMmapBacked", "size", size, 32, MAX_MEMORY_BYTES);
    const length = roundToPages(bytes, PAGE_SIZE);
    const mapping = mapOrThrow("LockedMmapBacked", length, MAP_POPULATE, 0, PAGE_SIZE);
    const rc = native.lock(mapping, 0, length);
    if (rc < 0) {
      native.unmap(mapping, false);
      throw osError(
        "mlock",
        -rc,
        `LockedMmapBacked: the OS refused to lock ${length} bytes in RAM, so nothing was mapped (fail closed). ` +
          `Raise the limit (\`ulimit -l\`, RLIMIT_MEMLOCK) or grant CAP_IPC_LOCK`,
      );
    }
    super("LockedMmapBacked", mapping);
    this.unlockOnUnmap = true;
    this.excludedFromDumps = native.advise(mapping, 0, length, Advice.DONTDUMP) === 0;
  }

  /**
   * A deliberate no-op (after the range checks): returning pages to the OS would let them be replaced by
   * unlocked ones. Zero secrets with `ZeroizeOnFree` or `memory.u8.fill(0, ...)` instead.
   */
  override releasePages(ptr: number, size: number): void {
    this.checkPages("releasePages", ptr, size);
  }
}
