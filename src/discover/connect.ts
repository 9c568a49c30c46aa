/**
 * One-shot DISCOVER for callers who want a promise: find the contact's device and resolve with the
 * channel, with an AbortSignal and an overall timeout. The machine keeps running afterwards (it
 * reconnects on its own); call `stop()` when done with the contact.
 * @module
 */
import { createActor } from 'xstate';
import type { Transport } from '../effects/transport.js';
import { openWebRtcTransport } from '../adapters/webrtcTransport.js';
import { systemClock, type Clock } from '../effects/clock.js';
import { AbortedError, ConnectionLostError, TimeoutError } from '../errors.js';
import { discoverMachine, type DiscoverInput } from '../machines/discoverMachine.js';

/** What `connectToContact` takes: the contact key, the relay, a connector and optional WebRTC. */
export interface ConnectOptions extends DiscoverInput {
  signal?: AbortSignal;
  /** Give up after this long without a channel (default: no limit beyond the machine's own). */
  timeoutMs?: number;
  /** Times the overall timeout, the machine's own delays and the relayed channel's keepalive (default `systemClock`). */
  clock?: Clock;
}

/** What `connectToContact` resolves with: the transport and how it connected. */
export interface Connection {
  channel: Transport;
  via: 'direct' | 'relayed';
  /** The machine keeps running (it reconnects on its own) until this; it is not reachable otherwise. */
  stop(): void;
}

/**
 * @example
 * const { channel, via, stop } = await connectToContact({ contactKey, url, connector, randomBytes, signal });
 */
export function connectToContact(options: ConnectOptions): Promise<Connection> {
  const { signal, timeoutMs, clock = systemClock, openDirectTransport = openWebRtcTransport, ...rest } = options;
  // The relayed channel's keepalive on the same clock as the rest.
  const input = { ...rest, openDirectTransport, ...(options.clock ? { clock: options.clock } : {}) };
  if (signal?.aborted) return Promise.reject(new AbortedError(undefined, signal.reason));
  const actor = createActor(discoverMachine, { input, clock });
  const stop = () => actor.send({ type: 'STOP' });
  return new Promise<Connection>((resolve, reject) => {
    let timer: unknown;
    const settle = (fn: () => void) => {
      if (timer !== undefined) clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sub.unsubscribe();
      off.unsubscribe();
      fn();
    };
    const onAbort = () => settle(() => (stop(), reject(new AbortedError(undefined, signal?.reason))));
    const off = actor.on('connected', ({ channel, via }) => settle(() => resolve({ channel, via, stop })));
    const sub = actor.subscribe({
      complete: () => settle(() => reject(actor.getSnapshot().output?.error ?? new ConnectionLostError('Discovery ended.'))),
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = clock.setTimeout(
        () =>
          settle(() => (stop(), reject(new TimeoutError(`The contact's device was not found within ${timeoutMs} ms.`, { phase: 'discover', ms: timeoutMs })))),
        timeoutMs,
      );
    }
    actor.start();
  });
}
