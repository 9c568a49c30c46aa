/**
 * A contact's removal after a rotation (issue 12 §4, devices/rotate.ts; docs/threat-model.md, Unlinking
 * and key rotation), end to end through a relay process: Alice unlinks her second device, Bob moves to
 * the new key, then removes Alice; her remaining device shows "removed you" (`contactRemoved`, the
 * card's `removed_by`), online or back after being away (the depot).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel } from '../src/app/backchannel.js';
import type { Contact } from '../src/db/database.js';
import { eventsOf } from './helpers/events.js';
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
