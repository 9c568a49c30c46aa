/**
 * Files through the depot, on in-memory adapters: Alice's depot client prepares her message and her
 * file's chunks as sealed deposits (`prepareDeposit`), a stand-in relay keeps them in order, and Bob's
 * client applies what it fetches (`applyDeposits`), acknowledging what it took, fetching again while
 * anything it acknowledged moved on. Whatever the relay hands over — duplicates, another order, a blob
 * damaged in transit, a chunk cut short or with other bytes — Bob ends with the file intact and
 * checked, or with nothing of it (a typed error, the bytes discarded), never a wrong file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock, toPromise } from 'xstate';
import { DEFAULT_DEPOT_TIMEOUTS, depotMachine, type DepotEmitted, type DepotInput } from '../src/depot/depotMachine.js';
import type { PrepareInput, PreparedDeposits as Prepared } from '../src/depot/depotActors.js';
import type { SocketEvent } from '../src/machines/socketActor.js';
import { discoveryTopic } from '../src/crypto/topic.js';
import { toHex } from '../src/crypto/bytes.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import type { StorageAdapter } from '../src/effects/storage.js';
import { Database } from '../src/db/database.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { applyDeposits, prepareDeposit, DEFAULT_MAX_BATCH_CHARS, DEFAULT_MAX_DEPOSIT_CHARS, type PreparedDeposits } from '../src/depot/depotActors.js';
import { DEFAULT_RELAY_FILE_BYTES, fileRoute, saveDepositedChunk } from '../src/depot/depotFiles.js';
import { depotKey, openAnyDeposit, sealChunk } from '../src/depot/payload.js';
import { chunkStoreOf, FILE_CHUNK_BYTES, receivingKey } from '../src/files/chunkStore.js';
import { fileStatusOf } from '../src/files/status.js';
import { FileCorruptError, FileTooLargeError } from '../src/errors.js';
import { fileRefusalNotice, fileRefusalOf, refusalError, refusalsIn, type FileRefusal } from '../src/files/refusal.js';
import { isRemoval, peerSetOf, removalIn, removalNotice } from '../src/devices/notices.js';
import type { FileEvent } from '../src/files/session.js';
import { appActors } from '../src/app/actors.js';
import { depotDevice } from './helpers/depotDevice.js';
import { seededBytes } from './helpers/seededBytes.js';
import { until } from './helpers/wait.js';
import { Branches, budgetMs } from './helpers/branches.js';
import { FC_RUNS } from './helpers/runs.js';

const KEY = new Uint8Array(32).fill(9);
/** Each run opens two databases and moves up to three chunks: a quarter of FC_RUNS (at least 30). */
const RUNS = Math.max(30, Math.floor(FC_RUNS / 4));
const key = depotKey(KEY);

const device = () => depotDevice(KEY);

/** Alice with a file sent in the channel, and what her depot client deposits for it. */
async function aliceSends(data: Uint8Array) {
  const alice = await device();
  const { hash, size } = await chunkStoreOf(alice.storage).import(data, { maxBytes: 1 << 30, blobId: 'a1' });
  await alice.db.sendMessage(alice.channelId, { text: 'a file', file: { filename: 'f.bin', mimetype: 'x/y', size, hash } });
  const input = {
    docs: alice.db.docs,
    storage: alice.storage,
    channelId: alice.channelId,
    key,
    deviceId: alice.db.deviceId,
    randomBytes: cryptoRandomBytes,
    maxBlobChars: DEFAULT_MAX_DEPOSIT_CHARS,
    maxBatchChars: DEFAULT_MAX_BATCH_CHARS,
    files: { limit: DEFAULT_RELAY_FILE_BYTES, sent: {}, skip: [] },
  };
  const prepared: PreparedDeposits = await toPromise(createActor(prepareDeposit, { input }).start());
  return { alice, hash, prepared };
}

/** Bob fetches until nothing he acknowledges is left or nothing moves; returns the ids left and what he heard. */
async function bobFetches(bob: Awaited<ReturnType<typeof device>>, blobs: string[]) {
  let items = blobs.map((blob, i) => ({ id: `d${String(i).padStart(4, '0')}`, blob }));
  const heard: FileEvent[] = [];
  for (let round = 0; round < blobs.length + 2; round++) {
    const input = { docs: bob.db.docs, storage: bob.storage, channelId: bob.channelId, key, deviceId: bob.db.deviceId, items };
    const out = await toPromise(createActor(applyDeposits, { input }).start());
    heard.push(...(out.files ?? []));
    if (out.ids.length === 0) break;
    items = items.filter((i) => !out.ids.includes(i.id));
  }
  return { left: items, heard };
}

describe('files through the depot', () => {
  it('a file up to the threshold goes by the relay, a larger one waits on the device', () => {
    expect(fileRoute(300_000)).toBe('relay');
    expect(fileRoute(DEFAULT_RELAY_FILE_BYTES)).toBe('relay');
    expect(fileRoute(DEFAULT_RELAY_FILE_BYTES + 1)).toBe('device');
    expect(fileRoute(10, -1)).toBe('device');
  });

  it("my other device's file chunks, even a page of chunks alone, name it as mine in a contact's channel (later fetches leave them out); not in our own", async () => {
    const { alice, prepared } = await aliceSends(seededBytes(FILE_CHUNK_BYTES + 10, 7));
    const other = await device(); // another device of Alice's: the same channel, her first device among its own
    other.db.docs.setOwnDevices([alice.db.deviceId]);
    const items = prepared.deposits.slice(1).map((d, i) => ({ id: `c${i}`, blob: d.blob }));
    const apply = (own: boolean) =>
      toPromise(
        createActor(applyDeposits, {
          input: { docs: other.db.docs, storage: other.storage, channelId: other.channelId, key, deviceId: other.db.deviceId, items, ...(own ? { own } : {}) },
        }).start(),
      );
    const inContact = await apply(false);
    expect(inContact.mine).toEqual([alice.db.deviceId]);
    expect(inContact.ids).toEqual([]); // left for the contact, never acknowledged
    expect((await apply(true)).mine).toBeUndefined();
  });

  it('deposits: the message first, then one sealed deposit per chunk, each under the deposit size', async () => {
    const data = seededBytes(2 * FILE_CHUNK_BYTES + 5, 1);
    const { hash, prepared } = await aliceSends(data);
    expect(prepared.deposits[0]!.file).toBeUndefined();
    const chunks = prepared.deposits.slice(1);
    expect(chunks.map((d) => d.file)).toEqual([0, 1, 2].map((index) => expect.objectContaining({ hash, index, chunks: 3, size: data.length })));
    for (const d of prepared.deposits) expect(d.blob.length).toBeLessThanOrEqual(DEFAULT_MAX_DEPOSIT_CHARS);
  });

  it(
    'property: duplicates, another order, damage in transit, a short or altered chunk: the file arrives intact or not at all (short or altered: failed for that contact, its copy discarded)',
    async () => {
      const branches = new Branches('depot files', ['clean', 'duplicated', 'reordered', 'tampered', 'truncated', 'altered', 'empty'] as const);
      const sizes = fc.oneof(
        fc.constant(0),
        fc.integer({ min: 1, max: 2000 }),
        fc.constant(FILE_CHUNK_BYTES),
        fc.integer({ min: FILE_CHUNK_BYTES + 1, max: 2 * FILE_CHUNK_BYTES + 100 }),
      );
      const faults = ['clean', 'duplicated', 'reordered', 'tampered', 'truncated', 'altered'] as const;
      const fault = fc.constantFrom(...faults);
      await fc.assert(
        fc.asyncProperty(sizes, fault, fc.integer({ min: 0, max: 1 << 30 }), async (size, kind, seed) => {
          const data = seededBytes(size, seed);
          const { alice, hash, prepared } = await aliceSends(data);
          const bob = await device();
          const [message, ...chunks] = prepared.deposits.map((d) => d.blob);
          let blobs = [message!, ...chunks];
          const pick = seed % chunks.length;
          const reseal = (bytes: Uint8Array) => {
            const opened = openAnyDeposit(key, chunks[pick]!);
            if (opened?.kind !== 'chunk') throw new Error('not a chunk');
            return sealChunk(key, { ...opened, bytes }, cryptoRandomBytes);
          };
          if (kind === 'duplicated') blobs = [message!, ...chunks.flatMap((c, i) => (i === pick ? [c, c] : [c])), chunks[0]!];
          if (kind === 'reordered') blobs = [message!, ...[...chunks].reverse()];
          if (kind === 'tampered') {
            const bad = chunks[pick]!;
            const at = 40 + (seed % (bad.length - 44));
            blobs = [message!, ...chunks.map((c, i) => (i === pick ? bad.slice(0, at) + (bad[at] === 'A' ? 'B' : 'A') + bad.slice(at + 1) : c))];
          }
          const resealed = openAnyDeposit(key, chunks[pick]!);
          if (kind === 'truncated' && resealed?.kind === 'chunk' && resealed.bytes.length > 0) {
            blobs = [message!, ...chunks.map((c, i) => (i === pick ? reseal(resealed.bytes.subarray(0, resealed.bytes.length - 1)) : c))];
          }
          if (kind === 'altered' && resealed?.kind === 'chunk' && resealed.bytes.length > 0) {
            const other = resealed.bytes.slice();
            other[seed % other.length]! ^= 0x01;
            blobs = [message!, ...chunks.map((c, i) => (i === pick ? reseal(other) : c))];
          }
          const { left, heard } = await bobFetches(bob, blobs);
          const status = await fileStatusOf(chunkStoreOf(bob.storage), hash, { size });
          const stored = await bob.storage.loadRange(['files']);
          const storedChunks = stored.filter((s) => s.key.at(-1) !== 'meta');
          const intact = async () => {
            expect(status.status).toBe('done');
            const back: Uint8Array[] = [];
            for await (const c of chunkStoreOf(bob.storage).chunks(hash)) back.push(c);
            expect(Buffer.compare(Buffer.concat(back), data)).toBe(0);
            expect(heard.at(-1)).toEqual({ type: 'file.done', hash, direction: 'in', total: size });
          };
          const refused = (reason: RegExp) => {
            expect(status.status).toBe('failed');
            expect(status.error).toBeInstanceOf(FileCorruptError);
            expect(status.error!.message).toMatch(reason);
            expect(storedChunks).toEqual([]); // the partial bytes are gone
            expect(heard.filter((e) => e.type === 'file.done')).toEqual([]);
            // The app is asked to tell Alice (a refusal notice): her device is not there to hear it.
            expect(heard.at(-1)).toMatchObject({ type: 'file.failed', hash, direction: 'in', notify: { hash, reason: 'corrupt' } });
          };
          if (size === 0 && kind !== 'tampered') {
            branches.hit('empty');
            await intact();
          } else if (kind === 'clean' || kind === 'duplicated' || kind === 'reordered') {
            branches.hit(kind);
            await intact();
            expect(left).toEqual([]); // every deposit, duplicates included, acknowledged: the relay deletes them
            const progress = heard.filter((e) => e.type === 'file.progress');
            expect(progress.length).toBe(chunks.length);
          } else if (kind === 'tampered') {
            branches.hit('tampered');
            // Not ours to read: refused, left on the relay; nothing of it or after it is stored.
            expect(status.status === 'waiting' || status.status === 'progress').toBe(true);
            expect(status.done).toBe(pick * FILE_CHUNK_BYTES);
            expect(left.map((i) => i.blob)).toContain(blobs[pick + 1]);
          } else if (kind === 'truncated') {
            branches.hit('truncated');
            refused(/bytes, expected/);
          } else {
            branches.hit('altered');
            // This contact's bytes were wrong: its copy failed (the typed error, Alice told by a notice),
            // its bytes discarded; another contact's copy of the file would go on (the two-contact cases below).
            refused(/hash to/);
          }
          expect(alice.db.messages(alice.channelId).length).toBe(1);
          expect(bob.db.messages(bob.channelId).map((m) => m.file?.hash)).toEqual([hash]);
        }),
        // An empty file, then each fault once on a two-chunk file, so every branch is reached whatever the draw.
        { numRuns: RUNS, examples: [[0, 'clean', 0], ...faults.map((kind, i) => [FILE_CHUNK_BYTES + 1 + i, kind, i] as const)] },
      );
      branches.check();
    },
    budgetMs(RUNS, 1000),
  );

  it('a chunk whose file no message names is left on the relay, unread into storage', async () => {
    const { prepared } = await aliceSends(seededBytes(1000, 3));
    const bob = await device();
    const { left, heard } = await bobFetches(
      bob,
      prepared.deposits.slice(1).map((d) => d.blob),
    );
    expect(left.length).toBe(1);
    expect(heard).toEqual([]);
    expect(await bob.storage.loadRange(['files'])).toEqual([]);
  });

  it('a file over the threshold, or a file delivered already, is not deposited', async () => {
    const { prepared } = await aliceSends(seededBytes(DEFAULT_RELAY_FILE_BYTES + 1, 4));
    expect(prepared.deposits.filter((d) => d.file)).toEqual([]);
  });

  it('a hostile contact: chunks of the wrong size, past the end, far more than the size allows, or a size of 2 GiB: the file fails, never more stored than its size', async () => {
    const data = seededBytes(2 * FILE_CHUNK_BYTES + 1000, 11);
    const { hash, prepared } = await aliceSends(data);
    const [message, ...chunks] = prepared.deposits.map((d) => d.blob);
    const first = openAnyDeposit(key, chunks[0]!);
    if (first?.kind !== 'chunk') throw new Error('not a chunk');
    const forge = (over: Partial<typeof first>) => sealChunk(key, { ...first, ...over }, cryptoRandomBytes);
    const junk = new Uint8Array(FILE_CHUNK_BYTES).fill(7);
    const cases = {
      'a first chunk of 1 MiB': [forge({ bytes: new Uint8Array(1 << 20) })],
      'a chunk past the end': [chunks[0]!, chunks[1]!, forge({ index: 3, bytes: junk })],
      'forty chunks more than the size allows': [
        chunks[0]!,
        ...Array.from({ length: 40 }, (_, i) => forge({ index: 3 + i, bytes: junk })),
        chunks[1]!,
        chunks[2]!,
      ],
      'a size of 2 GiB': [forge({ size: 2 ** 31 })],
      'the last chunk too long': [chunks[0]!, chunks[1]!, forge({ index: 2, bytes: new Uint8Array(FILE_CHUNK_BYTES) })],
    };
    for (const [name, hostile] of Object.entries(cases)) {
      const bob = await device();
      const { heard } = await bobFetches(bob, [message!, ...hostile]);
      const status = await fileStatusOf(chunkStoreOf(bob.storage), hash, { size: data.length });
      const storedBytes = (await bob.storage.loadRange(['files'])).filter((s) => s.key.at(-1) !== 'meta').reduce((n, s) => n + s.data.length, 0);
      expect(status.status, name).toBe('failed');
      expect(status.error, name).toBeInstanceOf(FileCorruptError);
      expect(storedBytes, name).toBe(0);
      expect(
        heard.filter((e) => e.type === 'file.done'),
        name,
      ).toEqual([]);
    }
  });

  it("the same file sent to two away contacts goes to the relay for each; one delivery is not the other's", async () => {
    const data = seededBytes(DEFAULT_RELAY_FILE_BYTES, 21);
    const alice = await device();
    const other = await alice.db.addContact({ moniker: 'other', contactKey: new Uint8Array(32).fill(5) });
    const channels = [alice.channelId, alice.db.channelOf(other)];
    const { hash, size } = await chunkStoreOf(alice.storage).import(data, { maxBytes: 1 << 30, blobId: 'a1' });
    const prepare = async (channelId: string) => {
      await alice.db.sendMessage(channelId, { text: 'a file', file: { filename: 'f.bin', mimetype: 'x/y', size, hash } });
      const files = { limit: DEFAULT_RELAY_FILE_BYTES, sent: {}, skip: [] };
      const input = {
        docs: alice.db.docs,
        storage: alice.storage,
        channelId,
        key,
        deviceId: alice.db.deviceId,
        randomBytes: cryptoRandomBytes,
        maxBlobChars: DEFAULT_MAX_DEPOSIT_CHARS,
        maxBatchChars: DEFAULT_MAX_BATCH_CHARS,
        files,
      };
      const prepared: PreparedDeposits = await toPromise(createActor(prepareDeposit, { input }).start());
      return prepared.deposits.flatMap((d) => (d.file ? [d.file] : []));
    };
    const first = await prepare(channels[0]!);
    expect(first.length).toBe(Math.ceil(size / FILE_CHUNK_BYTES));
    for (const file of first) await saveDepositedChunk(alice.storage, channels[0]!, file);
    expect(await prepare(channels[0]!)).toEqual([]);
    const second = await prepare(channels[1]!);
    expect(second.map((f) => f.index)).toEqual(first.map((f) => f.index));
    const store = chunkStoreOf(alice.storage);
    expect((await fileStatusOf(store, hash, undefined, channels[0])).status).toBe('done');
    expect((await fileStatusOf(store, hash, undefined, channels[1])).status).toBe('waiting');
  });

  /** Bob with two contacts: Alice, who sends the file honestly, and Mallory, who names the same file in her channel. */
  async function twoContacts(data: Uint8Array) {
    const { alice, hash, prepared } = await aliceSends(data);
    const [message, ...chunks] = prepared.deposits.map((d) => d.blob);
    const bob = await device();
    const malloryKey = new Uint8Array(32).fill(6);
    const malloryChannel = bob.db.channelOf(await bob.db.addContact({ moniker: 'mallory', contactKey: malloryKey }));
    // Mallory's device names Alice's file (hash and size) in her own channel.
    const m = await Database.open({ storage: new MemoryStorage() });
    const mChannel = m.channelOf(await m.addContact({ moniker: 'bob', contactKey: malloryKey }));
    expect(mChannel).toBe(malloryChannel);
    await m.sendMessage(mChannel, { text: 'mine', file: { filename: 'f.bin', mimetype: 'x/y', size: data.length, hash } });
    const mKey = depotKey(malloryKey);
    const mInput = {
      docs: m.docs,
      storage: m.storage,
      channelId: mChannel,
      key: mKey,
      deviceId: m.deviceId,
      randomBytes: cryptoRandomBytes,
      maxBlobChars: DEFAULT_MAX_DEPOSIT_CHARS,
      maxBatchChars: DEFAULT_MAX_BATCH_CHARS,
      files: { limit: DEFAULT_RELAY_FILE_BYTES, sent: {}, skip: [] },
    };
    const mMessage = (await toPromise(createActor(prepareDeposit, { input: mInput }).start())).deposits.map((d) => d.blob);
    /** A chunk deposit of Mallory's: `index`, `length` bytes of junk (or `bytes`), claiming `size`. */
    const junk = (index: number, length: number, over: { size?: number; bytes?: Uint8Array } = {}) =>
      sealChunk(
        mKey,
        { sender: m.deviceId, docId: mChannel, hash, size: over.size ?? data.length, index, bytes: over.bytes ?? new Uint8Array(length).fill(7) },
        cryptoRandomBytes,
      );
    let n = 0;
    /** Bob applies `blobs` as fetched from one contact's topic: the indexes he acknowledged, what he heard. */
    const applyAs = async (who: 'alice' | 'mallory', blobs: string[]) => {
      const [channelId, k] = who === 'alice' ? [bob.channelId, key] : [malloryChannel, mKey];
      const items = blobs.map((blob) => ({ id: `d${n++}`, blob }));
      const input = { docs: bob.db.docs, storage: bob.storage, channelId, key: k, deviceId: bob.db.deviceId, items };
      const out = await toPromise(createActor(applyDeposits, { input }).start());
      return { acked: items.flatMap((i, at) => (out.ids.includes(i.id) ? [at] : [])), heard: out.files ?? [] };
    };
    const store = chunkStoreOf(bob.storage);
    const statusFor = async (who: 'alice' | 'mallory') => fileStatusOf(store, hash, { size: data.length }, who === 'alice' ? bob.channelId : malloryChannel);
    return { alice, hash, message: message!, chunks, bob, malloryChannel, mMessage, junk, applyAs, statusFor };
  }

  it("a partial another contact began and never finished holds nothing up: this contact's chunks are taken, the file completes, the other copy goes", async () => {
    const data = seededBytes(2 * FILE_CHUNK_BYTES + 1000, 22);
    const t = await twoContacts(data);
    // Mallory begins her copy with a junk chunk 0 and is never heard from again.
    expect((await t.applyAs('mallory', [...t.mMessage, t.junk(0, FILE_CHUNK_BYTES)])).acked).toEqual([0, 1]);
    expect(await t.statusFor('mallory')).toMatchObject({ status: 'progress', done: FILE_CHUNK_BYTES });
    expect(await t.statusFor('alice')).toMatchObject({ status: 'waiting', done: 0 });
    // Alice's message and every chunk: each taken at once (none left on the relay), the file whole and checked.
    const { acked, heard } = await t.applyAs('alice', [t.message, ...t.chunks]);
    expect(acked).toEqual([0, 1, 2, 3]);
    expect(heard.filter((e) => e.type !== 'file.progress')).toEqual([{ type: 'file.done', hash: t.hash, direction: 'in', total: data.length }]);
    expect(await t.statusFor('alice')).toEqual({ status: 'done', direction: 'in', done: data.length, total: data.length });
    expect(await t.statusFor('mallory')).toMatchObject({ status: 'done' }); // the file is here: nothing left to fetch from her
    const back: Uint8Array[] = [];
    for await (const c of chunkStoreOf(t.bob.storage).chunks(t.hash)) back.push(c);
    expect(Buffer.compare(Buffer.concat(back), data)).toBe(0);
    // Mallory's junk is gone: only Alice's copy is stored.
    const blobs = new Set((await t.bob.storage.listKeys(['files'])).map((k) => k[1]));
    expect([...blobs]).toEqual([`i${t.bob.channelId}.${t.hash}`]);
    expect(await t.bob.storage.listKeys(['fileIns'])).toEqual([]);
    // Mallory's later chunks: acknowledged (the file is settled), never stored.
    expect((await t.applyAs('mallory', [t.junk(1, FILE_CHUNK_BYTES)])).acked).toEqual([0]);
    expect(new Set((await t.bob.storage.listKeys(['files'])).map((k) => k[1]))).toEqual(blobs);
  });

  it("a hostile contact corrupting its own copy (another size, a chunk of the wrong length, bytes that hash wrong) fails only its transfer: the honest contact's transfer of the same file goes on", async () => {
    const data = seededBytes(2 * FILE_CHUNK_BYTES + 1000, 23);
    const cases: Record<string, (t: Awaited<ReturnType<typeof twoContacts>>) => string[]> = {
      'a size other than its message says': (t) => [t.junk(0, FILE_CHUNK_BYTES, { size: data.length + 1 })],
      'a first chunk of the wrong length': (t) => [t.junk(0, 1000)],
      'a last chunk of the wrong length': (t) => [t.junk(0, FILE_CHUNK_BYTES), t.junk(1, FILE_CHUNK_BYTES), t.junk(2, 999)],
      'bytes that hash wrong': (t) => [t.junk(0, FILE_CHUNK_BYTES), t.junk(1, FILE_CHUNK_BYTES), t.junk(2, 1000)],
    };
    for (const [name, hostile] of Object.entries(cases)) {
      const t = await twoContacts(data);
      // Alice's message and first chunk arrive first: her copy is under way when Mallory's fails.
      expect((await t.applyAs('alice', [t.message, t.chunks[0]!])).acked, name).toEqual([0, 1]);
      const bad = await t.applyAs('mallory', [...t.mMessage, ...hostile(t)]);
      const failed = bad.heard.filter((e) => e.type === 'file.failed');
      expect(failed, name).toEqual([
        { type: 'file.failed', hash: t.hash, direction: 'in', error: expect.any(FileCorruptError), notify: expect.objectContaining({ reason: 'corrupt' }) },
      ]);
      expect(await t.statusFor('mallory'), name).toMatchObject({ status: 'failed', error: expect.any(FileCorruptError) });
      expect(await t.statusFor('alice'), name).toMatchObject({ status: 'progress', done: FILE_CHUNK_BYTES });
      // Alice's other chunks: the file completes, for her and so for everyone.
      const { acked, heard } = await t.applyAs('alice', t.chunks.slice(1));
      expect(acked, name).toEqual([0, 1]);
      expect(heard.at(-1), name).toEqual({ type: 'file.done', hash: t.hash, direction: 'in', total: data.length });
      expect(await t.statusFor('alice'), name).toMatchObject({ status: 'done' });
      expect(await t.statusFor('mallory'), name).toMatchObject({ status: 'done' });
    }
  });

  it("over the receiver's limit, from the relay: failed here with a refusal for the sender; its notice in the channel stops the sender depositing it and reads as failed there", async () => {
    const data = seededBytes(FILE_CHUNK_BYTES + 10, 24);
    const { alice, hash, prepared } = await aliceSends(data);
    const bob = await device();
    await bob.db.updateSettings({ file_size_limit: 1000 });
    const { heard } = await bobFetches(
      bob,
      prepared.deposits.map((d) => d.blob),
    );
    const failed = heard.filter((e) => e.type === 'file.failed');
    expect(failed).toEqual([
      {
        type: 'file.failed',
        hash,
        direction: 'in',
        error: expect.any(FileTooLargeError),
        notify: { hash, reason: 'too-large', detail: expect.any(String), limit: 1000 },
      },
    ]);
    // What the app writes: the notice, which reaches Alice like any message of Bob's (here by his deposit).
    await bob.db.sendMessage(bob.channelId, { notice: fileRefusalNotice((failed[0] as { notify: FileRefusal }).notify) });
    const bobInput = {
      docs: bob.db.docs,
      storage: bob.storage,
      channelId: bob.channelId,
      key,
      deviceId: bob.db.deviceId,
      randomBytes: cryptoRandomBytes,
      maxBlobChars: DEFAULT_MAX_DEPOSIT_CHARS,
      maxBatchChars: DEFAULT_MAX_BATCH_CHARS,
    };
    const bobs: PreparedDeposits = await toPromise(createActor(prepareDeposit, { input: bobInput }).start());
    const items = bobs.deposits.map((d, i) => ({ id: `b${i}`, blob: d.blob }));
    const applied = await toPromise(
      createActor(applyDeposits, {
        input: { docs: alice.db.docs, storage: alice.storage, channelId: alice.channelId, key, deviceId: alice.db.deviceId, items },
      }).start(),
    );
    expect(applied.ids.length).toBe(items.length);
    const refusals = refusalsIn(alice.db.messages(alice.channelId), (s) => s === alice.db.deviceId);
    expect([...refusals.keys()]).toEqual([hash]);
    // Her depot deposits none of it again (no acknowledgement was saved: it would otherwise start over).
    const again: PreparedDeposits = await toPromise(
      createActor(prepareDeposit, {
        input: {
          docs: alice.db.docs,
          storage: alice.storage,
          channelId: alice.channelId,
          key,
          deviceId: alice.db.deviceId,
          randomBytes: cryptoRandomBytes,
          maxBlobChars: DEFAULT_MAX_DEPOSIT_CHARS,
          maxBatchChars: DEFAULT_MAX_BATCH_CHARS,
          files: { limit: DEFAULT_RELAY_FILE_BYTES, sent: {}, skip: [] },
        },
      }).start(),
    );
    expect(again.deposits.filter((d) => d.file)).toEqual([]);
    // Delivered (the relay held every chunk) and refused: failed for Bob, with the typed error.
    await chunkStoreOf(alice.storage).delivered(hash, alice.channelId);
    const error = refusalError(refusals.get(hash)!, data.length);
    expect(error).toBeInstanceOf(FileTooLargeError);
    expect(error.data).toMatchObject({ size: data.length, limit: 1000, hash });
    expect(await fileStatusOf(chunkStoreOf(alice.storage), hash, undefined, alice.channelId, error)).toEqual({
      status: 'failed',
      direction: 'out',
      done: 0,
      total: data.length,
      error,
    });
  });

  it("a crash between the depot's acknowledgement and the app writing the refusal notice: the notice is written when the device starts again, once", async () => {
    const data = seededBytes(FILE_CHUNK_BYTES + 10, 25);
    const { hash, prepared } = await aliceSends(data);
    const bob = await device();
    await bob.db.updateSettings({ file_size_limit: 1000 });
    const { left, heard } = await bobFetches(
      bob,
      prepared.deposits.map((d) => d.blob),
    );
    expect(left).toEqual([]); // every deposit acknowledged: the relay lets them go
    expect(heard.filter((e) => e.type === 'file.failed')).toEqual([expect.objectContaining({ notify: expect.objectContaining({ hash }) })]);
    // The crash: the app never wrote the notice. The same storage opens again, as every start opens it.
    const refusalsAt = (db: Database) => db.messages(bob.channelId).flatMap((m) => fileRefusalOf(m) ?? []);
    expect(refusalsAt(bob.db)).toEqual([]);
    const start = () => toPromise(createActor(appActors.openDatabase, { input: { storage: bob.storage, randomBytes: cryptoRandomBytes } }).start());
    const { db } = await start();
    expect(refusalsAt(db)).toEqual([{ hash, reason: 'too-large', detail: expect.any(String), limit: 1000 }]);
    expect(db.messages(bob.channelId).at(-1)!.sender).toBe(bob.db.deviceId);
    expect(await bob.storage.listKeys(['fileRefusals'])).toEqual([]); // told: no longer owed
    // Another start writes it no more; nor does one after the live path wrote it and a crash kept the mark.
    expect(refusalsAt((await start()).db)).toHaveLength(1);
    await chunkStoreOf(bob.storage).settleCopy(hash, bob.channelId, 'failed', new FileTooLargeError(data.length, 1000), data.length, {
      hash,
      reason: 'too-large',
      detail: 'again',
      limit: 1000,
    });
    const third = await start();
    expect(refusalsAt(third.db)).toHaveLength(1);
    expect(await bob.storage.listKeys(['fileRefusals'])).toEqual([]);
  });

  it('a crash between storing the refusal and the failed record: the deposit is not acknowledged, and the next start writes the notice all the same', async () => {
    const data = seededBytes(FILE_CHUNK_BYTES + 10, 29);
    const { hash, prepared } = await aliceSends(data);
    const bob = await device();
    await bob.db.updateSettings({ file_size_limit: 1000 });
    const copyMeta = ['files', `i${bob.channelId}.${hash}`, 'meta'].join('/');
    // The storage stops working once the refusal is stored: the device dies there.
    let dead = false;
    const under = bob.storage;
    const dying: StorageAdapter = {
      load: (k) => under.load(k),
      remove: (k) => under.remove(k),
      loadRange: (k) => under.loadRange(k),
      listKeys: (k) => under.listKeys(k),
      removeRange: (k) => under.removeRange(k),
      async save(k, bytes) {
        if (dead || (k.join('/') === copyMeta && (await under.listKeys(['fileRefusals'])).length > 0)) {
          dead = true;
          throw new Error('the device died');
        }
        return under.save(k, bytes);
      },
    };
    const items = prepared.deposits.map((d, i) => ({ id: `d${i}`, blob: d.blob }));
    const input = { docs: bob.db.docs, storage: dying, channelId: bob.channelId, key, deviceId: bob.db.deviceId, items };
    const out = await toPromise(createActor(applyDeposits, { input }).start());
    expect(dead).toBe(true);
    expect(out.ids).not.toContain('d1'); // the refused chunk stays on the relay
    const { db } = await toPromise(createActor(appActors.openDatabase, { input: { storage: bob.storage, randomBytes: cryptoRandomBytes } }).start());
    const refusalsAt = () => db.messages(bob.channelId).flatMap((m) => fileRefusalOf(m) ?? []);
    expect(refusalsAt()).toEqual([expect.objectContaining({ hash, reason: 'too-large', limit: 1000 })]);
    // The relay hands the chunk again: it fails again, and the notice is not owed twice.
    const { left, heard } = await bobFetches(
      { ...bob, db },
      prepared.deposits.map((d) => d.blob),
    );
    expect(left).toEqual([]);
    expect(heard.filter((e) => e.type === 'file.failed')).toEqual([{ type: 'file.failed', hash, direction: 'in', error: expect.any(FileTooLargeError) }]);
    expect(await bob.storage.listKeys(['fileRefusals'])).toEqual([]);
  });

  it('removing a contact (by me, by them, or forgetting its card) reclaims its partial copies at once', async () => {
    const data = seededBytes(2 * FILE_CHUNK_BYTES + 5, 30);
    const { hash, prepared } = await aliceSends(data);
    const [message, first] = prepared.deposits.map((d) => d.blob);
    for (const removal of ['removeContact', 'markRemovedByPeer', 'forgetContact'] as const) {
      const bob = await device();
      await bobFetches(bob, [message!, first!]);
      expect(await bob.storage.listKeys(['fileIns', hash]), removal).toHaveLength(1);
      const input = { db: bob.db, contactId: bob.db.contacts()[0]!.id };
      await toPromise(createActor(appActors[removal] as typeof appActors.forgetContact, { input }).start());
      expect(await bob.storage.listKeys(['fileIns']), removal).toEqual([]);
      expect(await bob.storage.listKeys(['files']), removal).toEqual([]);
    }
  });

  it('a partial copy is kept while its contact names the file (a start leaves it, the transfer resumes into it) and reclaimed once the contact is removed: its chunks, record and listing go', async () => {
    const data = seededBytes(3 * FILE_CHUNK_BYTES + 5, 27);
    const { hash, prepared } = await aliceSends(data);
    const [message, ...chunks] = prepared.deposits.map((d) => d.blob);
    const bob = await device();
    const contactId = bob.db.contacts()[0]!.id;
    const copy = `i${bob.channelId}.${hash}`;
    const keysOfCopy = async () => [...(await bob.storage.listKeys(['files', copy])), ...(await bob.storage.listKeys(['fileIns', hash]))];
    await bobFetches(bob, [message!, chunks[0]!]);
    expect(await keysOfCopy()).toHaveLength(3); // chunk 0, its record, its listing
    // A start: Alice still names it, so the copy stays, and her next chunk goes on from it.
    const { db } = await toPromise(createActor(appActors.openDatabase, { input: { storage: bob.storage, randomBytes: cryptoRandomBytes } }).start());
    expect(await keysOfCopy()).toHaveLength(3);
    const later = { ...bob, db };
    const { heard } = await bobFetches(later, [chunks[1]!]);
    expect(heard).toEqual([{ type: 'file.progress', hash, direction: 'in', done: 2 * FILE_CHUNK_BYTES, total: data.length }]);
    // A copy a live session is receiving is never taken from under it, named or not.
    const store = chunkStoreOf(bob.storage);
    store.receiving.add(receivingKey(hash, bob.channelId));
    expect(await store.reclaimCopies(() => false)).toBe(0);
    store.receiving.delete(receivingKey(hash, bob.channelId));
    // Alice removed: her file will not come now.
    expect(await toPromise(createActor(appActors.forgetContact, { input: { db, contactId } }).start())).toBe(true);
    expect(await keysOfCopy()).toEqual([]);
    expect(await fileStatusOf(store, hash)).toEqual({ status: 'unknown', done: 0, total: 0 });
  });

  it('a start reclaims copies whose contact is gone (removed before copies were reclaimed, or a crash in between), a refusal owed with them too', async () => {
    const data = seededBytes(2 * FILE_CHUNK_BYTES + 5, 28);
    const { hash, prepared } = await aliceSends(data);
    const [message, ...chunks] = prepared.deposits.map((d) => d.blob);
    const bob = await device();
    await bobFetches(bob, [message!, chunks[0]!]);
    const other = 'ab'.repeat(16);
    await chunkStoreOf(bob.storage).settleCopy(hash, other, 'failed', new FileTooLargeError(data.length, 1), data.length, {
      hash,
      reason: 'too-large',
      detail: 'over 1',
      limit: 1,
    });
    await bob.db.removeContact(bob.db.contacts()[0]!.id);
    expect(await bob.storage.listKeys(['fileIns', hash])).toHaveLength(2);
    await toPromise(createActor(appActors.openDatabase, { input: { storage: bob.storage, randomBytes: cryptoRandomBytes } }).start());
    for (const prefix of [['files'], ['fileIns'], ['fileRefusals']]) expect(await bob.storage.listKeys(prefix)).toEqual([]);
  });

  it('a refusal notice: read back only in shape; the other notice readers (removal, device set) pass it by, and it is no chat message', async () => {
    const hash = 'cd'.repeat(32);
    const notice = fileRefusalNotice({ hash, reason: 'too-large', detail: 'over 1000', limit: 1000 });
    expect(fileRefusalOf({ notice })).toEqual({ hash, reason: 'too-large', detail: 'over 1000', limit: 1000 });
    for (const bad of [
      removalNotice(),
      JSON.stringify({ file_refused: { hash: 'zz', reason: 'corrupt' } }),
      JSON.stringify({ file_refused: { hash, reason: 'bored' } }),
      JSON.stringify({ file_refused: null }),
      'file_refused{',
    ])
      expect(fileRefusalOf({ notice: bad }), bad).toBeUndefined();
    const bob = await device();
    const written = await bob.db.sendMessage(bob.channelId, { notice });
    expect(isRemoval(written)).toBe(false);
    expect(removalIn([written], new Set())).toBeUndefined();
    expect(peerSetOf('ab'.repeat(32), [written])).toEqual(new Set());
    // As the document holds it (immutable strings): read the same.
    expect(refusalsIn(bob.db.docs.get<{ messages: unknown[] }>(bob.channelId).messages as never, () => false).get(hash)).toMatchObject({ reason: 'too-large' });
    expect(refusalsIn([written], (s) => s === bob.db.deviceId).size).toBe(0); // my own refusals are not the contact's
    expect(refusalError(fileRefusalOf({ notice: fileRefusalNotice({ hash, reason: 'corrupt', detail: 'its bytes hash to 00' }) })!, 5)).toMatchObject({
      code: 'FILE_CORRUPT',
      data: { hash, detail: 'the contact found it damaged: its bytes hash to 00' },
    });
  });

  describe('the depot machine with a file in its deposits', () => {
    const H = 'ab'.repeat(32);
    const chunk = (index: number, upTo: number) => ({ blob: `C${index}AA`, heads: ['h1'], file: { hash: H, index, chunks: 2, size: 300_000, upTo } });
    function machineHarness() {
      const clock = new SimulatedClock();
      const sent: Record<string, unknown>[] = [];
      let sendBack: (e: SocketEvent) => void = () => {};
      const prepared: PrepareInput[] = [];
      const emitted: DepotEmitted[] = [];
      const saved: number[] = [];
      const machine = depotMachine.provide({
        actors: {
          socket: fromCallback(({ sendBack: back, receive }) => {
            sendBack = back as typeof sendBack;
            receive((c) => void sent.push(JSON.parse((c as unknown as { text: string }).text) as Record<string, unknown>));
            return () => {};
          }),
          changes: fromCallback(() => () => {}),
          prepareDeposit: fromPromise(async ({ input }): Promise<Prepared> => {
            prepared.push(input as PrepareInput);
            return prepared.length === 1 ? { deposits: [{ blob: 'AAAA', heads: ['h1'] }, chunk(0, 262_144), chunk(1, 300_000)] } : { deposits: [] };
          }),
          applyDeposits: fromPromise(async () => ({ applied: 0, ids: [] })),
          saveHeads: fromPromise(async () => {}),
          saveChunk: fromPromise(async ({ input }) => void saved.push((input as { file: { index: number } }).file.index)),
        } as never,
      });
      const contactKey = new Uint8Array(32).fill(7);
      const input = { url: 'ws://relay.test/backchannel/v2', contactKey, channelId: 'c'.repeat(32), deviceId: 'd'.repeat(32) } as unknown as DepotInput;
      const actor = createActor(machine, { clock, input });
      for (const type of ['deposited', 'refused', 'file.progress', 'file.done', 'file.waiting'] as const) actor.on(type, (e) => emitted.push(e));
      actor.start();
      const topic = discoveryTopic(contactKey);
      sendBack({ type: 'socket.open' });
      sendBack({ type: 'socket.frame', text: JSON.stringify({ type: 'challenge', challenge: toHex(new Uint8Array(32).fill(1)) }) });
      clock.increment(DEFAULT_DEPOT_TIMEOUTS.debounceMs);
      const reply = (frame: Record<string, unknown>) => sendBack({ type: 'socket.frame', text: JSON.stringify({ topic, ...frame }) });
      return { actor, sent, prepared, emitted, saved, reply };
    }

    it('the relay stores every chunk: progress for each, then done; `deposited` only for the changes', async () => {
      const h = machineHarness();
      await until(() => h.sent.filter((f) => f.type === 'deposit').length === 3);
      expect(h.prepared[0]!.files).toEqual({ limit: DEFAULT_RELAY_FILE_BYTES, sent: {}, skip: [] });
      for (const id of ['x1', 'x2', 'x3']) h.reply({ type: 'deposited', id });
      await until(() => h.emitted.some((e) => e.type === 'file.done'));
      expect(h.saved).toEqual([0, 1]);
      expect(h.emitted).toEqual([
        { type: 'deposited', id: 'x1', heads: ['h1'] },
        { type: 'file.progress', hash: H, direction: 'out', done: 262_144, total: 300_000 },
        { type: 'file.progress', hash: H, direction: 'out', done: 300_000, total: 300_000 },
        { type: 'file.done', hash: H, direction: 'out', total: 300_000 },
      ]);
      h.actor.stop();
    });

    it('the relay refuses a chunk: the file waits on the device (route device, the reason), is not tried again, and the rest goes on', async () => {
      const h = machineHarness();
      await until(() => h.sent.filter((f) => f.type === 'deposit').length === 3);
      h.reply({ type: 'deposited', id: 'x1' });
      h.reply({ type: 'error', re: 'deposit', reason: 'depot full for this topic' });
      await until(() => h.prepared.length === 2);
      expect(h.emitted.filter((e) => e.type === 'file.waiting')).toEqual([
        { type: 'file.waiting', hash: H, direction: 'out', total: 300_000, route: 'device', reason: 'the relay would not keep it: depot full for this topic' },
      ]);
      expect(h.emitted.filter((e) => e.type === 'refused' || e.type === 'file.done')).toEqual([]);
      expect(h.prepared[1]!.files!.skip).toEqual([H]);
      h.actor.stop();
    });
  });
});
