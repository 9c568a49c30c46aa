/**
 * A file refusal after the card's key rotated (files/refusal.ts, devices/rotate.ts): Alice sent a file in
 * the old channel, by the relay; the keys rotated; Bob, back, refuses it (over his limit) and writes his
 * notice where he writes now, the new channel. Alice's transfer still ends failed with the typed error:
 * the sent file is looked for in every channel of the card, not only the one the notice came in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel, type BackchannelEvent } from '../src/app/backchannel.js';
import { Database, documentId } from '../src/db/database.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { FileTooLargeError } from '../src/errors.js';
import { fileRefusalOf } from '../src/files/refusal.js';
import { eventsOf } from './helpers/events.js';
import { seededBytes as bytes } from './helpers/seededBytes.js';

let relay: Relay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay.close();
});

type Transfer = Extract<BackchannelEvent, { type: 'transfer' }>;
const open = (storage: MemoryStorage): Promise<Backchannel> =>
  createBackchannel({ storage, connector: nodeSocketConnector(), relay: relay.url, discoverTimeouts: { reconnectBaseMs: 100 } });
const status = (hash: string, direction: 'in' | 'out', s: Transfer['status']) => (e: Transfer) =>
  e.hash === hash && e.direction === direction && e.status === s;

/** Move one card to a new key at the database level, as a rotation would (both sides take the same key). */
async function rekey(storage: MemoryStorage, contactId: string, key: Uint8Array): Promise<void> {
  const db = await Database.open({ storage });
  await db.rekeyContact(contactId as Parameters<Database['rekeyContact']>[0], key);
  db.docs.close();
}

describe('a file refused in a newer channel of the card', () => {
  it('sent in the old channel, refused in the new: the sender hears failed (FileTooLargeError); fileStatus says so', async () => {
    const [aliceStorage, bobStorage] = [new MemoryStorage(), new MemoryStorage()];
    let alice = await open(aliceStorage);
    let bob = await open(bobStorage);
    try {
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobCard, aliceCard] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
      await bob.updateSettings({ file_size_limit: 5_000 });
      await bob.close();
      const atAlice = eventsOf(alice, 'transfer');
      const sent = await alice.send(bobCard.id, { text: 'six', file: { data: bytes(6_000, 61), filename: 'six', mimetype: 'x/y' } });
      const hash = sent.file!.hash;
      expect(await atAlice.next(status(hash, 'out', 'waiting'))).toMatchObject({ route: 'relay' });
      await atAlice.next(status(hash, 'out', 'done')); // the relay holds every byte for Bob
      await alice.close();

      // Both cards move to a new key; the file's message stays in the old channel.
      const newKey = cryptoRandomBytes(32);
      await rekey(aliceStorage, bobCard.id, newKey);
      await rekey(bobStorage, aliceCard.id, newKey);

      // Bob, back (Alice away: no file session can tell her), takes the file from the relay and refuses it.
      bob = await open(bobStorage);
      const refused = await eventsOf(bob, 'transfer').next(status(hash, 'in', 'failed'));
      expect(refused.error).toBeInstanceOf(FileTooLargeError);

      alice = await open(aliceStorage);
      const failedAtAlice = eventsOf(alice, 'transfer');
      const failed = await failedAtAlice.next(status(hash, 'out', 'failed'), 30_000);
      expect(failed).toMatchObject({ contactId: bobCard.id, error: expect.any(FileTooLargeError) });
      expect(failed.error!.data).toMatchObject({ size: 6_000, limit: 5_000, hash });
      expect(await alice.fileStatus(hash)).toMatchObject({ status: 'failed', direction: 'out', contactId: bobCard.id, error: expect.any(FileTooLargeError) });
      await alice.close();

      // What the case is about: the notice came in the new channel, the file's message is in the old one.
      const db = await Database.open({ storage: aliceStorage });
      const [newChannel, oldChannel] = [documentId(newKey), db.channelsOf(db.contact(bobCard.id))[1]!];
      expect(db.messages(newChannel).some((m) => fileRefusalOf(m)?.hash === hash)).toBe(true);
      expect(db.messages(oldChannel).some((m) => fileRefusalOf(m)?.hash === hash)).toBe(false);
      expect(db.messages(oldChannel).some((m) => m.file?.hash === hash)).toBe(true);
      db.docs.close();
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 120_000);
});
