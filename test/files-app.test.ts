/**
 * Files through the SDK façade, as a host uses them: Alice and Bob with createBackchannel on a real
 * relay (their links connect relayed: no WebRTC in this process). A file from a path and a Blob
 * arrives intact with progress on both sides; a small file to a contact who is away waits sealed on
 * the relay (route 'relay'; across a restart of a relay process, the sender gone too), a larger one on
 * the device (route 'device') and goes when they are back; the size limit in Settings refuses with a typed error
 * on either side; an AbortSignal cancels on both sides; the journal replays the app with its files.
 */
import { seededBytes as bytes } from './helpers/seededBytes.js';
import { eventsOf } from './helpers/events.js';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { fileFromPath, saveFile } from '../src/adapters/nodeFile.js';
import { createBackchannel, type Backchannel, type BackchannelEvent, type PairedContact } from '../src/app/backchannel.js';
import { AbortedError, FileTooLargeError, InvalidArgumentError, NotFoundError } from '../src/errors.js';
import { createHasher, FILE_CHUNK_BYTES } from '../src/files/chunkStore.js';
import { replay } from '../src/journal/replay.js';
import { tempDirs, until } from './helpers/wait.js';
import { startRelayProcess } from './helpers/processes.js';
import { DEFAULT_RELAY_FILE_BYTES } from '../src/depot/fileRoute.js';

/** Every file under `dir` (none when it does not exist). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

let relay: Relay;
const dirs = tempDirs('bc-files-');
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay.close();
  dirs.removeAll();
});

type Transfer = Extract<BackchannelEvent, { type: 'transfer' }>;

function open(storage = new NodeFsStorage(dirs.make())): Promise<Backchannel> {
  return createBackchannel({ storage, connector: nodeSocketConnector(), relay: relay.url, discoverTimeouts: { reconnectBaseMs: 100 } });
}

async function pairUp(alice: Backchannel, bob: Backchannel): Promise<[PairedContact, PairedContact]> {
  const { code, done } = await alice.invite({ moniker: 'Bob' });
  return Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
}

/** Every transfer event of `bc`, and a wait for the first that matches. */
const transfers = (bc: Backchannel) => eventsOf(bc, 'transfer');

async function hashOf(stream: ReadableStream<Uint8Array> | Uint8Array): Promise<string> {
  const h = await createHasher();
  if (stream instanceof Uint8Array) h.update(stream);
  else for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) h.update(chunk);
  return h.hex();
}

const finished = (hash: string, direction: 'in' | 'out') => (e: Transfer) => e.hash === hash && e.direction === direction && e.status === 'done';
const failedFor = (hash: string, direction: 'in' | 'out') => (e: Transfer) => e.hash === hash && e.direction === direction && e.status === 'failed';

describe('files through createBackchannel', () => {
  it('a file from a path and one from a Blob arrive intact; progress both sides; the message names them; the journal replays', async () => {
    const alice = await open();
    const bob = await open();
    try {
      const [bobCard, aliceCard] = await pairUp(alice, bob);
      const [atAlice, atBob] = [transfers(alice), transfers(bob)];
      const path = join(dirs.make(), 'photo.jpg');
      const data = bytes(3 * FILE_CHUNK_BYTES + 4321, 7);
      writeFileSync(path, data);
      const incoming = new Promise<BackchannelEvent>((resolve) => bob.subscribe((e) => e.type === 'message' && e.incoming && resolve(e)));
      const message = await alice.send(bobCard.id, { text: 'a photo', file: await fileFromPath(path, 'image/jpeg') });
      expect(message.file).toMatchObject({ filename: 'photo.jpg', mimetype: 'image/jpeg', size: data.length, hash: await hashOf(data) });
      const hash = message.file!.hash;
      expect(((await incoming) as { message: { file?: unknown } }).message.file).toEqual(message.file);
      await atBob.next(finished(hash, 'in'));
      await atAlice.next(finished(hash, 'out'));
      expect(await hashOf(await bob.openFile(hash))).toBe(hash);
      const copy = join(dirs.make(), 'copy.jpg');
      await saveFile(await bob.openFile(hash), copy);
      expect(Buffer.compare(readFileSync(copy), data)).toBe(0);
      const blob = await bob.fileBlob(hash, 'image/jpeg');
      expect(blob.size).toBe(data.length);
      expect(Buffer.compare(new Uint8Array(await blob.arrayBuffer()), data)).toBe(0);
      for (const [seen, dir] of [
        [atBob.seen, 'in'],
        [atAlice.seen, 'out'],
      ] as const) {
        const progress = seen.filter((e) => e.hash === hash && e.direction === dir && e.status === 'progress');
        expect(progress.length).toBeGreaterThanOrEqual(4);
        expect(progress.at(-1)).toMatchObject({ done: data.length, total: data.length, contactId: dir === 'in' ? aliceCard.id : bobCard.id });
      }

      // And back, from a Blob.
      const small = bytes(1000, 8);
      const reply = await bob.send(aliceCard.id, {
        file: { data: new Blob([small as Uint8Array<ArrayBuffer>]), filename: 'note.txt', mimetype: 'text/plain' },
      });
      await atAlice.next(finished(reply.file!.hash, 'in'));
      expect(await hashOf(await alice.openFile(reply.file!.hash))).toBe(await hashOf(small));
      await expect(alice.openFile('00'.repeat(32))).rejects.toBeInstanceOf(NotFoundError);

      // The journal replays the app and its children, files included, without an error.
      const replayed = await replay(alice.journal!);
      expect(replayed.filter((a) => a.failure)).toEqual([]);
      expect(replayed.some((a) => a.effect === 'files')).toBe(true); // the file session ran, as an effect of the link
      const app = replayed.find((a) => a.machine === 'app')!;
      expect(app.snapshot?.context.fileOuts).toEqual([]);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 120_000);

  it('a file over the relay threshold to a contact who is away waits on this device (the host is told) and goes when they are back', async () => {
    const alice = await open();
    const bob = await open();
    try {
      const [bobCard] = await pairUp(alice, bob);
      const [atAlice, atBob] = [transfers(alice), transfers(bob)];
      bob.goOffline();
      const data = bytes(DEFAULT_RELAY_FILE_BYTES + 1000, 9);
      const sent = await alice.send(bobCard.id, { file: { data, filename: 'away.bin', mimetype: 'application/octet-stream' } });
      const hash = sent.file!.hash;
      expect(await atAlice.next((e) => e.hash === hash && e.status === 'waiting')).toMatchObject({ route: 'device', total: data.length, done: 0 });
      expect(atBob.seen).toEqual([]);
      bob.goOnline();
      await atBob.next(finished(hash, 'in'));
      await atAlice.next(finished(hash, 'out'));
      expect(await hashOf(await bob.openFile(hash))).toBe(hash);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 120_000);

  it('a small file to a contact who is away waits sealed on the relay: the sender goes too, the relay restarts, the contact gets it intact; the relay never held its bytes', async () => {
    const relayData = dirs.make();
    let relayProcess = await startRelayProcess(['--data', relayData]);
    const on = (dir: string) =>
      createBackchannel({
        storage: new NodeFsStorage(dir),
        connector: nodeSocketConnector(),
        relay: relayProcess.url,
        discoverTimeouts: { reconnectBaseMs: 100 },
      });
    const [aliceDir, bobDir] = [dirs.make(), dirs.make()];
    const alice = await on(aliceDir);
    let bob = await on(bobDir);
    try {
      const [bobCard] = await pairUp(alice, bob);
      await bob.close(); // Bob's device is gone, not just offline
      const atAlice = transfers(alice);
      const data = bytes(300_000, 21);
      const sent = await alice.send(bobCard.id, { text: 'while you were away', file: { data, filename: 'relay.bin', mimetype: 'application/octet-stream' } });
      const hash = sent.file!.hash;
      expect(await atAlice.next((e) => e.hash === hash && e.status === 'waiting')).toMatchObject({ route: 'relay', total: data.length, done: 0 });
      // Done once the relay acknowledged every chunk: sealed on its disk, Alice may go.
      await atAlice.next(finished(hash, 'out'), 60_000);
      expect(await alice.fileStatus(hash)).toMatchObject({ status: 'done', direction: 'out' });
      alice.goOffline();

      // What the relay stored is sealed: no stretch of the file, raw or as base64, is in its files.
      const deposits = filesUnder(join(relayData, 'depot'));
      const stored = filesUnder(relayData).map((f) => readFileSync(f));
      expect(stored.length).toBeGreaterThan(0);
      for (const at of [0, 1000, 150_000, 262_144, data.length - 64]) {
        const piece = Buffer.from(data.subarray(at, at + 64));
        for (const bytesOnDisk of stored) {
          expect(bytesOnDisk.includes(piece)).toBe(false);
          expect(bytesOnDisk.includes(Buffer.from(piece.subarray(0, 60).toString('base64')))).toBe(false);
          expect(Buffer.from(bytesOnDisk.toString('utf8'), 'base64').includes(piece)).toBe(false);
        }
      }

      // The relay process stops and a new one starts on the same port and data.
      const { port } = relayProcess;
      expect((await relayProcess.stop()).code).toBe(0);
      relayProcess = await startRelayProcess(['--data', relayData], { port });

      bob = await on(bobDir);
      const atBob = transfers(bob);
      await atBob.next(finished(hash, 'in'), 60_000);
      expect(alice.presence(bobCard.id)).toBeUndefined(); // it came through the relay: Alice is offline
      expect(atBob.seen.filter((e) => e.hash === hash && e.status === 'progress').at(-1)).toMatchObject({ done: data.length, total: data.length });
      expect(await hashOf(await bob.openFile(hash))).toBe(hash);
      expect(await hashOf(data)).toBe(hash);
      const aliceId = bob.contacts()[0]!.id;
      expect(bob.messages(aliceId).map((m) => m.text)).toContain('while you were away');
      // Bob acknowledged Alice's deposits: the relay deleted them (what is left there is Bob's, for Alice).
      expect(deposits.length).toBeGreaterThanOrEqual(3); // the message, then the file's two chunks
      await until(() => deposits.every((f) => !existsSync(f)), 30_000);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
      await relayProcess.stop();
    }
  }, 240_000);

  it('the size limit in Settings: over it, send refuses (FileTooLargeError) and stores nothing; a receiver with a lower one refuses on both sides', async () => {
    const storage = new MemoryStorage();
    const alice = await open(storage as unknown as NodeFsStorage);
    const bob = await open();
    try {
      const [bobCard] = await pairUp(alice, bob);
      const [atAlice, atBob] = [transfers(alice), transfers(bob)];
      await alice.updateSettings({ file_size_limit: 10_000 });
      // Known size (a Blob): refused before reading; unknown (a stream): refused once it passes the limit.
      await expect(
        alice.send(bobCard.id, { file: { data: new Blob([bytes(10_001, 1) as Uint8Array<ArrayBuffer>]), filename: 'big', mimetype: 'x/y' } }),
      ).rejects.toBeInstanceOf(FileTooLargeError);
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < 4; i++) c.enqueue(bytes(4000, i + 2));
          c.close();
        },
      });
      await expect(alice.send(bobCard.id, { file: { data: stream, filename: 's', mimetype: 'x/y' } })).rejects.toMatchObject({ code: 'FILE_TOO_LARGE' });
      expect(await storage.loadRange(['files'])).toEqual([]);

      await alice.updateSettings({ file_size_limit: 1 << 30 });
      await bob.updateSettings({ file_size_limit: 5_000 });
      // Bob's refusal travels back over a live channel; sent while he is away, it would go by the depot.
      await until(() => alice.presence(bobCard.id) !== undefined);
      const sent = await alice.send(bobCard.id, { file: { data: bytes(6_000, 3), filename: 'six', mimetype: 'x/y' } });
      const hash = sent.file!.hash;
      expect((await atBob.next(failedFor(hash, 'in'))).error).toBeInstanceOf(FileTooLargeError);
      expect((await atAlice.next(failedFor(hash, 'out'))).error).toBeInstanceOf(FileTooLargeError);
      await expect(bob.openFile(hash)).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 120_000);

  it('a file that came by the relay and the receiver refuses (over its limit): the sender, done once the relay held it, hears failed with the typed error; fileStatus says so', async () => {
    const alice = await open();
    const bob = await open();
    try {
      const [bobCard, aliceCard] = await pairUp(alice, bob);
      const [atAlice, atBob] = [transfers(alice), transfers(bob)];
      await bob.updateSettings({ file_size_limit: 5_000 });
      bob.goOffline();
      const sent = await alice.send(bobCard.id, { text: 'six', file: { data: bytes(6_000, 41), filename: 'six', mimetype: 'x/y' } });
      const hash = sent.file!.hash;
      expect(await atAlice.next((e) => e.hash === hash && e.status === 'waiting')).toMatchObject({ route: 'relay' });
      await atAlice.next(finished(hash, 'out')); // the relay holds every byte for Bob
      // Alice goes too: no file session can carry Bob's refusal back, only his notice.
      alice.goOffline();
      bob.goOnline();
      const refused = await atBob.next(failedFor(hash, 'in'));
      expect(refused).toMatchObject({ contactId: aliceCard.id, error: expect.any(FileTooLargeError) });
      alice.goOnline();
      const failed = await atAlice.next(failedFor(hash, 'out'));
      expect(failed).toMatchObject({ contactId: bobCard.id, error: expect.any(FileTooLargeError) });
      expect(failed.error!.data).toMatchObject({ size: 6_000, limit: 5_000, hash });
      expect(await alice.fileStatus(hash)).toMatchObject({ status: 'failed', direction: 'out', contactId: bobCard.id, error: expect.any(FileTooLargeError) });
      expect(await bob.fileStatus(hash)).toMatchObject({ status: 'failed', direction: 'in', contactId: aliceCard.id, error: expect.any(FileTooLargeError) });
      // The notice is between devices: neither conversation lists it.
      expect(alice.messages(bobCard.id).map((m) => m.text)).toEqual(['six']);
      expect(bob.messages(aliceCard.id).map((m) => m.text)).toEqual(['six']);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 120_000);

  it('a receiver refusing a file over a live session (over its limit) leaves its notice: fileStatus says failed with the typed error on both sides, and after a restart', async () => {
    const [aliceDir, bobDir] = [dirs.make(), dirs.make()];
    let alice = await open(new NodeFsStorage(aliceDir));
    let bob = await open(new NodeFsStorage(bobDir));
    try {
      const [bobCard, aliceCard] = await pairUp(alice, bob);
      const [atAlice, atBob] = [transfers(alice), transfers(bob)];
      await bob.updateSettings({ file_size_limit: 5_000 });
      await until(() => alice.presence(bobCard.id) !== undefined);
      const hash = (await alice.send(bobCard.id, { file: { data: bytes(6_000, 51), filename: 'six', mimetype: 'x/y' } })).file!.hash;
      expect((await atBob.next(failedFor(hash, 'in'))).error).toBeInstanceOf(FileTooLargeError);
      expect((await atAlice.next(failedFor(hash, 'out'))).error).toBeInstanceOf(FileTooLargeError);
      // The stop frame ended the transfer live; Bob's notice is what stays: it syncs over the same link, and Alice hears it as failed again.
      await until(() => atAlice.seen.filter(failedFor(hash, 'out')).length === 2);
      const failedAt = (bc: Backchannel, direction: 'in' | 'out', contactId: string) =>
        expect(bc.fileStatus(hash)).resolves.toMatchObject({ status: 'failed', direction, contactId, error: expect.any(FileTooLargeError) });
      await failedAt(alice, 'out', bobCard.id);
      await failedAt(bob, 'in', aliceCard.id);
      await Promise.all([alice.close(), bob.close()]);
      [alice, bob] = await Promise.all([open(new NodeFsStorage(aliceDir)), open(new NodeFsStorage(bobDir))]);
      await failedAt(alice, 'out', bobCard.id);
      await failedAt(bob, 'in', aliceCard.id);
      expect((await alice.fileStatus(hash)).error!.data).toMatchObject({ size: 6_000, limit: 5_000, hash });
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 120_000);

  it('relayFileBytes: a bad value is refused (InvalidArgumentError) before anything opens; a file over it waits on the device and is not deposited', async () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '5' as unknown as number, 2 ** 60]) {
      const attempt = createBackchannel({ storage: new MemoryStorage(), connector: nodeSocketConnector(), relay: relay.url, relayFileBytes: bad });
      await expect(attempt, String(bad)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(attempt, String(bad)).rejects.toThrow(/relayFileBytes/);
    }
    const alice = await createBackchannel({
      storage: new NodeFsStorage(dirs.make()),
      connector: nodeSocketConnector(),
      relay: relay.url,
      discoverTimeouts: { reconnectBaseMs: 100 },
      relayFileBytes: 1000,
    });
    const bob = await open();
    try {
      const [bobCard] = await pairUp(alice, bob);
      const [atAlice, atBob] = [transfers(alice), transfers(bob)];
      bob.goOffline();
      const deposited = (text: string) => new Promise<void>((resolve) => alice.subscribe((e) => e.type === 'deposited' && e.upTo?.text === text && resolve()));
      // Up to the threshold: by the relay.
      const small = (await alice.send(bobCard.id, { text: 'small', file: { data: bytes(1000, 42), filename: 's', mimetype: 'x/y' } })).file!;
      expect(await atAlice.next((e) => e.hash === small.hash && e.status === 'waiting')).toMatchObject({ route: 'relay' });
      await atAlice.next(finished(small.hash, 'out'));
      // Over it: on the device.
      const bigDeposited = deposited('big');
      const big = (await alice.send(bobCard.id, { text: 'big', file: { data: bytes(5000, 43), filename: 'b', mimetype: 'x/y' } })).file!;
      expect(await atAlice.next((e) => e.hash === big.hash && e.status === 'waiting')).toMatchObject({ route: 'device' });
      await bigDeposited;
      // A later message's deposit follows any chunk of it the depot had sent, and its acknowledgement too.
      const afterDeposited = deposited('after');
      await alice.send(bobCard.id, { text: 'after' });
      await afterDeposited;
      expect(atAlice.seen.filter((e) => e.hash === big.hash && e.status !== 'waiting')).toEqual([]);
      expect(await alice.fileStatus(big.hash)).toMatchObject({ status: 'waiting', direction: 'out' });
      // Bob's device is back: it comes from Alice's.
      bob.goOnline();
      await atBob.next(finished(big.hash, 'in'));
      await atAlice.next(finished(big.hash, 'out'));
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 120_000);

  it('cancelling a file that never started (the contact away): the sender hears failed/AbortedError at once, the receiver when it next connects', async () => {
    const alice = await open();
    const bob = await open();
    try {
      const [bobCard] = await pairUp(alice, bob);
      const [atAlice, atBob] = [transfers(alice), transfers(bob)];
      bob.goOffline();
      // By cancelFile, and by the AbortSignal given to send. Over the relay's threshold, so they wait on
      // Alice's device (chunks already on the relay are the contact's to fetch: README, Files).
      const [sizeA, sizeB] = [DEFAULT_RELAY_FILE_BYTES + 3000, DEFAULT_RELAY_FILE_BYTES + 4000];
      const byCall = await alice.send(bobCard.id, { file: { data: bytes(sizeA, 11), filename: 'a.bin', mimetype: 'x/y' } });
      const controller = new AbortController();
      const bySignal = await alice.send(bobCard.id, { file: { data: bytes(sizeB, 12), filename: 'b.bin', mimetype: 'x/y' } }, { signal: controller.signal });
      await atAlice.next((e) => e.hash === bySignal.file!.hash && e.status === 'waiting');
      await alice.cancelFile(bobCard.id, byCall.file!.hash);
      expect(atAlice.seen.find(failedFor(byCall.file!.hash, 'out'))).toMatchObject({ error: expect.any(AbortedError), total: sizeA });
      controller.abort();
      expect((await atAlice.next(failedFor(bySignal.file!.hash, 'out'))).error).toBeInstanceOf(AbortedError);
      await expect(alice.openFile(byCall.file!.hash)).rejects.toBeInstanceOf(NotFoundError);
      expect(atBob.seen).toEqual([]);
      // Bob's device is back: it asks for both, Alice's answers they were cancelled.
      bob.goOnline();
      for (const hash of [byCall.file!.hash, bySignal.file!.hash]) expect((await atBob.next(failedFor(hash, 'in'))).error).toBeInstanceOf(AbortedError);
      await expect(bob.openFile(byCall.file!.hash)).rejects.toBeInstanceOf(NotFoundError);
      expect(atBob.seen.filter((e) => e.status === 'done')).toEqual([]);
      expect(atAlice.seen.filter((e) => e.status === 'failed')).toHaveLength(2); // once each, not again at the reconnect
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 120_000);

  it('fileStatus reads what the device stores: done, waiting, failed and unknown, on both sides, after a restart', async () => {
    const [aliceDir, bobDir] = [dirs.make(), dirs.make()];
    let alice = await open(new NodeFsStorage(aliceDir));
    let bob = await open(new NodeFsStorage(bobDir));
    try {
      const [bobCard, aliceCard] = await pairUp(alice, bob);
      const [atAlice, atBob] = [transfers(alice), transfers(bob)];
      const delivered = (await alice.send(bobCard.id, { file: { data: bytes(300_000, 31), filename: 'one', mimetype: 'x/y' } })).file!;
      await atBob.next(finished(delivered.hash, 'in'));
      await atAlice.next(finished(delivered.hash, 'out'));
      await bob.close();
      const cancelled = (await alice.send(bobCard.id, { file: { data: bytes(2000, 32), filename: 'two', mimetype: 'x/y' } })).file!;
      await alice.cancelFile(bobCard.id, cancelled.hash);
      // Over the relay's threshold: it waits on Alice's device (a smaller one would wait on the relay, and be done).
      const waitingData = bytes(DEFAULT_RELAY_FILE_BYTES + 7000, 33);
      const waitingHash = await hashOf(waitingData);
      const deposited = new Promise<void>((resolve) => alice.subscribe((e) => e.type === 'deposited' && e.upTo?.file?.hash === waitingHash && resolve()));
      const waiting = (await alice.send(bobCard.id, { file: { data: waitingData, filename: 'three', mimetype: 'x/y' } })).file!;
      await deposited; // the relay holds its message for Bob
      await alice.close();

      alice = await open(new NodeFsStorage(aliceDir));
      expect(await alice.fileStatus(delivered.hash)).toEqual({ status: 'done', direction: 'out', done: 300_000, total: 300_000, contactId: bobCard.id });
      expect(await alice.fileStatus(waiting.hash)).toEqual({ status: 'waiting', direction: 'out', done: 0, total: waitingData.length, contactId: bobCard.id });
      const failed = await alice.fileStatus(cancelled.hash);
      expect(failed).toMatchObject({ status: 'failed', direction: 'out', total: 2000, contactId: bobCard.id });
      expect(failed.error).toBeInstanceOf(AbortedError);
      expect(await alice.fileStatus('00'.repeat(32))).toEqual({ status: 'unknown', done: 0, total: 0 });
      await expect(alice.fileStatus('nope')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await alice.close();

      // Bob's device starts while Alice's is gone: the relay hands it the messages; the file waits.
      bob = await open(new NodeFsStorage(bobDir));
      const named = new Promise<void>((resolve) => bob.subscribe((e) => e.type === 'message' && e.message.file?.hash === waiting.hash && resolve()));
      if (!bob.messages(aliceCard.id).some((m) => m.file?.hash === waiting.hash)) await named;
      expect(await bob.fileStatus(delivered.hash)).toEqual({ status: 'done', direction: 'in', done: 300_000, total: 300_000, contactId: aliceCard.id });
      expect(await bob.fileStatus(waiting.hash)).toEqual({ status: 'waiting', direction: 'in', done: 0, total: waitingData.length, contactId: aliceCard.id });
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 120_000);

  it('an AbortSignal cancels: while the transfer runs, both sides hear AbortedError and the bytes go', async () => {
    const alice = await open();
    const bob = await open();
    try {
      const [bobCard] = await pairUp(alice, bob);
      const [atAlice, atBob] = [transfers(alice), transfers(bob)];
      const controller = new AbortController();
      const data = bytes(24 * FILE_CHUNK_BYTES, 4);
      const sent = await alice.send(bobCard.id, { file: { data, filename: 'long.bin', mimetype: 'x/y' } }, { signal: controller.signal });
      const hash = sent.file!.hash;
      await atBob.next((e) => e.hash === hash && e.status === 'progress');
      controller.abort();
      expect((await atAlice.next(failedFor(hash, 'out'))).error).toBeInstanceOf(AbortedError);
      expect((await atBob.next(failedFor(hash, 'in'))).error).toBeInstanceOf(AbortedError);
      expect(atBob.seen.some(finished(hash, 'in'))).toBe(false);
      await expect(bob.openFile(hash)).rejects.toBeInstanceOf(NotFoundError);
      await expect(alice.openFile(hash)).rejects.toBeInstanceOf(NotFoundError);
      // Aborted before it is stored: nothing is sent.
      const early = new AbortController();
      early.abort();
      await expect(alice.send(bobCard.id, { file: { data, filename: 'no', mimetype: 'x/y' } }, { signal: early.signal })).rejects.toBeInstanceOf(AbortedError);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  }, 120_000);
});
