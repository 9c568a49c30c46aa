/**
 * A contact's removal after a rotation (issue 12 §4, devices/rotate.ts; docs/threat-model.md, Unlinking
 * and key rotation), end to end through a relay process: Alice unlinks her second device, Bob moves to
 * the new key, then removes Alice; her remaining device shows "removed you" (`contactRemoved`, the
 * card's `removed_by`), online or back after being away (the depot). And a device Alice unlinked, which
 * still holds the old key, writes a removal into the old channel: Bob does not believe it (only Alice's
 * set as it stands counts), live or after a restart; Alice's own removal then reaches him.
 */
import { waitFor } from 'xstate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel } from '../src/app/backchannel.js';
import { Database, documentId, type Contact } from '../src/db/database.js';
import { fromHex } from '../src/crypto/bytes.js';
import { isRemoval } from '../src/devices/notices.js';
import { eventsOf } from './helpers/events.js';
import { hostileDevice } from './helpers/hostileDevice.js';
import { startRelayProcess, type RelayProcess } from './helpers/processes.js';
import { until } from './helpers/wait.js';

let relay: RelayProcess;
beforeAll(async () => {
  relay = await startRelayProcess([]);
});
afterAll(async () => {
  await relay?.stop();
});

const open = (storage = new MemoryStorage()) => createBackchannel({ storage, connector: nodeSocketConnector(), relay: relay.url });

/**
 * Alice (on `aliceStorage`) paired with Bob, her second device linked and then unlinked: the keys
 * rotated, and Bob has moved to the new one. Returns each one's card of the other.
 */
async function rotated(alice: Backchannel, bob: Backchannel, bobMoves = true): Promise<{ bobOnAlice: Contact; aliceOnBob: Contact }> {
  const alice2 = await open();
  try {
    const { code, done } = await alice.invite({ moniker: 'Bob' });
    const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
    const link = await alice.linkDevice();
    await Promise.all([link.done, alice2.acceptLink(link.code)]);
    await alice.send(bobOnAlice.id, { text: 'before' });
    await until(() => bob.messages(aliceOnBob.id).some((m) => m.text === 'before'), 30_000);

    const unlinked = eventsOf(alice2, 'unlinked');
    const moved = eventsOf(bob, 'devices'); // Bob's app says so when it took a rotation in
    await alice.unlinkDevice(alice2.deviceId);
    await unlinked.next(() => true);
    const [newKey, oldKey] = alice.contacts()[0]!.channels;
    expect(oldKey).toBeDefined();
    if (!bobMoves) return { bobOnAlice, aliceOnBob };
    // Bob takes the rotation in (the rekey notice in the old channel): his card's first key is the new one.
    await moved.next(() => bob.contacts()[0]!.channels[0] === newKey);
    expect(bob.contacts()[0]!.channels).toEqual([newKey, oldKey]);
    return { bobOnAlice, aliceOnBob };
  } finally {
    await alice2.close().catch(() => {});
  }
}

describe('removal after a rotation', () => {
  it('Bob removes Alice after her unlink: her remaining device shows "removed you"', async () => {
    const [alice, bob] = await Promise.all([open(), open()]);
    try {
      const { bobOnAlice, aliceOnBob } = await rotated(alice, bob);
      const removed = eventsOf(alice, 'contactRemoved');
      await bob.removeContact(aliceOnBob.id);
      const e = await removed.next((e) => e.contactId === bobOnAlice.id, 60_000);
      expect(e.by).toBe('peer');
      expect(e.contact?.removed_by).toBe('peer');
      expect(alice.contacts().find((c) => c.id === bobOnAlice.id)?.removed_by).toBe('peer');
      expect(alice.messages(bobOnAlice.id).map((m) => m.text)).toContain('before');
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 240_000);

  it('Bob reopens (a page reload) after moving, then removes Alice: she shows "removed you"', async () => {
    const bobStorage = new MemoryStorage();
    const alice = await open();
    let bob = await open(bobStorage);
    try {
      const { bobOnAlice, aliceOnBob } = await rotated(alice, bob);
      await bob.close();
      bob = await open(bobStorage);
      const removed = eventsOf(alice, 'contactRemoved');
      await bob.removeContact(aliceOnBob.id);
      const e = await removed.next((e) => e.contactId === bobOnAlice.id, 60_000);
      expect(e.by).toBe('peer');
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 240_000);

  it('Bob removes Alice at once after her unlink, before he may have moved: she shows "removed you"', async () => {
    const [alice, bob] = await Promise.all([open(), open()]);
    try {
      const { bobOnAlice, aliceOnBob } = await rotated(alice, bob, false);
      const removed = eventsOf(alice, 'contactRemoved');
      await bob.removeContact(aliceOnBob.id);
      const e = await removed.next((e) => e.contactId === bobOnAlice.id, 60_000);
      expect(e.by).toBe('peer');
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 240_000);

  it('Alice away while Bob removes her: back, her device shows "removed you" (the depot held it)', async () => {
    const aliceStorage = new MemoryStorage();
    let alice = await open(aliceStorage);
    const bob = await open();
    try {
      const { bobOnAlice, aliceOnBob } = await rotated(alice, bob);
      const away = eventsOf(bob, 'presence');
      const wasThere = bob.presence(aliceOnBob.id) !== undefined;
      await alice.close();
      // Bob sees her go (if she was connected): his removal then goes by the depot.
      if (wasThere) await away.next((e) => e.contactId === aliceOnBob.id && e.via === undefined);
      await bob.removeContact(aliceOnBob.id);

      alice = await open(aliceStorage);
      const removed = eventsOf(alice, 'contactRemoved');
      const e = await removed.next((e) => e.contactId === bobOnAlice.id, 60_000);
      expect(e.by).toBe('peer');
      expect(alice.contacts().find((c) => c.id === bobOnAlice.id)?.removed_by).toBe('peer');
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 240_000);
});

/** What `storage` holds, read by a Database of its own on a copy (the running device's is private). */
async function storedCopy(storage: MemoryStorage): Promise<Database> {
  const copy = new MemoryStorage();
  for (const { key, data } of await storage.loadRange([])) await copy.save(key, data);
  return Database.open({ storage: copy });
}

describe('a removal in an old channel', () => {
  it('written by a device Alice unlinked (it kept the old key): Bob does not believe it; her own removal he does', async () => {
    const [alice2Storage, bobStorage] = [new MemoryStorage(), new MemoryStorage()];
    const alice = await open();
    let bob = await open(bobStorage);
    const alice2 = await open(alice2Storage);
    let x: Awaited<ReturnType<typeof hostileDevice>> | undefined;
    try {
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
      const link = await alice.linkDevice();
      await Promise.all([link.done, alice2.acceptLink(link.code)]);
      // Bob knows Alice2 as Alice's (her set reached him): its messages are hers.
      await alice2.send(alice2.contacts()[0]!.id, { text: 'from Alice2, linked' });
      await until(() => bob.messages(aliceOnBob.id).some((m) => m.text === 'from Alice2, linked'), 30_000);
      const oldChannel = documentId(fromHex(alice.contacts()[0]!.channels[0]!));

      // Alice2 is stolen: it goes on running without the part that would wipe it or follow a rotation.
      const alice2Id = alice2.deviceId;
      await alice2.close();
      x = await hostileDevice(alice2Storage, relay.url);
      const xContact = x.getSnapshot().context.db!.contacts()[0]!.id;
      const moved = eventsOf(bob, 'devices');
      await alice.unlinkDevice(alice2Id);
      const newKey = alice.contacts()[0]!.channels[0];
      await moved.next(() => bob.contacts()[0]!.channels[0] === newKey);

      // It removes Bob once connected to him: its notice goes into the old channel and reaches Bob there
      // live (by the depot it missed Bob within 60 s in 2 of 7 runs: not what this case is about).
      await waitFor(x, (s) => s.context.presence[xContact] !== undefined, { timeout: 60_000 });
      const removed = eventsOf(bob, 'contactRemoved');
      x.send({ type: 'contact.remove', req: 1, contactId: xContact });
      await until(async () => (await storedCopy(bobStorage)).messages(oldChannel).some((m) => isRemoval(m) && m.sender === alice2Id), 60_000);
      // Anything the app was told before is done once a later request in the same queue is answered.
      await bob.renameContact(aliceOnBob.id, 'Alice A');
      expect(bob.contacts()[0]!.removed_by).toBeUndefined();
      expect(removed.seen).toEqual([]);

      // Nor after a restart (every channel of the card is read again).
      await bob.close();
      bob = await open(bobStorage);
      const removedAfter = eventsOf(bob, 'contactRemoved');
      await bob.renameContact(aliceOnBob.id, 'Alice');
      expect(bob.contacts()[0]!.removed_by).toBeUndefined();

      // Alice herself removes Bob: that he believes. (Her removal once never left: her own forget notice,
      // for her other devices, read back as another device's, stopped her link before it was out.)
      await alice.removeContact(bobOnAlice.id);
      const e = await removedAfter.next((e) => e.contactId === aliceOnBob.id, 60_000);
      expect(e.by).toBe('peer');
      expect(removedAfter.seen).toHaveLength(1);
    } finally {
      x?.stop();
      await Promise.all([alice.close(), bob.close(), alice2.close()]);
    }
  }, 240_000);
});
