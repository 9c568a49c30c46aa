/**
 * Runs inside a network namespace (bench/files.ts makes it): two contacts connected directly over real
 * WebRTC (@roamhq/wrtc) through a relay; first raw 16 KiB frames over the channel, then a file through
 * the file session (stored chunked, hashed, acknowledged) on memory storage and on disk. Prints JSON.
 */
import wrtc from '@roamhq/wrtc';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay } from '../server/relay.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { Database } from '../src/db/database.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import type { StorageAdapter } from '../src/effects/storage.js';
import type { Transport } from '../src/effects/transport.js';
import { connectToContact } from '../src/discover/connect.js';
import { ChunkStore } from '../src/files/chunkStore.js';
import { startFileSession } from '../src/files/session.js';
import { FILE_FRAME_BYTES } from '../src/files/wire.js';
import { startSyncEngine } from '../src/sync/syncEngine.js';

const relay = await startRelay();
const RTC = wrtc.RTCPeerConnection as unknown as typeof RTCPeerConnection;
const total = Number(process.env.BENCH_BYTES ?? 64 * 1024 * 1024);
const key = cryptoRandomBytes(32);

async function connect(): Promise<{ a: Transport; b: Transport; stop(): void }> {
  const mk = () =>
    connectToContact({
      contactKey: key,
      url: relay.discoveryUrl,
      connector: nodeSocketConnector(),
      randomBytes: cryptoRandomBytes,
      rtc: { RTCPeerConnection: RTC, config: { iceServers: [] } },
    });
  const [a, b] = await Promise.all([mk(), mk()]);
  return { a: a.channel, b: b.channel, stop: () => (a.stop(), b.stop()) };
}

/** MB/s of `total` bytes as raw 16 KiB frames over our direct channel. */
async function raw(): Promise<number> {
  const { a, b, stop } = await connect();
  const frame = new Uint8Array(FILE_FRAME_BYTES).fill(7);
  let received = 0;
  const count = Math.ceil(total / frame.length);
  const done = new Promise<void>((resolve) => b.on('message', (f) => (received += f.length) >= count * frame.length && resolve()));
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await a.send(frame);
  await done;
  stop();
  return total / 1e6 / ((performance.now() - t0) / 1000);
}

/** MB/s of one file of `total` bytes, from the sender's first frame to the receiver's verified end. */
async function file(storage: () => StorageAdapter): Promise<number> {
  const { a, b, stop } = await connect();
  const sides = await Promise.all(
    [storage(), storage()].map(async (s) => {
      const db = await Database.open({ storage: s });
      const contact = await db.addContact({ moniker: 'peer', contactKey: key });
      return { s, db, channelId: db.channelOf(contact), store: new ChunkStore(s) };
    }),
  );
  const data = cryptoRandomBytes(total);
  const { hash, size } = await sides[0]!.store.import(data, { maxBytes: total, blobId: 'bench' });
  await sides[0]!.db.sendMessage(sides[0]!.channelId, { text: '', file: { filename: 'b', mimetype: 'x', size, hash } });
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  const t0 = performance.now();
  for (const [i, ch] of [a, b].entries()) {
    const side = sides[i]!;
    startSyncEngine({ docs: side.db.docs, storage: side.s, channel: ch, deviceId: side.db.deviceId, docIds: [side.channelId], emit: () => {} });
    startFileSession({
      channel: ch,
      store: side.store,
      docs: side.db.docs,
      channelId: side.channelId,
      deviceId: side.db.deviceId,
      maxFileBytes: total,
      emit: (e) => e.type === 'file.done' && e.direction === 'in' && finished(),
    });
  }
  await done;
  const mbs = total / 1e6 / ((performance.now() - t0) / 1000);
  stop();
  return mbs;
}

const dirs: string[] = [];
const out = {
  raw: await raw(),
  memory: await file(() => new MemoryStorage()),
  disk: await file(() => {
    const dir = mkdtempSync(join(tmpdir(), 'bc-bench-files-'));
    dirs.push(dir);
    return new NodeFsStorage(dir);
  }),
};
for (const d of dirs) rmSync(d, { recursive: true, force: true });
await relay.close();
console.log(JSON.stringify(out));
process.exit(0);
