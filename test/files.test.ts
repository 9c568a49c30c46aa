/**
 * File transfers over the memory link, beside SYNC on the same channel: two databases (Alice and Bob
 * on their own memory storage), a sync engine and a file session on each end. A file goes intact and
 * in chunks, several at once while chat flows; a tampered chunk is refused and discarded; a cut and a
 * restart resume from the last stored chunk; cancel and the size limit end a transfer on both sides
 * with typed errors; a peer cannot make us store more than announced or anywhere else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor } from 'xstate';
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { Database } from '../src/db/database.js';
import type { Transport } from '../src/effects/transport.js';
import type { StorageAdapter } from '../src/effects/storage.js';
import { AbortedError, FileCorruptError, FileTooLargeError } from '../src/errors.js';
import { ChunkStore, FILE_CHUNK_BYTES, createHasher } from '../src/files/chunkStore.js';
import { FILE_STALL_MS, startFileSession, type FileEvent, type FileSession } from '../src/files/session.js';
import { fileSessionActor } from '../src/files/fileActor.js';
import { fileStatusOf } from '../src/files/status.js';
import { advance } from './helpers/clock.js';
import { FILE_DATA_BYTES, FILE_FRAME_BYTES, FILE_WINDOW_BYTES, decodeFileFrame, encodeData, encodeStop, encodeWant } from '../src/files/wire.js';
import { startSyncEngine } from '../src/sync/syncEngine.js';
import { Branches, budgetMs } from './helpers/branches.js';
import { FC_RUNS } from './helpers/runs.js';
import { until } from './helpers/wait.js';
import { seededBytes as bytes } from './helpers/seededBytes.js';

const KEY = new Uint8Array(32).fill(9);

async function hashOf(data: Uint8Array): Promise<string> {
  const h = await createHasher();
  h.update(data);
  return h.hex();
}

/** The stored file read back through the store's stream. */
async function readBack(store: ChunkStore, hash: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = (await store.stream(hash)).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

interface Side {
  storage: StorageAdapter;
  db: Database;
  store: ChunkStore;
  channelId: string;
  contactId: string;
  events: FileEvent[];
  session?: FileSession;
  stopSync?: () => void;
  /** Resolves on the first event `match` accepts (already seen or to come). */
  on(match: (e: FileEvent) => boolean): Promise<FileEvent>;
}

async function device(storage: StorageAdapter = new MemoryStorage(), key = KEY): Promise<Side> {
  const db = await Database.open({ storage });
  const contact = db.contacts()[0] ?? (await db.addContact({ moniker: 'peer', contactKey: key }));
  return sideFor(storage, db, new ChunkStore(storage), contact);
}

/** The same device (database, store) with another contact, `key`: its own channel, sessions and events. */
async function withContact(side: Side, key: Uint8Array): Promise<Side> {
  return sideFor(side.storage, side.db, side.store, await side.db.addContact({ moniker: 'other', contactKey: key }));
}

function sideFor(storage: StorageAdapter, db: Database, store: ChunkStore, contact: { id: string }): Side {
  const events: FileEvent[] = [];
  const waiters: { match: (e: FileEvent) => boolean; resolve: (e: FileEvent) => void }[] = [];
  return {
    storage,
    db,
    store,
    channelId: db.channelOf(contact as Parameters<Database['channelOf']>[0]),
    contactId: contact.id,
    events,
    on(match) {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    // the waiters are fed by `connect`
    ...{ waiters },
  } as Side & { waiters: typeof waiters };
}

type Waiters = { match: (e: FileEvent) => boolean; resolve: (e: FileEvent) => void }[];

/** SYNC and a file session for `side` on `channel`. */
function start(side: Side, channel: Transport, limit = 1024 * 1024 * 1024): void {
  const waiters = (side as Side & { waiters: Waiters }).waiters;
  side.stopSync = startSyncEngine({ docs: side.db.docs, storage: side.storage, channel, deviceId: side.db.deviceId, docIds: [side.channelId], emit: () => {} });
  side.session = startFileSession({
    channel,
    store: side.store,
    docs: side.db.docs,
    channelId: side.channelId,
    deviceId: side.db.deviceId,
    maxFileBytes: limit,
    emit: (e) => {
      side.events.push(e);
      for (const w of [...waiters]) if (w.match(e)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(e));
    },
  });
}

/** SYNC and a file session on each end of `link`. */
function connect(a: Side, b: Side, link: { a: Transport; b: Transport }, limits: { a?: number; b?: number } = {}): void {
  start(a, link.a, limits.a);
  start(b, link.b, limits.b);
}

async function sendFile(side: Side, data: Uint8Array, filename = 'f.bin'): Promise<string> {
  const { hash, size } = await side.store.import(data, { maxBytes: 1 << 30, blobId: Math.random().toString(16).slice(2).padEnd(16, '0') });
  await side.db.sendMessage(side.channelId, { text: '', file: { filename, mimetype: 'application/octet-stream', size, hash } });
  return hash;
}

const done = (hash: string, direction: 'in' | 'out') => (e: FileEvent) => e.type === 'file.done' && e.hash === hash && e.direction === direction;
const failed = (hash: string, direction: 'in' | 'out') => (e: FileEvent) => e.type === 'file.failed' && e.hash === hash && e.direction === direction;

/**
 * A memory link whose frames cross once per event-loop turn, as a network's do: an auto link delivers
 * on the microtask queue, where a file streaming without pause would hold off every timer and I/O
 * callback (the chat's save among them) until it is through.
 */
function turnByTurn(): MemoryLink {
  const link = new MemoryLink({ mode: 'manual' });
  const pump = () => {
    if (link.closed) return;
    for (let n = link.pending; n > 0; n--) link.deliver();
    setImmediate(pump);
  };
  pump();
  return link;
}

/** A transport wrapper that lets a test rewrite outgoing frames. */
function tampering(inner: Transport, rewrite: (frame: Uint8Array) => Uint8Array): Transport {
  return {
    send: (frame) => inner.send(rewrite(frame)),
    on: (event, handler) => inner.on(event, handler),
    close: (reason) => inner.close(reason),
    get closed() {
      return inner.closed;
    },
    maxFrameBytes: inner.maxFrameBytes,
  };
}

describe('a file’s stored status', () => {
  it('a file being received: waiting before its first chunk, progress with the bytes stored, done once complete; a sent one waits until delivered', async () => {
    const store = new ChunkStore(new MemoryStorage());
    const hash = 'ab'.repeat(32);
    const size = FILE_CHUNK_BYTES + 10;
    expect(await fileStatusOf(store, hash, { size })).toEqual({ status: 'waiting', direction: 'in', done: 0, total: size });
    const channel = 'c'.repeat(32);
    await store.begin(hash, size, channel);
    expect(await fileStatusOf(store, hash, { size })).toEqual({ status: 'waiting', direction: 'in', done: 0, total: size });
    await store.append(hash, channel, 0, new Uint8Array(FILE_CHUNK_BYTES));
    expect(await fileStatusOf(store, hash)).toEqual({ status: 'progress', direction: 'in', done: FILE_CHUNK_BYTES, total: size });
    expect(await fileStatusOf(store, hash, { size }, channel)).toEqual({ status: 'progress', direction: 'in', done: FILE_CHUNK_BYTES, total: size });
    expect(await fileStatusOf(store, hash, { size }, 'd'.repeat(32))).toEqual({ status: 'waiting', direction: 'in', done: 0, total: size }); // another contact's copy
    await store.append(hash, channel, 1, new Uint8Array(10));
    await store.complete(hash, channel);
    expect(await fileStatusOf(store, hash, { size }, 'd'.repeat(32))).toEqual({ status: 'done', direction: 'in', done: size, total: size }); // here now, for all
    expect(await fileStatusOf(store, hash)).toEqual({ status: 'done', direction: 'in', done: size, total: size });
    const sent = await store.import(new Uint8Array(100), { maxBytes: 1000, blobId: '01' });
    expect(await fileStatusOf(store, sent.hash)).toEqual({ status: 'waiting', direction: 'out', done: 0, total: 100 });
    void store.delivered(sent.hash, 'c1'); // not awaited: a status read after it sees it
    expect(await fileStatusOf(store, sent.hash)).toEqual({ status: 'done', direction: 'out', done: 100, total: 100 });
    expect(await fileStatusOf(store, sent.hash, undefined, 'c1')).toMatchObject({ status: 'done' });
    expect(await fileStatusOf(store, sent.hash, undefined, 'c2')).toMatchObject({ status: 'waiting' }); // delivered per contact
  });
});

describe('copies per contact', () => {
  it("cancelling a file being received ends every contact's copy for good; its record keeps the size", async () => {
    const store = new ChunkStore(new MemoryStorage());
    const hash = 'ef'.repeat(32);
    const [c1, c2] = ['c'.repeat(32), 'd'.repeat(32)];
    const size = FILE_CHUNK_BYTES + 1;
    await store.begin(hash, size, c1);
    await store.append(hash, c1, 0, new Uint8Array(FILE_CHUNK_BYTES));
    await store.begin(hash, size, c2);
    expect((await store.copies(hash)).map((c) => c.stored).sort()).toEqual([0, 1]);
    await store.settle(hash, 'cancelled', new AbortedError());
    for (const c of [c1, c2]) expect(await store.received(hash, c)).toMatchObject({ state: 'cancelled', size });
    expect(await store.storage.listKeys(['fileIns'])).toEqual([]);
    expect((await store.storage.listKeys(['files'])).map((k) => k.join('/'))).toEqual([`files/${hash}/meta`]);
    await expect(store.append(hash, c1, 1, new Uint8Array(1))).rejects.toBeInstanceOf(AbortedError);
    expect(await store.begin(hash, size, c2)).toMatchObject({ state: 'cancelled' });
  });
});

describe('a file being sent reads as progress, not waiting', () => {
  it('while the session sends it, fileStatus says progress with the bytes out; done once the contact confirmed it', async () => {
    const alice = await device();
    const bob = await device();
    const hash = await sendFile(alice, bytes(3 * FILE_CHUNK_BYTES, 11));
    expect(await fileStatusOf(alice.store, hash)).toMatchObject({ status: 'waiting', direction: 'out' });
    connect(alice, bob, turnByTurn());
    const firstOut = (await alice.on((e) => e.type === 'file.progress' && e.direction === 'out' && e.hash === hash)) as { done: number };
    // As the first chunk went out: the session's record, and what fileStatus reads from it.
    const registered = alice.store.sending.get(hash);
    const reading = fileStatusOf(alice.store, hash);
    await alice.on(done(hash, 'out'));
    expect(registered).toMatchObject({ total: 3 * FILE_CHUNK_BYTES });
    expect(registered!.done).toBeGreaterThanOrEqual(firstOut.done);
    const mid = await reading;
    // Read while it ran: progress out (or done, had it finished meanwhile), never waiting.
    expect(['progress', 'done']).toContain(mid.status);
    expect(mid.direction).toBe('out');
    expect(alice.store.sending.has(hash)).toBe(false);
    expect(await fileStatusOf(alice.store, hash)).toMatchObject({ status: 'done', direction: 'out', done: 3 * FILE_CHUNK_BYTES });
    alice.session?.stop();
    bob.session?.stop();
  });
});

describe('file transfer over the memory link', () => {
  it('several files at once arrive intact, in chunks of at most 16 KiB, progress on both sides, while chat flows', async () => {
    const alice = await device();
    const bob = await device();
    const link = turnByTurn();
    let largest = 0;
    const watched = { ...link, a: tampering(link.a, (f) => ((largest = Math.max(largest, f[1] === 4 ? f.length : 0)), f)), b: link.b };
    connect(alice, bob, watched);
    const files = [bytes(24 * FILE_CHUNK_BYTES + 1234, 1), bytes(12 * FILE_CHUNK_BYTES, 2), bytes(5000, 3), new Uint8Array(0)];
    const hashes: string[] = [];
    for (const [i, f] of files.entries()) hashes.push(await sendFile(alice, f, `f${i}.bin`));
    // Chat while the files are on the wire: it reaches Bob before the largest file is through.
    await bob.on((e) => e.type === 'file.progress' && e.hash === hashes[1]);
    const bigDone = () => bob.events.filter((e) => e.type === 'file.progress' && e.hash === hashes[0]).at(-1)!;
    let chatAt = -1;
    const off = bob.db.docs.onChange(() => {
      if (chatAt < 0 && bob.db.messages(bob.channelId).some((m) => m.text === 'while files flow')) chatAt = (bigDone() as { done: number }).done;
    });
    await alice.db.sendMessage(alice.channelId, { text: 'while files flow' });
    await Promise.all(hashes.map((h) => bob.on(done(h, 'in'))));
    await Promise.all(hashes.map((h) => alice.on(done(h, 'out'))));
    off();
    for (const [i, h] of hashes.entries()) expect(await hashOf(await readBack(bob.store, h))).toBe(await hashOf(files[i]!));
    expect(largest).toBeLessThanOrEqual(FILE_FRAME_BYTES);
    expect(largest).toBeGreaterThan(FILE_FRAME_BYTES - 100);
    expect(chatAt).toBeGreaterThan(0);
    expect(chatAt).toBeLessThan(files[0]!.length);
    // Progress both ways, rising to the total.
    const progress = (side: Side, dir: 'in' | 'out') =>
      side.events.filter((e): e is Extract<FileEvent, { type: 'file.progress' }> => e.type === 'file.progress' && e.hash === hashes[0] && e.direction === dir);
    for (const p of [progress(bob, 'in'), progress(alice, 'out')]) {
      expect(p.length).toBeGreaterThanOrEqual(4);
      expect(p.map((e) => e.done)).toEqual([...p.map((e) => e.done)].sort((x, y) => x - y));
      expect(p.at(-1)!.done).toBe(files[0]!.length);
    }
    // Several at once: the second file's progress started before the first one finished.
    const firstDone = bob.events.findIndex(done(hashes[0]!, 'in'));
    expect(bob.events.findIndex((e) => e.type === 'file.progress' && e.hash === hashes[1])).toBeLessThan(firstDone);
  });

  it('a tampered chunk is refused: FileCorruptError on both sides, the partial bytes discarded', async () => {
    const alice = await device();
    const bob = await device();
    const link = new MemoryLink();
    let n = 0;
    const evil = tampering(link.a, (f) => {
      if (f[1] !== 4 || f[2] !== 3 || ++n !== 20) return f;
      const copy = f.slice();
      copy[copy.length - 1]! ^= 1; // one bit of one data frame
      return copy;
    });
    connect(alice, bob, { a: evil, b: link.b });
    const hash = await sendFile(alice, bytes(2 * FILE_CHUNK_BYTES, 4));
    const atBob = await bob.on(failed(hash, 'in'));
    expect(atBob.type === 'file.failed' && atBob.error).toBeInstanceOf(FileCorruptError);
    // Bob's refusal, for the app to write into the channel (the stop frame is heard once, live): owed until then.
    expect(atBob).toMatchObject({ notify: { hash, reason: 'corrupt', detail: expect.stringMatching(/hash to/) } });
    const atAlice = await alice.on(failed(hash, 'out'));
    expect(atAlice.type === 'file.failed' && atAlice.error).toBeInstanceOf(FileCorruptError);
    await until(async () => (await bob.store.received(hash, bob.channelId))?.state === 'failed');
    expect(await bob.storage.listKeys(['fileRefusals'])).toEqual([['fileRefusals', bob.channelId, hash]]);
    const copy = `i${bob.channelId}.${hash}`;
    expect(await bob.storage.loadRange(['files', copy])).toEqual([expect.objectContaining({ key: ['files', copy, 'meta'] })]);
    await expect(bob.store.stream(hash)).rejects.toThrow(/No complete file/);
  });

  /** Bob with two contacts sending him the same file: Alice honestly, Mallory with one bit of her data flipped (frame `bad`). */
  async function twoSenders(data: Uint8Array, bad: number) {
    const malloryKey = new Uint8Array(32).fill(4);
    const alice = await device();
    const mallory = await device(new MemoryStorage(), malloryKey);
    const bobA = await device();
    const bobM = await withContact(bobA, malloryKey);
    let n = 0;
    const mLink = new MemoryLink();
    const evil = tampering(mLink.a, (f) => {
      if (f[1] !== 4 || f[2] !== 3 || ++n !== bad) return f;
      const copy = f.slice();
      copy[copy.length - 1]! ^= 1;
      return copy;
    });
    return { alice, mallory, bobA, bobM, mLink: { a: evil, b: mLink.b, cut: () => mLink.cut() } };
  }

  it("a hostile contact's corrupt transfer fails for that contact only: another contact's transfer of the same file arrives intact", async () => {
    const data = bytes(2 * FILE_CHUNK_BYTES, 31);
    const { alice, mallory, bobA, bobM, mLink } = await twoSenders(data, 20);
    connect(mallory, bobM, mLink);
    const hash = await sendFile(mallory, data);
    const atBob = await bobM.on(failed(hash, 'in'));
    expect(atBob.type === 'file.failed' && atBob.error).toBeInstanceOf(FileCorruptError);
    await bobM.session!.settled();
    expect((await bobA.store.received(hash, bobM.channelId))?.state).toBe('failed');
    expect(await fileStatusOf(bobA.store, hash, { size: data.length }, bobA.channelId)).toMatchObject({ status: 'waiting' }); // not Alice's failure
    // Alice sends the same file: it arrives, checked.
    connect(alice, bobA, new MemoryLink());
    expect(await sendFile(alice, data)).toBe(hash);
    await bobA.on(done(hash, 'in'));
    await alice.on(done(hash, 'out'));
    expect(Buffer.compare(await readBack(bobA.store, hash), data)).toBe(0);
    expect((await bobA.store.received(hash, bobM.channelId))?.state).toBe('complete'); // here now: nothing to fetch from Mallory
  });

  it("a partial a contact began and left is that contact's: another contact's transfer of the same file starts from nothing and arrives intact", async () => {
    // Larger than the credit window: Mallory cannot have sent it all when she goes.
    const data = bytes(20 * FILE_CHUNK_BYTES, 32);
    // Mallory's first frame is damaged, then she goes after two chunks: her partial holds her bad bytes.
    const { alice, mallory, bobA, bobM, mLink } = await twoSenders(data, 1);
    connect(mallory, bobM, mLink);
    const hash = await sendFile(mallory, data);
    await bobM.on((e) => e.type === 'file.progress' && e.hash === hash && e.done >= 2 * FILE_CHUNK_BYTES);
    mLink.cut();
    await bobM.session!.idle();
    expect((await bobA.store.received(hash, bobM.channelId))?.state).toBe('partial');
    const wants: { from: number }[] = [];
    const link = new MemoryLink();
    connect(alice, bobA, { a: link.a, b: tampering(link.b, (f) => (f[1] === 4 && f[2] === 1 && wants.push(decodeFileFrame(f.subarray(2)) as never), f)) });
    await sendFile(alice, data);
    await bobA.on(done(hash, 'in'));
    expect(wants).toEqual([{ kind: 'want', hash, from: 0 }]); // none of Mallory's bytes counted for Alice's copy
    expect(Buffer.compare(await readBack(bobA.store, hash), data)).toBe(0);
    expect(bobA.events.filter((e) => e.type === 'file.failed')).toEqual([]);
    expect((await bobA.storage.listKeys(['files'])).every((k) => k[1] === `i${bobA.channelId}.${hash}`)).toBe(true); // Mallory's copy went
  });

  it('resumes after a cut and after a restart from the last stored chunk, and arrives intact', async () => {
    const alice = await device();
    const bobStorage = new MemoryStorage();
    let bob = await device(bobStorage);
    const data = bytes(12 * FILE_CHUNK_BYTES + 77, 5);
    let link = new MemoryLink();
    connect(alice, bob, link);
    const hash = await sendFile(alice, data);
    await bob.on((e) => e.type === 'file.progress' && e.hash === hash && e.done >= 3 * FILE_CHUNK_BYTES);
    link.cut('the network dropped');
    await bob.session!.idle();
    const afterCut = (await bob.store.received(hash, bob.channelId))!.stored;
    expect(afterCut).toBeGreaterThanOrEqual(3);

    // Reconnect: the transfer asks from what is stored.
    link = new MemoryLink();
    const wants: number[] = [];
    connect(alice, bob, { a: link.a, b: tampering(link.b, (f) => (f[1] === 4 && f[2] === 1 && wants.push(decodeFileFrame(f.subarray(2)) as never), f)) });
    await bob.on((e) => e.type === 'file.progress' && e.hash === hash && e.done >= 8 * FILE_CHUNK_BYTES);
    link.cut('bob restarts');
    await bob.session!.idle(); // the process is gone: nothing of it writes any more
    expect(wants).toEqual([{ kind: 'want', hash, from: afterCut * FILE_CHUNK_BYTES }]);

    // Bob's device restarts: a new database and store over the same storage.
    const storedBefore = (await new ChunkStore(bobStorage).received(hash, bob.channelId))!.stored;
    bob = await device(bobStorage);
    link = new MemoryLink();
    let resentBytes = 0;
    connect(alice, bob, { a: tampering(link.a, (f) => (f[1] === 4 && f[2] === 3 && (resentBytes += f.length - 43), f)), b: link.b });
    await bob.on(done(hash, 'in'));
    expect(resentBytes).toBe(data.length - storedBefore * FILE_CHUNK_BYTES);
    expect(await hashOf(await readBack(bob.store, hash))).toBe(hash);
    expect(Buffer.compare(await readBack(bob.store, hash), data)).toBe(0);
  });

  it('cancel ends the transfer on both sides (AbortedError), discards it, and no later connection fetches it', async () => {
    const alice = await device();
    const bob = await device();
    let link = new MemoryLink();
    connect(alice, bob, link);
    const hash = await sendFile(alice, bytes(10 * FILE_CHUNK_BYTES, 6));
    await bob.on((e) => e.type === 'file.progress' && e.hash === hash);
    bob.session!.cancel(hash);
    // The cancelling side's host hears it from the app (files-app.test.ts); its session tells the peer.
    const atAlice = await alice.on(failed(hash, 'out'));
    expect(atAlice.type === 'file.failed' && atAlice.error).toBeInstanceOf(AbortedError);
    await until(async () => (await bob.store.received(hash, bob.channelId))?.state === 'cancelled');
    expect((await bob.storage.loadRange(['files', `i${bob.channelId}.${hash}`])).length).toBe(1); // the record only
    link.cut();
    // A new connection: Bob does not ask again. The sentinel: a second file, sent after, arrives.
    link = new MemoryLink();
    const wanted: string[] = [];
    connect(alice, bob, {
      a: link.a,
      b: tampering(link.b, (f) => (f[1] === 4 && f[2] === 1 && wanted.push((decodeFileFrame(f.subarray(2)) as { hash: string }).hash), f)),
    });
    const sentinel = await sendFile(alice, bytes(1000, 7));
    await bob.on(done(sentinel, 'in'));
    expect(wanted).toEqual([sentinel]);
  });

  it('a file over the size limit is refused before a byte is stored: FileTooLargeError on both sides; an import over it stores nothing', async () => {
    const alice = await device();
    const bob = await device();
    connect(alice, bob, new MemoryLink(), { b: 100_000 });
    const hash = await sendFile(alice, bytes(100_001, 8));
    const atBob = await bob.on(failed(hash, 'in'));
    expect(atBob.type === 'file.failed' && atBob.error).toBeInstanceOf(FileTooLargeError);
    expect(atBob.type === 'file.failed' && atBob.error.data).toMatchObject({ size: 100_001, limit: 100_000 });
    expect(atBob).toMatchObject({ notify: { hash, reason: 'too-large', limit: 100_000 } });
    expect(await bob.storage.listKeys(['fileRefusals'])).toEqual([['fileRefusals', bob.channelId, hash]]);
    const atAlice = await alice.on(failed(hash, 'out'));
    expect(atAlice.type === 'file.failed' && atAlice.error).toBeInstanceOf(FileTooLargeError);
    expect((await bob.storage.loadRange(['files', `i${bob.channelId}.${hash}`])).length).toBe(1);

    const storage = new MemoryStorage();
    const store = new ChunkStore(storage);
    await expect(store.import(bytes(3 * FILE_CHUNK_BYTES, 9), { maxBytes: 2 * FILE_CHUNK_BYTES, blobId: 'ab' })).rejects.toBeInstanceOf(FileTooLargeError);
    expect(await storage.loadRange(['files'])).toEqual([]);
  });

  it('a send interrupted while storing its file leaves nothing once swept (as every start does)', async () => {
    const storage = new MemoryStorage();
    let pulled = 0;
    // A source that gives three chunks' worth and then never ends: the process dies meanwhile.
    const stalled = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled++ < 3) c.enqueue(bytes(FILE_CHUNK_BYTES, pulled));
        else return new Promise(() => {});
      },
    });
    void new ChunkStore(storage).import(stalled, { maxBytes: 1 << 30, blobId: 'crash' });
    await until(async () => (await storage.loadRange(['files'])).length >= 3);
    const restarted = new ChunkStore(storage);
    expect(await restarted.sweepImports()).toBe(1);
    expect(await storage.loadRange(['files'])).toEqual([]);
    expect(await storage.loadRange(['fileImports'])).toEqual([]);
    // A finished import leaves no marker behind.
    await restarted.import(bytes(10, 1), { maxBytes: 100, blobId: 'fine' });
    expect(await restarted.sweepImports()).toBe(0);
  });

  it('serves only files it sent in this channel', async () => {
    const alice = await device();
    const bob = await device();
    const link = new MemoryLink();
    connect(alice, bob, link);
    // Alice has a file stored but never sent it in this channel; Bob asks for it anyway.
    const { hash } = await alice.store.import(bytes(5000, 10), { maxBytes: 1 << 20, blobId: 'cd' });
    const answers: unknown[] = [];
    link.b.on('message', (f) => f[1] === 4 && answers.push(decodeFileFrame(f.subarray(2))));
    await link.b.send(encodeWant(hash, 0));
    await until(() => answers.length > 0);
    expect(answers).toEqual([{ kind: 'stop', hash, reason: 'unknown', detail: '' }]);
  });

  it(
    'property: whatever a peer sends, we store at most the announced size, only under the file, and never throw',
    async () => {
      const branches = new Branches('hostile sender', ['completed', 'refused', 'waiting']);
      const size = 3 * FILE_DATA_BYTES + 100;
      const data = bytes(size, 11);
      const hash = await hashOf(data);
      const frame = fc.oneof(
        { arbitrary: fc.record({ kind: fc.constant('next' as const) }), weight: 12 }, // the next frame an honest sender would send
        // Honest-looking data at a chosen offset and length (maybe beyond the size, maybe overlapping).
        fc.record({ kind: fc.constant('data' as const), offset: fc.integer({ min: 0, max: size + 10 }), len: fc.integer({ min: 1, max: FILE_DATA_BYTES }) }),
        fc.record({ kind: fc.constant('stop' as const) }),
        fc.record({ kind: fc.constant('junk' as const), bytes: fc.uint8Array({ minLength: 0, maxLength: 64 }) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(frame, { maxLength: 12 }), async (frames) => {
          const storage = new MemoryStorage();
          const bob = await device(storage);
          const mallory = await device();
          // Mallory's message names the file; her session is replaced by the frames she sends by hand.
          await mallory.db.sendMessage(mallory.channelId, { text: '', file: { filename: 'x', mimetype: 'x', size, hash } });
          const link = new MemoryLink();
          startSyncEngine({
            docs: mallory.db.docs,
            storage: mallory.storage,
            channel: link.a,
            deviceId: mallory.db.deviceId,
            docIds: [mallory.channelId],
            emit: () => {},
          });
          const wanted = new Promise<void>((resolve) => link.a.on('message', (f) => f[1] === 4 && f[2] === 1 && resolve()));
          start(bob, link.b);
          await wanted;
          // Every frame Mallory sends reaches Bob's side of the link (counted by a listener of our own).
          let sent = 0;
          let arrived = 0;
          link.b.on('message', (f) => f[1] === 4 && arrived++);
          const send = link.a.send.bind(link.a);
          link.a.send = (f: Uint8Array) => (f[1] === 4 && sent++, send(f));
          let next = 0;
          for (const f of frames) {
            if (f.kind === 'data')
              await link.a.send(
                encodeData(
                  hash,
                  f.offset,
                  data.subarray(f.offset, f.offset + f.len).length ? data.subarray(f.offset, f.offset + f.len) : new Uint8Array(f.len),
                ),
              );
            else if (f.kind === 'next') {
              const piece = data.subarray(next, next + FILE_DATA_BYTES);
              if (piece.length > 0) await link.a.send(encodeData(hash, next, piece));
              next += piece.length;
            } else if (f.kind === 'stop') await link.a.send(encodeStop(hash, 'failed', 'mallory'));
            else await link.a.send(Uint8Array.of(1, 4, ...f.bytes));
          }
          // Every frame landed, then every write it caused finished.
          await until(() => arrived >= sent);
          await bob.session!.settled();
          const stored = await storage.loadRange(['files']);
          const chunkBytes = stored.filter((c) => c.key[2] !== 'meta').reduce((n, c) => n + c.data.length, 0);
          expect(stored.every((c) => c.key[1] === `i${bob.channelId}.${hash}`)).toBe(true); // Mallory's copy, nowhere else
          expect(chunkBytes).toBeLessThanOrEqual(size);
          const meta = await bob.store.received(hash, bob.channelId);
          if (meta?.state === 'complete') {
            expect(Buffer.compare(await readBack(bob.store, hash), data)).toBe(0);
            branches.hit('completed');
          } else if (meta?.state === 'failed') branches.hit('refused');
          else branches.hit('waiting');
          link.cut();
        }),
        { numRuns: Math.max(30, Math.floor(FC_RUNS / 4)) },
      );
      branches.check();
    },
    budgetMs(Math.max(30, Math.floor(FC_RUNS / 4)), 100),
  );

  it("the stall watchdog runs on the actor system's injected clock: a silent peer's channel closes after FILE_STALL_MS of simulated time", async () => {
    const alice = await device();
    const bob = await device();
    const link = new MemoryLink();
    // Alice: SYNC only, so her messages reach Bob but nothing ever answers his file frames.
    alice.stopSync = startSyncEngine({
      docs: alice.db.docs,
      storage: alice.storage,
      channel: link.a,
      deviceId: alice.db.deviceId,
      docIds: [alice.channelId],
      emit: () => {},
    });
    bob.stopSync = startSyncEngine({
      docs: bob.db.docs,
      storage: bob.storage,
      channel: link.b,
      deviceId: bob.db.deviceId,
      docIds: [bob.channelId],
      emit: () => {},
    });
    const clock = new SimulatedClock();
    const wants: unknown[] = [];
    link.a.on('message', (f) => f[1] === 4 && wants.push(decodeFileFrame(f.subarray(2))));
    const actor = createActor(fileSessionActor, {
      clock,
      input: { channel: link.b, storage: bob.storage, docs: bob.db.docs, channelId: bob.channelId, deviceId: bob.db.deviceId, maxFileBytes: 1 << 30 },
    });
    actor.start();
    const hash = await sendFile(alice, bytes(3000, 12));
    await until(() => wants.length > 0); // Bob asked; from now on the transfer is under way
    let closed: string | undefined;
    link.b.on('close', (reason) => (closed = reason));
    advance(clock, FILE_STALL_MS - FILE_STALL_MS / 4, 100);
    expect(link.b.closed).toBe(false); // three quarters of the way: still waiting
    advance(clock, FILE_STALL_MS / 4 + 100, 100);
    await until(() => closed !== undefined);
    expect(closed).toMatch(/sent nothing for 20000 ms/);
    expect(wants).toEqual([{ kind: 'want', hash, from: 0 }]);
    actor.stop();
  });

  it('the window bounds what a peer can make us buffer', () => {
    expect(FILE_WINDOW_BYTES + FILE_FRAME_BYTES).toBeLessThan(4 * 1024 * 1024);
  });
});
