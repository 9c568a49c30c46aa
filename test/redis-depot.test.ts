/**
 * The depot on Redis as several relays share it: two `Depot`s (two relays, each with its own Redis
 * connection) on one real redis-server, with the index in Redis (`RedisDepotIndex`). The per-topic and
 * global caps hold over both, also when both deposit at the same instant; what one relay stores the
 * other lists, fetches, acknowledges and prunes; an index is built once from deposits stored before it.
 * Two relays building the index at once do not undo an ack made through one of them meanwhile, and a
 * relay that stops between a deposit's steps (reserve, write, list) leaves no bytes uncounted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Depot, type DepotLimits } from '../server/depot.js';
import { RedisDepotIndex } from '../server/redisDepotIndex.js';
import { RedisStorage } from '../server/redisStorage.js';
import type { StorageAdapter } from '../src/effects/storage.js';
import { startRedis, type RedisProcess } from './helpers/redis.js';
import { until } from './helpers/wait.js';
import { heardBounded, readerAckDuringBuild, readerConformance, readerTokens, silentReader } from './helpers/depotReaders.js';

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

  it('an ack through one relay while the other builds the index is not undone by that build', async () => {
    const ns = `depot${n++}`;
    const id = '000000000001000-000000-abcdef01-s30';
    // Stored before either relay started (say by an earlier version): both relays' listings hold it.
    await new RedisStorage(redis.client(), ns).save(['depot', topic('a'), id], new TextEncoder().encode(blob(30)));
    // Relay A's listing is taken, then A waits there until B has fetched and acknowledged the deposit.
    const storageA = new RedisStorage(redis.client(), ns);
    let listed!: () => void;
    let resume!: () => void;
    const [tookListing, resumed] = [new Promise<void>((r) => (listed = r)), new Promise<void>((r) => (resume = r))];
    const slow: StorageAdapter = {
      load: (k) => storageA.load(k),
      save: (k, d) => storageA.save(k, d),
      remove: (k) => storageA.remove(k),
      loadRange: (p) => storageA.loadRange(p),
      removeRange: (p) => storageA.removeRange(p),
      listKeys: async (p) => {
        const keys = await storageA.listKeys(p);
        listed();
        await resumed;
        return keys;
      },
    };
    const a = new Depot({ storage: slow, index: new RedisDepotIndex(redis.client(), ns) });
    const clientB = redis.client();
    const b = new Depot({ storage: new RedisStorage(clientB, ns), index: new RedisDepotIndex(clientB, ns) });
    const counted = a.count();
    await tookListing;
    expect((await b.fetch(topic('a'))).items.map((d) => d.id)).toEqual([id]);
    await b.ack(topic('a'), [id]);
    resume();
    expect(await counted).toBe(0);
    expect(await b.count()).toBe(0);
    // Once both builds ended, the acked ids kept aside for them are forgotten.
    expect(await redis.client().exists(`${ns}:depot:gone`, `${ns}:depot:builds`)).toBe(0);
  });

  it('a relay that stops between reserving, writing and listing a deposit leaves no bytes uncounted', async () => {
    for (const stop of ['before the write', 'after the write'] as const) {
      const ns = `depot${n++}`;
      let now = 1_000_000_000_000;
      const client = redis.client();
      const storage = new RedisStorage(client, ns);
      const index = new RedisDepotIndex(client, ns);
      // The relay "stops" at the step: that step, and every one after it, never returns.
      let stopped = false;
      let writing = false;
      const never = new Promise<never>(() => {});
      const crashing: StorageAdapter = {
        load: (k) => storage.load(k),
        remove: (k) => storage.remove(k),
        loadRange: (p) => storage.loadRange(p),
        removeRange: (p) => storage.removeRange(p),
        listKeys: (p) => storage.listKeys(p),
        save: async (k, d) => {
          writing = true;
          if (stop === 'before the write') return never;
          await storage.save(k, d);
          stopped = true;
        },
      };
      const crashingIndex = new Proxy(index, {
        get: (target, prop) => {
          const value = Reflect.get(target, prop) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => (stopped ? never : (value as (...a: unknown[]) => unknown).apply(target, args));
        },
      });
      const dying = new Depot({ storage: crashing, index: crashingIndex, now: () => now });
      await dying.count(); // built before the deposit
      void dying.deposit(topic('a'), blob(40));
      await until(() => (stop === 'before the write' ? writing : stopped));
      // A relay starts on the same Redis after the grace for a write has passed, and its prune sweeps.
      now += 61_000;
      const restarted = new Depot({ storage: new RedisStorage(redis.client(), ns), index: new RedisDepotIndex(redis.client(), ns), now: () => now });
      await restarted.prune();
      const stored = await storage.listKeys(['depot']);
      expect(await restarted.count(), stop).toBe(stored.length);
      expect(
        (await restarted.fetch(topic('a'))).items.map((d) => d.id),
        stop,
      ).toEqual(stored.map((k) => k[2]));
      expect(stored, stop).toHaveLength(stop === 'before the write' ? 0 : 1);
    }
  });
});

describe("a deposit's readers on Redis", () => {
  it('it stays until each acked, is listed no more to one that did, survives an index rebuilt from storage (test/helpers/depotReaders.ts)', async () => {
    const ns = `depot${n++}`;
    const client = redis.client();
    // A fresh index namespace each time over the same stored deposits: an index rebuilt from storage.
    await readerConformance((storage: StorageAdapter = new RedisStorage(client, ns)) => ({
      depot: new Depot({ storage, index: new RedisDepotIndex(client, `${ns}-index${n++}`) }),
      storage,
    }));
  });

  it('two relays: an ack through each, the second releases it for both', async () => {
    const { a, b } = twoRelays({});
    const [r1, r2] = ['1'.repeat(16), '2'.repeat(16)];
    const id = await a.deposit(topic('a'), blob(8), undefined, [r1, r2]);
    await b.ack(topic('a'), [id], r1);
    expect((await a.fetch(topic('a'), undefined, r1)).items).toEqual([]);
    expect((await a.fetch(topic('a'), undefined, r2)).items.map((d) => d.id)).toEqual([id]);
    await a.ack(topic('a'), [id], r2);
    expect((await b.fetch(topic('a'), undefined, r2)).items).toEqual([]);
    expect(await b.count()).toBe(0);
  });

  it('an ack counts only with the token sealed to that reader, through either relay', async () => {
    const { a } = twoRelays({});
    await readerTokens(a);
  });

  it('at the cap, a reader silent past the idle period no longer holds what every other reader acked', async () => {
    await silentReader((limits, now) => twoRelays(limits, now).a);
  });

  it("a last reader's ack during a build is not undone by that build's listing", async () => {
    await readerAckDuringBuild(new RedisDepotIndex(redis.client(), `depot${n++}`), 1_000);
  });

  it('what the index remembers of readers stays bounded by what deposits list, against a client making up readers round after round (test/helpers/depotReaders.ts)', async () => {
    const { a, ns } = twoRelays({});
    const client = redis.client();
    await heardBounded(
      a,
      (topic) => client.hlen(`${ns}:depot:h:${topic}`),
      async (topic) => Object.fromEntries(Object.entries(await client.hgetall(`${ns}:depot:c:${topic}`)).map(([t, c]) => [t, Number(c)])),
    );
  });

  it('deposits stored before the counts of listed readers are counted once, from their readers: a tag another still lists is not forgotten', async () => {
    const { a, ns } = twoRelays({});
    const client = redis.client();
    const t = topic('d');
    const [me, bob1, bob2] = ['0', '1', '2'].map((c) => c.repeat(16)) as [string, string, string];
    const counts = async () => Object.fromEntries(Object.entries(await client.hgetall(`${ns}:depot:c:${t}`)).map(([k, c]) => [k, Number(c)]));
    const first = await a.deposit(t, 'AAAA', me, [bob1, bob2]);
    const second = await a.deposit(t, 'BBBB', me, [bob1, bob2]);
    await a.ack(t, [first, second], bob1);
    expect(await client.hkeys(`${ns}:depot:h:${t}`)).toEqual([bob1]);
    // As a relay from before the counts left them: readers listed, none counted.
    await client.del(`${ns}:depot:c:${t}`);
    await a.ack(t, [first], bob2);
    expect(await counts()).toEqual({ [bob1]: 1, [bob2]: 1 });
    expect((await client.hkeys(`${ns}:depot:h:${t}`)).sort()).toEqual([bob1, bob2]);
    await a.ack(t, [second], bob2);
    expect(await counts()).toEqual({});
    expect(await client.hlen(`${ns}:depot:h:${t}`)).toBe(0);
    expect(await a.count()).toBe(0);
  });
});

describe('the sweep on Redis, racing a slow write through the other relay', () => {
  it('a reservation listed just after the sweep found no bytes is not released: nothing stored goes uncounted', async () => {
    const ns = `depot${n++}`;
    let now = 1_000_000_000_000;
    const storage = new RedisStorage(redis.client(), ns);
    const wrap = (over: Partial<StorageAdapter>): StorageAdapter => ({
      load: (k) => storage.load(k),
      remove: (k) => storage.remove(k),
      loadRange: (p) => storage.loadRange(p),
      removeRange: (p) => storage.removeRange(p),
      listKeys: (p) => storage.listKeys(p),
      save: (k, d) => storage.save(k, d),
      ...over,
    });
    // Relay B writes slowly: its write waits past the grace, until relay A's sweep has looked.
    let letWrite!: () => void;
    const written = new Promise<void>((resolve) => (letWrite = resolve));
    let writing = false;
    const b = new Depot({
      storage: wrap({
        save: async (k, d) => {
          writing = true;
          await written;
          await storage.save(k, d);
        },
      }),
      index: new RedisDepotIndex(redis.client(), ns),
      now: () => now,
    });
    let deposited: Promise<string> | undefined;
    // Relay A's sweep finds no bytes yet; B's write and listing land before A acts on what it found.
    const a = new Depot({
      storage: wrap({
        load: async (k) => {
          const found = await storage.load(k);
          if (k[0] === 'depot' && deposited && found === undefined) {
            letWrite();
            await deposited;
          }
          return found;
        },
      }),
      index: new RedisDepotIndex(redis.client(), ns),
      now: () => now,
    });
    await a.count();
    await b.count();
    deposited = b.deposit(topic('a'), blob(40));
    await until(() => writing);
    now += 61_000;
    await a.prune();
    const id = await deposited;
    const stored = await storage.listKeys(['depot']);
    expect(stored.map((k) => k[2])).toEqual([id]);
    expect(await a.count()).toBe(1);
    expect((await a.fetch(topic('a'))).items.map((d) => d.id)).toEqual([id]);
  });
});
