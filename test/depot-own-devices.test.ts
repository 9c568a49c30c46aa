/**
 * My devices share a contact's topic, so one fetches what another deposited for the contact. It must
 * leave those deposits on the relay: acknowledged, they would be gone before the contact came for them.
 */
import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { createActor, toPromise } from 'xstate';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { applyDeposits, prepareDeposit, DEFAULT_MAX_BATCH_CHARS, DEFAULT_MAX_DEPOSIT_CHARS } from '../src/depot/depotActors.js';
import { DEFAULT_RELAY_FILE_BYTES } from '../src/depot/depotFiles.js';
import { depotKey } from '../src/depot/payload.js';
import { depotDevice, type DepotDevice } from './helpers/depotDevice.js';

const KEY = new Uint8Array(32).fill(7);
const key = depotKey(KEY);

const device = () => depotDevice(KEY);

async function fetched(by: DepotDevice, blobs: string[]) {
  const items = blobs.map((blob, i) => ({ id: `d${i}`, blob }));
  const input = { docs: by.db.docs, storage: by.storage, channelId: by.channelId, key, deviceId: by.db.deviceId, items };
  return toPromise(createActor(applyDeposits, { input }).start());
}

describe('deposits between my own devices', () => {
  it('another device of mine leaves my deposit for the contact; the contact takes it', async () => {
    const alice = await device();
    await alice.db.sendMessage(alice.channelId, { text: 'for Bob, while he is away' });
    const input = {
      docs: alice.db.docs,
      storage: alice.storage,
      channelId: alice.channelId,
      key,
      deviceId: alice.db.deviceId,
      randomBytes: cryptoRandomBytes,
      maxBlobChars: DEFAULT_MAX_DEPOSIT_CHARS,
      maxBatchChars: DEFAULT_MAX_BATCH_CHARS,
      files: { limit: DEFAULT_RELAY_FILE_BYTES, sent: {}, skip: [] },
    };
    const blobs = (await toPromise(createActor(prepareDeposit, { input }).start())).deposits.map((d) => d.blob);
    expect(blobs.length).toBeGreaterThan(0);

    const alice2 = await device();
    alice2.db.docs.setOwnDevices([alice.db.deviceId]);
    const heads = A.getHeads(alice2.db.docs.get(alice2.channelId));
    const mine = await fetched(alice2, blobs);
    expect(mine.ids).toEqual([]); // nothing acknowledged: the relay keeps it for Bob
    expect(A.getHeads(alice2.db.docs.get(alice2.channelId))).toEqual(heads);

    const bob = await device();
    const his = await fetched(bob, blobs);
    expect(his.ids).toHaveLength(blobs.length);
    expect(bob.db.messages(bob.channelId).map((m) => m.text)).toEqual(['for Bob, while he is away']);
  });
});
