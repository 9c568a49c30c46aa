/**
 * The depot on Redis as several relays share it: two `Depot`s (two relays, each with its own Redis
 * connection) on one real redis-server, with the index in Redis (`RedisDepotIndex`). The per-topic and
 * global caps hold over both, also when both deposit at the same instant; what one relay stores the
 * other lists, fetches, acknowledges and prunes; an index is built once from deposits stored before it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Depot, type DepotLimits } from '../server/depot.js';
import { RedisDepotIndex } from '../server/redisDepotIndex.js';
import { RedisStorage } from '../server/redisStorage.js';
import { startRedis, type RedisProcess } from './helpers/redis.js';

let redis: RedisProcess;
let n = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => redis?.stop());

const topic = (c: string) => c.repeat(64);
const blob = (k: number) => 'A'.repeat(k);

/** Two relays' depots on one namespace of the shared Redis, each through its own connection. */
function twoRelays(limits: Partial<DepotLimits>, now: () => number = Date.now) {
  const ns = `depot${n++}`;
  const relay = () => {
    const client = redis.client();
    return new Depot({ storage: new RedisStorage(client, ns), index: new RedisDepotIndex(client, ns), limits, now });
  };
  return { a: relay(), b: relay(), storage: new RedisStorage(redis.client(), ns), ns };
}

describe('the depot on Redis, shared by two relays', () => {
  it('per-topic and global caps hold over both relays', async () => {
    const { a, b } = twoRelays({ maxBytesPerTopic: 300, maxItemsPerTopic: 5, maxBytesTotal: 500 });
    await a.deposit(topic('a'), blob(100));
    await b.deposit(topic('a'), blob(100));
    await a.deposit(topic('a'), blob(100));
    await expect(b.deposit(topic('a'), blob(1))).rejects.toThrow('depot full for this topic (300 bytes)');
    await expect(a.deposit(topic('a'), blob(1))).rejects.toThrow('depot full for this topic (300 bytes)');
    await b.deposit(topic('b'), blob(200));
    await expect(a.deposit(topic('c'), blob(1))).rejects.toThrow('depot full on this relay (500 bytes)');
    expect(await a.count()).toBe(4);
    expect(await b.count()).toBe(4);
    expect(b.totals).toEqual({ items: 4, bytes: 500 });
    // B fetches what A stored, acknowledges it, and A has room again.
    const page = await b.fetch(topic('a'));
    expect(page.items).toHaveLength(3);
    await b.ack(topic('a'), [page.items[0]!.id]);
    await a.deposit(topic('c'), blob(100));
    expect(await a.count()).toBe(4);

    const items = twoRelays({ maxItemsPerTopic: 3, maxItemsTotal: 4 });
    await items.a.deposit(topic('a'), blob(1));
    await items.b.deposit(topic('a'), blob(1));
    await items.a.deposit(topic('a'), blob(1));
    await expect(items.b.deposit(topic('a'), blob(1))).rejects.toThrow('depot full for this topic (3 deposits)');
    await items.b.deposit(topic('b'), blob(1));
    await expect(items.a.deposit(topic('c'), blob(1))).rejects.toThrow('depot full on this relay (4 deposits)');
  });

  it('deposits racing through both relays never pass a cap, and refused ones leave nothing stored', async () => {
    const { a, b, storage } = twoRelays({ maxBytesPerTopic: 1_000 });
    // Each depot runs its own deposits one at a time; the two relays race each other.
    const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).deposit(topic('r'), blob(100))));
    const stored = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected' && String(r.reason).includes('depot full for this topic')).length;
    console.log(`racing deposits: ${stored} stored, ${refused} refused (cap: 10)`);
    expect(stored).toBe(10);
    expect(refused).toBe(20);
    expect(await storage.listKeys(['depot', topic('r')])).toHaveLength(10);
    expect(await a.count()).toBe(10);
  });

  it('one relay prunes what the other stored, past the TTL', async () => {
    let now = 1_000_000;
    const { a, b, storage } = twoRelays({ ttlMs: 10_000 }, () => now);
    await a.deposit(topic('a'), blob(10));
    await a.deposit(topic('b'), blob(10));
    now += 20_000;
    await a.deposit(topic('a'), blob(10));
    expect(await b.prune()).toBe(2);
    expect(await a.prune()).toBe(0);
    expect(await a.count()).toBe(1);
    expect(await storage.listKeys(['depot'])).toHaveLength(1);
    expect((await b.fetch(topic('a'))).items).toHaveLength(1);
  });

  it('an index is built once from deposits stored before it existed, by whichever relay comes first', async () => {
    const { a, b, storage, ns } = twoRelays({ maxBytesPerTopic: 100 });
    // Stored by a relay version that kept its index in memory (ids without their size).
    await storage.save(['depot', topic('a'), '000000000001000-000000-abcdef01'], new TextEncoder().encode(blob(60)));
    await storage.save(['depot', topic('a'), '000000000001001-000000-abcdef01-s30'], new TextEncoder().encode(blob(30)));
    await Promise.all([a.count(), b.count()]);
    expect(a.totals).toEqual({ items: 2, bytes: 90 });
    expect(b.totals).toEqual({ items: 2, bytes: 90 });
    await expect(b.deposit(topic('a'), blob(11))).rejects.toThrow('depot full for this topic (100 bytes)');
    expect(await redis.client().get(`${ns}:depot:built`)).toBe('1');
  });
});
