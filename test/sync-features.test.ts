/**
 * SYNC features: each side announces the optional frame types it accepts (file frames, type 4) right
 * after its hello, in a frame every SYNC receiver drops, and nobody sends file frames to a peer that did
 * not announce them. The older peer here is the real SYNC engine from before file transfer
 * (test/fixtures/legacy-sync, which fails on any frame type it does not know): with it, chat syncs both
 * ways, the file waits on the sender's device (the session says so) and the link stays up; once the
 * contact's app is the new one, the file goes, hash checked.
 */
import { describe, expect, it } from 'vitest';
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { Database } from '../src/db/database.js';
import type { Transport } from '../src/effects/transport.js';
import { ChunkStore, createHasher } from '../src/files/chunkStore.js';
import { startFileSession, type FileEvent, type FileSession } from '../src/files/session.js';
import { FILE_FRAME, Reassembler, decodeFrame, encodeFeatures, encodeSync } from '../src/sync/frame.js';
import { startSyncEngine, type EngineEvent } from '../src/sync/syncEngine.js';
import * as legacyFrame from './fixtures/legacy-sync/frame.js';
import { startSyncEngine as startLegacyEngine } from './fixtures/legacy-sync/syncEngine.js';
import { until } from './helpers/wait.js';
import { seededBytes as bytes } from './helpers/seededBytes.js';

const KEY = new Uint8Array(32).fill(7);
const DOC = 'ab'.repeat(16);

async function open(storage = new MemoryStorage()) {
  const db = await Database.open({ storage });
  const contact = db.contacts()[0] ?? (await db.addContact({ moniker: 'peer', contactKey: KEY }));
  return { storage, db, store: new ChunkStore(storage), channelId: db.channelOf(contact) };
}

const texts = (db: Database, channelId: string) => db.messages(channelId).map((m) => m.text);

/** Counts the frames of each type that reach this end. */
function counting(end: Transport): Map<number, number> {
  const seen = new Map<number, number>();
  end.on('message', (f) => seen.set(f[1]!, (seen.get(f[1]!) ?? 0) + 1));
  return seen;
}

describe('SYNC features', () => {
  it('the features frame decodes here and is dropped as a gap by the older reassembler; unknown frame types decode as unknown', () => {
    const frame = encodeFeatures(DOC, [FILE_FRAME, 9]);
    expect(decodeFrame(frame)).toEqual({ type: 'features', docId: DOC, accepts: [FILE_FRAME, 9] });
    // The older codec reads it as a middle part of a message it never saw begin: nothing, no error.
    const old = legacyFrame.decodeFrame(frame);
    expect(old.type).toBe('sync');
    expect(new legacyFrame.Reassembler(1 << 20).push(old as Extract<typeof old, { type: 'sync' }>)).toBeUndefined();
    // A real message around it still comes through whole in the older reassembler.
    const reassembler = new legacyFrame.Reassembler(1 << 20);
    const message = bytes(300, 3);
    const parts = encodeSync(DOC, 5, message, 128).map(
      (f) => legacyFrame.decodeFrame(f) as Extract<ReturnType<typeof legacyFrame.decodeFrame>, { type: 'sync' }>,
    );
    expect(parts.length).toBeGreaterThan(2);
    expect(reassembler.push(legacyFrame.decodeFrame(frame) as never)).toBeUndefined();
    const out = parts.map((p) => reassembler.push(p));
    expect(Buffer.compare(out.at(-1)!, message)).toBe(0);
    // This version: a later peer's frame type is not fatal.
    expect(decodeFrame(Uint8Array.of(1, 42, 1, 2, 3))).toEqual({ type: 'unknown', frameType: 42 });
    expect(() => legacyFrame.decodeFrame(Uint8Array.of(1, 4, 0))).toThrow(/unknown sync frame type 4/);
    expect(new Reassembler(10).push({ type: 'sync', docId: DOC, seq: 0, part: 0, parts: 1, data: message })).toBe(message);
  });

  it('a frame type this engine does not know is ignored: sync goes on', async () => {
    const alice = await open();
    const bob = await open();
    const link = new MemoryLink();
    const errors: EngineEvent[] = [];
    const emit = (e: EngineEvent) => e.type === 'engine.error' && errors.push(e);
    startSyncEngine({ docs: alice.db.docs, storage: alice.storage, channel: link.a, deviceId: alice.db.deviceId, docIds: [alice.channelId], emit });
    startSyncEngine({ docs: bob.db.docs, storage: bob.storage, channel: link.b, deviceId: bob.db.deviceId, docIds: [bob.channelId], emit });
    await link.a.send(Uint8Array.of(1, 77, 9, 9, 9));
    await alice.db.sendMessage(alice.channelId, { text: 'after a frame from the future' });
    await until(() => texts(bob.db, bob.channelId).includes('after a frame from the future'));
    expect(errors).toEqual([]);
    expect(link.closed).toBe(false);
  });

  it('with a peer from before files: chat syncs both ways, the file waits (told), no file frame crosses, the link stays; with the new app the file goes', async () => {
    const alice = await open();
    const bobStorage = new MemoryStorage();
    const bob = await open(bobStorage);
    let link = new MemoryLink();
    const toBob = counting(link.b);
    const aliceEvents: FileEvent[] = [];
    const errors: EngineEvent[] = [];
    let aliceSession: FileSession | undefined;
    const startAlice = (channel: Transport) => {
      const stopSync = startSyncEngine({
        docs: alice.db.docs,
        storage: alice.storage,
        channel,
        deviceId: alice.db.deviceId,
        docIds: [alice.channelId],
        emit: (e) => e.type === 'engine.error' && errors.push(e),
      });
      const session = startFileSession({
        channel,
        store: alice.store,
        docs: alice.db.docs,
        channelId: alice.channelId,
        deviceId: alice.db.deviceId,
        maxFileBytes: 1 << 30,
        emit: (e) => aliceEvents.push(e),
      });
      aliceSession = session;
      return () => (stopSync(), session.stop());
    };
    const stopAlice = startAlice(link.a);
    const stopLegacy = startLegacyEngine({
      docs: bob.db.docs,
      storage: bob.storage,
      channel: link.b,
      deviceId: bob.db.deviceId,
      docIds: [bob.channelId],
      emit: (e) => e.type === 'engine.error' && errors.push(e),
    });

    const data = bytes(70_000, 11);
    const { hash, size } = await alice.store.import(data, { maxBytes: 1 << 30, blobId: '0123456789abcdef' });
    await alice.db.sendMessage(alice.channelId, { text: 'a report', file: { filename: 'r.bin', mimetype: 'application/octet-stream', size, hash } });
    await alice.db.sendMessage(alice.channelId, { text: 'hello from the new app' });
    await bob.db.sendMessage(bob.channelId, { text: 'hello from the old app' });
    // A message of Bob's names a file too (his app wrote it; his SYNC engine takes no file frames):
    // without features Alice would ask for it with a file frame, and the older engine would drop the link.
    const theirs = bytes(20_000, 5);
    const imported = await bob.store.import(theirs, { maxBytes: 1 << 30, blobId: 'fedcba9876543210' });
    await bob.db.sendMessage(bob.channelId, { text: 'his file', file: { filename: 'h.bin', mimetype: 'application/octet-stream', ...imported } });
    await until(() => texts(bob.db, bob.channelId).includes('hello from the new app') && texts(alice.db, alice.channelId).includes('his file'));
    await until(() => aliceEvents.some((e) => e.type === 'file.waiting'));
    expect(aliceEvents).toEqual([
      { type: 'file.waiting', hash, direction: 'out', total: size, reason: expect.stringMatching(/does not take files/) as unknown as string },
    ]);
    // Chat after the file still flows (behind anything Alice's session sent once it had looked at Bob's
    // file: the link keeps order); not one file frame reached the older engine, and nobody failed.
    await aliceSession!.settled();
    await alice.db.sendMessage(alice.channelId, { text: 'still here' });
    await until(() => texts(bob.db, bob.channelId).includes('still here'));
    expect(toBob.get(FILE_FRAME) ?? 0).toBe(0);
    expect(errors).toEqual([]);
    expect(link.closed).toBe(false);
    stopLegacy();
    stopAlice();
    link.cut('bob upgrades');

    // Bob's app is now the new one (same storage): the file goes and its hash checks.
    const bob2 = await open(bobStorage);
    link = new MemoryLink();
    startAlice(link.a);
    const bobEvents: FileEvent[] = [];
    startSyncEngine({ docs: bob2.db.docs, storage: bob2.storage, channel: link.b, deviceId: bob2.db.deviceId, docIds: [bob2.channelId], emit: () => {} });
    startFileSession({
      channel: link.b,
      store: bob2.store,
      docs: bob2.db.docs,
      channelId: bob2.channelId,
      deviceId: bob2.db.deviceId,
      maxFileBytes: 1 << 30,
      emit: (e) => bobEvents.push(e),
    });
    const doneIn = (events: FileEvent[], h: string) => events.some((e) => e.type === 'file.done' && e.direction === 'in' && e.hash === h);
    await until(() => doneIn(bobEvents, hash) && doneIn(aliceEvents, imported.hash));
    for (const [store, h] of [
      [bob2.store, hash],
      [alice.store, imported.hash],
    ] as const) {
      const hasher = await createHasher();
      for await (const chunk of store.chunks(h)) hasher.update(chunk);
      expect(hasher.hex()).toBe(h);
    }
    expect(errors).toEqual([]);
  });
});
