/**
 * The history a channel's legacy notices vouch for (db/messageSignature.ts `vouchedHistory`) is read
 * again for every change that brings an unsigned message; the document store checks each notice's
 * signature once and keeps the verdict (db/documentStore.ts): a later change re-reads the notice
 * without another Ed25519 check, and what it vouches for is unchanged (test/message-signature-history.test.ts
 * holds the rules themselves).
 */
import * as A from '@automerge/automerge';
import { describe, expect, it, vi } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { toHex } from '../src/crypto/bytes.js';
import { Database, documentId } from '../src/db/database.js';
import type { Message } from '../src/db/schema.js';
import { cryptoRandomBytes } from '../src/effects/random.js';

/** Every signature an Ed25519 check was asked about, hex, in order. */
const checked = vi.hoisted(() => [] as string[]);
vi.mock('../src/crypto/ed25519.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/crypto/ed25519.js')>();
  return {
    ...real,
    verifyEd25519: (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => {
      checked.push(Buffer.from(signature).toString('hex'));
      return real.verifyEd25519(signature, message, publicKey);
    },
  };
});

const self = (db: Database) => ({ device_id: db.deviceId, public_key: db.publicKey });
const raw = (m: Message) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'string' ? new A.ImmutableString(v) : v]));
const message = (sender: string, text: string): Message => ({ id: toHex(cryptoRandomBytes(16)), timestamp: 1, sender, text });
const handOver = (from: Database, to: Database, channel: string) =>
  to.docs.update(channel, (doc) => A.merge(A.clone(doc), from.docs.get(channel)), { trust: 'contact', peer: from.deviceId });
const writeUnsigned = (db: Database, channel: string, m: Message) =>
  db.docs.change<{ messages: unknown[] }>(channel, (d) => {
    d.messages.push(raw(m));
  });

describe('legacy notices, checked once', () => {
  it('a second change bringing unsigned history reads the first notice again without checking its signature again', async () => {
    const [alice, bob, bob2] = await Promise.all([0, 1, 2].map(() => Database.open({ storage: new MemoryStorage() })));
    const contactKey = cryptoRandomBytes(32);
    const channel = documentId(contactKey);
    await alice!.addContact({ moniker: 'Bob', contactKey, publicKey: bob!.publicKey });
    await bob!.addContact({ moniker: 'Alice', contactKey, publicKey: alice!.publicKey });
    await bob!.addOwnDevices([self(bob2!)]);
    await bob2!.addOwnDevices([self(bob!)]);
    await bob2!.addContact({ moniker: 'Alice', contactKey, publicKey: alice!.publicKey });

    // Bob's history from before signatures, vouched for; Bob2 takes it through Alice.
    await writeUnsigned(bob!, channel, message(bob!.deviceId, 'old one'));
    expect(await bob!.vouchForHistory()).toBe(1);
    const first = bob!.messages(channel).find((m) => m.notice?.startsWith('{"legacy"'))!;
    const sigOfFirst = toHex(first.sig as Uint8Array);
    expect((await handOver(bob!, alice!, channel)).accepted).toBe(true);
    expect((await handOver(alice!, bob2!, channel)).accepted).toBe(true);
    const once = checked.filter((s) => s === sigOfFirst).length;
    expect(once).toBeGreaterThan(0);

    // More of it, vouched for in a second notice: the change that brings it reads both notices.
    await writeUnsigned(bob!, channel, message(bob!.deviceId, 'old two'));
    expect(await bob!.vouchForHistory()).toBe(1);
    expect((await handOver(bob!, alice!, channel)).accepted).toBe(true);
    const result = await handOver(alice!, bob2!, channel);
    expect(result.accepted).toBe(true);
    expect(bob2!.messages(channel).map((m) => m.text)).toEqual(expect.arrayContaining(['old one', 'old two']));
    expect(checked.filter((s) => s === sigOfFirst).length).toBe(once);
  });
});
