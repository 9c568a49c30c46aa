/**
 * Issue #12: every device of a contact gets what I left while it was away. Bob has two devices, both
 * away; Alice writes. Her deposit lists both of Bob's devices as readers (opaque tags); Bob's first
 * device comes back, reads and acknowledges it, and goes; the relay keeps it for the second, which
 * comes back later (Alice away too, so only the depot can tell it) and still gets it. Then it is gone.
 * (Bob's first device deposits for Alice while she is away: those deposits are its own, left alone.)
 */
import * as A from '@automerge/automerge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor, toPromise } from 'xstate';
import { Database } from '../src/db/database.js';
import { applyDeposits, DEFAULT_MAX_BATCH_CHARS, DEFAULT_MAX_DEPOSIT_CHARS, prepareDeposit } from '../src/depot/depotActors.js';
import { depotKey, openAnyDeposit } from '../src/depot/payload.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { startRelay, type Relay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel, type PairedContact } from '../src/app/backchannel.js';
import { fromHex } from '../src/crypto/bytes.js';
import { topicKey } from '../src/crypto/topicKey.js';
import { depotTag } from '../src/depot/payload.js';
import { ackCheck } from '../src/depot/wire.js';
import { unlinkNotice } from '../src/devices/selfLink.js';
import { textOf } from '../src/db/schema.js';
import { eventsOf } from './helpers/events.js';
import { until } from './helpers/wait.js';

let relay: Relay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay?.close();
});

const open = (storage = new MemoryStorage()) => createBackchannel({ storage, connector: nodeSocketConnector(), relay: relay.url });

async function pairUp(alice: Backchannel, bob: Backchannel): Promise<[bobOnAlice: PairedContact, aliceOnBob: PairedContact]> {
  const { code, done } = await alice.invite({ moniker: 'Bob' });
  return Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
}

/**
 * Whether the relay holds deposits in our own channel (its key `ownKey`) that bring the unlink notice
 * for `deviceId`: every one of them opened and loaded, in order, onto `doc` (a device's copy).
 */
async function unlinkDeposited(ownKey: Uint8Array, doc: A.Doc<unknown>, deviceId: string): Promise<boolean> {
  const { items } = await relay.depot.fetch(topicKey(ownKey).topic);
  let next = A.clone(doc);
  for (const item of items) {
    const content = openAnyDeposit(depotKey(ownKey), item.blob);
    if (content?.kind === 'changes') next = A.loadIncremental(next, content.changes);
  }
  return ((next as { messages?: { text?: unknown }[] }).messages ?? []).some((m) => textOf(m.text) === unlinkNotice(deviceId));
}

async function linkUp(approver: Backchannel, joiner: Backchannel): Promise<void> {
  const link = await approver.linkDevice();
  await Promise.all([link.done, joiner.acceptLink(link.code)]);
}

/** Devices a test opens, kept so that its end closes every one (`track` wraps an open). */
function tracker() {
  const opened: Backchannel[] = [];
  const track = async (p: Promise<Backchannel>) => {
    const bc = await p;
    opened.push(bc);
    return bc;
  };
  return { opened, track };
}

describe('the depot keeps a deposit for every device of the contact', () => {
  it("Bob's second device gets what his first device already read and acknowledged", async () => {
    const [bob1Storage, bob2Storage] = [new MemoryStorage(), new MemoryStorage()];
    const { opened, track } = tracker();
    try {
      const [alice, bob1, bob2] = await Promise.all([track(open()), track(open(bob1Storage)), track(open(bob2Storage))]);
      const [bobOnAlice, aliceOnBob] = await pairUp(alice, bob1);
      await linkUp(bob1, bob2);
      // Alice learns Bob's set (the notices travel before each device's next message).
      await bob1.send(aliceOnBob.id, { text: 'from my phone' });
      await bob2.send(bob2.contacts()[0]!.id, { text: 'from my laptop' });
      await until(() => ['from my phone', 'from my laptop'].every((t) => alice.messages(bobOnAlice.id).some((m) => m.text === t)), 30_000);

      const contactKey = fromHex(bobOnAlice.channels[0]!);
      const { topic } = topicKey(contactKey);
      const [tag1, tag2, aliceTag] = [depotTag(contactKey, bob1.deviceId), depotTag(contactKey, bob2.deviceId), depotTag(contactKey, alice.deviceId)];
      // Alice's deposits the relay would list to the device tagged `tag` (or to anyone): its ids carry her tag.
      const waitingFor = async (tag?: string) => (await relay.depot.fetch(topic, undefined, tag)).items.filter((d) => d.id.includes(aliceTag)).length;

      // Both of Bob's devices go away; Alice writes, and her depot client deposits it.
      await Promise.all([bob1.close(), bob2.close()]);
      const deposited = eventsOf(alice, 'deposited');
      await alice.send(bobOnAlice.id, { text: 'while you were both away' });
      await deposited.next((e) => e.contactId === bobOnAlice.id && e.upTo?.text === 'while you were both away');
      expect(await waitingFor(tag1)).toBeGreaterThan(0);
      expect(await waitingFor(tag2)).toBeGreaterThan(0);
      // Alice goes too: from now on only the relay's depot can bring it.
      await alice.close();

      // Bob's first device comes back, reads it, acknowledges it; the relay keeps it for the second.
      const back1 = await track(open(bob1Storage));
      await until(() => back1.messages(aliceOnBob.id).some((m) => m.text === 'while you were both away'), 30_000);
      await until(async () => (await waitingFor(tag1)) === 0, 30_000);
      expect(await waitingFor(tag2)).toBeGreaterThan(0);
      await back1.close();

      // Bob's second device comes back later and still gets it; then nothing is left on the relay.
      const back2 = await track(open(bob2Storage));
      const aliceOnBob2 = back2.contacts()[0]!;
      await until(() => back2.messages(aliceOnBob2.id).some((m) => m.text === 'while you were both away'), 30_000);
      await until(async () => (await waitingFor(tag2)) === 0, 30_000);
      expect(await waitingFor()).toBe(0);
    } finally {
      await Promise.all(opened.map((bc) => bc.close()));
    }
  }, 120_000);

  it('in our own channel a deposit from a device of mine is for me: a device away when unlinked, and another away then, both hear it from the depot alone', async () => {
    const storages = [new MemoryStorage(), new MemoryStorage(), new MemoryStorage()];
    const { opened, track } = tracker();
    try {
      const [alice, alice2, alice3] = (await Promise.all(storages.map((s) => track(open(s))))) as [Backchannel, Backchannel, Backchannel];
      await linkUp(alice, alice2);
      await linkUp(alice, alice3);
      await until(() => alice2.devices().length === 2 && alice3.devices().length === 2, 30_000);
      const gone = alice2.deviceId;
      await Promise.all([alice2.close(), alice3.close()]);
      // Our own channel before the unlink rotates its key, as Alice2 (away) holds it: where the notice goes.
      const away = await Database.open({ storage: storages[1]! });
      const [ownKey, ownDoc] = [away.setKey(), away.docs.get(away.selfChannel()!)];
      await alice.unlinkDevice(gone);
      // The unlink notice is deposited in our own channel (not just the new key's first deposit); then
      // Alice goes: only the depot can bring it.
      await until(() => unlinkDeposited(ownKey, ownDoc, gone), 30_000);
      await alice.close();

      // Alice3 takes it (and leaves it on the relay for my other devices): it no longer lists Alice2.
      const back3 = await track(open(storages[2]!));
      await until(() => !back3.devices().some((d) => d.device_id === gone), 30_000);
      await back3.close();
      // Alice2 was told too, though Alice3 read it first.
      const back2 = await track(open(storages[1]!));
      const told = new Promise<string>((resolve) => back2.subscribe((e) => e.type === 'unlinked' && resolve(e.by)));
      expect(await told).toBe(alice.deviceId);
      await until(() => back2.getSnapshot().value === 'closed', 30_000);
    } finally {
      await Promise.all(opened.map((bc) => bc.close()));
    }
  }, 120_000);

  it("a deposit starts from what every device of the contact has: Bob's second device lacks what his first wrote, and gets it too", async () => {
    const K = new Uint8Array(32).fill(5);
    const device = async () => {
      const storage = new MemoryStorage();
      const db = await Database.open({ storage });
      return { storage, db, channelId: db.channelOf(await db.addContact({ moniker: 'peer', contactKey: K })) };
    };
    const [alice, bob1, bob2] = await Promise.all([device(), device(), device()]);
    const texts = (d: typeof alice) => d.db.messages(d.channelId).map((m) => m.text);
    const take = (to: typeof alice, from: typeof alice) =>
      to.db.docs.update(to.channelId, (doc) => A.merge(A.clone(doc), from.db.docs.get(from.channelId)), { trust: 'contact', peer: from.db.deviceId });
    // What Alice's sync states say each of Bob's devices has.
    const synced = (peer: typeof alice) =>
      alice.storage.save(
        ['sync', alice.channelId, peer.db.deviceId],
        A.encodeSyncState({ ...A.initSyncState(), sharedHeads: A.getHeads(alice.db.docs.get(alice.channelId)) }),
      );
    alice.db.docs.setSenderKeys(() => ({ theirs: new Map([bob1, bob2].map((b) => [b.db.deviceId, new Set([b.db.publicKey])])) }));
    bob2.db.docs.setOwnDevices([{ device_id: bob1.db.deviceId, public_key: bob1.db.publicKey }]);

    await alice.db.sendMessage(alice.channelId, { text: 'hello both' });
    await take(bob2, alice);
    await synced(bob2);
    await take(bob1, alice);
    await bob1.db.sendMessage(bob1.channelId, { text: 'from my phone' }); // bob2 never hears it
    await take(alice, bob1);
    await synced(bob1);
    await alice.db.sendMessage(alice.channelId, { text: 'while you were both away' });

    const prepareInput = {
      docs: alice.db.docs,
      storage: alice.storage,
      channelId: alice.channelId,
      key: depotKey(K),
      contactKey: K,
      deviceId: alice.db.deviceId,
      randomBytes: cryptoRandomBytes,
      maxBlobChars: DEFAULT_MAX_DEPOSIT_CHARS,
      maxBatchChars: DEFAULT_MAX_BATCH_CHARS,
    };
    const prepared = await toPromise(createActor(prepareDeposit, { input: prepareInput }).start());
    // Each deposit lists both of Bob's devices, each with the check of a token sealed to that device alone.
    const tags = [bob1, bob2].map((b) => depotTag(K, b.db.deviceId));
    for (const d of prepared.deposits) expect(d.readers?.map((r) => r.slice(0, 16))).toEqual([...tags].sort());
    const items = prepared.deposits.map((d, i) => ({ id: `d${i}`, blob: d.blob }));
    for (const bob of [bob1, bob2]) {
      const tag = depotTag(K, bob.db.deviceId);
      const input = { docs: bob.db.docs, storage: bob.storage, channelId: bob.channelId, key: depotKey(K), deviceId: bob.db.deviceId, tag, items };
      const applied = await toPromise(createActor(applyDeposits, { input }).start());
      expect(applied.ids).toEqual(items.map((i) => i.id));
      // Its token acks for its own entry, and for no other.
      applied.tokens.forEach((token, i) => {
        expect(prepared.deposits[i]!.readers!.filter((r) => r.endsWith(`:${ackCheck(token)}`))).toEqual([`${tag}:${ackCheck(token)}`]);
      });
    }
    expect(texts(bob2)).toEqual(expect.arrayContaining(['hello both', 'from my phone', 'while you were both away']));
    expect(texts(bob1)).toEqual(expect.arrayContaining(['hello both', 'from my phone', 'while you were both away']));
  });
});
