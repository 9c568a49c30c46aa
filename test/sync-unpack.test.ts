/**
 * A sync message is measured before Automerge unpacks it (src/sync/unpackBound.ts). A hostile peer's
 * message of about a MiB whose deflated changes would unpack to a GiB (a deflated document column, or a
 * whole deflated change) is refused with TooLargeError, the channel closes, and this process's resident
 * memory grows by a small fraction of that GiB; honest sync, whose document chunks carry deflated
 * columns, goes on as before.
 */
import * as A from '@automerge/automerge';
import { createHash } from 'node:crypto';
import { createDeflateRaw } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { Database } from '../src/db/database.js';
import { ProtocolError, TooLargeError } from '../src/errors.js';
import { encodeHello, encodeSync } from '../src/sync/frame.js';
import { startSyncEngine, type EngineEvent } from '../src/sync/syncEngine.js';
import { MAX_UNPACKED_BYTES, checkUnpackedSize, syncMessageHeads } from '../src/sync/unpackBound.js';
import { until } from './helpers/wait.js';
import { createActor, toPromise } from 'xstate';
import { applyDeposits } from '../src/depot/depotActors.js';
import { depotKey, sealDeposit } from '../src/depot/payload.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { budgetMs } from './helpers/branches.js';
import { assertDamagedRefusedOrAccepted } from './helpers/damaged.js';
import { FC_RUNS } from './helpers/runs.js';

const KEY = new Uint8Array(32).fill(3);
const GiB = 1024 * 1024 * 1024;

/** `n` zero bytes, raw-deflated a MiB at a time (never held whole). */
async function deflatedZeros(n: number): Promise<Uint8Array> {
  const deflate = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (b: Buffer) => out.push(b));
  const ended = new Promise((resolve) => deflate.on('end', resolve));
  const piece = Buffer.alloc(1024 * 1024);
  for (let left = n; left > 0; left -= piece.length) {
    if (!deflate.write(piece.subarray(0, Math.min(piece.length, left)))) await new Promise((r) => deflate.once('drain', r));
  }
  deflate.end();
  await ended;
  return new Uint8Array(Buffer.concat(out));
}

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
};

/**
 * An Automerge chunk: magic, checksum (sha256 of the rest, as Automerge checks it), type, length, body.
 * Handed the document bomb below, `receiveSyncMessage` itself grows this process by about 4 bytes per
 * unpacked byte (tried with a 256 MiB bomb: 1 GiB) before it finds the column meaningless.
 */
function chunk(type: number, body: Uint8Array): Uint8Array {
  const rest = Uint8Array.from([type, ...uleb(body.length), ...body]);
  return Uint8Array.from([0x85, 0x6f, 0x4a, 0x83, ...createHash('sha256').update(rest).digest().subarray(0, 4), ...rest]);
}

/** A document chunk: one actor, no heads, one op column (id 5, raw values) deflated. */
function documentBomb(deflated: Uint8Array): Uint8Array {
  const head = [1, 16, ...new Array<number>(16).fill(7), 0, 0, 1, ...uleb((5 << 4) | 8 | 7), ...uleb(deflated.length)];
  return chunk(0, Uint8Array.from([...head, ...deflated]));
}

const syncMessage = (changes: Uint8Array[]) => A.encodeSyncMessage({ heads: [], need: [], have: [], changes });

async function open() {
  const storage = new MemoryStorage();
  const db = await Database.open({ storage });
  const contact = await db.addContact({ moniker: 'peer', contactKey: KEY });
  return { storage, db, channelId: db.channelOf(contact) };
}

describe('sync messages are measured before they are unpacked', () => {
  it('the heads a sync message names are read from its start, as Automerge decodes them', () => {
    let doc = A.from<{ n: number[] }>({ n: [] });
    const other = A.change(A.clone(doc), (d) => void d.n.push(2));
    doc = A.merge(
      A.change(doc, (d) => void d.n.push(1)),
      other,
    );
    const message = A.generateSyncMessage(doc, A.initSyncState())[1]!;
    expect(A.getHeads(doc)).toHaveLength(2);
    expect(syncMessageHeads(message)).toEqual(A.decodeSyncMessage(message).heads);
    expect(syncMessageHeads(syncMessage([]))).toEqual([]);
    expect(() => syncMessageHeads(Uint8Array.of(0x42, 2, ...new Array<number>(40).fill(1)))).toThrow(ProtocolError);
    expect(() => syncMessageHeads(Uint8Array.of(0x85, 0))).toThrow(ProtocolError);
  });

  it('honest messages: their deflated document columns count as they inflate', async () => {
    const alice = await open();
    const text = 'all work and no play '.repeat(3000); // ~60 KiB, deflated in the document chunk
    await alice.db.sendMessage(alice.channelId, { text });
    // Alice's doc and an empty peer exchange messages until hers carries the changes (a document chunk).
    let doc = alice.db.docs.get(alice.channelId);
    let peer = A.init();
    let mine = A.initSyncState();
    let theirs = A.initSyncState();
    let withChanges: Uint8Array | undefined;
    for (let round = 0; round < 4 && !withChanges; round++) {
      let m: Uint8Array | null;
      [mine, m] = A.generateSyncMessage(doc, mine);
      if (m && A.decodeSyncMessage(m).changes.length > 0) withChanges = m;
      if (m) [peer, theirs] = A.receiveSyncMessage(peer, theirs, m);
      [theirs, m] = A.generateSyncMessage(peer, theirs);
      if (m) [doc, mine] = A.receiveSyncMessage(doc, mine, m);
    }
    expect(withChanges!.length).toBeLessThan(text.length / 10); // packed
    checkUnpackedSize(withChanges!, 1024 * 1024);
    expect(() => checkUnpackedSize(withChanges!, text.length / 2)).toThrow(TooLargeError);
  });

  it(
    'property: a damaged honest message is passed, or refused with ProtocolError or TooLargeError, never anything else',
    () => {
      // Honest chunks with deflated columns: a document of long texts, and plain changes.
      let doc = A.from<{ messages: { text: string }[] }>({ messages: [] });
      for (let i = 0; i < 3; i++) doc = A.change(doc, (d) => void d.messages.push({ text: `${i} lorem ipsum `.repeat(400) }));
      const chunks = [A.save(doc), ...A.getAllChanges(doc)];
      assertDamagedRefusedOrAccepted({
        name: 'damaged sync messages',
        samples: chunks,
        maxBudget: 20_000,
        maxEdits: 4,
        check: (change, budget) => checkUnpackedSize(syncMessage([change]), budget),
      });
    },
    budgetMs(FC_RUNS, 20),
  );

  it('a deflate bomb (1 GiB in a document column, or a whole deflated change) is refused with bounded memory; honest sync goes on', async () => {
    const bomb = await deflatedZeros(GiB);
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    expect(GiB).toBeGreaterThan(MAX_UNPACKED_BYTES);
    const bob = await open();
    for (const [kind, message] of [
      ['document column', syncMessage([documentBomb(bomb)])],
      ['deflated change', syncMessage([chunk(2, bomb)])],
    ] as const) {
      const link = new MemoryLink();
      const events: EngineEvent[] = [];
      startSyncEngine({
        docs: bob.db.docs,
        storage: bob.storage,
        channel: link.b,
        deviceId: bob.db.deviceId,
        docIds: [bob.channelId],
        emit: (e) => events.push(e),
      });
      const before = process.memoryUsage.rss();
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
      await link.a.send(encodeHello('ee'.repeat(16)));
      for (const frame of encodeSync(bob.channelId, 0, message, link.a.maxFrameBytes)) await link.a.send(frame);
      await until(() => link.closed, 60_000);
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage.rss());
      const error = events.find((e) => e.type === 'engine.error');
      expect(error, kind).toBeDefined();
      expect((error as { error: Error }).error, kind).toBeInstanceOf(TooLargeError);
      console.log(`${kind}: ${message.length} bytes on the wire, 1 GiB unpacked; resident memory grew ${((peak - before) / 2 ** 20).toFixed(1)} MiB`);
      expect(peak - before, kind).toBeLessThan(128 * 1024 * 1024);
      expect(bob.db.messages(bob.channelId)).toEqual([]);
    }

    // An honest contact syncs with the same device afterwards, large messages included.
    const alice = await open();
    const link = new MemoryLink();
    const errors: EngineEvent[] = [];
    const emit = (e: EngineEvent) => e.type === 'engine.error' && errors.push(e);
    startSyncEngine({ docs: alice.db.docs, storage: alice.storage, channel: link.a, deviceId: alice.db.deviceId, docIds: [alice.channelId], emit });
    startSyncEngine({ docs: bob.db.docs, storage: bob.storage, channel: link.b, deviceId: bob.db.deviceId, docIds: [bob.channelId], emit });
    for (let i = 0; i < 5; i++) await alice.db.sendMessage(alice.channelId, { text: `${i} `.repeat(20_000) });
    await bob.db.sendMessage(bob.channelId, { text: 'back' });
    await until(() => bob.db.messages(bob.channelId).length === 6 && alice.db.messages(alice.channelId).length === 6);
    expect(errors).toEqual([]);
  });

  // Honest deposits pass the same check in the depot's end-to-end tests (depot*.test.ts, app-relay.test.ts).
  it('a deposit in the depot is measured too: a bomb is skipped, unacknowledged, with bounded memory', async () => {
    const bomb = await deflatedZeros(GiB);
    const bob = await open();
    const key = depotKey(KEY);
    const deposit = (changes: Uint8Array) => sealDeposit(key, { docId: bob.channelId, sender: 'a'.repeat(32), changes }, cryptoRandomBytes);
    const items = [
      { id: 'bomb-document', blob: deposit(documentBomb(bomb)) },
      { id: 'bomb-change', blob: deposit(chunk(2, bomb)) },
    ];
    const before = process.memoryUsage.rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
    const input = { docs: bob.db.docs, storage: bob.storage, channelId: bob.channelId, key, deviceId: bob.db.deviceId, items };
    const result = await toPromise(createActor(applyDeposits, { input }).start());
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage.rss());
    console.log(`depot: two 1 GiB bombs skipped; resident memory grew ${((peak - before) / 2 ** 20).toFixed(1)} MiB`);
    expect(peak - before).toBeLessThan(128 * 1024 * 1024);
    expect(result.ids).toEqual([]);
    expect(bob.db.messages(bob.channelId)).toEqual([]);
  });
});
