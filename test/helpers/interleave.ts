// A deterministic scheduler for the shared-memory protocols: two logical workers in one thread, the second one
// stepping in after a chosen number of shared-memory operations of the first. Every `Atomics` call is a step, so a
// test can walk every preemption point of an operation (k = 0, 1, 2, ...) and check the invariant after each one.
// Plain (non-Atomics) reads of words that never change are not steps; a plain store where a CAS belongs is not a
// step either, which is exactly why the schedules catch it: the store runs on a stale read taken before the
// preemption.

const STEPS = ["load", "store", "compareExchange", "add", "sub", "exchange", "and", "or", "xor"] as const;

/** What {@link preemptAt} saw. */
export interface Schedule {
  /** Shared-memory steps the first worker took. */
  readonly steps: number;
  /** True when the second worker ran (the first took more than `k` steps). */
  readonly preempted: boolean;
}

/**
 * Runs `first`; once it has taken `k` `Atomics` steps (k = 0: before its first; k = n: right after its n-th, before
 * the plain code that follows it) runs `second` to completion, whose own steps are not counted. Restores `Atomics`
 * afterwards, whatever happens.
 */
export function preemptAt(k: number, first: () => void, second: () => void): Schedule {
  const atomics = Atomics as unknown as Record<string, (...args: unknown[]) => unknown>;
  const saved = STEPS.map((name) => [name, atomics[name]!] as const);
  let steps = 0;
  let inSecond = false;
  let preempted = false;
  for (const [name, original] of saved) {
    atomics[name] = (...args: unknown[]): unknown => {
      if (inSecond) return original.apply(Atomics, args);
      if (steps === k) step(); // k = 0
      const result = original.apply(Atomics, args);
      if (++steps === k) step();
      return result;
    };
  }
  const step = (): void => {
    if (preempted) return;
    preempted = true;
    inSecond = true;
    try {
      second();
    } finally {
      inSecond = false;
    }
  };
  try {
    first();
  } finally {
    for (const [name, original] of saved) atomics[name] = original;
  }
  return { steps, preempted };
}

/**
 * Runs every schedule of `first` preempted by `second` (k = 0 until `first` finishes without preemption), calling
 * `setup` before and `check` after each (the last schedule runs `first` alone). Returns the number of schedules run.
 */
export function everySchedule<T>(
  setup: () => T,
  first: (state: T) => void,
  second: (state: T) => void,
  check: (state: T, k: number, preempted: boolean) => void,
): number {
  for (let k = 0; ; k++) {
    const state = setup();
    const s = preemptAt(
      k,
      () => first(state),
      () => second(state),
    );
    check(state, k, s.preempted);
    if (!s.preempted) return k + 1;
    if (k > 10_000) throw new Error("everySchedule: the first worker never finishes");
  }
}
