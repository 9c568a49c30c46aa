/**
 * DISCOVER against a busy relay (a real one, its per-address connection cap reached: HTTP 429 with
 * Retry-After on `/backchannel/v2`): the client waits as long as the relay asks — not its own shorter
 * backoff — and after its attempts gives up with a typed RelayBusyError instead of retrying into it.
 * Time is a SimulatedClock, so the wait is checked to the millisecond without sleeping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { startRelay, type Relay } from '../server/index.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { RelayBusyError } from '../src/errors.js';
import { discoverMachine } from '../src/machines/discoverMachine.js';
import { rawClient, type RawClient } from './helpers/rawClient.js';

const connector = nodeSocketConnector();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('DISCOVER and a busy relay', () => {
  it('waits out Retry-After between attempts, then fails with RelayBusyError (rate-limited, HTTP 429)', { timeout: 60_000 }, async () => {
    const relay: Relay = await startRelay({ host: '127.0.0.1', limits: { maxConnectionsPerAddress: 1 } });
    cleanups.push(() => relay.close());
    const holder: RawClient = await rawClient(relay.discoveryUrl); // this address's one connection
    cleanups.push(() => holder.close());

    let attempts = 0;
    const refusals: { status?: number; retryAfterMs?: number }[] = [];
    let onRefusal: () => void = () => {};
    const counting: typeof connector = (url, handlers) => {
      attempts++;
      return connector(url, { ...handlers, onClose: (info) => (refusals.push(info), handlers.onClose(info), onRefusal()) });
    };
    const refused = (n: number) => new Promise<void>((resolve) => (onRefusal = () => refusals.length >= n && resolve()));

    const clock = new SimulatedClock();
    const actor = createActor(discoverMachine, {
      clock,
      input: {
        contactKey: new Uint8Array(32).fill(1),
        url: relay.discoveryUrl,
        connector: counting,
        randomBytes: cryptoRandomBytes,
        timeouts: { reconnectBaseMs: 10, reconnectMaxMs: 20, maxAttempts: 3 },
      },
    });
    cleanups.push(() => actor.stop());
    const first = refused(1);
    actor.start();
    await first;
    expect(refusals[0]).toMatchObject({ status: 429, retryAfterMs: 5_000 });
    expect(actor.getSnapshot().value).toBe('reconnecting');
    // Far past our own 10 ms backoff, still short of the relay's 5 s: no new attempt yet.
    clock.increment(4_999);
    expect(actor.getSnapshot().value).toBe('reconnecting');
    expect(attempts).toBe(1);
    const second = refused(2);
    clock.increment(1);
    expect(attempts).toBe(2);
    await second;
    const third = refused(3);
    clock.increment(5_000);
    await third;
    // Out of attempts: a typed busy error, and no fourth try.
    const snapshot = actor.getSnapshot();
    expect(snapshot.status).toBe('done');
    const error = snapshot.output?.error;
    expect(error).toBeInstanceOf(RelayBusyError);
    expect((error as RelayBusyError).data).toEqual({ reason: 'rate-limited', retryAfterMs: 5_000, url: relay.discoveryUrl, detail: 'HTTP 429' });
    clock.increment(60_000);
    expect(attempts).toBe(3);
  });
});
