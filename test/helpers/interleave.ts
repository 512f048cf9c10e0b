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

/** Thrown into a worker {@link stopAfter} stops: it stands for a worker that was terminated at that point. */
export class Stopped extends Error {
  constructor(readonly steps: number) {
    super(`stopped after ${steps} shared-memory steps`);
  }
}

/**
 * Runs `worker` and stops it for good once it has taken `k` `Atomics` steps (k = 0: before its first): the next
 * `Atomics` call, and every one after it (in `finally` blocks as the stack unwinds), throws {@link Stopped}, so the
 * shared memory holds exactly what a worker terminated between those two steps leaves. Returns the steps taken and
 * whether it was stopped (false: it finished in at most `k` steps). Restores `Atomics` afterwards, whatever happens.
 */
export function stopAfter(k: number, worker: () => void): Schedule {
  const atomics = Atomics as unknown as Record<string, (...args: unknown[]) => unknown>;
  const saved = STEPS.map((name) => [name, atomics[name]!] as const);
  let steps = 0;
  let stopped = false;
  for (const [name, original] of saved) {
    atomics[name] = (...args: unknown[]): unknown => {
      if (stopped || steps === k) {
        stopped = true;
        throw new Stopped(steps);
      }
      steps++;
      return original.apply(Atomics, args);
    };
  }
  try {
    worker();
  } catch (e) {
    if (!(e instanceof Stopped)) throw e;
  } finally {
    for (const [name, original] of saved) atomics[name] = original;
  }
  return { steps, preempted: stopped };
}

/**
 * Runs `worker` stopped after every number of steps (k = 0 until it finishes without being stopped), calling `setup`
 * before and `check` after each (the last run lets it finish). Returns the number of runs.
 */
export function everyStop<T>(
  setup: () => T,
  worker: (state: T) => void,
  check: (state: T, k: number, stopped: boolean) => void,
): number {
  for (let k = 0; ; k++) {
    const state = setup();
    const s = stopAfter(k, () => worker(state));
    check(state, k, s.preempted);
    if (!s.preempted) return k + 1;
    if (k > 10_000) throw new Error("everyStop: the worker never finishes");
  }
}
