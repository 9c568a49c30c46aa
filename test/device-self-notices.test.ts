/**
 * Our own channel's forget and left notices count only from my devices that stand (devices/unlinks.ts):
 * a device unlinked in the same batch this device reads on its return (it still holds the old set key,
 * and is still among my devices until the app forgets it) cannot make it forget a contact, nor mark one
 * as having left; a forget from a device that stands, in the same batch, still counts.
 */
import * as A from '@automerge/automerge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel } from '../src/app/backchannel.js';
import { Database, documentId } from '../src/db/database.js';
import { forgetNotice, leftNotice } from '../src/devices/notices.js';
import { unlinkNotice } from '../src/devices/selfLink.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { until } from './helpers/wait.js';

let relay: Relay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay.close();
});

const me = (db: Database) => ({ device_id: db.deviceId, public_key: db.publicKey });

describe('forget and left notices from a device unlinked in the same batch', () => {
  it('my device back from being away keeps the contact the unlinked device "forgot" (and the one it said left me); a forget from Alice3 counts', async () => {
    // Alice (this device, on `storage`, away), Alice3 and X: my devices, one set key, all with Carol, Dave and Erin.
    const storage = new MemoryStorage();
    const [alice, alice3, x] = await Promise.all([
      Database.open({ storage }),
      Database.open({ storage: new MemoryStorage() }),
      Database.open({ storage: new MemoryStorage() }),
    ]);
    const setKey = alice.setKey();
    const mine = [alice, alice3, x];
    for (const d of mine) await d.addOwnDevices(mine.filter((o) => o !== d).map(me), d === alice ? undefined : setKey);
    const [carolKey, daveKey, erinKey] = [cryptoRandomBytes(32), cryptoRandomBytes(32), cryptoRandomBytes(32)];
    for (const d of mine) {
      await d.addContact({ moniker: 'Carol', contactKey: carolKey });
      await d.addContact({ moniker: 'Dave', contactKey: daveKey });
      await d.addContact({ moniker: 'Erin', contactKey: erinKey });
    }
    const card = (name: string) => alice.contacts().find((c) => c.moniker === name)!;
    const [carolId, daveId, erinId] = [card('Carol').id, card('Dave').id, card('Erin').id];
    const self = alice.selfChannel()!;

    // Alice3 unlinks X (signed), and forgets Erin. X, stolen, still holds the set key: it "forgets" Carol and says Dave left.
    await alice3.sendMessage(self, { text: unlinkNotice(x.deviceId) });
    await alice3.removeOwnDevice(x.deviceId);
    await alice3.sendMessage(self, { text: forgetNotice(documentId(erinKey)) });
    await x.sendMessage(self, { text: forgetNotice(documentId(carolKey)) });
    await x.sendMessage(self, { text: leftNotice(documentId(daveKey)) });
    // Alice, back, reads it all at once.
    for (const from of [x, alice3]) {
      const merged = await alice.docs.update(self, (doc) => A.merge(A.clone(doc), from.docs.get(self)), { trust: 'own-device', peer: from.deviceId });
      expect(merged.problems).toEqual([]);
    }
    alice.docs.close();

    const app = await createBackchannel({ storage, connector: nodeSocketConnector(), relay: relay.url });
    try {
      // Alice3's forget counts (the notices were all read on start, in one pass) ...
      await until(() => !app.contacts().some((c) => c.id === erinId), 30_000);
      // ... and anything the app was told then is done once a later request in the same queue is answered.
      await app.renameContact(carolId, 'Carol C');
      expect(app.contacts().find((c) => c.id === carolId)?.removed_by).toBeUndefined();
      expect(app.contacts().find((c) => c.id === daveId)?.removed_by).toBeUndefined();
    } finally {
      await app.close();
    }
  }, 60_000);
});
