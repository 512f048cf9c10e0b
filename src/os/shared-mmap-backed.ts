/**
 * `SharedMmapBacked`: memory that several processes map at once: an anonymous memory file (`memfd_create`: no name
 * in any file system, mode 0600, close-on-exec, sealed so that nobody can shrink or grow it) mapped `MAP_SHARED`.
 * Another process attaches it with the descriptor from `share()` (through `child_process` IPC, `cluster`, or any
 * channel): by its own inherited copy of the file descriptor (`stdio` of `fork`/`spawn`), or by
 * `/proc/<pid>/fd/<fd>` of the process that shared it, which the kernel opens only for that process's user (or
 * root). Layouts that work across processes take it as their backing: `ConcurrentHeap` (`new ConcurrentHeap(shared)`
 * in one process, `ConcurrentHeap.join(SharedMmapBacked.attach(descriptor))` in the others).
 *
 * ```text
 *  mapping (the same bytes in every process, at a different address in each):
 *  | header (64 B): magic | version | pages | token (2 words) | creator pid | ... | range handed out ... |
 * ```
 *
 * `Atomics` work on it across processes: its `Memory` is an external `ArrayBuffer` (not a `SharedArrayBuffer`:
 * Node-API cannot make one), and V8 compiles `Atomics.add`, `compareExchange` and the rest on any integer typed
 * array to the processor's atomic instructions, shared buffer or not (measured: two processes doing 30 million
 * `Atomics.add` and compare-and-swap increments each on one word lose none, where plain increments lose thousands).
 * `Atomics.wait` refuses a non-shared buffer: {@link SharedMmapBacked.wait} and {@link SharedMmapBacked.notify} are
 * a process-shared futex on a word of the mapping instead.
 *
 * Lifetime: as every mapping (`MappedBacking`): `dispose()` retires this process's view at once (its views read
 * zeros) and closes its file descriptor; the other processes keep theirs. The kernel frees the contents when the
 * last process holding the file or a mapping of it lets go (disposes, or exits: a process that dies holds
 * nothing). Attaching checks what it maps: a sealed memory file of this user of the declared length (the addon),
 * then the header's magic, version, length and random token (here); anything else is refused with an `AllocError`.
 *
 * Complexity: construction and attach are a few system calls; `wait` and `notify` one each (as any call through the addon: 0.1 to 0.3 us on an idle machine, measured 10 to 17 us on this loaded, sandboxed one).
 * Threads: every worker and process maps it itself (`attach` in a worker thread of the same process maps the file
 * again: a buffer posted to a worker would be copied, not shared). Overhead: the 64-byte header; whole pages.
 * Composition limits: Linux only; the processes must share a pid namespace (for `/proc/<pid>` and liveness); a
 * layout that is not written for processes (anything but `ConcurrentHeap`) must be used from one process only.
 *
 * @example
 * ```ts
 * using shared = new SharedMmapBacked(16 << 20);
 * const heap = new ConcurrentHeap(shared);
 * const message = shared.share(); // send it to a child: child.send(message), then in the child:
 * using again = SharedMmapBacked.attach(message); // (here: the same process maps it a second time)
 * const other = ConcurrentHeap.join(again);
 * const p = heap.malloc(100);
 * other.free(p); // a free from the other mapping
 * console.log(again.memory === shared.memory, other.workerId !== heap.workerId); // false true
 * other.release();
 * heap.release();
 * ```
 *
 * @module
 */
import {
  AllocError,
  MAX_MEMORY_BYTES,
  type ProcessSharedBacking,
  type ProcessSharing,
  type SharedWaiting,
  checkInteger,
} from "../core/index.js";
import { MappedBacking, roundToPages } from "./mapped-backing.js";
import { PAGE_SIZE, check, errnoName, native, osError, readTextFile, requireNative } from "./native.js";

const ENOSYS = 38;

/** Bytes of the header at the start of every shared mapping; the range handed out starts after it. */
export const SHARED_HEADER_BYTES = 64;
const MAGIC = 0x6678_7368; // "fxsh"
const VERSION = 1;
// header words (Int32Array at offset 0)
const W_MAGIC = 0;
const W_VERSION = 1;
const W_PAGES = 2;
const W_TOKEN = 3; // two words
const W_CREATOR = 5;

/** What `share()` returns: structured-cloneable, for `attach` in another process. */
export interface SharedMappingDescriptor {
  /** Always `"SharedMmapBacked"`. */
  readonly kind: "SharedMmapBacked";
  /** The process holding the memory file (the one that called `share()`). */
  readonly pid: number;
  /** Its descriptor of the file, in that process. */
  readonly fd: number;
  /** The mapping's length in bytes. */
  readonly length: number;
  /** The random identity written in the header; attach refuses a file whose header does not carry it. */
  readonly token: readonly [number, number];
}

/** Options of {@link SharedMmapBacked.attach}. */
export interface SharedMmapAttachOptions {
  /**
   * A file descriptor of this process that refers to the memory file: one the parent handed over in `stdio`
   * (`fork(file, args, { stdio: ["inherit", "inherit", "inherit", "ipc", shared.fd] })` gives the child fd 4). It
   * is duplicated, not taken: close it when you like. @defaultValue none: `/proc/<pid>/fd/<fd>` of the
   * descriptor's process is opened (that process must still run and hold the file)
   */
  readonly fd?: number;
}

/** The result of {@link SharedMmapBacked.wait}, as `Atomics.wait`'s. */
export type SharedWaitResult = "ok" | "not-equal" | "timed-out";

/** `/proc/<pid>/stat` after the command name: field 3 (state) is index 0, field 22 (start time) index 19. */
function statFields(pid: number): string[] | undefined {
  const text = readTextFile(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** The start time of `pid` (clock ticks since boot) as a signed 32-bit number; 0 where /proc does not say. */
function startStamp(pid: number): number {
  const t = statFields(pid)?.[19];
  return t === undefined ? 0 : Number(t) | 0 || 1;
}

let thisProcess: ProcessSharing | undefined;

/** This process's {@link ProcessSharing}: its pid and start stamp, and a liveness probe for others. */
function processSharing(): ProcessSharing {
  return (thisProcess ??= Object.freeze({
    pid: process.pid,
    stamp: startStamp(process.pid),
    alive(pid: number, stamp: number): boolean {
      const exists = requireNative("ProcessSharing.alive").processAlive!(pid);
      if (exists === 0) return false;
      const fields = statFields(pid);
      if (fields === undefined) return exists > 0 && native.processAlive!(pid) !== 0;
      if (fields[0] === "Z" || fields[0] === "X") return false; // exited, not yet reaped
      return stamp === 0 || startStamp(pid) === stamp;
    },
  }));
}

/** The mapping `attach` opened, handed to the constructor it calls next (never set across any other call). */
let attaching: ArrayBuffer | undefined;

/** Memory that several processes map (see the module documentation). */
export class SharedMmapBacked extends MappedBacking implements ProcessSharedBacking, SharedWaiting {
  /** This process, and the liveness probe a layout uses to find workers of processes that died. */
  readonly processSharing: ProcessSharing;
  private readonly token: readonly [number, number];

  /**
   * Makes a new shared mapping of `size` bytes (rounded up to whole pages; the first 64 hold its header).
   *
   * @throws `AllocError` for a bad size, `UnsupportedError` off Linux or without the addon, `OsError` when the
   *   kernel refuses (`memfd_create`, `ftruncate`, `mmap`).
   */
  constructor(size: number) {
    let mapping: ArrayBuffer;
    const attached = attaching;
    attaching = undefined;
    if (attached === undefined) {
      const bytes = checkInteger("SharedMmapBacked", "size", size, 4096, MAX_MEMORY_BYTES);
      const os = requireNative("SharedMmapBacked");
      if (os.mapShared === undefined)
        throw osError("memfd_create", ENOSYS, "SharedMmapBacked: shared mappings need Linux");
      const length = roundToPages(bytes, PAGE_SIZE);
      const r = os.mapShared(length);
      if (typeof r === "number")
        throw osError(
          "memfd_create",
          -r,
          `SharedMmapBacked: the OS refused a shared mapping of ${length} bytes`,
        );
      mapping = r;
      const head = new Int32Array(mapping, 0, SHARED_HEADER_BYTES >>> 2);
      const token = crypto.getRandomValues(new Int32Array(2));
      head[W_VERSION] = VERSION;
      head[W_PAGES] = length / PAGE_SIZE;
      head[W_TOKEN] = token[0]! | 1; // never 0 0
      head[W_TOKEN + 1] = token[1]!;
      head[W_CREATOR] = process.pid;
      Atomics.store(head, W_MAGIC, MAGIC);
    } else {
      mapping = attached;
    }
    super("SharedMmapBacked", mapping, SHARED_HEADER_BYTES);
    const head = new Int32Array(mapping, 0, SHARED_HEADER_BYTES >>> 2);
    this.token = Object.freeze([head[W_TOKEN]!, head[W_TOKEN + 1]!] as const);
    this.processSharing = processSharing();
  }

  /**
   * Maps, in this process (or worker), the memory another one shared. Checks that it is what the descriptor says
   * (the kernel's file checks, then the header and the token) and refuses anything else.
   *
   * @throws `AllocError` for a malformed descriptor or a file that is not that mapping (nothing stays mapped),
   *   `OsError` when the file cannot be opened (`ENOENT`: the process or descriptor is gone; `EACCES`/`EPERM`:
   *   another user's process; `EINVAL`: not a sealed memory file of this user; `ERANGE`: another length).
   */
  static attach(
    descriptor: SharedMappingDescriptor,
    options: SharedMmapAttachOptions = {},
  ): SharedMmapBacked {
    const d = descriptor as Partial<SharedMappingDescriptor> | null | undefined;
    const int = (v: unknown, min: number): boolean =>
      typeof v === "number" && Number.isInteger(v) && v >= min;
    if (
      d?.kind !== "SharedMmapBacked" ||
      !int(d.pid, 1) ||
      !int(d.fd, 0) ||
      !int(d.length, PAGE_SIZE) ||
      d.length! % PAGE_SIZE !== 0 ||
      !Array.isArray(d.token) ||
      d.token.length !== 2 ||
      !d.token.every((t) => int(t, -(2 ** 31)) && t < 2 ** 31)
    ) {
      throw new AllocError(
        "SharedMmapBacked.attach: not a SharedMmapBacked descriptor; expected what share() returns ({ kind, pid, fd, length, token })",
      );
    }
    if (options.fd !== undefined && !int(options.fd, 0))
      throw new AllocError(
        `SharedMmapBacked.attach: options.fd ${String(options.fd)} is not a file descriptor number`,
      );
    const os = requireNative("SharedMmapBacked.attach");
    if (os.openShared === undefined)
      throw osError("open", ENOSYS, "SharedMmapBacked.attach: shared mappings need Linux");
    const r =
      options.fd === undefined
        ? os.openShared(d.pid!, d.fd!, d.length!)
        : os.openShared(0, options.fd, d.length!);
    if (typeof r === "number") {
      const where = options.fd === undefined ? `/proc/${d.pid}/fd/${d.fd}` : `descriptor ${options.fd}`;
      throw osError(
        "open",
        -r,
        `SharedMmapBacked.attach: ${where} is not a shared mapping of ${d.length} bytes`,
      );
    }
    const head = new Int32Array(r, 0, SHARED_HEADER_BYTES >>> 2);
    if (
      Atomics.load(head, W_MAGIC) !== MAGIC ||
      head[W_VERSION] !== VERSION ||
      head[W_PAGES] !== d.length! / PAGE_SIZE ||
      head[W_TOKEN] !== d.token[0] ||
      head[W_TOKEN + 1] !== d.token[1]
    ) {
      native.unmap(r, false);
      throw new AllocError(
        "SharedMmapBacked.attach: the file's header does not match the descriptor (another mapping, or not one made by SharedMmapBacked); nothing was attached",
      );
    }
    attaching = r;
    return new SharedMmapBacked(d.length!);
  }

  /** A structured-cloneable descriptor for {@link SharedMmapBacked.attach} in another process. */
  share(): SharedMappingDescriptor {
    return Object.freeze({
      kind: "SharedMmapBacked",
      pid: process.pid,
      fd: this.fd,
      length: this.length,
      token: this.token,
    });
  }

  /**
   * This process's file descriptor of the memory file, to hand to a child in `stdio` (it is close-on-exec, so a
   * child gets it only that way). Closed by `dispose()`.
   *
   * @throws `AllocError` once disposed.
   */
  get fd(): number {
    const fd = native.sharedFd!(this.mapping);
    if (fd < 0) throw new AllocError("SharedMmapBacked.fd: the mapping is disposed; its file is closed");
    return fd;
  }

  /**
   * Blocks the calling thread while the 32-bit word at `offset` of the mapping holds `expected`, until
   * {@link SharedMmapBacked.notify} from any process that maps it, or `timeoutMs` (a process-shared futex; what
   * `Atomics.wait` does for a `SharedArrayBuffer`). May return `"ok"` spuriously (a signal): wait in a loop that
   * re-checks the word.
   *
   * @throws `AllocError` for an offset that is not a 4-aligned word of the mapping, a bad
   *   `expected` or a negative timeout; `OsError` for anything else the kernel says.
   */
  wait(offset: number, expected: number, timeoutMs = Infinity): SharedWaitResult {
    const rc = native.futexWait!(this.mapping, offset, expected, timeoutMs);
    if (rc === 0) return "ok";
    const code = errnoName(-rc);
    if (code === "EINTR") return "ok";
    if (code === "EAGAIN" || code === "EWOULDBLOCK") return "not-equal";
    if (code === "ETIMEDOUT") return "timed-out";
    throw this.futexError("wait", rc, offset);
  }

  /** Wakes up to `count` threads (in any process) waiting on the word at `offset`; returns how many woke. */
  notify(offset: number, count = 2 ** 31 - 1): number {
    const rc = native.futexWake!(this.mapping, offset, count);
    if (rc < 0) throw this.futexError("notify", rc, offset);
    return rc;
  }

  private futexError(what: string, rc: number, offset: number): Error {
    const code = errnoName(-rc);
    if (code === "EINVAL" || code === "ERANGE" || code === "EBADF")
      return new AllocError(
        `SharedMmapBacked.${what}: offset ${String(offset)} is not a 4-aligned word of this live ${this.length}-byte mapping, or an argument is out of range`,
      );
    check(rc, "futex", `SharedMmapBacked.${what}`);
    return new AllocError(`SharedMmapBacked.${what}: failed`);
  }
}
