/**
 * What my devices and my contacts learn through notices in the channels they already sync (issue 12
 * §4, devices/notices.ts): a removal reaches the contact (connected, or later through the relay's
 * depot) and my other devices; a contact accepts messages from every device of my signed set; a device
 * linked later is announced to the earlier ones.
 */
import * as A from '@automerge/automerge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel, type PairedContact } from '../src/app/backchannel.js';
import { toHex } from '../src/crypto/bytes.js';
import { Database, documentId } from '../src/db/database.js';
import { signDeviceLink } from '../src/devices/linkRecord.js';
import {
  announcedDevices,
  cachedDeviceSetVerifier,
  deviceSetNotice,
  linkedNotice,
  peerSetOf,
  removalIn,
  removalNotice,
  signDeviceSet,
  verifyDeviceSet,
} from '../src/devices/notices.js';
import { unlinkNotice } from '../src/devices/selfLink.js';
import { sign, signingKeypair } from '../src/crypto/signing.js';
import type { Message } from '../src/db/schema.js';
import { signMessage } from '../src/db/messageSignature.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { eventsOf } from './helpers/events.js';
import { until } from './helpers/wait.js';

let relay: Relay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay.close();
});

const open = (storage = new MemoryStorage()) => createBackchannel({ storage, connector: nodeSocketConnector(), relay: relay.url });

async function pairUp(alice: Backchannel, bob: Backchannel): Promise<[bobOnAlice: PairedContact, aliceOnBob: PairedContact]> {
  const { code, done } = await alice.invite({ moniker: 'Bob' });
  return Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
}

async function linkUp(approver: Backchannel, joiner: Backchannel): Promise<void> {
  const link = await approver.linkDevice();
  await Promise.all([link.done, joiner.acceptLink(link.code)]);
}

/** Contact cards stored on `storage` (listed or not). */
const cardsOn = async (storage: MemoryStorage) => new Set((await storage.listKeys(['docs', 'contact'])).map((k) => k[2]));

describe('removing a contact tells the other side', () => {
  it('connected: the contact hears `contactRemoved` by the peer, keeps the history, its link stops; I forget the card once the notice is out', async () => {
    const aliceStorage = new MemoryStorage();
    const bobStorage = new MemoryStorage();
    const [alice, bob] = await Promise.all([open(aliceStorage), open(bobStorage)]);
    let bob2: Backchannel | undefined;
    try {
      const [bobOnAlice, aliceOnBob] = await pairUp(alice, bob);
      const removed = eventsOf(bob, 'contactRemoved');
      await alice.send(bobOnAlice.id, { text: 'bye' });
      await until(() => bob.messages(aliceOnBob.id).some((m) => m.text === 'bye'));
      // Connected now (the channel may have opened before 'bye' arrived: read the state, not the next event).
      await until(() => bob.presence(aliceOnBob.id) !== undefined);

      await alice.removeContact(bobOnAlice.id);
      expect(alice.contacts()).toEqual([]);
      const told = await removed.next((e) => e.contactId === aliceOnBob.id);
      expect(told).toMatchObject({ by: 'peer', contact: { id: aliceOnBob.id, removed_by: 'peer' } });
      // History readable, notices never shown as chat, the link stopped, sending refused.
      expect(bob.contacts().map((c) => [c.id, c.removed_by])).toEqual([[aliceOnBob.id, 'peer']]);
      expect(bob.messages(aliceOnBob.id).map((m) => m.text)).toEqual(['bye']);
      await until(() => bob.presence(aliceOnBob.id) === undefined);
      await expect(bob.send(aliceOnBob.id, { text: 'still there?' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      // Alice's card and channel go once the notice is on the relay (Bob's link stopped, so hers deposits).
      await until(async () => !(await cardsOn(aliceStorage)).has(bobOnAlice.id), 30_000);

      // Bob restarts: still marked, still unlinked.
      await bob.close();
      bob2 = await open(bobStorage);
      expect(bob2.contacts().map((c) => c.removed_by)).toEqual(['peer']);
      expect(bob2.messages(aliceOnBob.id).map((m) => m.text)).toEqual(['bye']);
      // Bob removes her in turn: nobody left to tell, gone at once.
      await bob2.removeContact(aliceOnBob.id);
      expect(await cardsOn(bobStorage)).toEqual(new Set());
    } finally {
      await Promise.all([alice.close(), bob.close(), bob2?.close()]);
    }
  }, 60_000);

  it('connected, on a relay that keeps no deposits: I forget the card once the contact’s device has my notice by live SYNC', async () => {
    // Nothing can be deposited here: only the contact's own device can show the notice is out.
    const bare = await startRelay({ depotLimits: { maxBytesTotal: 0, maxBytesPerTopic: 0 } });
    const openBare = (storage = new MemoryStorage()) => createBackchannel({ storage, connector: nodeSocketConnector(), relay: bare.url });
    const aliceStorage = new MemoryStorage();
    const [alice, bob] = await Promise.all([openBare(aliceStorage), openBare()]);
    try {
      const [bobOnAlice, aliceOnBob] = await pairUp(alice, bob);
      await alice.send(bobOnAlice.id, { text: 'bye' });
      await until(() => bob.messages(aliceOnBob.id).some((m) => m.text === 'bye'));
      await until(() => alice.presence(bobOnAlice.id) !== undefined && bob.presence(aliceOnBob.id) !== undefined);
      const removed = eventsOf(bob, 'contactRemoved');
      await alice.removeContact(bobOnAlice.id);
      expect(await removed.next((e) => e.contactId === aliceOnBob.id)).toMatchObject({ by: 'peer' });
      await until(async () => !(await cardsOn(aliceStorage)).has(bobOnAlice.id), 20_000);
      expect(await bare.depot.count()).toBe(0);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
      await bare.close();
    }
  }, 60_000);

  it('away: the contact hears it when back, through the relay’s depot', async () => {
    const bobStorage = new MemoryStorage();
    const [alice, bob] = await Promise.all([open(), open(bobStorage)]);
    let back: Backchannel | undefined;
    try {
      const [bobOnAlice, aliceOnBob] = await pairUp(alice, bob);
      await bob.close();
      await alice.removeContact(bobOnAlice.id);
      back = await open(bobStorage);
      const told = await eventsOf(back, 'contactRemoved').next((e) => e.contactId === aliceOnBob.id);
      expect(told.by).toBe('peer');
      expect(back.contacts()[0]!.removed_by).toBe('peer');
    } finally {
      await Promise.all([alice.close(), bob.close(), back?.close()]);
    }
  }, 60_000);

  it('my other linked device forgets the contact too', async () => {
    const alice2Storage = new MemoryStorage();
    const [alice, bob, alice2] = await Promise.all([open(), open(), open(alice2Storage)]);
    try {
      const [bobOnAlice] = await pairUp(alice, bob);
      await linkUp(alice, alice2);
      const bobOnAlice2 = alice2.contacts()[0]!;
      const forgot = eventsOf(alice2, 'contactRemoved');
      await alice.removeContact(bobOnAlice.id);
      expect(await forgot.next((e) => e.contactId === bobOnAlice2.id)).toMatchObject({ by: 'device' });
      expect(alice2.contacts()).toEqual([]);
      expect(await cardsOn(alice2Storage)).toEqual(new Set());
    } finally {
      await Promise.all([alice.close(), bob.close(), alice2.close()]);
    }
  }, 60_000);
});

describe('contacts know my set', () => {
  /** Bob's database with Alice's card (her device key `rootKey`), and a change from `peer` adding messages (signed by `by`, if given). */
  async function bobReceives(rootKey: string, messages: { sender: string; notice?: string; by?: Database }[], peer: string) {
    const db = await Database.open({ storage: new MemoryStorage() });
    const key = cryptoRandomBytes(32);
    await db.addContact({ moniker: 'Alice', contactKey: key, publicKey: rootKey });
    const channel = documentId(key);
    const before = db.docs.get<{ messages: unknown[] }>(channel);
    const next = A.change(A.clone(before, { actor: toHex(cryptoRandomBytes(16)) }), (d: { messages: unknown[] }) => {
      for (const m of messages) {
        const message = {
          id: toHex(cryptoRandomBytes(16)),
          timestamp: 1,
          sender: m.sender,
          text: m.notice ? '' : 'hi',
          ...(m.notice ? { notice: m.notice } : {}),
        };
        const sig = m.by && signMessage(channel, message, (b) => m.by!.sign(b));
        d.messages.push(
          Object.fromEntries(
            Object.entries({ ...message, ...(sig ? { sig } : {}) }).map(([k, v]) => [k, typeof v === 'string' ? new A.ImmutableString(v) : v]),
          ),
        );
      }
    });
    return db.docs.update(channel, (doc) => A.merge(A.clone(doc), next), { trust: 'contact', peer });
  }

  it('a device of the set the card’s key signed may pass on another’s messages; unsigned, or signed by a stranger, it may not', async () => {
    const [alice, alice2, stranger] = (await Promise.all([0, 1, 2].map(() => Database.open({ storage: new MemoryStorage() })))) as [
      Database,
      Database,
      Database,
    ];
    const self = (db: Database) => ({ device_id: db.deviceId, public_key: db.publicKey });
    await alice.addOwnDevices([self(alice2)]);
    const signed = deviceSetNotice(alice.deviceSetStatement(5));
    const forged = deviceSetNotice(signDeviceSet([self(alice), self(alice2), self(stranger)], 5, stranger.publicKey, (m) => stranger.sign(m)));

    // Alice passes on what Alice2 wrote, her signed set in the same change.
    const ok = await bobReceives(
      alice.publicKey,
      [
        { sender: alice.deviceId, notice: signed, by: alice },
        { sender: alice2.deviceId, by: alice2 },
      ],
      alice.deviceId,
    );
    expect(ok.accepted).toBe(true);
    // Alice2 passes on Alice's message: the set makes both hers.
    expect(
      (
        await bobReceives(
          alice.publicKey,
          [
            { sender: alice.deviceId, notice: signed, by: alice },
            { sender: alice.deviceId, by: alice },
          ],
          alice2.deviceId,
        )
      ).accepted,
    ).toBe(true);
    // The set says its devices sign: unsigned, not even the paired device's message is taken any more.
    const unsignedPaired = await bobReceives(
      alice.publicKey,
      [{ sender: alice.deviceId, notice: signed, by: alice }, { sender: alice.deviceId }],
      alice2.deviceId,
    );
    expect(unsignedPaired.problems.join()).toMatch(/signs its messages but is not signed/);
    // The set names Alice2 with her key: a message in her name must carry her signature (db/messageSignature.ts).
    const unsigned = await bobReceives(alice.publicKey, [{ sender: alice.deviceId, notice: signed, by: alice }, { sender: alice2.deviceId }], alice.deviceId);
    expect(unsigned.problems.join()).toMatch(/not signed/);
    const byAlice = await bobReceives(
      alice.publicKey,
      [
        { sender: alice.deviceId, notice: signed, by: alice },
        { sender: alice2.deviceId, by: alice },
      ],
      alice.deviceId,
    );
    expect(byAlice.problems.join()).toMatch(/signature is not that device's/);
    // No set: a message of another device is refused, as before.
    const bare = await bobReceives(alice.publicKey, [{ sender: alice2.deviceId }], alice.deviceId);
    expect(bare.accepted).toBe(false);
    expect(bare.problems.join()).toMatch(/not written by the peer/);
    // A set signed by a key the card does not trust adds nobody.
    expect((await bobReceives(alice.publicKey, [{ sender: alice.deviceId, notice: forged }, { sender: stranger.deviceId }], alice.deviceId)).accepted).toBe(
      false,
    );
  });

  it('trust grows from the card’s key along signed sets, in any order; an altered set counts for nothing', async () => {
    const dbs = await Promise.all([0, 1, 2].map(() => Database.open({ storage: new MemoryStorage() })));
    const [a, b, c] = dbs as [Database, Database, Database];
    const self = (db: Database) => ({ device_id: db.deviceId, public_key: db.publicKey });
    const byA = signDeviceSet([self(a), self(b)], 1, a.publicKey, (m) => a.sign(m));
    const byB = signDeviceSet([self(a), self(b), self(c)], 2, b.publicKey, (m) => b.sign(m));
    const notices = [{ notice: deviceSetNotice(byB) }, { notice: deviceSetNotice(byA) }];
    expect(peerSetOf(a.publicKey, notices)).toEqual(new Set([a.deviceId, b.deviceId, c.deviceId]));
    expect(peerSetOf(c.publicKey, notices)).toEqual(new Set()); // c signed nothing: from c's key nothing grows
    const altered = { ...byA, devices: [self(a), self(c)] };
    expect(peerSetOf(a.publicKey, [{ notice: deviceSetNotice(altered) }])).toEqual(new Set());
    expect(peerSetOf(undefined, notices)).toEqual(new Set());
  });
});

describe('a device linked later is announced to the earlier ones', () => {
  it('Alice links Alice2, Alice2 links Alice3: every device lists the whole set', async () => {
    const [alice, alice2, alice3] = await Promise.all([open(), open(), open()]);
    try {
      await linkUp(alice, alice2);
      const changed = eventsOf(alice, 'devices');
      await linkUp(alice2, alice3);
      const ids = (bc: Backchannel) =>
        bc
          .devices()
          .map((d) => d.device_id)
          .sort();
      await changed.next((e) => e.devices.some((d) => d.device_id === alice3.deviceId));
      expect(ids(alice)).toEqual([alice2.deviceId, alice3.deviceId].sort());
      expect(ids(alice2)).toEqual([alice.deviceId, alice3.deviceId].sort());
      expect(ids(alice3)).toEqual([alice.deviceId, alice2.deviceId].sort());
    } finally {
      await Promise.all([alice.close(), alice2.close(), alice3.close()]);
    }
  }, 60_000);
});

/** A device's keys and a signer for it (no Database: cheap enough for long chains). */
const device = () => {
  const pair = signingKeypair(cryptoRandomBytes(32));
  return { device_id: toHex(cryptoRandomBytes(16)), public_key: toHex(pair.publicKey), sign: (m: Uint8Array) => sign(pair.secretKey, m) };
};
type Device = ReturnType<typeof device>;
const own = (d: Device) => ({ device_id: d.device_id, public_key: d.public_key });
let nth = 0;
const message = (sender: string, fields: Partial<Message>): Message => ({ id: `m${nth++}`, timestamp: 0, sender, text: '', ...fields });
const linked = (by: Device, joiner: Device) => linkedNotice(signDeviceLink({ ...own(joiner), linked_at: 1, by: by.public_key }, by.sign));

describe('what a sender may claim (senders are self-asserted)', () => {
  it('a removal in a contact’s channel naming a device of mine as its sender is not taken as mine: only the peer removes there', () => {
    const [a, b, c] = [device(), device(), device()];
    const mine = new Set([a.device_id, b.device_id]);
    // The contact C writes a removal "by my device B": ignored (my devices say `forget` in our own channel).
    expect(removalIn([message(b.device_id, { notice: removalNotice() })], mine)).toBeUndefined();
    expect(removalIn([message(c.device_id, { notice: removalNotice() })], mine)).toEqual({ by: 'peer', sender: c.device_id });
  });

  it('an unlinked device (it keeps the set key, so it may still write our own channel) adds nobody to my set', () => {
    const [a, x, y, z, w] = [device(), device(), device(), device(), device()];
    const mine = new Set([a.device_id]);
    const keys = new Map([[a.device_id, a.public_key]]);
    const channel = [
      message(a.device_id, { text: linked(a, x) }),
      // X, stolen, puts a record of its own before the unlink notice, naming my device A as the sender.
      message(a.device_id, { text: linked(x, z) }),
      message(a.device_id, { text: unlinkNotice(x.device_id) }),
      message(a.device_id, { text: linked(x, y) }),
      // ... and a record naming X again, by a device that may approve: X stays out.
      message(a.device_id, { text: linked(a, x) }),
      message(a.device_id, { text: linked(a, w) }),
    ];
    expect(announcedDevices(channel, mine, keys)).toEqual([own(w)]);
  });
});

describe('a channel full of set notices costs one verification each, once', () => {
  it('a chain stored in reverse: linear, each statement verified once; the next change verifies none again, the set unchanged', () => {
    const chain = Array.from({ length: 40 }, device);
    // Statement i, by device i, names devices i and i+1: trust walks the whole chain from device 0.
    const notices = chain.slice(0, -1).map((d, i) => ({ notice: deviceSetNotice(signDeviceSet([own(d), own(chain[i + 1]!)], i, d.public_key, d.sign)) }));
    notices.reverse();
    let verified = 0;
    const verify = cachedDeviceSetVerifier((s: unknown): s is never => (verified++, verifyDeviceSet(s)));
    const first = peerSetOf(chain[0]!.public_key, notices, verify);
    expect(first).toEqual(new Set(chain.map((d) => d.device_id)));
    expect(verified).toBe(chain.length - 1);
    const second = peerSetOf(chain[0]!.public_key, [...notices, { notice: undefined }], verify);
    expect(second).toEqual(first);
    expect(verified).toBe(chain.length - 1);
    // An altered statement is a new one: verified, and refused.
    const altered = JSON.parse(notices[0]!.notice) as { set: { devices: unknown[] } };
    altered.set.devices.pop();
    expect(peerSetOf(chain.at(-2)!.public_key, [{ notice: JSON.stringify(altered) }], verify)).toEqual(new Set());
    expect(verified).toBe(chain.length);
  });

  it('only each signer’s newest statement counts', () => {
    const [a, b, c] = [device(), device(), device()];
    const older = deviceSetNotice(signDeviceSet([own(a), own(b), own(c)], 1, a.public_key, a.sign));
    const newer = deviceSetNotice(signDeviceSet([own(a), own(b)], 2, a.public_key, a.sign));
    expect(peerSetOf(a.public_key, [{ notice: newer }, { notice: older }])).toEqual(new Set([a.device_id, b.device_id]));
  });
});
