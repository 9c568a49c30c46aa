/**
 * Time is injected through XState's clock (`createActor(machine, { clock })`): tests pass
 * `new SimulatedClock()` and advance it; production uses the real timers. Same shape as XState's
 * internal `Clock`, restated here because XState does not export the type.
 * @module
 */
export interface Clock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}
