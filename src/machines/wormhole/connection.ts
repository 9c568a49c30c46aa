/**
 * Giving up on the relay: after the last failed attempt, say why. A relay that kept refusing the
 * upgrade as busy (HTTP 429: too many connections from this address; 503: full) is a RelayBusyError,
 * so the host waits and retries instead of blaming the network; anything else is a ConnectionLostError.
 * The reading of a busy refusal is DISCOVER's too: `../relayBusy.ts`.
 * @module
 */
import { ConnectionLostError, type BackchannelError } from '../../errors.js';
import { busyDelayMs, busyRefusal, relayBusyError } from '../relayBusy.js';
import type { SocketEvent } from '../socketActor.js';
import type { UpgradeRefusal, WormholeContext } from './types.js';

/** The busy refusal a socket's close reports, if it was one. */
export function upgradeRefusal(event: SocketEvent): UpgradeRefusal | undefined {
  return event.type === 'socket.closed' ? busyRefusal(event) : undefined;
}

/** Why the machine stopped trying to reach the relay. */
export function giveUpError(context: WormholeContext): BackchannelError {
  const { refusal, url } = context;
  if (refusal) return relayBusyError(url, refusal);
  return context.everConnected
    ? new ConnectionLostError(`Lost the connection to the relay and could not reconnect (${context.timeouts.maxReconnects} tries).`, { url })
    : new ConnectionLostError(`Could not reach the relay at ${url}.`, { url });
}

/** The wait before the next attempt: our backoff, or longer when the relay asked for longer. */
export function reconnectDelayMs(context: WormholeContext, backoff: number): number {
  return busyDelayMs(backoff, context.refusal);
}
