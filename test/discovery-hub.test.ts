/**
 * One conformance suite for DISCOVER's hubs: the in-memory hub (one relay) and the Redis hub (here two
 * hubs on one real redis-server, as two relays would be). Peers joined through either hub see each
 * other, hear joins and leaves, and get exactly the messages addressed to them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDiscoveryHub, type DiscoveryHub, type HubFrame } from '../server/discoveryHub.js';
import { RedisDiscoveryHub } from '../server/redisDiscoveryHub.js';
import { startRedis, type RedisProcess } from './helpers/redis.js';
import { until } from './helpers/wait.js';

const TOPIC = 'ab'.repeat(32);

/** Collects what a peer receives. */
function inbox() {
  const frames: HubFrame[] = [];
  return { frames, deliver: (f: HubFrame) => frames.push(f) };
}

type Setup = () => Promise<{ hubs: [DiscoveryHub, DiscoveryHub]; close(): Promise<void> }>;

function hubConformance(title: string, setup: Setup) {
  describe(`DiscoveryHub conformance: ${title}`, () => {
    it('join lists the peers already there and tells them; messages reach only their addressee', async () => {
      const { hubs, close } = await setup();
      try {
        const [a, b, c] = [inbox(), inbox(), inbox()];
        expect(await hubs[0].join(TOPIC, 'p1', a.deliver, 16)).toEqual([]);
        expect(await hubs[1].join(TOPIC, 'p2', b.deliver, 16)).toEqual(['p1']);
        expect((await hubs[1].join(TOPIC, 'p3', c.deliver, 16)) as string[]).toHaveLength(2);
        await until(() => a.frames.filter((f) => f.type === 'joined').length === 2);
        expect(b.frames.filter((f) => f.type === 'joined').map((f) => (f as { peer: string }).peer)).toEqual(['p3']);

        expect(await hubs[1].send(TOPIC, 'p2', 'p1', 'signal', 'aGk=')).toBe(true);
        await until(() => a.frames.some((f) => f.type === 'message'));
        expect(a.frames.find((f) => f.type === 'message')).toEqual({ type: 'message', topic: TOPIC, from: 'p2', to: 'p1', kind: 'signal', blob: 'aGk=' });
        expect(c.frames.some((f) => f.type === 'message')).toBe(false);
        expect(await hubs[0].send(TOPIC, 'p1', 'nobody', 'data', '')).toBe(false);

        await hubs[0].leave(TOPIC, 'p1');
        await until(() => b.frames.some((f) => f.type === 'left') && c.frames.some((f) => f.type === 'left'));
        expect(await hubs[1].send(TOPIC, 'p2', 'p1', 'signal', 'aGk=')).toBe(false);
      } finally {
        await close();
      }
    });

    it('a topic is full at maxPeers; other topics are not affected', async () => {
      const { hubs, close } = await setup();
      try {
        const x = inbox();
        expect(await hubs[0].join(TOPIC, 'q1', x.deliver, 2)).toEqual([]);
        expect(await hubs[1].join(TOPIC, 'q2', x.deliver, 2)).toEqual(['q1']);
        expect(await hubs[1].join(TOPIC, 'q3', x.deliver, 2)).toBe('full');
        expect(await hubs[1].join('cd'.repeat(32), 'q3', x.deliver, 2)).toEqual([]);
        await hubs[0].leave(TOPIC, 'q1');
        expect(await hubs[1].join(TOPIC, 'q4', x.deliver, 2)).toEqual(['q2']);
      } finally {
        await close();
      }
    });
  });
}

hubConformance('memory', async () => {
  const hub = new MemoryDiscoveryHub();
  return { hubs: [hub, hub], close: () => hub.close() };
});

let redis: RedisProcess;
let namespace = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => redis?.stop());

async function redisHub(ns: string, relayId: string, relayTtlMs?: number) {
  return RedisDiscoveryHub.open({ redis: redis.client(), subscriber: redis.client(), relayId, namespace: ns, relayTtlMs });
}

hubConformance('redis, two relays', async () => {
  const ns = `hub${namespace++}`;
  const hubs: [DiscoveryHub, DiscoveryHub] = [await redisHub(ns, 'relay-a'), await redisHub(ns, 'relay-b')];
  return { hubs, close: async () => void (await Promise.all(hubs.map((h) => h.close()))) };
});

describe('RedisDiscoveryHub liveness', () => {
  it('drops the peers of a relay that stopped refreshing (crashed) at the next join or send', async () => {
    const ns = `hub${namespace++}`;
    const [conn, sub] = [redis.client(), redis.client()];
    const crashed = await RedisDiscoveryHub.open({ redis: conn, subscriber: sub, relayId: 'relay-dead', namespace: ns, relayTtlMs: 300 });
    const alive = await redisHub(ns, 'relay-alive');
    await crashed.join(TOPIC, 'ghost', () => {}, 16);
    // The crash: its connections drop without a word, so its heartbeat stops and its key expires.
    conn.disconnect();
    sub.disconnect();
    await until(async () => (await redis.client().exists(`${ns}:relay:relay-dead`)) === 0);
    const me = inbox();
    expect(await alive.join(TOPIC, 'me', me.deliver, 16)).toEqual([]);
    expect(await alive.send(TOPIC, 'me', 'ghost', 'signal', '')).toBe(false);
    await alive.close();
  });
});
