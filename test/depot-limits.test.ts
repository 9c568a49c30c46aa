/**
 * The depot's bounds: a global byte cap over every topic (any 64-hex string is a topic) refuses with
 * the error frame while the per-topic limits still hold; quota checks, `count` and `prune` read no
 * deposit's bytes (an index kept in memory, rebuilt from storage after a restart); fetches come in
 * pages of bounded size; an ack deletes only what the index holds for its topic, and lists a bounded
 * number of ids. A deposit lists at most 16 readers; an ack's tag a deposit does not list changes
 * nothing, however often, so what a deposit records stays bounded by its readers.
 */
import { topicKey } from '../src/crypto/topicKey.js';
import { proveOn } from './helpers/topicProof.js';
import { afterAll, describe, expect, it } from 'vitest';
import { Depot } from '../server/depot.js';
import { startRelay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import type { StorageAdapter, StorageChunk, StorageKey } from '../src/effects/storage.js';
import { rawClient, type RawClient } from './helpers/rawClient.js';
import { ACK_IDS_PROBLEM, READERS_PROBLEM } from '../src/depot/wire.js';

/** A StorageAdapter that counts the value reads (`load`, `loadRange`), key listings and removals made through it. */
class CountingStorage implements StorageAdapter {
  reads = 0;
  lists = 0;
  removes = 0;
  readonly #inner = new MemoryStorage();
  load(key: StorageKey): Promise<Uint8Array | undefined> {
    this.reads++;
    return this.#inner.load(key);
  }
  loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    this.reads++;
    return this.#inner.loadRange(prefix);
  }
  save(key: StorageKey, data: Uint8Array): Promise<void> {
    return this.#inner.save(key, data);
  }
  remove(key: StorageKey): Promise<void> {
    this.removes++;
    return this.#inner.remove(key);
  }
  removeRange(prefix: StorageKey): Promise<void> {
    return this.#inner.removeRange(prefix);
  }
  listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    this.lists++;
    return this.#inner.listKeys(prefix);
  }
}

const topic = (c: string) => c.repeat(64);
/** A contact key per letter, and its topic: what a connection proves before using the relay's depot. */
const keyOf = (c: string) => new Uint8Array(32).fill(c.charCodeAt(0));
const proven = (c: string) => topicKey(keyOf(c)).topic;
const blob = (n: number) => 'A'.repeat(n);

const closers: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

/** Send a depot request and wait for its answer (the relay answers a connection's requests in order). */
async function request(c: RawClient, frame: Record<string, unknown>): Promise<Record<string, unknown>> {
  c.frames.splice(0);
  c.send(frame);
  return c.next((f) => f.type !== 'waiting');
}

describe('depot limits', () => {
  it('a global byte cap refuses deposits with the error frame, while per-topic limits still hold and an ack frees room', async () => {
    const relay = await startRelay({ depotLimits: { maxBytesTotal: 3_000, maxBytesPerTopic: 2_000 } });
    closers.push(() => relay.close());
    const c = await rawClient(relay.discoveryUrl);
    closers.push(() => c.close());
    for (const letter of 'abcd') await proveOn(c, keyOf(letter));

    const a1 = await request(c, { type: 'deposit', topic: proven('a'), blob: blob(1_000) });
    expect(a1).toMatchObject({ type: 'deposited', topic: proven('a') });
    // Per topic: 2,000 bytes at most, whatever the global room.
    expect(await request(c, { type: 'deposit', topic: proven('a'), blob: blob(1_004) })).toEqual({
      type: 'error',
      re: 'deposit',
      reason: 'depot full for this topic (2000 bytes)',
    });
    expect(await request(c, { type: 'deposit', topic: proven('b'), blob: blob(1_000) })).toMatchObject({ type: 'deposited' });
    expect(await request(c, { type: 'deposit', topic: proven('c'), blob: blob(1_000) })).toMatchObject({ type: 'deposited' });
    // 3,000 bytes held over three topics: a fourth topic, under its own quota, is refused by the global cap.
    expect(await request(c, { type: 'deposit', topic: proven('d'), blob: blob(4) })).toEqual({
      type: 'error',
      re: 'deposit',
      reason: 'depot full on this relay (3000 bytes)',
    });
    expect(relay.depot.totals).toEqual({ items: 3, bytes: 3_000 });

    expect(await request(c, { type: 'ack', topic: proven('a'), ids: [a1.id] })).toEqual({ type: 'acked', topic: proven('a') });
    expect(relay.depot.totals).toEqual({ items: 2, bytes: 2_000 });
    expect(await request(c, { type: 'deposit', topic: proven('d'), blob: blob(4) })).toMatchObject({ type: 'deposited', topic: proven('d') });
  });

  it('checks sizes before reading anything, and counts and prunes without reading a deposit', async () => {
    let now = 1_000_000;
    const storage = new CountingStorage();
    const limits = { maxBlobChars: 100, maxBytesPerTopic: 1_000, ttlMs: 10_000 };
    const depot = new Depot({ storage, limits, now: () => now });

    await expect(depot.deposit(topic('a'), blob(101))).rejects.toThrow('deposit too large (101 > 100 characters)');
    expect(storage.reads + storage.lists).toBe(0); // not even to build the index
    await depot.deposit(topic('a'), blob(100));
    expect(storage.lists).toBe(1); // the index, built once from a listing of keys (ids carry sizes)
    for (let i = 0; i < 5; i++) await depot.deposit(topic('a'), blob(100));
    now += 20_000;
    for (let i = 0; i < 3; i++) await depot.deposit(topic('b'), blob(100));
    await expect(depot.deposit(topic('a'), blob(101))).rejects.toThrow('deposit too large');
    expect(await depot.count()).toBe(9);
    expect(await depot.prune()).toBe(6); // topic a's six are past the TTL
    expect(await depot.count()).toBe(3);
    expect(storage.reads).toBe(0);

    // After a restart: the counters are rebuilt from storage, then hold.
    const restarted = new Depot({ storage, limits: { ...limits, maxBytesTotal: 350 }, now: () => now });
    expect(await restarted.count()).toBe(3);
    expect(restarted.totals).toEqual({ items: 3, bytes: 300 });
    await expect(restarted.deposit(topic('c'), blob(51))).rejects.toThrow('depot full on this relay (350 bytes)');
    expect(storage.lists).toBe(2);
    expect(storage.reads).toBe(0);
    // And a cap on deposits over every topic: tiny deposits cannot grow the index without bound.
    const few = new Depot({ storage: new MemoryStorage(), limits: { maxItemsTotal: 2 } });
    await few.deposit(topic('a'), blob(4));
    await few.deposit(topic('b'), blob(4));
    await expect(few.deposit(topic('c'), blob(4))).rejects.toThrow('depot full on this relay (2 deposits)');
  });

  it('an ack deletes only deposits the index holds for its topic, and lists at most maxAckIds ids (over the wire too)', async () => {
    const storage = new CountingStorage();
    const depot = new Depot({ storage, limits: { maxAckIds: 4 } });
    const a1 = await depot.deposit(topic('a'), blob(4));
    const a2 = await depot.deposit(topic('a'), blob(4));
    const b1 = await depot.deposit(topic('b'), blob(4));
    // A duplicate is refused; another topic's id and a well-formed id nobody deposited touch no storage.
    await expect(depot.ack(topic('a'), [a1, a1])).rejects.toThrow(ACK_IDS_PROBLEM);
    expect(storage.removes).toBe(0);
    await depot.ack(topic('a'), [b1, '000000000000001-000000-00000000', a1]);
    expect(storage.removes).toBe(1);
    expect((await depot.fetch(topic('a'))).items.map((d) => d.id)).toEqual([a2]);
    expect((await depot.fetch(topic('b'))).items.map((d) => d.id)).toEqual([b1]);
    await expect(depot.ack(topic('a'), [a2, a2, a2, a2, a2])).rejects.toThrow('ack lists at most 4 ids');
    expect(storage.removes).toBe(1);

    const relay = await startRelay({ depotLimits: { maxAckIds: 2 } });
    closers.push(() => relay.close());
    const c = await rawClient(relay.discoveryUrl);
    closers.push(() => c.close());
    await proveOn(c, keyOf('a'));
    const d = await request(c, { type: 'deposit', topic: proven('a'), blob: blob(4) });
    expect(await request(c, { type: 'ack', topic: proven('a'), ids: [d.id, 'x', 'y'] })).toEqual({
      type: 'error',
      re: 'ack',
      reason: 'ack lists at most 2 ids',
    });
    expect(await request(c, { type: 'fetch', topic: proven('a') })).toMatchObject({ items: [{ id: d.id }] });
    expect(await request(c, { type: 'ack', topic: proven('a'), ids: [d.id, 'x'] })).toEqual({ type: 'acked', topic: proven('a') });
    expect(await request(c, { type: 'fetch', topic: proven('a') })).toMatchObject({ items: [] });
  });

  it('an index built from deposits stored before ids carried their size reads each of them once, then never again', async () => {
    const storage = new CountingStorage();
    const old = ['000000000001000-000000-abcdef01', '000000000001001-000001-abcdef01-0123456789abcdef'];
    for (const id of old) await storage.save(['depot', topic('a'), id], new TextEncoder().encode(blob(70)));
    const depot = new Depot({ storage, limits: { maxBytesPerTopic: 200 }, now: () => 2_000 });
    expect(await depot.count()).toBe(2);
    expect(depot.totals).toEqual({ items: 2, bytes: 140 });
    expect(storage.reads).toBe(2);
    await expect(depot.deposit(topic('a'), blob(61))).rejects.toThrow('depot full for this topic (200 bytes)');
    expect((await depot.fetch(topic('a'), undefined, '0123456789abcdef')).items.map((d) => d.id)).toEqual([old[0]]);
    expect(storage.reads).toBe(3); // the one deposit that fetch returned
  });

  it('fetches in pages of at most maxFetchChars, oldest first, with `more` and a cursor, reading only what it returns', async () => {
    const storage = new CountingStorage();
    const depot = new Depot({ storage, limits: { maxFetchChars: 1_000 } });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await depot.deposit(topic('a'), blob(400)));
    const first = await depot.fetch(topic('a'));
    expect(first.items.map((d) => d.id)).toEqual(ids.slice(0, 2));
    expect(first.more).toBe(true);
    expect(storage.reads).toBe(2); // from the start, too: the page's two deposits, not the topic
    const second = await depot.fetch(topic('a'), ids[1]);
    expect(second.items.map((d) => d.id)).toEqual(ids.slice(2, 4));
    expect(second.more).toBe(true);
    const third = await depot.fetch(topic('a'), ids[3]);
    expect(third).toEqual({ items: [{ id: ids[4], blob: blob(400) }], more: false });
    // A deposit larger than a page still comes, alone.
    const small = new Depot({ storage: new MemoryStorage(), limits: { maxFetchChars: 10 } });
    const big = await small.deposit(topic('b'), blob(50));
    await small.deposit(topic('b'), blob(5));
    expect(await small.fetch(topic('b'))).toEqual({ items: [{ id: big, blob: blob(50) }], more: true });
  });

  it('readers are bounded: 10,000 tags refused before anything is stored, unknown tags and repeated acks change nothing, honest readers get through', async () => {
    const tags = (n: number, from = 0) => Array.from({ length: n }, (_, i) => (from + i).toString(16).padStart(16, '0'));
    const storage = new CountingStorage();
    const depot = new Depot({ storage, limits: { maxAckIds: 1_000 } });
    const refusal = READERS_PROBLEM;
    for (const readers of [tags(10_000), tags(17), [], [tags(1)[0]!, tags(1)[0]!], ['NOT-A-TAG'.padEnd(16, 'x')]])
      await expect(depot.deposit(topic('a'), blob(4), undefined, readers)).rejects.toThrow(refusal);
    expect(storage.lists + storage.reads).toBe(0); // refused before the index was even built
    await expect(depot.ack(topic('a'), [], 'nope')).rejects.toThrow("ack's 'tag' must be 16 hex digits");

    const [bob1, bob2] = tags(2);
    const id = await depot.deposit(topic('a'), blob(4), undefined, [bob1!, bob2!]);
    const removes = storage.removes;
    // A flood of acks naming tags it does not list: nothing recorded, nothing removed, still listed to both.
    for (const stranger of tags(500, 1_000))
      await depot.ack(topic('a'), [id, ...Array.from({ length: 999 }, (_, i) => `${'0'.repeat(15)}-${String(i).padStart(6, '0')}-00000000`)], stranger);
    expect(storage.removes).toBe(removes);
    expect((await storage.listKeys(['depot'])).filter((k) => k[1] === 'acked')).toEqual([]);
    for (const reader of [bob1, bob2]) expect((await depot.fetch(topic('a'), undefined, reader)).items.map((d) => d.id)).toEqual([id]);
    // The honest readers ack, one of them many times: gone after the second, nothing left beside it.
    for (let i = 0; i < 10; i++) await depot.ack(topic('a'), [id], bob1);
    expect((await depot.fetch(topic('a'), undefined, bob2)).items.map((d) => d.id)).toEqual([id]);
    await depot.ack(topic('a'), [id], bob2);
    expect(await depot.count()).toBe(0);
    expect(await storage.listKeys(['depot'])).toEqual([]);

    // Over the wire: the same refusal as an error frame; an honest deposit and its readers' acks go through.
    const relay = await startRelay();
    closers.push(() => relay.close());
    const c = await rawClient(relay.discoveryUrl);
    closers.push(() => c.close());
    await proveOn(c, keyOf('a'));
    expect(await request(c, { type: 'deposit', topic: proven('a'), blob: blob(4), readers: tags(10_000) })).toEqual({
      type: 'error',
      re: 'deposit',
      reason: refusal,
    });
    const d = await request(c, { type: 'deposit', topic: proven('a'), blob: blob(4), readers: [bob1, bob2] });
    expect(await request(c, { type: 'ack', topic: proven('a'), ids: [d.id], tag: tags(1, 99)[0] })).toEqual({ type: 'acked', topic: proven('a') });
    expect(await request(c, { type: 'ack', topic: proven('a'), ids: [d.id], tag: bob1 })).toEqual({ type: 'acked', topic: proven('a') });
    expect(await request(c, { type: 'fetch', topic: proven('a'), skip: bob1 })).toMatchObject({ items: [] });
    expect(await request(c, { type: 'fetch', topic: proven('a'), skip: bob2 })).toMatchObject({ items: [{ id: d.id }] });
    await request(c, { type: 'ack', topic: proven('a'), ids: [d.id], tag: bob2 });
    expect(await request(c, { type: 'fetch', topic: proven('a') })).toMatchObject({ items: [] });
  });

  it('a deposit some reader never acks still goes at the TTL, with what was kept beside it', async () => {
    let now = 1_000_000;
    const storage = new CountingStorage();
    const depot = new Depot({ storage, limits: { ttlMs: 1_000 }, now: () => now });
    const [bob1, bob2] = ['1'.repeat(16), '2'.repeat(16)];
    const id = await depot.deposit(topic('a'), blob(4), undefined, [bob1, bob2]);
    await depot.ack(topic('a'), [id], bob1);
    now += 1_001;
    expect(await depot.prune()).toBe(1);
    expect(await storage.listKeys(['depot'])).toEqual([]);
  });
});
