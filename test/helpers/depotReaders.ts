/**
 * What every depot index must do with a deposit's readers (`server/depotIndex.ts`), run against a
 * `Depot` on each back end (memory, Redis): a deposit listing readers stays until each of them acked,
 * is listed no more to a reader that acked, and an unknown tag changes nothing; one without readers
 * goes at the first ack, and an ack without a tag takes only those; what was acked survives an index rebuilt from storage.
 */
import { expect } from 'vitest';
import type { Depot, DepotLimits } from '../../server/depot.js';
import { ackCheck } from '../../src/depot/wire.js';
import type { DepotIndex } from '../../server/depotIndex.js';
import type { StorageAdapter } from '../../src/effects/storage.js';

const T = 'c'.repeat(64);
const tag = (c: string) => c.repeat(16);
const [me, bob1, bob2, stranger] = [tag('0'), tag('1'), tag('2'), tag('9')];
const idsOf = async (depot: Depot, skip?: string) => (await depot.fetch(T, undefined, skip)).items.map((d) => d.id);

/** Keys kept beside deposits (their readers and acks). */
async function besides(storage: StorageAdapter): Promise<number> {
  return (await storage.listKeys(['depot'])).filter((k) => k.length === 4).length;
}

/**
 * `make(storage?)`: a fresh depot and its storage, or one on `storage` with a fresh index (a relay
 * whose index is rebuilt from storage).
 */
export async function readerConformance(make: (storage?: StorageAdapter) => { depot: Depot; storage: StorageAdapter }): Promise<void> {
  const { depot, storage } = make();
  const shared = await depot.deposit(T, 'AAAA', me, [bob1, bob2]);
  const plain = await depot.deposit(T, 'BBBB', me);
  // The depositor's own fetch skips both; each reader sees both.
  expect(await idsOf(depot, me)).toEqual([]);
  expect(await idsOf(depot, bob1)).toEqual([shared, plain]);

  // Bob's first device acks both: the plain one goes, the shared one waits for his second device.
  await depot.ack(T, [shared, plain], bob1);
  expect(await idsOf(depot, bob1)).toEqual([]);
  expect(await idsOf(depot, bob2)).toEqual([shared]);
  expect(await depot.count()).toBe(1);

  // A tag it does not list, again and again, changes nothing; nor does the same reader acking twice.
  for (let i = 0; i < 20; i++) await depot.ack(T, [shared], stranger);
  await depot.ack(T, [shared], bob1);
  expect(await idsOf(depot, bob2)).toEqual([shared]);
  expect(await idsOf(depot, stranger)).toEqual([shared]);

  // The index rebuilt from storage (a restart, or an index lost) keeps the readers and the acks so far.
  const again = make(storage).depot;
  expect(await again.count()).toBe(1);
  expect(await idsOf(again, bob1)).toEqual([]);
  expect(await idsOf(again, bob2)).toEqual([shared]);

  // The last reader acks: gone, with what was kept beside it.
  await again.ack(T, [shared], bob2);
  expect(await idsOf(again, bob2)).toEqual([]);
  expect(await idsOf(again, stranger)).toEqual([]);
  expect(await again.count()).toBe(0);
  expect(await besides(storage)).toBe(0);

  // An ack without a tag takes only deposits that list no readers: one listing readers waits for them.
  const listed = await again.deposit(T, 'CCCC', me, [bob1, bob2]);
  const open = await again.deposit(T, 'DDDD', me);
  await again.ack(T, [listed, open]);
  expect(await idsOf(again, bob2)).toEqual([listed]);
  await again.ack(T, [listed], bob1);
  await again.ack(T, [listed], bob2);
  expect(await idsOf(again, bob2)).toEqual([]);
  expect(await besides(storage)).toBe(0);
}

/**
 * The index alone: a deposit released by its last reader's ack while a build is in progress is
 * remembered as gone, so that build's listing (taken before the ack) does not add it back.
 */
export async function readerAckDuringBuild(index: DepotIndex, now: number): Promise<void> {
  const id = `${String(now).padStart(15, '0')}-000000-00000000-s4-r2`;
  const deposit = { topic: T, id, size: 4, readers: [bob1, bob2] };
  await index.addFound([deposit]);
  await index.beginBuild('slow', now, now + 60_000);
  expect((await index.ack(T, [id], bob1, now)).kept.get(id)).toEqual([bob1]);
  expect([...(await index.entries(T, bob1)).keys()]).toEqual([]);
  expect([...(await index.entries(T, bob2)).keys()]).toEqual([id]);
  expect([...(await index.ack(T, [id], bob2, now)).released.keys()]).toEqual([id]);
  await index.addFound([deposit]); // the slow build's listing still holds it
  await index.markBuilt('slow', now);
  expect((await index.entries(T)).size).toBe(0);
  expect(await index.totals()).toEqual({ items: 0, bytes: 0 });
}

/** A reader entry as a deposit lists it: the device's tag and the check of its ack token. */
const entry = (tag: string, token: string) => `${tag}:${ackCheck(token)}`;
const token = (c: string) => c.repeat(32);

/**
 * Acks are unforgeable by other readers: an entry `tag:check` goes only with the token whose check it
 * lists, whatever tag the ack names; the token acks for the entry it belongs to, not for the tag the
 * ack claims (so no one can hide a deposit from another reader's fetch).
 */
export async function readerTokens(depot: Depot): Promise<void> {
  const [t1, t2] = [token('a'), token('b')];
  const id = await depot.deposit(T, 'AAAA', me, [entry(bob1, t1), entry(bob2, t2)]);
  // Bob's second device (or anyone holding the contact key) acks under Bob's first device's tag, or with a made-up token: nothing.
  await depot.ack(T, [id], bob1);
  await depot.ack(T, [id], bob1, [token('c')]);
  await depot.ack(T, [id], undefined, ['']);
  expect(await idsOf(depot, bob1)).toEqual([id]);
  expect(await idsOf(depot, bob2)).toEqual([id]);
  // Bob's first device's token, under his second device's tag: it counts for the first device only.
  await depot.ack(T, [id], bob2, [t1]);
  expect(await idsOf(depot, bob1)).toEqual([]);
  expect(await idsOf(depot, bob2)).toEqual([id]);
  expect(await depot.count()).toBe(1);
  await depot.ack(T, [id], bob2, [t2]);
  expect(await idsOf(depot, bob2)).toEqual([]);
  expect(await depot.count()).toBe(0);
  // An ack's tokens must be one per id.
  await expect(depot.ack(T, [id], bob2, [t2, t2])).rejects.toThrow('tokens');
}

/**
 * A reader that never acks (a lost device never unlinked) does not hold the topic's room for long: at
 * the topic's cap, a deposit every other reader acked, whose readers still missing have been silent
 * past `readerIdleMs`, goes, and the honest deposit gets in. One no reader acked stays (the whole
 * contact is away: that is what the depot is for), and so does one whose missing reader acked lately.
 * `make(limits, now)`: a fresh depot with those limits and clock.
 */
export async function silentReader(make: (limits: Partial<DepotLimits>, now: () => number) => Depot): Promise<void> {
  let now = 1_000_000_000_000;
  const day = 24 * 60 * 60_000;
  const depot = make({ maxItemsPerTopic: 3, readerIdleMs: 7 * day }, () => now);
  const [honest, lost, other] = [bob1, bob2, stranger];
  const tokens = new Map<string, string>();
  const deposit = async (readers: string[], blob = 'AAAA') => {
    const n = tokens.size;
    const listed = readers.map((r, i) => {
      const t = (n * 16 + i + 1).toString(16).padStart(32, '0');
      tokens.set(`${r}/${n}`, t);
      return entry(r, t);
    });
    const id = await depot.deposit(T, blob, me, listed);
    return { id, tokenOf: (r: string) => tokens.get(`${r}/${n}`)! };
  };
  const [d1, d2] = [await deposit([honest, lost]), await deposit([honest, lost])];
  const d3 = await deposit([other, lost]); // nobody acks it
  await depot.ack(T, [d1.id, d2.id], undefined, [d1.tokenOf(honest), d2.tokenOf(honest)]);
  // Full: within the idle period the lost device may still come, so the deposit is refused.
  now += day;
  await expect(depot.deposit(T, 'BBBB', me)).rejects.toThrow('depot full for this topic');
  // A week later the lost device has said nothing: what the honest one acked goes; the rest stays.
  now += 7 * day;
  const fresh = await depot.deposit(T, 'BBBB', me);
  expect(await idsOf(depot, lost)).toEqual([d3.id, fresh]);
  expect(await idsOf(depot, other)).toEqual([d3.id, fresh]);
  expect(await depot.count()).toBe(2);

  // A reader that acked lately keeps what it has not acked yet.
  const d4 = await deposit([honest, other]);
  await depot.ack(T, [d4.id], undefined, [d4.tokenOf(honest)]);
  await depot.ack(T, [d3.id], undefined, [d3.tokenOf(other)]); // `other` is heard from now
  now += 8 * day;
  await depot.ack(T, [d3.id], undefined, [d3.tokenOf(lost)]); // and so is `lost`: d3 goes, acked by both
  const d5 = await deposit([honest, lost]);
  await depot.ack(T, [d5.id], undefined, [d5.tokenOf(honest)]);
  // Full again (fresh, d4, d5): d4 waits for `other`, silent 8 days (it acked d3 before): it goes; d5 waits for `lost`, heard just now: it stays.
  await depot.deposit(T, 'CCCC', me);
  expect(await idsOf(depot, lost)).toEqual(expect.arrayContaining([fresh, d5.id]));
  expect(await idsOf(depot, other)).not.toContain(d4.id);
  expect(await depot.count()).toBe(3);
}

/**
 * What the index remembers of readers stays bounded by what the topic's deposits list: a hostile
 * client keeping one deposit alive, depositing with 16 made-up readers and acking each with its token,
 * round after round, leaves no trace of them once their deposits went (the record of when each reader
 * was last heard from would otherwise grow with every round). An ack naming an id twice is refused.
 * The per-tag counts of deposits listing each reader (what lets a release forget a tag without reading
 * the topic's other deposits) stay those of the deposits held, and go with them.
 * `heard(topic)`: how many readers the index remembers hearing from on the topic; `listed(topic)`: its
 * counts, tag → how many deposits list it.
 */
export async function heardBounded(
  depot: Depot,
  heard: (topic: string) => Promise<number> | number,
  listed: (topic: string) => Promise<Record<string, number>> | Record<string, number>,
): Promise<void> {
  const rounds = 12;
  const keeper = await depot.deposit(T, 'AAAA', me, [entry(bob1, token('a')), entry(bob2, token('b'))]);
  await depot.ack(T, [keeper], undefined, [token('a')]);
  expect(await heard(T)).toBe(1);
  for (let round = 0; round < rounds; round++) {
    const tokens = Array.from({ length: 16 }, (_, i) => (round * 16 + i + 1).toString(16).padStart(32, '0'));
    const readers = tokens.map((t, i) => entry((round * 16 + i + 16).toString(16).padStart(16, '0'), t));
    const id = await depot.deposit(T, 'BBBB', stranger, readers);
    // One ack proving all 16 readers by repeating the id: refused.
    await expect(depot.ack(T, Array(16).fill(id), undefined, tokens)).rejects.toThrow('distinct');
    for (const t of tokens) await depot.ack(T, [id], undefined, [t]);
  }
  expect(await depot.count()).toBe(1);
  // Only the reader the remaining deposit lists (and that acked it) is remembered; only its tags are counted.
  expect(await heard(T)).toBe(1);
  expect(await listed(T)).toEqual({ [bob1]: 1, [bob2]: 1 });
  // Two deposits listing the same tag: it is remembered until the last of them goes.
  const [twice1, twice2] = [await depot.deposit(T, 'CCCC', me, [entry(bob1, token('c'))]), await depot.deposit(T, 'DDDD', me, [entry(bob1, token('d'))])];
  expect(await listed(T)).toEqual({ [bob1]: 3, [bob2]: 1 });
  await depot.ack(T, [twice1], undefined, [token('c')]);
  await depot.ack(T, [twice2], undefined, [token('d')]);
  expect(await heard(T)).toBe(1);
  expect(await listed(T)).toEqual({ [bob1]: 1, [bob2]: 1 });
  // The keeper's other reader is still heard from as before: it goes, and so does the topic's record.
  await depot.ack(T, [keeper], undefined, [token('b')]);
  expect(await depot.count()).toBe(0);
  expect(await heard(T)).toBe(0);
  expect(await listed(T)).toEqual({});
}
