// A worker for test/workers.test.ts: frees blocks of a SlabOwner in another thread through its ring.
import { parentPort, workerData } from "node:worker_threads";
import { SlabRemote, type SlabRemoteDescriptor } from "../../src/index.js";

const { owner, list, from, to, mode } = workerData as {
  owner: SlabRemoteDescriptor;
  list: SharedArrayBuffer;
  from: number;
  to: number;
  mode: "blocking" | "try-until-closed";
};
const remote = SlabRemote.attach(owner);
const ptrs = new Int32Array(list);
let accepted = 0;
let closed = 0;
for (let i = from; i < to; i++) {
  if (mode === "blocking") {
    remote.deallocate(ptrs[i]!, 10_000);
    accepted++;
  } else {
    for (;;) {
      const r = remote.tryDeallocate(ptrs[i]!);
      if (r === "ok") {
        accepted++;
        break;
      }
      if (r === "closed") {
        closed++;
        break;
      }
      remote.ring.waitForSpace(5);
    }
  }
}
parentPort!.postMessage({ accepted, closed });
