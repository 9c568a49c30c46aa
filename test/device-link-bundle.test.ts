/**
 * The pieces of a device link below the app (issue 12 §4): the bundle the approving device builds
 * (devices/offer.ts) and the checks the new device runs on it (devices/linkBundle.ts, adopt.ts) — a
 * record signed by someone else, naming another device, altered, or a bundle out of shape is refused
 * and nothing is stored — and the peer rule that lets a contact pass on messages my other devices
 * wrote (and only those) into our shared channel.
 */
import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { toHex } from '../src/crypto/bytes.js';
import { Database, documentId } from '../src/db/database.js';
import { signMessage } from '../src/db/messageSignature.js';
import { adoptLinkBundle } from '../src/devices/adopt.js';
import { LINK_BOUNDS, readLinkBundle, type LinkBundle } from '../src/devices/linkBundle.js';
import { linkBundleFor } from '../src/devices/offer.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { LinkRefusedError } from '../src/errors.js';
import { encode } from '../src/journal/encode.js';

const open = () => Database.open({ storage: new MemoryStorage() });
const self = (db: Database) => ({ device_id: db.deviceId, public_key: db.publicKey });

async function linkedPair() {
  const [approver, joiner] = await Promise.all([open(), open()]);
  const bob = await approver.addContact({ moniker: 'Bob', contactKey: cryptoRandomBytes(32), publicKey: 'ab'.repeat(32) });
  await approver.updateSettings({ relay_server: 'ws://127.0.0.1:1/v1', file_size_limit: 1234 });
  return { approver, joiner, bob, bundle: linkBundleFor(approver, self(joiner), 42) };
}

function refused(fn: () => unknown, detail: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(LinkRefusedError);
  expect((error as LinkRefusedError).code).toBe('LINK_REFUSED');
  expect((error as LinkRefusedError).message).toMatch(detail);
}

describe('device link bundles', () => {
  it('the approver signs the new device in and hands it the set, the contacts (with keys) and settings; adopting stores them', async () => {
    const { approver, joiner, bob, bundle } = await linkedPair();
    expect(bundle.record).toMatchObject({ device_id: joiner.deviceId, public_key: joiner.publicKey, by: approver.publicKey, linked_at: 42 });
    const adopted = await adoptLinkBundle(joiner, JSON.parse(JSON.stringify(bundle)), approver.publicKey);
    expect(adopted.devices).toEqual([self(approver)]);
    expect(joiner.ownDevices()).toEqual([self(approver)]);
    expect(adopted.contacts.map((c) => [c.moniker, c.channels, c.public_key])).toEqual([['Bob', bob.channels, bob.public_key]]);
    expect(joiner.channelOf(adopted.contacts[0]!)).toBe(approver.channelOf(bob));
    expect(adopted.settings).toMatchObject({ relay_server: 'ws://127.0.0.1:1/v1', file_size_limit: 1234 });
    // Adopting again adds no second card for the same channel.
    expect((await adoptLinkBundle(joiner, bundle, approver.publicKey)).contacts).toHaveLength(1);
  });

  it('in a journal, the contact keys and the set key of a bundle are sealed', async () => {
    const { bundle } = await linkedPair();
    const sealer = { seal: (b: Uint8Array) => `sealed:${b.length}`, open: () => new Uint8Array() };
    const written = JSON.stringify(encode({ output: { link: bundle } }, sealer));
    expect(written).toContain(bundle.record.signature); // public: stays readable
    for (const secret of [bundle.set.key, bundle.contacts[0]!.key]) expect(written).not.toContain(secret);
  });

  it('refuses a record by another device, for another device, altered, and bundles out of shape; nothing is stored', async () => {
    const { approver, joiner, bundle } = await linkedPair();
    const stranger = await open();
    const me = self(joiner);
    const cases: [unknown, string | undefined, RegExp][] = [
      [bundle, stranger.publicKey, /not signed by the device that showed the code/],
      [bundle, undefined, /not signed by the device that showed the code/],
      [linkBundleFor(stranger, me, 42), approver.publicKey, /not signed by the device that showed the code/],
      [linkBundleFor(approver, self(stranger), 42), approver.publicKey, /names another device/],
      [{ ...bundle, record: { ...bundle.record, linked_at: 43 } }, approver.publicKey, /signature does not hold/],
      [{ ...bundle, devices: [] }, approver.publicKey, /not in its own list/],
      [{ ...bundle, devices: Array(LINK_BOUNDS.devices + 1).fill(self(approver)) }, approver.publicKey, /bad device list/],
      [{ ...bundle, contacts: [{ moniker: 'x', key: 'zz' }] }, approver.publicKey, /contact is malformed/],
      [{ ...bundle, contacts: Array(LINK_BOUNDS.contacts + 1).fill(bundle.contacts[0]) }, approver.publicKey, /bad contact list/],
      [{ ...bundle, settings: { relay_server: 'x'.repeat(LINK_BOUNDS.url + 1), ice_servers: [] } }, approver.publicKey, /bad settings/],
      // Each refused before anything is stored (the database would refuse them later, half-way through).
      [{ ...bundle, settings: { relay_server: 'http://not-a-relay', ice_servers: [] } }, approver.publicKey, /bad settings/],
      [{ ...bundle, settings: { relay_server: 'ws://127.0.0.1:1/v1', ice_servers: [null] } }, approver.publicKey, /bad settings/],
      [{ ...bundle, settings: { relay_server: 'ws://127.0.0.1:1/v1', ice_servers: [{ urls: ['http://x'] }] } }, approver.publicKey, /bad settings/],
      [{ ...bundle, settings: { relay_server: 'ws://127.0.0.1:1/v1', ice_servers: [], file_size_limit: -1 } }, approver.publicKey, /bad settings/],
      ['not a bundle', approver.publicKey, /no link bundle/],
    ];
    for (const [value, by, detail] of cases) {
      refused(() => readLinkBundle(value, by, me), detail);
      await expect(adoptLinkBundle(joiner, value, by)).rejects.toBeInstanceOf(LinkRefusedError);
    }
    expect(joiner.contacts()).toEqual([]);
    expect(joiner.ownDevices()).toEqual([]);
    const good: LinkBundle = readLinkBundle(bundle, approver.publicKey, me);
    expect(good.contacts).toHaveLength(1);
  });

  it('my devices are kept across a restart; this device and repeats are never in the list', async () => {
    const storage = new MemoryStorage();
    const db = await Database.open({ storage });
    const other = await open();
    await db.addOwnDevices([self(other), self(other), self(db)]);
    expect(db.ownDevices()).toEqual([self(other)]);
    expect((await Database.open({ storage })).ownDevices()).toEqual([self(other)]);
  });
});

describe('a contact passing on messages', () => {
  /**
   * A channel Bob (device `bob`) holds, into which messages by `senders` arrive from him; `signers`:
   * the databases whose keys sign a sender's messages (db/messageSignature.ts), unsigned without one.
   */
  async function arriving(ownDevices: Database[], senders: string[], signers: Database[] = ownDevices) {
    const db = await open();
    const key = cryptoRandomBytes(32);
    const contact = await db.addContact({ moniker: 'Bob', contactKey: key });
    const channel = documentId(key);
    await db.addOwnDevices(ownDevices.map((d) => ({ device_id: d.deviceId, public_key: d.publicKey })));
    const bob = toHex(cryptoRandomBytes(16));
    const before = db.docs.get<{ messages: unknown[] }>(channel);
    const next = A.change(A.clone(before, { actor: toHex(cryptoRandomBytes(16)) }), (d: { messages: unknown[] }) => {
      for (const sender of senders) {
        const m = { id: toHex(cryptoRandomBytes(16)), timestamp: 1, sender, text: 'hi' };
        const signer = signers.find((s) => s.deviceId === sender);
        d.messages.push({
          id: new A.ImmutableString(m.id),
          timestamp: 1,
          sender: new A.ImmutableString(sender),
          text: new A.ImmutableString('hi'),
          ...(signer ? { sig: signMessage(channel, m, (b) => signer.sign(b)) } : {}),
        });
      }
    });
    const result = await db.docs.update(channel, (doc) => A.merge(A.clone(doc), next), { trust: 'contact', peer: bob });
    return { result, db, contact, bob };
  }

  it('accepts messages my other device wrote (signed by it), refuses ones a stranger wrote, and unsigned ones in my device’s name', async () => {
    const other = await open();
    const mine = other.deviceId;
    const ok = await arriving([other], [mine]);
    expect(ok.result.accepted).toBe(true);
    expect(ok.db.messages(ok.db.channelOf(ok.contact)).map((m) => m.sender)).toEqual([mine]);
    const unsigned = await arriving([other], [mine], []);
    expect(unsigned.result.accepted).toBe(false);
    expect(unsigned.result.problems.join()).toMatch(/names a device of mine but is not signed/);
    const stranger = toHex(cryptoRandomBytes(16));
    const bad = await arriving([other], [stranger]);
    expect(bad.result.accepted).toBe(false);
    expect(bad.result.problems.join()).toMatch(/not written by the peer/);
    expect(bad.db.messages(bad.db.channelOf(bad.contact))).toEqual([]);
  });
});
