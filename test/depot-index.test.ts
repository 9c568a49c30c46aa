/**
 * The in-memory depot index keeps the index contract's leases as Redis does: a build abandoned (its
 * storage listing failed, as a hiccup at a relay's first request does) is forgotten when its lease
 * ends, so ids released later are not remembered as gone forever (memory growing with every ack) and
 * a later build's listing is not cut by them.
 */
import { describe, expect, it } from 'vitest';
import { Depot } from '../server/depot.js';
import { MemoryDepotIndex } from '../server/depotIndex.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import type { StorageAdapter } from '../src/effects/storage.js';
import { heardBounded, readerAckDuringBuild, readerConformance, readerTokens, silentReader } from './helpers/depotReaders.js';

describe('MemoryDepotIndex', () => {
  it('forgets a build whose lease ended: a release after it is not kept aside from a later build', async () => {
    const index = new MemoryDepotIndex();
    const topic = 'a'.repeat(64);
    const id = `${String(5).padStart(15, '0')}-000000-00000000-s1`;
    await index.beginBuild('abandoned', 0, 10); // its listing failed: never marked built
    await index.beginBuild('retried', 1, 11);
    await index.markBuilt('retried', 2);
    await index.release(topic, [id], 20); // past the abandoned build's lease: no build in progress
    await index.beginBuild('later', 21, 31);
    await index.addFound([{ topic, id, size: 1 }]);
    await index.markBuilt('later', 22);
    expect([...(await index.entries(topic)).keys()]).toEqual([id]);
  });

  it("a deposit's readers: it stays until each acked, is listed no more to one that did, survives a rebuild (test/helpers/depotReaders.ts)", async () => {
    await readerConformance((storage: StorageAdapter = new MemoryStorage()) => ({ depot: new Depot({ storage }), storage }));
  });

  it('an ack counts only with the token sealed to that reader (test/helpers/depotReaders.ts)', async () => {
    await readerTokens(new Depot({ storage: new MemoryStorage() }));
  });

  it('at the cap, a reader silent past the idle period no longer holds what every other reader acked', async () => {
    await silentReader((limits, now) => new Depot({ storage: new MemoryStorage(), limits, now }));
  });

  it("a last reader's ack during a build is not undone by that build's listing", async () => {
    await readerAckDuringBuild(new MemoryDepotIndex(), 1_000);
  });

  it('what it remembers of readers stays bounded by what deposits list, against a client making up readers round after round (test/helpers/depotReaders.ts)', async () => {
    const index = new MemoryDepotIndex();
    await heardBounded(
      new Depot({ storage: new MemoryStorage(), index }),
      (topic) => index.heardCount(topic),
      (topic) => Object.fromEntries(index.listedCounts(topic)),
    );
  });

  it('a relay restarting counts again, from storage, how many deposits list each reader', async () => {
    const storage = new MemoryStorage();
    const topic = 'c'.repeat(64);
    const [me, bob1, bob2] = ['0', '1', '2'].map((c) => c.repeat(16)) as [string, string, string];
    const before = new MemoryDepotIndex();
    const depot = new Depot({ storage, index: before });
    await depot.deposit(topic, 'AAAA', me, [bob1, bob2]);
    const second = await depot.deposit(topic, 'BBBB', me, [bob1]);
    const counts = Object.fromEntries(before.listedCounts(topic));
    expect(counts).toEqual({ [bob1]: 2, [bob2]: 1 });
    const after = new MemoryDepotIndex();
    const restarted = new Depot({ storage, index: after });
    expect(await restarted.count()).toBe(2);
    expect(Object.fromEntries(after.listedCounts(topic))).toEqual(counts);
    await restarted.ack(topic, [second], bob1);
    expect(Object.fromEntries(after.listedCounts(topic))).toEqual({ [bob1]: 1, [bob2]: 1 });
  });
});
