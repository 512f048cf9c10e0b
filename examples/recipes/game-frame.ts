// Recipe 4, a game frame: a scratch arena reset every frame, an entity pool, and audio events that the main
// thread allocates and a mixer worker frees remotely, without locking the owner's slab.
// Run alone: `node build/examples/recipes/game-frame.js` after `npm run build:test`.
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import {
  BatchPolicy,
  BumpArena,
  SharedArrayBufferBacked,
  Slab,
  SlabOwner,
  SlabRemote,
  type SlabRemoteDescriptor,
  StaticBacked,
  inspect,
} from "../../src/index.js";
import { type RecipeReport, type Say, runIfMain } from "./shared.js";

const AUDIO_EVENT = 32; // u32 sound id, f32 volume, f64 start time, 16 bytes of parameters
const EVENTS_PER_FRAME = 8;
const FRAMES = 3;

/** Shows frame-scoped scratch and remote frees from a worker coming back to the owner. */
export async function gameFrame(say: Say): Promise<RecipeReport> {
  const memory = new SharedArrayBufferBacked({ size: 2 << 20, maxSize: 8 << 20 });
  const frame = new BumpArena(StaticBacked.carve(memory, 1 << 20, 64));
  const entities = new Slab(memory, { blockSize: 64, capacity: 4096 });
  const audio = new SlabOwner(memory, {
    blockSize: AUDIO_EVENT,
    capacity: 256,
    ringCapacity: 1024,
    policy: BatchPolicy.adaptive(),
  });
  say("one SharedArrayBuffer: 1 MiB frame scratch, 4096 entities, an audio pool owned by the main thread");
  const mixer = new Worker(new URL(import.meta.url), { workerData: { role: "mixer", audio: audio.share() } });
  const acks: Array<(n: number) => void> = [];
  mixer.on("message", (n: number) => acks.shift()!(n));

  const spawned: number[] = [];
  let sent = 0;
  let drained = 0;
  for (let f = 0; f < FRAMES; f++) {
    const visible = frame.allocArray(Uint32Array, 256); // this frame's visibility list, gone at reset
    visible.fill(f);
    for (let i = 0; i < 10; i++) spawned.push(entities.allocate(64));
    const events: number[] = [];
    for (let i = 0; i < EVENTS_PER_FRAME; i++) {
      const e = audio.allocate(AUDIO_EVENT);
      memory.memory.u32[e >>> 2] = 100 + i; // sound id
      memory.memory.f32[(e + 4) >>> 2] = 0.5; // volume
      events.push(e);
    }
    sent += events.length;
    const mixed = new Promise<number>((resolve) => acks.push(resolve));
    mixer.postMessage(events); // offsets are plain numbers: they cross threads as they are
    const freedRemotely = await mixed;
    const back = audio.drain();
    drained += back;
    say(
      `  frame ${f}: ${frame.allocated()} bytes of scratch, ${entities.liveCount()} entities, ${freedRemotely} audio events freed by the mixer, ${back} taken back by the owner`,
    );
    frame.reset();
  }
  const picture = inspect(entities, `game-frame: the entity pool after ${FRAMES} frames`);
  for (const e of spawned) entities.deallocate(e, 64);
  await mixer.terminate();
  audio.close(); // drains anything still in flight
  const live = audio.slab.liveCount();
  say(
    `entities despawned (${entities.liveCount()} live); the audio pool has ${live} live events after close()`,
  );
  return {
    name: "game-frame",
    composition: "BumpArena per frame; Slab of entities; SlabOwner + SlabRemote in a worker",
    shows: `${sent} audio events freed in a worker; ${drained} drained by the owner, ${live} left live`,
    skipped: [],
    pictures: [picture],
  };
}

if (!isMainThread && (workerData as { role?: string }).role === "mixer") {
  const remote = SlabRemote.attach((workerData as { audio: SlabRemoteDescriptor }).audio);
  parentPort!.on("message", (events: number[]) => {
    for (const e of events) remote.deallocate(e); // the event has played: back to the owner's ring
    parentPort!.postMessage(events.length);
  });
}

runIfMain(import.meta.url, gameFrame);
