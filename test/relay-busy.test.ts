/**
 * A busy or throttling relay fails pairing with a typed RelayBusyError, over real sockets against a real
 * relay started with tiny limits: a rate-limited claim, a byte quota, and upgrades refused with HTTP 429
 * (too many connections from this address) or 503 (full). With normal limits pairing is unaffected.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { QUOTA_EXCEEDED as SERVER_QUOTA_EXCEEDED, RATE_LIMITED as SERVER_RATE_LIMITED, startRelay, type Relay, type RelayOptions } from '../server/index.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { toHex } from '../src/crypto/bytes.js';
import { RelayBusyError } from '../src/errors.js';
import { createPairing } from '../src/pair.js';
import { QUOTA_EXCEEDED, RATE_LIMITED, readBusyRefusal } from '../src/wormhole/messages.js';
import { Wormhole } from '../src/wormhole/wormhole.js';

const connector = nodeSocketConnector();
const appid = 'test.example/busy';
/** Quick retries, so a refused upgrade gives up within a second. */
const timeouts = { reconnectBaseMs: 20, reconnectMaxMs: 50 };

const relays: Relay[] = [];
const servers: Server[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const r of relays.splice(0)) await r.close();
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

async function relayWith(options: RelayOptions = {}): Promise<Relay> {
  const relay = await startRelay(options);
  relays.push(relay);
  return relay;
}

/** The rejection of `promise`, which must reject. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a rejection'),
    (err: unknown) => err,
  );
}

function expectBusy(err: unknown, reason: string): RelayBusyError {
  expect(err).toBeInstanceOf(RelayBusyError);
  const busy = err as RelayBusyError;
  expect(busy.code).toBe('RELAY_BUSY');
  expect(busy.data.reason).toBe(reason);
  return busy;
}

describe('the wire: throttling error texts', () => {
  it("the client's copies of the relay's prefixes agree with the relay's", () => {
    expect(RATE_LIMITED).toBe(SERVER_RATE_LIMITED);
    expect(QUOTA_EXCEEDED).toBe(SERVER_QUOTA_EXCEEDED);
  });

  it('reads the reason and the wait; other refusals are not throttles', () => {
    expect(readBusyRefusal('rate limited: too many claims from this address, try again in 10 s')).toEqual({ reason: 'rate-limited', retryAfterMs: 10_000 });
    expect(readBusyRefusal('rate limited: too many lists, try again later')).toEqual({ reason: 'rate-limited' });
    expect(readBusyRefusal('quota exceeded: this connection may add 10 bytes')).toEqual({ reason: 'quota' });
    expect(readBusyRefusal('crowded')).toBeUndefined();
    expect(readBusyRefusal('the rate limited: is not at the start')).toBeUndefined();
  });
});

describe('a throttling relay', () => {
  it('a rate-limited claim fails the accepting side with RelayBusyError and the relay’s wait', async () => {
    const relay = await relayWith({ limits: { claimBurstPerAddress: 2, claimsPerMinutePerAddress: 1 } });
    const alice = createPairing({ relay: relay.url, connector, appid });
    const bob = createPairing({ relay: relay.url, connector, appid });
    const invitation = await alice.invite(); // its allocate and claim took this address's two
    cleanups.push(() => invitation.cancel());
    invitation.done.catch(() => {});
    const busy = expectBusy(await rejection(bob.accept(invitation.code)), 'rate-limited');
    expect(busy.data.retryAfterMs).toBe(60_000);
    expect(busy.caller).toBe('pair.accept');
    expect(busy.message).toMatch(/busy.*try again in 60 s/);
    expect(
      await Promise.race([
        invitation.done.then(
          () => 'ended',
          () => 'ended',
        ),
        Promise.resolve('waiting'),
      ]),
    ).toBe('waiting');
  });

  it('a byte quota fails the Wormhole with RelayBusyError (quota)', async () => {
    const relay = await relayWith({ limits: { maxBytesPerConnection: 8 } });
    const wormhole = new Wormhole({ relay: relay.url, appid, connector });
    const busy = expectBusy(await rejection(wormhole.done), 'quota');
    expect(busy.data.retryAfterMs).toBeUndefined();
  });

  it('connections over the per-address cap (HTTP 429): fails typed after the configured attempts, no endless retry', async () => {
    const relay = await relayWith({ limits: { maxConnectionsPerAddress: 1 } });
    const alice = createPairing({ relay: relay.url, connector, appid });
    const invitation = await alice.invite(); // holds this address's one connection
    cleanups.push(() => invitation.cancel());
    invitation.done.catch(() => {});
    let attempts = 0;
    const counting: typeof connector = (url, handlers) => (attempts++, connector(url, handlers));
    const bob = createPairing({ relay: relay.url, connector: counting, appid, timeouts: { ...timeouts, maxInitialAttempts: 3 } });
    const busy = expectBusy(await rejection(bob.accept(invitation.code)), 'rate-limited');
    expect(busy.data).toMatchObject({ url: relay.url, detail: 'HTTP 429' });
    expect(attempts).toBe(3);
  });

  it('a full relay (HTTP 503) is RelayBusyError (overloaded) for a Wormhole', async () => {
    const relay = await relayWith({ limits: { maxConnections: 1 } });
    const first = new Wormhole({ relay: relay.url, appid, connector });
    cleanups.push(() => void first.close().catch(() => {}));
    await first.code;
    const second = new Wormhole({ relay: relay.url, appid, connector, timeouts });
    const busy = expectBusy(await rejection(second.done), 'overloaded');
    expect(busy.data.detail).toBe('HTTP 503');
    await expect(second.code).rejects.toBe(busy);
  });

  it("waits as long as a refusing server's Retry-After asks (not our shorter backoff), and reports it", async () => {
    const server = createServer();
    server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    let attempts = 0;
    let refused!: () => void;
    const firstRefusal = new Promise<void>((resolve) => (refused = resolve));
    const counting: typeof connector = (url, handlers) => {
      attempts++;
      return connector(url, { ...handlers, onClose: (info) => (handlers.onClose(info), refused()) });
    };
    const clock = new SimulatedClock();
    const wormhole = new Wormhole({ relay: `ws://127.0.0.1:${port}/v1`, appid, connector: counting, clock, timeouts: { ...timeouts, maxInitialAttempts: 2 } });
    await firstRefusal;
    clock.increment(999); // well past our own 20 ms backoff: still waiting for the server's second
    expect(attempts).toBe(1);
    clock.increment(1);
    expect(attempts).toBe(2);
    const busy = expectBusy(await rejection(wormhole.done), 'rate-limited');
    expect(busy.data.retryAfterMs).toBe(1000);
  });
});

describe('an honest pairing with normal limits', () => {
  it('is unaffected', async () => {
    const relay = await relayWith();
    const alice = createPairing({ relay: relay.url, connector, appid });
    const bob = createPairing({ relay: relay.url, connector, appid });
    const invitation = await alice.invite();
    const [a, b] = await Promise.all([invitation.done, bob.accept(invitation.code)]);
    expect(toHex(a.contactKey)).toBe(toHex(b.contactKey));
  });
});
