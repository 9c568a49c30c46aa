/**
 * History from before signatures (issue: a device I link later got my devices' unsigned history only
 * from my devices, never through a contact; and once a contact's set says its devices sign, a device
 * of mine that first syncs the channel would refuse the contact's old unsigned messages too). The rule
 * of task 2 (sets say `signs`) does not tell old history from a forgery: both are unsigned messages in
 * the name of a device that signs. What does: the device itself vouching, signed, for the messages it
 * wrote unsigned (a legacy notice listing their digests, written when a database opens:
 * `Database.vouchForHistory`). Forgeries it did not list stay refused, and nobody can vouch for another
 * device.
 */
import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { toHex } from '../src/crypto/bytes.js';
import { Database, documentId } from '../src/db/database.js';
import { legacyDigest, legacyNotices, signMessage } from '../src/db/messageSignature.js';
import type { Message } from '../src/db/schema.js';
import { deviceSetNotice } from '../src/devices/notices.js';
import { cryptoRandomBytes } from '../src/effects/random.js';

const self = (db: Database) => ({ device_id: db.deviceId, public_key: db.publicKey });
const raw = (m: Message) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'string' ? new A.ImmutableString(v) : v]));
const message = (sender: string, text: string): Message => ({ id: toHex(cryptoRandomBytes(16)), timestamp: 1, sender, text });

/** `from` hands `to` everything it has of `channel`, as a sync would (`peer`: who says hello). */
const handOver = (from: Database, to: Database, channel: string, peer = from.deviceId) =>
  to.docs.update(channel, (doc) => A.merge(A.clone(doc), from.docs.get(channel)), { trust: 'contact', peer });

/** A device writes into its copy of the channel as a version before signatures did: unsigned. */
const writeUnsigned = (db: Database, channel: string, m: Message) =>
  db.docs.change<{ messages: unknown[] }>(channel, (d) => {
    d.messages.push(raw(m));
  });

async function pair() {
  const [alice, bob, bob2] = await Promise.all([0, 1, 2].map(() => Database.open({ storage: new MemoryStorage() })));
  const contactKey = cryptoRandomBytes(32);
  const channel = documentId(contactKey);
  await alice!.addContact({ moniker: 'Bob', contactKey, publicKey: bob!.publicKey });
  await bob!.addContact({ moniker: 'Alice', contactKey, publicKey: alice!.publicKey });
  return { alice: alice!, bob: bob!, bob2: bob2!, contactKey, channel };
}

describe('history from before signatures', () => {
  it('a device I link later takes my other device’s unsigned history through a contact once that device vouched for it; forgeries stay refused', async () => {
    const { alice, bob, bob2, contactKey, channel } = await pair();
    const old = message(bob.deviceId, 'written before signatures');
    await writeUnsigned(bob, channel, old);
    expect((await handOver(bob, alice, channel)).accepted).toBe(true);

    // Bob links Bob2, which first syncs the channel with Alice.
    await bob.addOwnDevices([self(bob2)]);
    await bob2.addOwnDevices([self(bob)]);
    await bob2.addContact({ moniker: 'Alice', contactKey, publicKey: alice.publicKey });
    const refused = await handOver(alice, bob2, channel);
    // Task 2's rule alone does not fix it: my devices sign, and the old message is unsigned in Bob's name.
    expect(refused.accepted).toBe(false);
    expect(refused.problems.join()).toMatch(/names a device of mine but is not signed/);

    // Bob vouches (as it does on opening its database), once; Alice passes that on with the rest.
    expect(await bob.vouchForHistory()).toBe(1);
    expect(await bob.vouchForHistory()).toBe(0);
    expect((await handOver(bob, alice, channel)).accepted).toBe(true);
    expect((await handOver(alice, bob2, channel)).accepted).toBe(true);
    expect(bob2.messages(channel).map((m) => m.text)).toContain('written before signatures');

    // Alice writes, unsigned, in Bob's name: not vouched for, refused.
    const forged = message(bob.deviceId, 'I am Bob, trust me');
    await writeUnsigned(alice, channel, forged);
    expect((await handOver(alice, bob2, channel)).problems.join()).toMatch(/names a device of mine but is not signed/);
    // Nor can Alice vouch for it: a legacy notice speaks only for its own writer's messages…
    const [byAlice] = legacyNotices(channel, [forged]);
    await alice.sendMessage(channel, { notice: byAlice! });
    expect((await handOver(alice, bob2, channel)).accepted).toBe(false);
    // …and one in Bob's name must carry Bob's signature.
    const asBob: Message = { ...message(bob.deviceId, ''), notice: byAlice! };
    await alice.docs.change<{ messages: unknown[] }>(channel, (d) => {
      d.messages.push(raw({ ...asBob, sig: signMessage(channel, asBob, (b) => alice.sign(b)) }));
    });
    expect((await handOver(alice, bob2, channel)).accepted).toBe(false);
    expect(legacyDigest(channel, forged)).not.toBe(legacyDigest(channel, { ...forged, text: 'other' }));
  });

  it('once the contact’s set says its devices sign, a device of mine that first syncs takes the contact’s unsigned history only as vouched for', async () => {
    const { alice, bob, bob2, contactKey, channel } = await pair();
    const alice2 = await Database.open({ storage: new MemoryStorage() });
    await writeUnsigned(alice, channel, message(alice.deviceId, 'Alice, before signatures'));
    // Alice links Alice2 and signs her set (it says `signs`) into the channel.
    await alice.addOwnDevices([self(alice2)]);
    await alice.sendMessage(channel, { notice: deviceSetNotice(alice.deviceSetStatement()) });

    await bob2.addOwnDevices([self(bob)]);
    await bob2.addContact({ moniker: 'Alice', contactKey, publicKey: alice.publicKey });
    // Without Alice vouching, her old message is an unsigned one in the name of a device that signs.
    const refused = await handOver(alice, bob2, channel);
    expect(refused.problems.join()).toMatch(/signs its messages but is not signed/);

    // Alice vouches for her history (as her database does when it opens).
    expect(await alice.vouchForHistory()).toBe(1);
    expect((await handOver(alice, bob2, channel)).accepted).toBe(true);
    expect((await handOver(alice, bob, channel)).accepted).toBe(true);
    expect(bob2.messages(channel).map((m) => m.text)).toContain('Alice, before signatures');
  });

  it('opening a database vouches for its unsigned history in every channel', async () => {
    const storage = new MemoryStorage();
    const db = await Database.open({ storage });
    const contact = await db.addContact({ moniker: 'X', contactKey: cryptoRandomBytes(32) });
    const channel = db.channelOf(contact);
    await writeUnsigned(db, channel, message(db.deviceId, 'old'));
    await db.sendMessage(channel, { text: 'new, signed' });
    db.docs.close();
    const again = await Database.open({ storage });
    const notices = again.docs.get<{ messages: { notice?: unknown }[] }>(channel).messages.filter((m) => m.notice !== undefined);
    expect(notices).toHaveLength(1);
    expect(await again.vouchForHistory()).toBe(0);
  });
});
