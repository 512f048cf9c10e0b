// Every allocator and composition the package ships, with what it promises. The conformance suite runs the
// kit over each entry, and registry-complete.test.ts fails when an exported allocator class is missing here.
import {
  type Allocator,
  ArrayBufferBacked,
  CacheJitter,
  Canary,
  Faulty,
  NeverFail,
  PoisonOnFree,
  Quarantine,
  Statistics,
  Watermark,
  ZeroizeOnFree,
  BumpArena,
  SharedArrayBufferBacked,
  Slab,
  StackAlloc,
  StaticBacked,
  Tlsf,
  SizeClassed,
  Heap,
  ExtendableSlab,
  SharedBumpArena,
  SlabOwner,
  ConcurrentHeap,
  WasmMemoryBacked,
  WithFallback,
  HalfSipHashMac,
} from "../src/index.js";
import type { ConformanceCapabilities } from "../src/testing/index.js";
import {
  GuardPage,
  CryptoSlab,
  HardenedSlab,
  HugePageAligned,
  LockedMmapBacked,
  MmapBacked,
  SharedMmapBacked,
  NodeSet,
  NumaLocal,
  NumaPolicy,
  SplitMetadata,
} from "../src/os.js";
import type { Need } from "./helpers/host.js";

export interface Subject {
  name: string;
  /** The exported classes this entry covers. */
  covers: readonly Function[];
  make: () => Allocator;
  caps: ConformanceCapabilities;
  /** What the entry needs of its host (an OS mapping needs Linux and the addon); absent: it runs anywhere. */
  needs?: readonly Need[];
}

/** An entry that maps memory through the addon. */
const MAPS: readonly Need[] = ["linux", "addon"];

const bump: ConformanceCapabilities = { frees: false, reset: true, detectsDoubleFree: false };
const slab: ConformanceCapabilities = { frees: true, reset: true, detectsDoubleFree: true, maxSize: 256 };

export const SUBJECTS: readonly Subject[] = [
  {
    name: "ArrayBufferBacked",
    covers: [ArrayBufferBacked],
    make: () => new ArrayBufferBacked(1 << 14),
    caps: bump,
  },
  {
    name: "ArrayBufferBacked (resizable)",
    covers: [ArrayBufferBacked],
    make: () => new ArrayBufferBacked({ size: 1024, maxSize: 1 << 15 }),
    caps: bump,
  },
  {
    name: "SharedArrayBufferBacked",
    covers: [SharedArrayBufferBacked],
    make: () => new SharedArrayBufferBacked(1 << 14),
    caps: bump,
  },
  {
    name: "SharedArrayBufferBacked (growable)",
    covers: [SharedArrayBufferBacked],
    make: () => new SharedArrayBufferBacked({ size: 4096, maxSize: 1 << 15 }),
    caps: bump,
  },
  {
    name: "WasmMemoryBacked",
    covers: [WasmMemoryBacked],
    make: () => new WasmMemoryBacked({ initial: 1 }),
    caps: bump,
  },
  {
    name: "WasmMemoryBacked (growable)",
    covers: [WasmMemoryBacked],
    make: () => new WasmMemoryBacked({ initial: 1, maximum: 3 }),
    caps: bump,
  },
  {
    name: "WasmMemoryBacked (shared, growable)",
    covers: [WasmMemoryBacked],
    make: () => new WasmMemoryBacked({ initial: 1, maximum: 2, shared: true }),
    caps: bump,
  },
  {
    name: "StaticBacked (view)",
    covers: [StaticBacked],
    make: () => new StaticBacked(new Uint8Array(1 << 14)),
    caps: bump,
  },
  {
    name: "StaticBacked.carve",
    covers: [StaticBacked],
    make: () => StaticBacked.carve(new ArrayBufferBacked(1 << 15), 1 << 14),
    caps: bump,
  },
  {
    name: "BumpArena<ArrayBufferBacked>",
    covers: [BumpArena],
    make: () => new BumpArena(new ArrayBufferBacked(1 << 14)),
    caps: bump,
  },
  {
    name: "BumpArena<SharedArrayBufferBacked (growable)>",
    covers: [BumpArena],
    make: () => new BumpArena(new SharedArrayBufferBacked({ size: 1024, maxSize: 1 << 15 })),
    caps: bump,
  },
  {
    name: "BumpArena<WasmMemoryBacked (growable)>",
    covers: [BumpArena],
    make: () => new BumpArena(new WasmMemoryBacked({ initial: 1, maximum: 2 })),
    caps: bump,
  },
  {
    name: "BumpArena<StaticBacked>",
    covers: [BumpArena],
    make: () => new BumpArena(StaticBacked.carve(new ArrayBufferBacked(1 << 15), 1 << 14, 64)),
    caps: bump,
  },
  {
    name: "StackAlloc<ArrayBufferBacked>",
    covers: [StackAlloc],
    make: () => new StackAlloc(new ArrayBufferBacked(1 << 15)),
    caps: { frees: true, lifo: true, reset: true, detectsDoubleFree: true },
  },
  {
    name: "StackAlloc<WasmMemoryBacked (growable)>",
    covers: [StackAlloc],
    make: () => new StackAlloc(new WasmMemoryBacked({ initial: 1, maximum: 2 }), { maxDepth: 4096 }),
    caps: { frees: true, lifo: true, reset: true, detectsDoubleFree: true },
  },
  {
    name: "Slab<ArrayBufferBacked>",
    covers: [Slab],
    make: () => new Slab(new ArrayBufferBacked(1 << 15), { blockSize: 256, capacity: 64, align: 16 }),
    caps: slab,
  },
  {
    name: "Slab<ArrayBufferBacked (resizable)>, odd stride",
    covers: [Slab],
    make: () =>
      new Slab(new ArrayBufferBacked({ size: 1024, maxSize: 1 << 16 }), {
        blockSize: 264,
        capacity: 100,
        align: 8,
      }),
    caps: { ...slab, maxSize: 264, maxAlign: 8 },
  },
  {
    name: "WithFallback<Slab, Slab>",
    covers: [WithFallback],
    make: () => {
      const backing = new ArrayBufferBacked(1 << 16);
      return new WithFallback(
        new Slab(backing, { blockSize: 64, capacity: 32, align: 16 }),
        new Slab(backing, { blockSize: 256, capacity: 32, align: 16 }),
      );
    },
    caps: slab,
  },
  {
    name: "WithFallback<Slab, BumpArena>",
    covers: [WithFallback],
    make: () => {
      const backing = new ArrayBufferBacked(1 << 16);
      return new WithFallback(
        new Slab(backing, { blockSize: 64, capacity: 32, align: 16 }),
        new BumpArena(StaticBacked.carve(backing, 1 << 14)),
      );
    },
    caps: { ...bump, maxSize: 256 },
  },
  {
    name: "Tlsf<ArrayBufferBacked>",
    covers: [Tlsf],
    make: () => new Tlsf(new ArrayBufferBacked(1 << 16)),
    caps: { frees: true, reset: true, detectsDoubleFree: true, maxSize: 1024 },
  },
  {
    name: "Tlsf<ArrayBufferBacked (resizable)>",
    covers: [Tlsf],
    make: () => new Tlsf(new ArrayBufferBacked({ size: 4096, maxSize: 1 << 17 })),
    caps: { frees: true, reset: true, detectsDoubleFree: true, maxSize: 1024 },
  },
  {
    name: "Tlsf<WasmMemoryBacked (growable)>",
    covers: [Tlsf],
    make: () => new Tlsf(new WasmMemoryBacked({ initial: 1, maximum: 3 })),
    caps: { frees: true, reset: true, detectsDoubleFree: true, maxSize: 2048 },
  },
  {
    name: "Tlsf<MmapBacked>",
    needs: MAPS,
    covers: [Tlsf],
    make: () => new Tlsf(new MmapBacked(1 << 16)),
    caps: { frees: true, reset: true, detectsDoubleFree: true, maxSize: 1024 },
  },
  {
    name: "SizeClassed<Tlsf>",
    covers: [SizeClassed],
    make: () => new SizeClassed(new Tlsf(new ArrayBufferBacked(1 << 18)), { slotsPerClass: 16 }),
    caps: { frees: true, reset: true, detectsDoubleFree: true, maxSize: 2048 },
  },
  {
    name: "Heap<SharedArrayBufferBacked (growable)>",
    covers: [Heap],
    make: () => new Heap(new SharedArrayBufferBacked({ size: 1 << 12, maxSize: 1 << 19 })),
    caps: { frees: true, reset: true, detectsDoubleFree: true, maxSize: 2048 },
  },
  {
    name: "ExtendableSlab<ArrayBufferBacked (resizable)>",
    covers: [ExtendableSlab],
    make: () =>
      new ExtendableSlab(new ArrayBufferBacked({ size: 1024, maxSize: 1 << 16 }), {
        blockSize: 256,
        align: 16,
      }),
    caps: slab,
  },
  {
    name: "ExtendableSlab<ArrayBufferBacked (resizable)> with a MAC over its free list",
    covers: [ExtendableSlab],
    make: () =>
      new ExtendableSlab(new ArrayBufferBacked({ size: 1024, maxSize: 1 << 16 }), {
        blockSize: 256,
        align: 16,
        initialCapacity: 2,
        protection: new HalfSipHashMac(),
      }),
    caps: slab,
  },
  {
    name: "ExtendableSlab<WasmMemoryBacked (growable)>",
    covers: [ExtendableSlab],
    make: () =>
      new ExtendableSlab(new WasmMemoryBacked({ initial: 1, maximum: 2 }), { blockSize: 256, align: 16 }),
    caps: slab,
  },
  {
    name: "SharedBumpArena<SharedArrayBufferBacked>",
    covers: [SharedBumpArena],
    make: () => new SharedBumpArena(new SharedArrayBufferBacked(1 << 14)),
    caps: bump,
  },
  {
    name: "SharedBumpArena<SharedArrayBufferBacked (growable)>",
    covers: [SharedBumpArena],
    make: () => new SharedBumpArena(new SharedArrayBufferBacked({ size: 4096, maxSize: 1 << 15 })),
    caps: bump,
  },
  {
    name: "SharedBumpArena<WasmMemoryBacked (shared)>",
    covers: [SharedBumpArena],
    make: () => new SharedBumpArena(new WasmMemoryBacked({ initial: 1, maximum: 2, shared: true })),
    caps: bump,
  },
  {
    name: "SlabOwner<SharedArrayBufferBacked>",
    covers: [SlabOwner],
    make: () =>
      new SlabOwner(new SharedArrayBufferBacked(1 << 16), {
        blockSize: 256,
        capacity: 64,
        align: 16,
        ringCapacity: 64,
      }),
    caps: slab,
  },
  {
    name: "ConcurrentHeap<SharedArrayBufferBacked>",
    covers: [ConcurrentHeap],
    make: () => new ConcurrentHeap(new SharedArrayBufferBacked(1 << 20)),
    caps: { frees: true, reset: false, detectsDoubleFree: true, maxSize: 2048, oomLimit: 200_000 },
  },
  // forge-alloc/os: real mappings (released by the addon's finalizer when collected).
  { name: "MmapBacked", covers: [MmapBacked], make: () => new MmapBacked(1 << 16), caps: bump, needs: MAPS },
  {
    name: "SharedMmapBacked",
    needs: MAPS,
    covers: [SharedMmapBacked],
    make: () => new SharedMmapBacked(1 << 16),
    caps: bump,
  },
  {
    name: "ConcurrentHeap<SharedMmapBacked>",
    needs: MAPS,
    covers: [ConcurrentHeap],
    make: () => new ConcurrentHeap(new SharedMmapBacked(1 << 20)),
    caps: { frees: true, reset: false, detectsDoubleFree: true, maxSize: 2048, oomLimit: 200_000 },
  },
  {
    name: "LockedMmapBacked",
    needs: MAPS,
    covers: [LockedMmapBacked],
    make: () => new LockedMmapBacked(1 << 14),
    caps: bump,
  },
  {
    name: "BumpArena<MmapBacked>",
    needs: MAPS,
    covers: [BumpArena],
    make: () => new BumpArena(new MmapBacked(1 << 16)),
    caps: bump,
  },
  {
    name: "GuardPage<MmapBacked>",
    needs: MAPS,
    covers: [GuardPage],
    make: () => new GuardPage(new MmapBacked(1 << 16)),
    caps: bump,
  },
  {
    name: "NumaLocal<MmapBacked> bound to node 0",
    needs: MAPS,
    covers: [NumaLocal],
    make: () => new NumaLocal(new MmapBacked(1 << 16), NumaPolicy.bind(NodeSet.single(0)!)),
    caps: bump,
  },
  {
    name: "SplitMetadata<MmapBacked>",
    needs: MAPS,
    covers: [SplitMetadata],
    make: () => new SplitMetadata(new MmapBacked(1 << 16), { metaSize: 4096 }),
    caps: bump,
  },
  {
    name: "HugePageAligned<MmapBacked aligned to 2 MiB>",
    needs: MAPS,
    covers: [HugePageAligned],
    make: () => new HugePageAligned(new MmapBacked(8 << 20, { alignment: 2 << 20 })),
    caps: { ...bump, maxAlign: 8 },
  },
  {
    name: "HardenedSlab",
    needs: MAPS,
    covers: [HardenedSlab],
    make: () => new HardenedSlab({ blockSize: 256, capacity: 64, align: 16 }),
    caps: slab,
  },
  {
    name: "CryptoSlab",
    needs: MAPS,
    covers: [CryptoSlab],
    make: () => new CryptoSlab({ blockSize: 256, capacity: 32, align: 16 }),
    caps: slab,
  },
  ...wrapperSubjects(),
];

/** Every Layer 3 wrapper over every layout it may stand on (see docs/COMPATIBILITY.md for the limits). */
function wrapperSubjects(): Subject[] {
  // Bases with room for the largest wrapper overhead (CacheJitter: 512 bytes) above 256-byte requests.
  const bases: {
    name: string;
    make: () => Allocator;
    caps: ConformanceCapabilities;
    moves: boolean;
    needs?: readonly Need[];
  }[] = [
    {
      name: "Slab",
      make: () => new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 1024, capacity: 24, align: 64 }),
      caps: slab,
      moves: true,
    },
    { name: "BumpArena", make: () => new BumpArena(new ArrayBufferBacked(1 << 16)), caps: bump, moves: true },
    {
      name: "WithFallback<Slab, Slab>",
      make: () => {
        const backing = new ArrayBufferBacked(1 << 17);
        return new WithFallback(
          new Slab(backing, { blockSize: 1024, capacity: 8, align: 64 }),
          new Slab(backing, { blockSize: 1024, capacity: 16, align: 64 }),
        );
      },
      caps: slab,
      moves: true,
    },
    {
      name: "StackAlloc",
      make: () => new StackAlloc(new ArrayBufferBacked(1 << 16)),
      caps: { frees: true, lifo: true, reset: true, detectsDoubleFree: true },
      moves: false, // a stack cannot free the old block of a move out of order
    },
    { name: "MmapBacked", make: () => new MmapBacked(1 << 16), caps: bump, moves: true, needs: MAPS },
  ];
  const wrappers: {
    name: string;
    cls: Function;
    wrap: (inner: Allocator) => Allocator;
    moves: boolean;
    caps?: (c: ConformanceCapabilities) => ConformanceCapabilities;
  }[] = [
    { name: "Canary", cls: Canary, wrap: (a) => new Canary(a), moves: true },
    { name: "PoisonOnFree", cls: PoisonOnFree, wrap: (a) => new PoisonOnFree(a), moves: true },
    {
      name: "PoisonOnFree (checkOnReuse)",
      cls: PoisonOnFree,
      wrap: (a) => new PoisonOnFree(a, { checkOnReuse: true }),
      moves: true,
    },
    { name: "ZeroizeOnFree", cls: ZeroizeOnFree, wrap: (a) => new ZeroizeOnFree(a), moves: true },
    {
      name: "Quarantine",
      cls: Quarantine,
      wrap: (a) => new Quarantine(a, 4),
      moves: true,
      caps: (c) => ({ ...c, frees: false }), // a freed block waits in quarantine: not reusable at once
    },
    { name: "Statistics", cls: Statistics, wrap: (a) => new Statistics(a), moves: false },
    { name: "Watermark", cls: Watermark, wrap: (a) => new Watermark(a, {}), moves: false },
    { name: "Faulty(NeverFail)", cls: Faulty, wrap: (a) => new Faulty(a, new NeverFail()), moves: false },
    {
      name: "CacheJitter",
      cls: CacheJitter,
      wrap: (a) => new CacheJitter(a, { line: 64, assoc: 8, seed: 7 }),
      moves: true,
      caps: (c) => ({ ...c, maxAlign: 64 }),
    },
  ];
  const out: Subject[] = [];
  for (const w of wrappers) {
    for (const b of bases) {
      if (w.moves && !b.moves) continue;
      const caps = w.caps ? w.caps(b.caps) : b.caps;
      out.push({
        name: `${w.name}<${b.name}>`,
        covers: [w.cls],
        make: () => w.wrap(b.make()),
        caps,
        ...(b.needs ? { needs: b.needs } : {}),
      });
    }
  }
  // A stack of them, outermost first, as docs/COMPOSITION_RECIPES.md builds it.
  out.push({
    name: "Statistics<Watermark<PoisonOnFree<Quarantine<Canary<Slab>>>>>",
    covers: [],
    make: () =>
      new Statistics(
        new Watermark(
          new PoisonOnFree(
            new Quarantine(
              new Canary(
                new Slab(new ArrayBufferBacked(1 << 16), { blockSize: 512, capacity: 32, align: 64 }),
              ),
              4,
            ),
          ),
          {},
        ),
      ),
    caps: { ...slab, frees: false },
  });
  return out;
}
