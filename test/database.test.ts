import * as A from '@automerge/automerge';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { Database, SETTINGS_ID, SYSTEM_KEY, documentId } from '../src/db/database.js';
import { DocumentStore } from '../src/db/documentStore.js';
import { fromHex } from '../src/crypto/bytes.js';
import { verifySignature } from '../src/crypto/signing.js';
import { MIGRATIONS, SCHEMA_VERSIONS } from '../src/db/schema.js';
import { IdentityDamagedError, InvalidArgumentError, QuarantinedError, SchemaTooNewError } from '../src/errors.js';

const key = () => cryptoRandomBytes(32);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir() {
  const d = mkdtempSync(join(tmpdir(), 'bc-db-'));
  dirs.push(d);
  return d;
}

describe('Database', () => {
  it('first start creates device_id (in its own file) and default settings; a restart keeps them', async () => {
    const dir = tempDir();
    const db = await Database.open({ storage: new NodeFsStorage(dir) });
    expect(db.deviceId).toMatch(/^[0-9a-f]{32}$/);
    // The device's signing key: its public half in the System document, its secret half in a file of its own.
    expect(readdirSync(join(dir, 'system')).sort()).toEqual(['device', 'secret']);
    expect(db.publicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(db.system.public_key).toBe(db.publicKey);
    expect(db.settings().relay_server).toBe('ws://relay.magic-wormhole.io:4000/v1');
    await db.updateSettings({ relay_server: 'wss://relay.example/v1', ice_servers: [{ urls: ['stun:127.0.0.1:3478'] }] });
    const again = await Database.open({ storage: new NodeFsStorage(dir) });
    expect(again.deviceId).toBe(db.deviceId);
    expect(again.publicKey).toBe(db.publicKey);
    const message = new TextEncoder().encode('a device-link record');
    expect(verifySignature(fromHex(again.publicKey), message, again.sign(message))).toBe(true);
    expect(again.settings().relay_server).toBe('wss://relay.example/v1');
    expect(again.settings().ice_servers).toEqual([{ urls: ['stun:127.0.0.1:3478'] }]);
  });

  it('a device made before keypairs gets one at its next open, keeping its device_id', async () => {
    const storage = new MemoryStorage();
    const old = A.from({ kind: 'system', schema: 1, device_id: 'ab'.repeat(16), created_at: 5 });
    await storage.save(SYSTEM_KEY, A.save(old));
    const db = await Database.open({ storage });
    expect(db.firstStart).toBe(false);
    expect(db.deviceId).toBe('ab'.repeat(16));
    expect(db.publicKey).toMatch(/^[0-9a-f]{64}$/);
    const again = await Database.open({ storage });
    expect(again.publicKey).toBe(db.publicKey);
  });

  it('a message the storage refuses to save is not in the document sync and the depot read', async () => {
    class Refusing extends MemoryStorage {
      refusing = false;
      override async save(key: string[], data: Uint8Array): Promise<void> {
        if (this.refusing && key[0] === 'docs') throw new Error('read-only storage');
        return super.save(key, data);
      }
    }
    const storage = new Refusing();
    const db = await Database.open({ storage });
    const channel = db.channelOf(await db.addContact({ moniker: 'Bob', contactKey: key() }));
    await db.sendMessage(channel, { text: 'kept' });
    const before = A.getHeads(db.docs.get(channel));
    const changes = A.getAllChanges(db.docs.get(channel)).length;
    storage.refusing = true;
    await expect(db.sendMessage(channel, { text: 'lost' })).rejects.toThrow(/read-only/);
    storage.refusing = false;
    // Automerge's old handle shares a change made on it: the store reloads what is stored.
    const doc = db.docs.get(channel);
    expect(A.getHeads(doc)).toEqual(before);
    expect(A.getAllChanges(doc)).toHaveLength(changes);
    expect(db.messages(channel).map((m) => m.text)).toEqual(['kept']);
  });

  it('validates settings edits and refuses bad ones without writing', async () => {
    const db = await Database.open({ storage: new MemoryStorage() });
    await expect(db.updateSettings({ relay_server: 'http://nope' })).rejects.toThrow(/relay_server/);
    await expect(db.updateSettings({ ice_servers: [{ urls: ['http://x'] }] })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(db.settings().relay_server).toBe('ws://relay.magic-wormhole.io:4000/v1');
  });

  it('adds, renames and lists contacts; messages are saved before send resolves', async () => {
    const storage = new MemoryStorage();
    const db = await Database.open({ storage });
    const k = key();
    const bob = await db.addContact({ moniker: ' Bob ', contactKey: k });
    expect(bob.moniker).toBe('Bob');
    const channel = db.channelOf(bob);
    expect(channel).toBe(documentId(k));
    const sent = await db.sendMessage(channel, { text: 'hi', file: { filename: 'a.txt', mimetype: 'text/plain', size: 2, hash: 'ab' } });
    // A fresh database on the same storage (a crash right after the promise resolved) has it.
    const reopened = await Database.open({ storage });
    expect(reopened.messages(channel)).toEqual([sent]);
    await reopened.renameContact(bob.id, 'Robert');
    expect(reopened.contacts().map((c) => c.moniker)).toEqual(['Robert']);
    await expect(db.sendMessage(channel, { text: 'x'.repeat(70_000) })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(db.addContact({ moniker: '', contactKey: k })).rejects.toThrow(/moniker/);
  });

  it('names documents by a hash of the key, never the key', async () => {
    const storage = new MemoryStorage();
    const db = await Database.open({ storage });
    const k = key();
    await db.addContact({ moniker: 'x', contactKey: k });
    const keys = (await storage.loadRange([])).map((c) => c.key.join('/')).join('\n');
    expect(keys).toContain(documentId(k));
    expect(keys).not.toContain(Buffer.from(k).toString('hex'));
  });

  it('compacts incremental chunks into a snapshot and loads the same document', async () => {
    const storage = new MemoryStorage();
    const db = await Database.open({ storage, compactEvery: 5 });
    const c = await db.addContact({ moniker: 'c', contactKey: key() });
    const ch = db.channelOf(c);
    for (let i = 0; i < 23; i++) await db.sendMessage(ch, { text: `m${i}` });
    const chunks = await storage.loadRange(['docs', 'channel', ch]);
    expect(chunks.length).toBeLessThanOrEqual(5);
    expect(chunks.some((x) => x.key[3] === 'snapshot')).toBe(true);
    const again = await Database.open({ storage });
    expect(again.messages(ch).map((m) => m.text)).toEqual(Array.from({ length: 23 }, (_, i) => `m${i}`));
  });

  it('quarantines a corrupt document with a typed error and loads everything else', async () => {
    const dir = tempDir();
    const db = await Database.open({ storage: new NodeFsStorage(dir) });
    const good = await db.addContact({ moniker: 'good', contactKey: key() });
    const bad = await db.addContact({ moniker: 'bad', contactKey: key() });
    await db.sendMessage(db.channelOf(good), { text: 'kept' });
    const badDir = join(dir, 'docs', 'contact', bad.id, 'snapshot');
    const file = join(badDir, readdirSync(badDir)[0]!);
    const original = readFileSync(file);
    writeFileSync(file, original.subarray(0, original.length >> 1)); // truncated by a broken disk
    const again = await Database.open({ storage: new NodeFsStorage(dir) });
    expect(again.quarantined).toHaveLength(1);
    expect(again.quarantined[0]).toBeInstanceOf(QuarantinedError);
    expect(again.quarantined[0]!.data.docId).toBe(bad.id);
    expect(again.contacts().map((c) => c.moniker)).toEqual(['good']);
    expect(again.messages(again.channelOf(good)).map((m) => m.text)).toEqual(['kept']);
    // The damaged bytes were set aside, not deleted.
    const q = await new NodeFsStorage(dir).loadRange(['quarantine', 'contact', bad.id]);
    expect(Buffer.from(q[0]!.data).equals(original.subarray(0, original.length >> 1))).toBe(true);
  });

  it('quarantines a document that loads but fails its schema', async () => {
    const storage = new MemoryStorage();
    const id = '0123456789abcdef0123456789abcdef';
    const doc = A.from({ kind: 'contact', schema: 1, moniker: 42, channels: 'nope' });
    await storage.save(['docs', 'contact', id, 'snapshot', 'x'], A.save(doc));
    const db = await Database.open({ storage });
    expect(db.quarantined[0]!.data.problems).toEqual(expect.arrayContaining(['moniker must be a string']));
    expect(await storage.loadRange(['docs', 'contact', id])).toEqual([]);
    expect((await storage.loadRange(['quarantine', 'contact', id])).length).toBe(1);
  });

  it('leaves a damaged device identity in place and says so', async () => {
    const storage = new MemoryStorage();
    await storage.save(SYSTEM_KEY, Uint8Array.of(1, 2, 3));
    const error = await Database.open({ storage }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdentityDamagedError);
    expect(error).toMatchObject({ code: 'IDENTITY_DAMAGED', data: { key: SYSTEM_KEY } });
    expect(await storage.load(SYSTEM_KEY)).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('migrates an older document forward, and refuses a newer one untouched', async () => {
    const storage = new MemoryStorage();
    const id = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    // A version-0 channel stored its messages under "log".
    const old = A.from({ kind: 'channel', schema: 0, log: [{ id: 'm1', timestamp: 1, sender: 'x', text: 'old' }] });
    await storage.save(['docs', 'channel', id, 'snapshot', 'old'], A.save(old));
    MIGRATIONS.channel[0] = (d) => {
      d.messages = JSON.parse(JSON.stringify(d.log));
      delete d.log;
    };
    try {
      const store = new DocumentStore({ storage });
      const doc = await store.open<{ messages: { text: string }[]; schema: number }>(id, 'channel');
      expect(doc.schema).toBe(SCHEMA_VERSIONS.channel);
      expect(doc.messages.map((m) => m.text)).toEqual(['old']);
      const reloaded = await new DocumentStore({ storage }).open<{ schema: number }>(id, 'channel');
      expect(reloaded.schema).toBe(1);
    } finally {
      delete MIGRATIONS.channel[0];
    }
    const newer = A.from({ kind: 'channel', schema: 99, messages: [] });
    const nid = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    await storage.save(['docs', 'channel', nid, 'snapshot', 'new'], A.save(newer));
    await expect(new DocumentStore({ storage }).open(nid, 'channel')).rejects.toBeInstanceOf(SchemaTooNewError);
    expect((await storage.loadRange(['docs', 'channel', nid])).length).toBe(1);
  });

  it('keeps SETTINGS_ID stable', () => {
    expect(SETTINGS_ID).toMatch(/^[0-9a-f]{32}$/);
  });
});
