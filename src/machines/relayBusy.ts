/**
 * A relay refusing a WebSocket upgrade as busy (HTTP 429: too many connections from this address; 503:
 * full), as DISCOVER's and the wormhole machine read it (the latter through `wormhole/connection.ts`):
 * wait at least its `Retry-After`, and when out of attempts give up with a RelayBusyError (the host
 * waits and retries later) rather than a ConnectionLostError. Pure.
 * @module
 */
import { RelayBusyError } from '../errors.js';
import type { UpgradeRefusal } from './wormhole/types.js';

/** HTTP statuses that mean "busy, come back later" rather than "not here". */
const BUSY_STATUSES = new Set([429, 503]);

/** The busy refusal a closed socket reports (`status`, `retryAfterMs` as the SocketConnector gives them), if it was one. */
export function busyRefusal(closed: { status?: number; retryAfterMs?: number }): UpgradeRefusal | undefined {
  if (closed.status === undefined || !BUSY_STATUSES.has(closed.status)) return undefined;
  return closed.retryAfterMs === undefined ? { status: closed.status } : { status: closed.status, retryAfterMs: closed.retryAfterMs };
}

/** The error of giving up on `url` after it refused as busy, last with `refusal`. */
export function relayBusyError(url: string, refusal: UpgradeRefusal): RelayBusyError {
  const why = refusal.status === 503 ? 'it is full' : 'too many connections from this address';
  return new RelayBusyError(`The relay at ${url} refused the connection with HTTP ${refusal.status} (${why}), on every try. Try again later.`, {
    reason: refusal.status === 503 ? 'overloaded' : 'rate-limited',
    ...(refusal.retryAfterMs === undefined ? {} : { retryAfterMs: refusal.retryAfterMs }),
    url,
    detail: `HTTP ${refusal.status}`,
  });
}

/** The wait before the next attempt: our backoff, or longer when the relay asked for longer. */
export function busyDelayMs(backoff: number, refusal: UpgradeRefusal | undefined): number {
  return Math.max(backoff, refusal?.retryAfterMs ?? 0);
}
