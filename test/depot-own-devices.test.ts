/**
 * My devices share a contact's topic, so one fetches what another deposited for the contact. It must
 * leave those deposits on the relay: acknowledged, they would be gone before the contact came for them.
 * In our own channel, though, a deposit is for my other devices: each acks it with the token sealed to
 * it, and it goes once every one of them has it (not at the TTL, fetched again at every poll till then).
 */
import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { createActor, toPromise } from 'xstate';
import { applyDeposits, prepareDeposit } from '../src/depot/depotActors.js';
import { DEFAULT_RELAY_FILE_BYTES } from '../src/depot/depotFiles.js';
import { depotKey, depotTag } from '../src/depot/payload.js';
import { Depot } from '../server/depot.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { topicKey } from '../src/crypto/topicKey.js';
import { depotDevice, prepareInput, type DepotDevice } from './helpers/depotDevice.js';

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
    const input = prepareInput(alice, key, { files: { limit: DEFAULT_RELAY_FILE_BYTES, sent: {}, skip: [] } });
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
    // A page naming one id twice (a relay's mistake): acked once, as the relay requires.
    const twice = await toPromise(
      createActor(applyDeposits, {
        input: {
          docs: bob.db.docs,
          storage: bob.storage,
          channelId: bob.channelId,
          key,
          deviceId: bob.db.deviceId,
          items: [blobs[0]!, blobs[0]!].map((blob) => ({ id: 'same', blob })),
        },
      }).start(),
    );
    expect(twice.ids).toEqual(['same']);
    expect(bob.db.messages(bob.channelId).map((m) => m.text)).toEqual(['for Bob, while he is away']);
  });
});

describe('deposits in our own channel', () => {
  it('each device of mine acks what another deposited there with its own token: it goes once every one of them has it, and no device acks for another', async () => {
    const depot = new Depot({ storage: new MemoryStorage() });
    const { topic } = topicKey(KEY);
    const [a1, a2, a3] = await Promise.all([device(), device(), device()]);
    const all = [a1, a2, a3];
    for (const d of all) d.db.docs.setOwnDevices(all.filter((o) => o !== d).map((o) => ({ device_id: o.db.deviceId, public_key: o.db.publicKey })));
    const tagOf = (d: typeof a1) => depotTag(KEY, d.db.deviceId);

    await a1.db.sendMessage(a1.channelId, { text: 'to my other devices' });
    const input = prepareInput(a1, key, { contactKey: KEY, own: true });
    const prepared = (await toPromise(createActor(prepareDeposit, { input }).start())).deposits;
    for (const d of prepared) await depot.deposit(topic, d.blob, tagOf(a1), d.readers);

    // My second device: applies and acks with its token; a forged ack in my third device's name changes nothing.
    const take = async (d: typeof a1) => {
      const { items } = await depot.fetch(topic, undefined, tagOf(d));
      const applied = await toPromise(
        createActor(applyDeposits, {
          input: { docs: d.db.docs, storage: d.storage, channelId: d.channelId, key, deviceId: d.db.deviceId, tag: tagOf(d), own: true, items },
        }).start(),
      );
      expect(applied.ids).toEqual(items.map((i) => i.id));
      expect(d.db.messages(d.channelId).map((m) => m.text)).toContain('to my other devices');
      return applied;
    };
    const second = await take(a2);
    await depot.ack(topic, second.ids, tagOf(a3));
    await depot.ack(topic, second.ids, tagOf(a2), second.tokens);
    expect((await depot.fetch(topic, undefined, tagOf(a2))).items).toEqual([]);
    expect(await depot.count()).toBe(prepared.length);
    // My third device: then it is gone.
    const third = await take(a3);
    await depot.ack(topic, third.ids, tagOf(a3), third.tokens);
    expect(await depot.count()).toBe(0);
  });
});
