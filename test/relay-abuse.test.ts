/**
 * The relay's rates and quotas over real sockets on 127.0.0.1, each with a clock the test moves: claims
 * per address and per nameplate, `list`, new connections per address, message bytes per connection and
 * per address, `X-Forwarded-For` believed from trusted proxies only, and `/metrics`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay, type Relay, type RelayOptions } from '../server/index.js';
import { DEFAULT_LIMITS } from '../server/limits.js';
import { BACKCHANNEL_APPID } from '../src/pair.js';
import { rawClient, type RawClient } from './helpers/rawClient.js';

const relays: Relay[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of relays.splice(0)) await r.close();
});

async function relayWith(options: RelayOptions & { clock?: { now: number } }): Promise<Relay> {
  const clock = options.clock;
  const relay = await startRelay({ ...options, now: clock ? () => clock.now : undefined });
  relays.push(relay);
  return relay;
}

let marks = 0;
/** A connected, bound client; `as` poses as a client behind the (trusted) proxy at 127.0.0.1. */
async function client(relay: Relay, appid = 'app', as?: string): Promise<RawClient & { ask(frame: object): Promise<Record<string, unknown>[]> }> {
  const c = await rawClient(relay.url, as ? { headers: { 'X-Forwarded-For': as } } : {});
  clients.push(c);
  /** Send `frame`; resolve with its replies (a ping after it marks their end). */
  const ask = async (frame: object) => {
    const from = c.frames.length;
    const mark = ++marks;
    c.send(frame);
    c.send({ type: 'ping', ping: mark });
    await c.next((f) => f.type === 'pong' && f.pong === mark);
    return c.frames.slice(from).filter((f) => f.type !== 'ack' && f.type !== 'pong');
  };
  await ask({ type: 'bind', appid, side: `side${marks}` });
  return Object.assign(c, { ask });
}

const error = (replies: Record<string, unknown>[]) => replies.find((f) => f.type === 'error')?.error as string | undefined;
const refusedUpgrade = (relay: Relay, as?: string) =>
  rawClient(relay.url, as ? { headers: { 'X-Forwarded-For': as } } : {}).then(
    (c) => (clients.push(c), 'accepted'),
    (e: Error) => e.message,
  );

describe('rate limits', () => {
  it('claims per address: a burst, then "rate limited" until the bucket refills; other addresses unaffected', async () => {
    const clock = { now: 1_000_000 };
    const relay = await relayWith({ clock, trustProxy: ['127.0.0.1'], limits: { claimBurstPerAddress: 3, claimsPerMinutePerAddress: 6 } });
    const results: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) results.push(error(await (await client(relay, 'app', '10.0.0.1')).ask({ type: 'claim', nameplate: String(10 + i) })));
    expect(results.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(results[3]).toBe('rate limited: too many claims from this address, try again in 10 s');
    // An allocation is a claim too.
    expect(error(await (await client(relay, 'app', '10.0.0.1')).ask({ type: 'allocate' }))).toMatch(/^rate limited: /);
    expect(error(await (await client(relay, 'app', '10.0.0.2')).ask({ type: 'claim', nameplate: '20' }))).toBeUndefined();
    clock.now += 10_000; // one token back (6 a minute)
    expect(error(await (await client(relay, 'app', '10.0.0.1')).ask({ type: 'claim', nameplate: '21' }))).toBeUndefined();
    expect(error(await (await client(relay, 'app', '10.0.0.1')).ask({ type: 'claim', nameplate: '22' }))).toMatch(/^rate limited: /);
  });

  it('claims per nameplate: guessing one code from many addresses is throttled', async () => {
    const clock = { now: 1_000_000 };
    const relay = await relayWith({ clock, trustProxy: ['127.0.0.1'], limits: { claimBurstPerNameplate: 3, claimsPerMinutePerNameplate: 1 } });
    const results: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) results.push(error(await (await client(relay, 'app', `10.0.1.${i}`)).ask({ type: 'claim', nameplate: '7' })));
    // Two sides, then a third (crowded, as the protocol says), then throttled before the store is asked.
    expect(results).toEqual([undefined, undefined, 'crowded', 'rate limited: too many claims of this nameplate, try again in 60 s']);
    expect(error(await (await client(relay, 'app', '10.0.1.9')).ask({ type: 'claim', nameplate: '8' }))).toBeUndefined();
  });

  it('claims per nameplate count guesses at one code: a nameplate allocated again (a new code) starts with a full bucket', async () => {
    // No refill at all, and a burst of two: one honest pairing (both sides claim) spends a nameplate's bucket.
    const relay = await relayWith({ clock: { now: 1_000_000 }, limits: { claimBurstPerNameplate: 2, claimsPerMinutePerNameplate: 0 } });
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const [a, b] = [await client(relay), await client(relay)];
      const allocated = (await a.ask({ type: 'allocate' }))[0] as { type: string; nameplate: string };
      expect(allocated.type).toBe('allocated');
      seen.add(allocated.nameplate);
      for (const side of [a, b]) {
        const [claimed] = await side.ask({ type: 'claim', nameplate: allocated.nameplate });
        expect(claimed, `pairing ${i} on nameplate ${allocated.nameplate}`).toMatchObject({ type: 'claimed' });
      }
      for (const side of [a, b]) expect(error(await side.ask({ type: 'release' }))).toBeUndefined();
    }
    // Twelve pairings over at most nine one-digit nameplates: some were handed out again.
    expect(seen.size).toBeLessThan(12);
  });

  it("refuses `list` for Backchannel's appid, keeps it for others (the wormhole CLI's), and rate-limits it", async () => {
    const relay = await relayWith({ clock: { now: 1_000_000 }, limits: { listBurstPerAddress: 2 } });
    expect(error(await (await client(relay, BACKCHANNEL_APPID)).ask({ type: 'list' }))).toBe('list is not offered for this appid: type the whole code');
    const wormhole = await client(relay, 'lothar.com/wormhole/text-or-file-xfer');
    expect((await wormhole.ask({ type: 'list' }))[0]).toMatchObject({ type: 'nameplates' });
    expect((await wormhole.ask({ type: 'list' }))[0]).toMatchObject({ type: 'nameplates' });
    expect(error(await wormhole.ask({ type: 'list' }))).toMatch(/^rate limited: too many list requests from this address/);
  });

  it('new connections per address: HTTP 429 past the burst; X-Forwarded-For counts only from a trusted proxy', async () => {
    const clock = { now: 1_000_000 };
    const behindProxy = await relayWith({ clock, trustProxy: ['127.0.0.1'], limits: { connectionBurstPerAddress: 3, connectionsPerMinutePerAddress: 1 } });
    const first = [];
    for (let i = 0; i < 4; i++) first.push(await refusedUpgrade(behindProxy, '10.0.2.1'));
    expect(first).toEqual(['accepted', 'accepted', 'accepted', 'Unexpected server response: 429']);
    expect(await refusedUpgrade(behindProxy, '10.0.2.2')).toBe('accepted');
    // The right-most untrusted hop is the client: a forged left part does not buy a fresh bucket.
    expect(await refusedUpgrade(behindProxy, '6.6.6.6, 10.0.2.1')).toBe('Unexpected server response: 429');
    clock.now += 60_000;
    expect(await refusedUpgrade(behindProxy, '10.0.2.1')).toBe('accepted');

    // Without --trust-proxy the header is the client's word only: every connection is 127.0.0.1's.
    const direct = await relayWith({ clock, limits: { connectionBurstPerAddress: 2, connectionsPerMinutePerAddress: 1 } });
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await refusedUpgrade(direct, `10.0.3.${i}`));
    expect(got).toEqual(['accepted', 'accepted', 'Unexpected server response: 429']);
  });
});

describe('quotas', () => {
  it('message bytes per connection and per address, with "quota exceeded" errors; the bytes come back when the mailbox closes', async () => {
    const relay = await relayWith({ trustProxy: ['127.0.0.1'], limits: { maxBytesPerConnection: 3_000, maxBytesPerAddress: 4_000 } });
    const body = 'ab'.repeat(500); // ~1 kB a message
    const one = await client(relay, 'app', '10.0.4.1');
    await one.ask({ type: 'open', mailbox: 'm1' });
    const first = [];
    for (let i = 0; i < 3; i++) first.push(error(await one.ask({ type: 'add', phase: String(i), body })));
    expect(first).toEqual([undefined, undefined, 'quota exceeded: this connection may add 3000 bytes']);
    const two = await client(relay, 'app', '10.0.4.1');
    await two.ask({ type: 'open', mailbox: 'm2' });
    const second = [];
    for (let i = 0; i < 2; i++) second.push(error(await two.ask({ type: 'add', phase: String(i), body })));
    expect(second[0]).toBeUndefined();
    expect(second[1]).toMatch(/^quota exceeded: this address holds \d+ bytes in the relay, try later$/);
    // Another address is not affected.
    const other = await client(relay, 'app', '10.0.4.2');
    await other.ask({ type: 'open', mailbox: 'm3' });
    expect(error(await other.ask({ type: 'add', phase: '0', body }))).toBeUndefined();
    // Closing m1 (its only side) deletes it and gives its bytes back to 10.0.4.1.
    await one.ask({ type: 'close', mood: 'happy' });
    const three = await client(relay, 'app', '10.0.4.1');
    await three.ask({ type: 'open', mailbox: 'm4' });
    expect(error(await three.ask({ type: 'add', phase: '0', body }))).toBeUndefined();
  });
});

describe('/metrics', () => {
  it('serves Prometheus text to loopback: connections, pairing store, refusals by reason, memory', async () => {
    const relay = await relayWith({ limits: { ...DEFAULT_LIMITS, claimBurstPerNameplate: 3 } });
    const c = await client(relay);
    await c.ask({ type: 'claim', nameplate: '5' });
    for (let i = 0; i < 3; i++) await (await client(relay)).ask({ type: 'claim', nameplate: '5' }); // a second side, a crowd, a throttled guess
    const res = await fetch(`http://127.0.0.1:${relay.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('backchannel_connections_open{service="mailbox"}')).toBe(4);
    expect(value('backchannel_pairing_nameplates')).toBe(1);
    expect(value('backchannel_pairing_mailboxes')).toBe(1);
    expect(value('backchannel_pairing_claims_total')).toBe(2);
    expect(value('backchannel_pairing_store_bytes')).toBeGreaterThan(0);
    expect(value('backchannel_refusals_total{reason="crowded"}')).toBe(1);
    expect(value('backchannel_refusals_total{reason="claim-rate-nameplate"}')).toBe(1);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(value('nodejs_heap_size_used_bytes')).toBeGreaterThan(1e5);
    expect(value('backchannel_depot_deposits')).toBe(0);
    expect(value('backchannel_depot_bytes')).toBe(0);
    expect(text).toMatch(/^# TYPE backchannel_refusals_total counter$/m);
  });

  it('is refused to a client behind a trusted proxy unless opened with metrics: public, and gone with off', async () => {
    const loopbackOnly = await relayWith({ trustProxy: ['127.0.0.1'] });
    expect((await fetch(`http://127.0.0.1:${loopbackOnly.port}/metrics`, { headers: { 'X-Forwarded-For': '203.0.113.9' } })).status).toBe(403);
    const open = await relayWith({ trustProxy: ['127.0.0.1'], metrics: 'public' });
    expect((await fetch(`http://127.0.0.1:${open.port}/metrics`, { headers: { 'X-Forwarded-For': '203.0.113.9' } })).status).toBe(200);
    const off = await relayWith({ metrics: 'off' });
    expect((await fetch(`http://127.0.0.1:${off.port}/metrics`)).status).toBe(426);
  });
});
