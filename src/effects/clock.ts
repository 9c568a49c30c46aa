/**
 * Time, injected. Machines get it through XState's clock (`createActor(machine, { clock })`: XState
 * reads only `setTimeout` / `clearTimeout`); the rest of the core (the journal's flush, the
 * database's timestamps, `connectToContact`'s timeout) through the same object. Tests pass XState's
 * `new SimulatedClock()` (it has `now()` too) and advance it. {@link systemClock} is the one place in
 * the core that touches the global timers; adapters may use their own.
 * @module
 */
/** Timers and the time: `systemClock`, or XState's `SimulatedClock` in tests. */
export interface Clock {
  /** Call `fn` after `timeout` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  /** Cancel a timer `setTimeout` started (a handle already fired or cleared is ignored). */
  clearTimeout(id: unknown): void;
  /** Milliseconds since the epoch (or since the simulation began). */
  now(): number;
}

/** The real clock: the global timers and `Date.now`. */
export const systemClock: Clock = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id as Parameters<typeof globalThis.clearTimeout>[0]),
  now: () => Date.now(),
};
