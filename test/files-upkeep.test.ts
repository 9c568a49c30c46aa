/**
 * File upkeep (files/upkeep.ts) and my devices' own channels: after a rotation of the set key the
 * channel before it stays linked, and a copy of a file it names (my other device sending) is not
 * abandoned: a start keeps it. A copy no channel names still goes.
 */
import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { Database } from '../src/db/database.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { chunkStoreOf } from '../src/files/chunkStore.js';
import { reclaimAbandonedCopies } from '../src/files/upkeep.js';
import { toHex } from '../src/crypto/bytes.js';

const me = (db: Database) => ({ device_id: db.deviceId, public_key: db.publicKey });

describe('copies in my own channels', () => {
  it('a copy of a file named in the own channel before the last rotation is kept; one named nowhere is reclaimed', async () => {
    const [alice, alice2] = await Promise.all([Database.open({ storage: new MemoryStorage() }), Database.open({ storage: new MemoryStorage() })]);
    await alice.addOwnDevices([me(alice2)]);
    await alice2.addOwnDevices([me(alice)], alice.setKey());
    const self = alice.selfChannel()!;
    expect(self).toBeDefined();
    // Alice2 sends a file to my devices; Alice has begun her copy of it.
    const [named, stray] = [toHex(cryptoRandomBytes(32)), toHex(cryptoRandomBytes(32))];
    await alice2.sendMessage(self, { text: 'for my other devices', file: { hash: named, size: 5000, filename: 'a.bin', mimetype: 'x/y' } });
    const merged = await alice.docs.update(self, (doc) => A.merge(A.clone(doc), alice2.docs.get(self)), { trust: 'own-device', peer: alice2.deviceId });
    expect(merged.problems).toEqual([]);
    const store = chunkStoreOf(alice.storage);
    await store.begin(named, 5000, self);
    await store.begin(stray, 5000, self);

    // The set key rotates: our own channel moves, the old one stays linked (the previous key).
    await alice.rekeySet(cryptoRandomBytes(32));
    expect(alice.selfChannel()).not.toBe(self);

    expect(await reclaimAbandonedCopies(alice)).toBe(1);
    expect((await alice.storage.listKeys(['fileIns'])).map((k) => k[1])).toEqual([named]);
  });
});
