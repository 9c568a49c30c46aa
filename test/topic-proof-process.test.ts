/**
 * Knowing a topic is not enough (issue #11 §4), against `backchannel relay` processes: one on disk, and
 * two sharing a real redis-server (the honest device on relay A, the attackers on relay B). An honest
 * device proves its topic, deposits and announces; then
 *   - a party holding only the topic, and
 *   - one that saw every frame of the honest connection and replays all it sent (its proof included)
 * can neither deposit, fetch, acknowledge (delete), nor announce (take a peer slot): each request is
 * refused with the `unproven` error frame. Afterwards the honest deposit is still there, alone, and a
 * second honest device still finds the first. And a client whose proof the relay refuses fails with
 * the typed TopicUnprovenError instead of retrying.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startRelay } from '../server/index.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { proveTopic, topicKey } from '../src/crypto/topicKey.js';
import { connectToContact } from '../src/discover/connect.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { TopicUnprovenError } from '../src/errors.js';
import { DISCOVER_PATH } from '../src/discover/wire.js';
import { startRelayProcess, type RelayProcess } from './helpers/processes.js';
import { rawClient, type RawClient } from './helpers/rawClient.js';
import { startRedis, type RedisProcess } from './helpers/redis.js';
import { challengeOf, proveOn } from './helpers/topicProof.js';
import { tempDirs } from './helpers/wait.js';

const dirs = tempDirs('bc-topic-proof-');
const relays: RelayProcess[] = [];
let redis: RedisProcess | undefined;
afterAll(async () => {
  for (const r of relays) await r.stop();
  await redis?.stop();
  dirs.removeAll();
});

const discoveryUrl = (relay: RelayProcess) => `ws://127.0.0.1:${relay.port}${DISCOVER_PATH}`;

/** Send `frame` and wait for the relay's answer to it (it answers a connection's requests in order). */
async function call(c: RawClient, frame: Record<string, unknown>): Promise<Record<string, unknown>> {
  const seen = c.frames.length;
  c.send(frame);
  await c.next(() => c.frames.length > seen, 30_000);
  return c.frames[seen]!;
}

const unproven = (re: string) => ({ type: 'error', re, reason: 'prove the topic key on this connection first', code: 'unproven' });

/** The scenario, with the honest device on `home` and the attackers on `away` (the same relay, or another on the same Redis). */
async function scenario(home: string, away: string): Promise<void> {
  const contactKey = new Uint8Array(32).fill(0x42);
  const key = topicKey(contactKey);
  const topic = key.topic;

  // The honest device: every frame it sends is recorded, as an eavesdropper on its connection would.
  const honest = await rawClient(home);
  const sent: Record<string, unknown>[] = [];
  const honestCall = (frame: Record<string, unknown>) => (sent.push(frame), call(honest, frame));
  expect(await honestCall({ type: 'prove', ...proveTopic(key, await challengeOf(honest)) })).toEqual({ type: 'proven', topic });
  const deposited = await honestCall({ type: 'deposit', topic, blob: 'aG9uZXN0' });
  expect(deposited).toMatchObject({ type: 'deposited', topic });
  expect(await honestCall({ type: 'fetch', topic })).toMatchObject({ type: 'deposits', topic, items: [{ id: deposited.id, blob: 'aG9uZXN0' }] });
  expect(await honestCall({ type: 'announce', topic })).toMatchObject({ type: 'announced', topic, peers: [] });

  // A party holding only the topic.
  const stranger = await rawClient(away);
  await challengeOf(stranger);
  expect(await call(stranger, { type: 'deposit', topic, blob: 'Z2FyYmFnZQ==' })).toEqual(unproven('deposit'));
  expect(await call(stranger, { type: 'fetch', topic })).toEqual(unproven('fetch'));
  expect(await call(stranger, { type: 'ack', topic, ids: [deposited.id] })).toEqual(unproven('ack'));
  expect(await call(stranger, { type: 'announce', topic })).toEqual(unproven('announce'));
  // Its own key claiming our topic proves nothing either.
  const own = proveTopic(topicKey(new Uint8Array(32).fill(0x66)), await challengeOf(stranger));
  expect(await call(stranger, { type: 'prove', ...own, topic })).toEqual({
    type: 'error',
    re: 'prove',
    reason: 'the proof does not hold for this topic and connection',
    code: 'unproven',
  });

  // A party that saw every frame of the honest connection replays everything it sent, on its own connection.
  const replayer = await rawClient(away);
  await challengeOf(replayer);
  const answers: Record<string, unknown>[] = [];
  for (const frame of sent) answers.push(await call(replayer, frame));
  expect(answers).toEqual([
    { type: 'error', re: 'prove', reason: 'the proof does not hold for this topic and connection', code: 'unproven' },
    unproven('deposit'),
    unproven('fetch'),
    unproven('announce'),
  ]);
  expect(await call(replayer, { type: 'ack', topic, ids: [deposited.id] })).toEqual(unproven('ack'));
  // Nothing it did reached anyone on the topic: no peer joined, nothing was fetched for it.
  expect(replayer.frames.some((f) => f.type === 'deposits' || f.type === 'announced' || f.type === 'waiting')).toBe(false);

  // The honest deposit is still there, alone; a second honest device proves, fetches it and finds the first.
  const other = await rawClient(away);
  await proveOn(other, contactKey);
  expect(await call(other, { type: 'fetch', topic })).toMatchObject({ type: 'deposits', topic, items: [{ id: deposited.id, blob: 'aG9uZXN0' }] });
  const announced = await call(other, { type: 'announce', topic });
  expect(announced).toMatchObject({ type: 'announced', topic, peers: [expect.stringMatching(/^[0-9a-f]{16}$/)] });
  // The first device hears exactly one newcomer: the honest one.
  expect(await honest.next((f) => f.type === 'joined', 30_000)).toEqual({ type: 'joined', topic, peer: announced.peer });
  expect(await call(honest, { type: 'ping' })).toEqual({ type: 'pong' });
  expect(honest.frames.filter((f) => f.type === 'joined')).toHaveLength(1);
  for (const c of [honest, stranger, replayer, other]) c.close();
}

/** A relay process's `backchannel_refusals_total{reason="topic-unproven"}`, from its /metrics. */
async function unprovenRefusals(relay: RelayProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${relay.port}/metrics`)).text();
  return Number(/^backchannel_refusals_total\{reason="topic-unproven"\} (\d+)$/m.exec(text)?.[1] ?? 0);
}

describe('a relay refuses a topic that is not proven on the connection', () => {
  it('one relay process with its depot on disk', { timeout: 120_000 }, async () => {
    const relay = await startRelayProcess(['--data', dirs.make()]);
    relays.push(relay);
    await scenario(discoveryUrl(relay), discoveryUrl(relay));
    // Every refusal above is counted for the operator: 5 from the stranger, 5 from the replayer.
    expect(await unprovenRefusals(relay)).toBe(10);
  });

  it('two relay processes on one Redis: the honest device on A, the attackers on B', { timeout: 120_000 }, async () => {
    redis = await startRedis();
    const a = await startRelayProcess(['--redis', redis.url]);
    relays.push(a);
    const b = await startRelayProcess(['--redis', redis.url]);
    relays.push(b);
    await scenario(discoveryUrl(a), discoveryUrl(b));
    expect([await unprovenRefusals(a), await unprovenRefusals(b)]).toEqual([0, 10]);
  });

  it('a client whose proof is refused fails typed (TopicUnprovenError), without retrying', { timeout: 60_000 }, async () => {
    // A relay that takes no proofs at all: every announce is on an unproven topic.
    const relay = await startRelay({ host: '127.0.0.1', discoveryLimits: { maxProofsPerConnection: 0 } });
    try {
      const attempt = connectToContact({
        contactKey: new Uint8Array(32).fill(0x42),
        url: relay.discoveryUrl,
        connector: nodeSocketConnector(),
        randomBytes: cryptoRandomBytes,
        timeouts: { reconnectBaseMs: 10 },
      });
      const error = await attempt.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TopicUnprovenError);
      expect((error as TopicUnprovenError).data).toEqual({ re: 'prove', reason: 'at most 0 proofs per connection' });
    } finally {
      await relay.close();
    }
  });
});
