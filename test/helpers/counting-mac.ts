// A free-list MAC that counts its calls, for tests of how many tags a slab's workload computes and checks.
import { type FreelistProtection, HalfSipHashMac } from "../../src/index.js";

/** `HalfSipHashMac` with counters (`signs`, `verifies`). */
export class CountingMac implements FreelistProtection {
  signs = 0;
  verifies = 0;
  private readonly mac = new HalfSipHashMac();
  sign(next: number, slot: number): number {
    this.signs++;
    return this.mac.sign(next, slot);
  }
  verify(next: number, slot: number, tag: number): boolean {
    this.verifies++;
    return this.mac.verify(next, slot, tag);
  }
}
