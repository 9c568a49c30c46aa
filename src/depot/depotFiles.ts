/**
 * Files through the relay's depot. A file this device sent, small enough (`DEFAULT_RELAY_FILE_BYTES`, `depot/fileRoute.ts`),
 * waits for an away contact on the relay as one sealed deposit per stored chunk (`depot/payload.ts`),
 * deposited after the changes that name it; the relay's acknowledgements are counted here per file, so
 * a restart goes on from the next chunk. The contact's device stores each fetched chunk through its
 * chunk store (`files/chunkStore.ts`), in order, checks the whole file's hash after the last one and
 * only then calls it done; a mismatch discards the bytes (FileCorruptError). Each contact's deposits
 * go into that contact's own copy, and delivery is counted per channel. A file the receiver refuses
 * (too large, corrupt) reaches the sender as a refusal notice in the channel (`files/refusal.ts`): its
 * transfer for that contact ends failed, and its chunks are not deposited again. Larger files wait on the
 * device and go through the file session (`files/session.ts`) when the contact is back.
 * @module
 */
import type { DocId, DocumentStore } from '../db/documentStore.js';
import { SETTINGS_ID } from '../db/database.js';
import { DEFAULT_FILE_SIZE_LIMIT, type SettingsDoc } from '../db/schema.js';
import type { StorageAdapter } from '../effects/storage.js';
import type { RandomBytes } from '../effects/random.js';
import { fromUtf8, utf8 } from '../crypto/bytes.js';
import { FileCorruptError, FileTooLargeError, type BackchannelError } from '../errors.js';
import { chunkStoreOf, receivingKey, storedBytes } from '../files/chunkStore.js';
import { channelFiles } from '../files/refs.js';
import { refusalOf, refusalsIn, toldIn } from '../files/refusal.js';
import type { FileEvent } from '../files/session.js';
export { DEFAULT_RELAY_FILE_BYTES, fileRoute } from './fileRoute.js';
import { CHUNK_HEADER_BYTES, sealChunk, type ChunkContent, type DepositAcks } from './payload.js';

/** Base64 characters of a sealed chunk deposit carrying `bytes` bytes (nonce 24, MAC 16, header). */
export const chunkBlobChars = (bytes: number): number => Math.ceil((bytes + CHUNK_HEADER_BYTES + 40) / 3) * 4;

/** Which chunk of which file a deposit carries; `upTo`: the file's bytes through this chunk. */
export interface ChunkRef {
  hash: string;
  index: number;
  chunks: number;
  size: number;
  upTo: number;
}

/** Chunks of a file the relay acknowledged so far (from the first, in order). */
const depositedKey = (channelId: DocId, hash: string) => ['depotFiles', channelId, hash];

async function depositedChunks(storage: StorageAdapter, channelId: DocId, hash: string): Promise<number> {
  const saved = await storage.load(depositedKey(channelId, hash));
  return saved ? (JSON.parse(fromUtf8(saved)) as { chunks: number }).chunks : 0;
}

/** The relay acknowledged chunk `ref.index`; the last one: the file is the relay's to hand on to this channel's contact (delivered to it, as `fileStatus` reads it). */
export async function saveDepositedChunk(storage: StorageAdapter, channelId: DocId, ref: ChunkRef): Promise<void> {
  await storage.save(depositedKey(channelId, ref.hash), utf8(JSON.stringify({ chunks: ref.index + 1 })));
  if (ref.index + 1 === ref.chunks) await chunkStoreOf(storage).delivered(ref.hash, channelId);
}

/** What the sender side needs to pick the next chunk deposits. */
export interface FileDepositInput {
  docs: DocumentStore;
  storage: StorageAdapter;
  channelId: DocId;
  deviceId: string;
  key: Uint8Array;
  randomBytes: RandomBytes;
  /** Files up to this size go (see {@link DEFAULT_RELAY_FILE_BYTES}). */
  limit: number;
  /** Next chunk per file already sent on this connection. */
  sent: Readonly<Record<string, number>>;
  /** Fresh readers and ack tokens for each deposit (`depot/payload.ts` ackPlan), if it lists readers. */
  acks?: () => DepositAcks;
  /** Files not to try again (refused by the relay in this run). */
  skip: readonly string[];
}

/** A chunk deposit ready to send. */
export interface ChunkDeposit {
  blob: string;
  file: ChunkRef;
  readers?: string[];
}

/**
 * The next chunk deposits of files this device sent in the channel, oldest file first, while `room`
 * (blob characters) allows, each blob at most `maxBlobChars`. `refused`: files no deposit can carry.
 */
export async function* chunkDeposits(
  input: FileDepositInput,
  maxBlobChars: number,
): AsyncGenerator<{ deposit: ChunkDeposit } | { refused: { hash: string; size: number; reason: string } }> {
  const store = chunkStoreOf(input.storage);
  const messages = input.docs.has(input.channelId) ? (input.docs.get<{ messages?: unknown[] }>(input.channelId).messages ?? []) : [];
  const refused = refusalsIn(messages as { sender?: unknown; notice?: unknown }[], (sender) => sender === input.deviceId || input.docs.isOwnDevice(sender));
  for (const ref of channelFiles(messages, input.deviceId).mine.values()) {
    if (ref.size > input.limit || input.skip.includes(ref.hash) || refused.has(ref.hash)) continue;
    const meta = await store.meta(ref.hash);
    if (!meta || meta.state !== 'complete' || meta.deliveredTo?.includes(input.channelId) || meta.size !== ref.size) continue;
    const chunks = Math.max(1, Math.ceil(meta.size / meta.chunkBytes));
    const from = input.sent[ref.hash] ?? (await depositedChunks(input.storage, input.channelId, ref.hash));
    if (from >= chunks) continue;
    if (chunkBlobChars(Math.min(meta.size, meta.chunkBytes)) > maxBlobChars) {
      yield { refused: { hash: ref.hash, size: ref.size, reason: `a chunk of it is larger than a deposit can carry (${maxBlobChars} characters)` } };
      continue;
    }
    let index = from;
    for await (const bytes of meta.size === 0 ? [new Uint8Array(0)] : store.chunks(ref.hash, from * meta.chunkBytes)) {
      const content: ChunkContent = { sender: input.deviceId, docId: input.channelId, hash: ref.hash, size: meta.size, index, bytes };
      const upTo = Math.min(meta.size, (index + 1) * meta.chunkBytes);
      const acks = input.acks?.();
      const file = { hash: ref.hash, index, chunks, size: meta.size, upTo };
      yield { deposit: { blob: sealChunk(input.key, content, input.randomBytes, acks), file, ...(acks ? { readers: acks.readers } : {}) } };
      index++;
    }
  }
}

/** The largest file Settings let this device take (`file_size_limit`). */
function maxFileBytesOf(docs: DocumentStore): number {
  return (docs.has(SETTINGS_ID) ? docs.get<SettingsDoc>(SETTINGS_ID).file_size_limit : undefined) ?? DEFAULT_FILE_SIZE_LIMIT;
}

/** What became of a fetched chunk: `ack` it (stored, a duplicate, or its file failed for good) or leave it for a later fetch; what the host hears. */
export interface AppliedChunk {
  ack: boolean;
  events: FileEvent[];
}

const LEAVE: AppliedChunk = { ack: false, events: [] };
const ACK: AppliedChunk = { ack: true, events: [] };

/**
 * Store a chunk the contact deposited: only for a file a contact's message in this channel names, with
 * that size, within Settings' limit, into this contact's copy (files/chunkStore.ts: another contact's
 * copy of the same file neither holds it up nor counts for it). A size other than the message's, a
 * chunk out of bounds or of the wrong length, or after the last one a hash other than the file's fail
 * the file for this contact alone (its copy discarded, the typed error) and ask the app to tell the
 * contact (`notify`: a refusal notice in the channel, files/refusal.ts), whose device is not there to
 * hear a file session's `stop`. A file a live session is receiving from this contact, a chunk ahead of
 * what is stored, a file not named yet, or a chunk another device of mine deposited for the contact: left.
 */
export async function applyChunk(
  input: { docs: DocumentStore; storage: StorageAdapter; channelId: DocId; deviceId: string },
  chunk: ChunkContent,
): Promise<AppliedChunk> {
  // Another device of mine deposited it for the contact: acknowledging would delete it before they fetch.
  if (chunk.sender === input.deviceId || chunk.docId !== input.channelId || input.docs.isOwnDevice(chunk.sender)) return LEAVE;
  const messages = input.docs.has(input.channelId) ? (input.docs.get<{ messages?: unknown[] }>(input.channelId).messages ?? []) : [];
  const ref = channelFiles(messages, input.deviceId).theirs.get(chunk.hash);
  if (!ref) return LEAVE; // the message naming it is not here (yet)
  const store = chunkStoreOf(input.storage);
  const { hash } = ref;
  const channel = input.channelId;
  const fail = async (error: BackchannelError, events: FileEvent[] = []): Promise<AppliedChunk> => {
    // The refusal is owed (stored) before the chunk is acknowledged: a crash before the app writes the notice loses nothing.
    // Told already (a start wrote it after a crash that kept this chunk unacknowledged): not twice.
    const mine = (sender: string) => sender === input.deviceId || input.docs.isOwnDevice(sender);
    const notify = toldIn(messages as { sender?: unknown; notice?: unknown }[], hash, mine) ? undefined : refusalOf(hash, error);
    await store.settleCopy(hash, channel, 'failed', error, ref.size, notify);
    return { ack: true, events: [...events, { type: 'file.failed', hash, direction: 'in', error, ...(notify ? { notify } : {}) }] };
  };
  const existing = await store.settledReceived(hash, channel);
  if (existing && existing.state !== 'partial') return ACK; // settled before for this contact: complete, failed or cancelled
  if (store.receiving.has(receivingKey(hash, channel))) return LEAVE; // the file session has it
  if (chunk.size !== ref.size) return fail(new FileCorruptError(hash, `a deposit says ${chunk.size} bytes, its message ${ref.size}`));
  if (ref.size > maxFileBytesOf(input.docs)) {
    return fail(new FileTooLargeError(ref.size, maxFileBytesOf(input.docs), { filename: ref.filename, hash }));
  }
  const begun = await store.begin(hash, ref.size, channel);
  if (begun.state !== 'partial') return ACK;
  const events: FileEvent[] = [];
  if (ref.size > 0) {
    let appended;
    try {
      appended = await store.appendDeposited(hash, channel, chunk.index, chunk.bytes);
    } catch (err) {
      return fail(new FileCorruptError(hash, (err as Error).message));
    }
    if (appended.outcome === 'busy' || appended.outcome === 'ahead') return LEAVE;
    if (appended.outcome === 'duplicate') return ACK;
    const done = storedBytes(appended.meta!);
    events.push({ type: 'file.progress', hash, direction: 'in', done, total: ref.size });
    if (done < ref.size) return { ack: true, events };
  } else if (chunk.index !== 0 || chunk.bytes.length !== 0) {
    return fail(new FileCorruptError(hash, 'an empty file with bytes'));
  }
  const { ok, actual } = await store.verify(hash, channel);
  if (!ok) return fail(new FileCorruptError(hash, `its bytes hash to ${actual.slice(0, 16)}…`), events);
  await store.complete(hash, channel);
  return { ack: true, events: [...events, { type: 'file.done', hash, direction: 'in', total: ref.size }] };
}
