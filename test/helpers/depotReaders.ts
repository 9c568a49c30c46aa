/**
 * What every depot index must do with a deposit's readers (`server/depotIndex.ts`), run against a
 * `Depot` on each back end (memory, Redis): a deposit listing readers stays until each of them acked,
 * is listed no more to a reader that acked, and an unknown tag changes nothing; one without readers
 * goes at the first ack, and an ack without a tag takes only those; what was acked survives an index rebuilt from storage.
 */
import { expect } from 'vitest';
import type { Depot } from '../../server/depot.js';
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
