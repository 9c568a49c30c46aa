/**
 * The one reconnect backoff: the wormhole, DISCOVER and the depot client all wait `baseMs` after the
 * first failure, twice as long after each further one, and never longer than `maxMs`.
 * @module
 */

export interface Backoff {
  /** The wait after the first failure. */
  baseMs: number;
  /** The longest wait. */
  maxMs: number;
}

/**
 * How long to wait before retry number `attempt` (1 for the first retry). Pure; an `attempt` below 1
 * waits `baseMs`, and a huge one `maxMs` (2 ** n overflows to Infinity, which `min` caps).
 *
 * @example backoffMs(3, { baseMs: 100, maxMs: 10_000 }) // 400
 */
export function backoffMs(attempt: number, { baseMs, maxMs }: Backoff): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}
