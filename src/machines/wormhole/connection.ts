/**
 * Giving up on the relay: after the last failed attempt, say why. A relay that kept refusing the
 * upgrade as busy (HTTP 429: too many connections from this address; 503: full) is a RelayBusyError,
 * so the host waits and retries instead of blaming the network; anything else is a ConnectionLostError.
 * @module
 */
import { ConnectionLostError, RelayBusyError, type BackchannelError } from '../../errors.js';
import type { SocketEvent } from '../socketActor.js';
import type { UpgradeRefusal, WormholeContext } from './types.js';

/** HTTP statuses that mean "busy, come back later" rather than "not here". */
const BUSY_STATUSES = new Set([429, 503]);

/** The busy refusal a socket's close reports, if it was one. */
export function upgradeRefusal(event: SocketEvent): UpgradeRefusal | undefined {
  if (event.type !== 'socket.closed' || event.status === undefined || !BUSY_STATUSES.has(event.status)) return undefined;
  return event.retryAfterMs === undefined ? { status: event.status } : { status: event.status, retryAfterMs: event.retryAfterMs };
}

/** Why the machine stopped trying to reach the relay. */
export function giveUpError(context: WormholeContext): BackchannelError {
  const { refusal, url } = context;
  if (refusal) {
    const why = refusal.status === 503 ? 'it is full' : 'too many connections from this address';
    return new RelayBusyError(`The relay at ${url} refused the connection with HTTP ${refusal.status} (${why}), on every try. Try again later.`, {
      reason: refusal.status === 503 ? 'overloaded' : 'rate-limited',
      ...(refusal.retryAfterMs === undefined ? {} : { retryAfterMs: refusal.retryAfterMs }),
      url,
      detail: `HTTP ${refusal.status}`,
    });
  }
  return context.everConnected
    ? new ConnectionLostError(`Lost the connection to the relay and could not reconnect (${context.timeouts.maxReconnects} tries).`, { url })
    : new ConnectionLostError(`Could not reach the relay at ${url}.`, { url });
}

/** The wait before the next attempt: our backoff, or longer when the relay asked for longer. */
export function reconnectDelayMs(context: WormholeContext, backoff: number): number {
  return Math.max(backoff, context.refusal?.retryAfterMs ?? 0);
}
