/**
 * Unlinking rotates the keys the unlinked device held (issue 12 §4, devices/rekey.ts and rotate.ts):
 * rekey notices (sealed per device, signed) and, end to end through a relay process, a hostile unlinked
 * device that keeps running and ignores its notice: after the rotation my remaining device and the
 * contact reach each other on the new keys, and nothing written since reaches the unlinked device; and
 * my other device's forget/left notice, naming a channel the card has rotated away from, still finds it.
 */
import * as A from '@automerge/automerge';
import { createActor, waitFor, type Actor } from 'xstate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { backchannelApp } from '../src/app/actors.js';
import { createBackchannel } from '../src/app/backchannel.js';
import { fromHex, toHex } from '../src/crypto/bytes.js';
import { openSealed } from '../src/crypto/sealedBox.js';
import { signingKeypair, sign } from '../src/crypto/signing.js';
import { Database, documentId } from '../src/db/database.js';
import { forgetNotice, leftNotice, signDeviceSet } from '../src/devices/notices.js';
import { makeRekey, openRekey, pickRekey, rekeyOf, rekeyText, verifyRekey, type RekeyNotice } from '../src/devices/rekey.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { BACKCHANNEL_APPID } from '../src/wormhole/appid.js';
import { startRelayProcess, type RelayProcess } from './helpers/processes.js';
import { until } from './helpers/wait.js';

const device = (n: number) => {
  const pair = signingKeypair(new Uint8Array(32).fill(n));
  return { seed: pair.secretKey, key: toHex(pair.publicKey), id: n.toString(16).padStart(32, '0'), sign: (m: Uint8Array) => sign(pair.secretKey, m) };
};
const channel = 'ab'.repeat(16);

describe('rekey notices', () => {
  const [a, b, x] = [device(1), device(2), device(3)];
  const next = new Uint8Array(32).fill(9);
  const notice = (at = 1000, signer = a, recipients = [b.key]) =>
    makeRekey(
      { kind: 'contact', channel, at, by: signer.key, set: signDeviceSet([{ device_id: signer.id, public_key: signer.key }], at, signer.key, signer.sign) },
      next,
      recipients,
      signer.sign,
      cryptoRandomBytes,
    );

  it('opens for each recipient, only for them, and holds only as signed', () => {
    const n = notice(1000, a, [b.key, a.key]);
    expect(verifyRekey(n)).toBe(true);
    expect(toHex(openRekey(n, b.key, (box) => openSealed(b.seed, box))!)).toBe(toHex(next));
    expect(openRekey(n, x.key, (box) => openSealed(x.seed, box))).toBeUndefined();
    // x's own box swapped in for b's: b's seed does not open it.
    expect(openRekey({ ...n, sealed: { [b.key]: n.sealed[a.key]! } }, b.key, (box) => openSealed(b.seed, box))).toBeUndefined();
    for (const altered of [
      { ...n, at: 1001 },
      { ...n, channel: 'cd'.repeat(16) },
      { ...n, kind: 'set' as const },
      { ...n, sealed: { [b.key]: n.sealed[b.key]! } },
    ])
      expect(verifyRekey(altered)).toBe(false);
    expect(verifyRekey({ ...n, by: x.key })).toBe(false);
    expect(verifyRekey(JSON.parse(JSON.stringify(n)))).toBe(true);
  });

  it('seals to every recipient it can: a key in a set that is no curve point gets no box, and stops nothing', () => {
    const notPoints = ['ff'.repeat(32), '02' + '00'.repeat(31)];
    const n = notice(1000, a, [notPoints[0]!, b.key, notPoints[1]!]);
    expect(Object.keys(n.sealed)).toEqual([b.key]);
    expect(verifyRekey(n)).toBe(true);
    expect(toHex(openRekey(n, b.key, (box) => openSealed(b.seed, box))!)).toBe(toHex(next));
  });

  it('picks the trusted notice for me alike on every device: the latest, then the smaller signature', () => {
    const older = notice(1000);
    const later = notice(2000);
    const forged = notice(3000, x);
    const texts = [older, forged, later].map(rekeyText);
    const trusted = (by: string) => by === a.key;
    expect(pickRekey(texts, { kind: 'contact', channel, me: b.key }, trusted)).toEqual(later);
    expect(pickRekey([...texts].reverse(), { kind: 'contact', channel, me: b.key }, trusted)).toEqual(later);
    // The same `at`: the smaller signature, whatever the order.
    const twin = notice(2000);
    const want = [later, twin].sort((p, q) => (p.signature < q.signature ? -1 : 1))[0];
    expect(pickRekey([rekeyText(later), rekeyText(twin)], { kind: 'contact', channel, me: b.key }, trusted)).toEqual(want);
    expect(pickRekey([rekeyText(twin), rekeyText(later)], { kind: 'contact', channel, me: b.key }, trusted)).toEqual(want);
    // Not for me, another channel, another kind, or tampered: none.
    expect(pickRekey(texts, { kind: 'contact', channel, me: x.key }, trusted)).toBeUndefined();
    expect(pickRekey(texts, { kind: 'contact', channel: 'cd'.repeat(16), me: b.key }, trusted)).toBeUndefined();
    expect(pickRekey(texts, { kind: 'set', channel, me: b.key }, trusted)).toBeUndefined();
    expect(pickRekey([rekeyText({ ...later, at: 5000 } as RekeyNotice)], { kind: 'contact', channel, me: b.key }, trusted)).toBeUndefined();
    expect(rekeyOf('{"rekey": not json')).toBeUndefined();
  });
});

let relay: RelayProcess;
beforeAll(async () => {
  relay = await startRelayProcess([]);
});
afterAll(async () => {
  await relay?.stop();
});

const open = (storage = new MemoryStorage()) => createBackchannel({ storage, connector: nodeSocketConnector(), relay: relay.url });

/** The app machine alone on `storage`, without the façade that acts on notices: an unlinked device that ignores its notice. */
async function hostile(storage: MemoryStorage): Promise<Actor<typeof backchannelApp>> {
  const actor = createActor(backchannelApp, {
    input: { storage, connector: nodeSocketConnector(), randomBytes: cryptoRandomBytes, appid: BACKCHANNEL_APPID, relay: relay.url, journal: undefined },
  });
  actor.start();
  await waitFor(actor, (s) => !s.matches('starting'));
  return actor;
}

const texts = (db: Database, id: string) => (db.docs.has(id) ? db.messages(id).map((m) => m.text) : []);

describe('unlinking rotates the keys the device held', () => {
  it('a hostile unlinked device keeps running: Alice3 and Bob reach each other on the new keys, it sees nothing of it', async () => {
    const alice2Storage = new MemoryStorage();
    const [alice, alice3, bob] = await Promise.all([open(), open(), open()]);
    const alice2 = await open(alice2Storage);
    let x: Actor<typeof backchannelApp> | undefined;
    try {
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
      for (const d of [alice2, alice3]) {
        const link = await alice.linkDevice();
        await Promise.all([link.done, d.acceptLink(link.code)]);
      }
      await until(() => alice2.devices().length === 2 && alice3.devices().length === 2, 30_000);
      const oldKey = alice.contacts()[0]!.channels[0]!;
      const oldChannel = documentId(fromHex(oldKey));
      await alice2.send(alice2.contacts()[0]!.id, { text: 'from Alice2, linked' });
      await until(() => bob.messages(aliceOnBob.id).some((m) => m.text === 'from Alice2, linked'), 30_000);

      // Alice2 is stolen: it goes on running without the part that would wipe it or follow a rotation.
      const alice2Id = alice2.deviceId;
      await alice2.close();
      x = await hostile(alice2Storage);
      const xdb = x.getSnapshot().context.db!;

      expect((await alice.unlinkDevice(alice2Id)).map((d) => d.device_id)).toEqual([alice3.deviceId]);
      const newKey = alice.contacts()[0]!.channels[0]!;
      expect(alice.contacts()[0]!.channels).toEqual([newKey, oldKey]);
      const newChannel = documentId(fromHex(newKey));

      // Alice3 and Bob move: Alice3 by our own channel (a new set key, then the contact's), Bob by the notice in the old channel.
      await until(() => alice3.contacts()[0]!.channels[0] === newKey, 60_000);
      await until(() => bob.contacts()[0]!.channels[0] === newKey, 60_000);
      expect(alice3.devices().map((d) => d.device_id)).toEqual([alice.deviceId]);

      await alice3.send(alice3.contacts()[0]!.id, { text: 'from Alice3, after' });
      await bob.send(aliceOnBob.id, { text: 'from Bob, after' });
      await until(() => bob.messages(aliceOnBob.id).some((m) => m.text === 'from Alice3, after'), 60_000);
      await until(() => alice3.messages(alice3.contacts()[0]!.id).some((m) => m.text === 'from Bob, after'), 60_000);
      await until(() => alice.messages(bobOnAlice.id).some((m) => m.text === 'from Alice3, after'), 60_000);
      // The history before stays readable, on every side.
      expect(bob.messages(aliceOnBob.id).map((m) => m.text)[0]).toBe('from Alice2, linked');
      expect(
        bob
          .messages(aliceOnBob.id)
          .map((m) => m.text)
          .sort(),
      ).toEqual(['from Alice2, linked', 'from Alice3, after', 'from Bob, after']);

      // The stolen device synced the old channels since (the rekey notices reached it) but opens no box.
      await until(() => xdb.messages(oldChannel).some((m) => rekeyOf(m.notice) !== undefined), 60_000);
      for (const m of xdb.messages(oldChannel)) {
        const n = rekeyOf(m.notice);
        if (n === undefined) continue;
        expect(verifyRekey(n)).toBe(true);
        expect(openRekey(n as RekeyNotice, xdb.publicKey, (box) => xdb.openSealed(box))).toBeUndefined();
      }
      // Nothing written after the rotation reached it: not the new channel, not the old one's copy.
      expect(xdb.docs.has(newChannel)).toBe(false);
      expect(xdb.contacts()[0]!.channels).toEqual([oldKey]);
      expect(texts(xdb, oldChannel)).not.toContain('from Alice3, after');
      expect(texts(xdb, oldChannel)).not.toContain('from Bob, after');
    } finally {
      x?.stop();
      await Promise.all([alice.close(), alice3.close(), bob.close(), alice2.close()]);
    }
  }, 240_000);

  it('the contact away during the rotation moves when back (through the depot); a device linked later gets every key and the history', async () => {
    const bobStorage = new MemoryStorage();
    const [alice, alice2] = await Promise.all([open(), open()]);
    let bob = await open(bobStorage);
    let alice4: Awaited<ReturnType<typeof open>> | undefined;
    try {
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
      const link = await alice.linkDevice();
      await Promise.all([link.done, alice2.acceptLink(link.code)]);
      await alice.send(bobOnAlice.id, { text: 'before' });
      await until(() => bob.messages(aliceOnBob.id).some((m) => m.text === 'before'), 30_000);
      await bob.close();

      await alice.unlinkDevice(alice2.deviceId);
      const [newKey, oldKey] = alice.contacts()[0]!.channels;
      await alice.send(bobOnAlice.id, { text: 'after' });
      bob = await open(bobStorage);
      await until(() => bob.contacts()[0]!.channels[0] === newKey, 60_000);
      expect(bob.contacts()[0]!.channels).toEqual([newKey, oldKey]);
      await until(() => bob.messages(aliceOnBob.id).some((m) => m.text === 'after'), 60_000);
      await bob.send(aliceOnBob.id, { text: 'back' });
      await until(() => alice.messages(bobOnAlice.id).some((m) => m.text === 'back'), 60_000);

      // Linked after the rotation: the new keys to write, the old one to read the history.
      const alice4Storage = new MemoryStorage();
      alice4 = await open(alice4Storage);
      const link4 = await alice.linkDevice();
      await Promise.all([link4.done, alice4.acceptLink(link4.code)]);
      expect(alice4.contacts()[0]!.channels).toEqual([newKey, oldKey]);
      const card = alice4.contacts()[0]!.id;
      await until(() => ['before', 'after', 'back'].every((t) => alice4!.messages(card).some((m) => m.text === t)), 60_000);
      expect(alice4.messages(card)[0]!.text).toBe('before');
      // The bundle's earlier keys are sealed in its journal, as every key is.
      await alice4.journal!.flush();
      const journal = (await alice4Storage.loadRange(['journal'])).map((c) => Buffer.from(c.data).toString('utf8')).join('\n');
      expect(journal.length).toBeGreaterThan(0);
      expect(journal).not.toContain(oldKey!);
      expect(journal).not.toContain(newKey!);
    } finally {
      await Promise.all([alice.close(), alice2.close(), bob.close(), alice4?.close()]);
    }
  }, 240_000);
});

describe("my other device's notices name the channel it knew", () => {
  it('a forget or left notice naming a channel the card rotated away from still finds the card', async () => {
    // Alice (this device, on `storage`) and Alice2 share Carol and Dave; Alice alone has moved both cards to a new key.
    const storage = new MemoryStorage();
    const [alice, alice2] = await Promise.all([Database.open({ storage }), Database.open({ storage: new MemoryStorage() })]);
    await alice.addOwnDevices([{ device_id: alice2.deviceId, public_key: alice2.publicKey }]);
    await alice2.addOwnDevices([{ device_id: alice.deviceId, public_key: alice.publicKey }], alice.setKey());
    const [carolKey, daveKey] = [cryptoRandomBytes(32), cryptoRandomBytes(32)];
    for (const d of [alice, alice2]) {
      await d.addContact({ moniker: 'Carol', contactKey: carolKey });
      await d.addContact({ moniker: 'Dave', contactKey: daveKey });
    }
    const card = (name: string) => alice.contacts().find((c) => c.moniker === name)!;
    const [carolId, daveId] = [card('Carol').id, card('Dave').id];
    await alice.rekeyContact(carolId, cryptoRandomBytes(32));
    await alice.rekeyContact(daveId, cryptoRandomBytes(32));
    expect(card('Carol').channels[1]).toBe(toHex(carolKey));
    // Alice2, on the old keys, removed Carol (forget) and read Dave's removal of me (left); Alice syncs our own channel.
    const self = alice2.selfChannel()!;
    await alice2.sendMessage(self, { text: forgetNotice(documentId(carolKey)) });
    await alice2.sendMessage(self, { text: leftNotice(documentId(daveKey)) });
    const merged = await alice.docs.update(self, (doc) => A.merge(A.clone(doc), alice2.docs.get(self)), { trust: 'own-device', peer: alice2.deviceId });
    expect(merged.problems).toEqual([]);
    alice.docs.close();

    const app = await open(storage);
    try {
      await until(() => !app.contacts().some((c) => c.id === carolId) && app.contacts().find((c) => c.id === daveId)?.removed_by === 'peer', 30_000);
    } finally {
      await app.close();
    }
  }, 60_000);
});
