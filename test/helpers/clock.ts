/**
 * Moving XState's SimulatedClock forward. `clock.increment(ms)` fires each due timer once: a timer a
 * transition starts during that flush is due after the new "now", so one big increment hides every
 * repetition of a periodic delay. `advance` steps, so each repetition fires when it is due.
 */
import type { SimulatedClock } from 'xstate';

export function advance(clock: SimulatedClock, ms: number, stepMs = 1): void {
  for (let left = ms; left > 0; left -= stepMs) clock.increment(Math.min(stepMs, left));
}
