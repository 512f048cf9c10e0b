// Recipe 5, an auth service: session tokens that are counted, watched for exhaustion, and held back from reuse
// after revocation; secrets go in a locked, guarded, zeroizing slab.
// Run alone: `node build/examples/recipes/auth-service.js` after `npm run build:test`.
import {
  type Allocator,
  ArrayBufferBacked,
  Quarantine,
  Slab,
  Statistics,
  Watermark,
  inspect,
} from "../../src/index.js";
import { type RecipeReport, type Say, loadOs, runIfMain } from "./shared.js";

const TOKEN = 64;

/** Shows that a revoked token's slot is not handed out again while quarantined, with the counters at each step. */
export async function authService(say: Say): Promise<RecipeReport> {
  const os = await loadOs();
  const skipped: string[] = [];
  let backing: Allocator;
  if (typeof os === "string") {
    backing = new ArrayBufferBacked(128 << 10);
    skipped.push(`token pool on an ArrayBuffer instead of an mmap: ${os}`);
  } else {
    backing = new os.MmapBacked(128 << 10);
  }
  const alarms: string[] = [];
  // Outermost first: Statistics counts the sizes callers ask for; Watermark watches the pool's capacity;
  // Quarantine holds each revoked slot for 4 more frees before the slab may reuse it.
  const tokens = new Statistics(
    new Watermark(new Quarantine(new Slab(backing, { blockSize: TOKEN, capacity: 1024 }), 4), {
      onOom: (e) => alarms.push(`out of tokens at ${e.allocatedBytes} bytes`),
    }),
  );
  const counters = (): string => {
    const s = tokens.stats();
    return `live ${s.liveCount}, issued ${s.totalAllocations}, peak ${s.peakBytes} bytes, corruption ${s.corruptionEvents}`;
  };
  say(
    `Statistics<Watermark<Quarantine<Slab>>> of 1024 tokens of ${TOKEN} bytes over ${backing.constructor.name}`,
  );

  const issued = Array.from({ length: 10 }, () => tokens.allocate(TOKEN));
  say(`  issued 10: ${counters()}`);
  const revoked = issued.slice(0, 5);
  for (const t of revoked) tokens.deallocate(t, TOKEN);
  const held = revoked.filter((t) => tokens.inner.inner.holds(t)).length;
  say(`  revoked 5: ${counters()}; ${held} of them wait in quarantine`);
  // The fifth revocation pushed the first one out of the 4-deep ring: only that slot may be reused now.
  const quarantined = revoked.filter((t) => tokens.inner.inner.holds(t));
  const fresh = Array.from({ length: 5 }, () => tokens.allocate(TOKEN));
  const reused = fresh.filter((t) => quarantined.includes(t)).length;
  const evictedReused = fresh.includes(revoked[0]!);
  say(`  issued 5 more: ${counters()}; quarantined slots handed out again: ${reused}`);
  say(
    `  (the first revoked slot left quarantine after 4 later frees and was reused: ${evictedReused}; the depth is how many frees a slot waits)`,
  );

  const picture = inspect(tokens, "auth-service: tokens after 5 revocations and 5 new issues");
  let secret = "skipped";
  if (typeof os === "string") {
    skipped.push(`CryptoSlab for signing keys: ${os}`);
  } else {
    try {
      using keys = new os.CryptoSlab({ blockSize: 32, capacity: 64 });
      const key = keys.allocate(32);
      crypto.getRandomValues(keys.memory.u8.subarray(key, key + 32));
      keys.deallocate(key, 32);
      const zero = keys.memory.u8.subarray(key, key + 32).every((b) => b === 0);
      secret = zero ? "zeroized" : "NOT zeroized";
      say(
        `  a signing key in a CryptoSlab (locked, guarded, out of core dumps): after free it reads ${secret}`,
      );
    } catch (error) {
      skipped.push(`CryptoSlab for signing keys: the OS refused: ${(error as Error).message}`);
    }
  }
  return {
    name: "auth-service",
    composition: "Statistics<Watermark<Quarantine<Slab>>>; CryptoSlab for keys",
    shows: `${held} revoked tokens quarantined, ${reused} of them reused; key after free: ${secret}`,
    skipped,
    pictures: [picture],
  };
}

runIfMain(import.meta.url, authService);
