/**
 * File bytes on the injected {@link StorageAdapter}, chunked, never whole in memory:
 *
 *   ['files', blob, '0' … 'n-1']   the chunks ({@link FILE_CHUNK_BYTES} each, the last one shorter)
 *   ['files', blob, 'meta']        {@link FileMeta} as JSON: size, chunks stored, state — the transfer's
 *                                  persisted progress, so a restart resumes from the last stored chunk
 *   ['fileIndex', hash]            the blob holding the whole file: for files we sent, the one their import
 *                                  wrote (`o…`: its hash was known only at the end); for a received one,
 *                                  the copy that completed (`i…`). Without one, the blob is the hash
 *                                  (files received before copies were per contact)
 *   ['files', 'i<channel>.<hash>'] one contact's copy of a file it sends us ({@link ChunkStore.received}):
 *                                  a partial or a failure is that contact's alone, so another contact's
 *                                  bytes never add to it, hold it up or fail it; the first copy to
 *                                  complete and check out is the file, the others go
 *   ['fileIns', hash, channel]     the copies begun of a hash (completing or cancelling the file removes them;
 *                                  so does {@link ChunkStore.reclaimCopies} once no contact names the file)
 *   ['fileImports', blob]          an import under way: what {@link ChunkStore.sweepImports} removes after a crash
 *   ['fileRefusals', channel, hash] a refusal the contact of `channel` is owed (files/refusal.ts), saved before
 *                                  the copy's failed record (so before the depot acknowledges the chunk): the
 *                                  notice is written from it at start if a crash came before the app wrote it
 *
 * One store per StorageAdapter ({@link chunkStoreOf}), so every change to one file's record runs in
 * turn (a cancel cannot race a chunk being saved).
 * @module
 */
import { createBLAKE3 } from 'hash-wasm';
import { KEY_SEGMENT, type StorageAdapter } from '../effects/storage.js';
import { fromUtf8, toHex, utf8 } from '../crypto/bytes.js';
import { AbortedError, BackchannelError, FileTooLargeError, NotFoundError, ProtocolError, type ErrorJson } from '../errors.js';
import { piecesOf, type FileSource } from './source.js';
import type { FileRefusal } from './refusal.js';

/** Bytes per stored chunk: a resume loses at most this much; the wire splits it into frames. */
export const FILE_CHUNK_BYTES = 256 * 1024;

export type FileState = 'partial' | 'complete' | 'failed' | 'cancelled';

export interface FileMeta {
  hash: string;
  size: number;
  chunkBytes: number;
  /** Chunks stored so far. */
  stored: number;
  state: FileState;
  /** Why it failed or was cancelled. */
  error?: ErrorJson;
  /** A file we sent: the channels whose contact has it (confirmed it, or the relay holds every chunk for them). */
  deliveredTo?: string[];
  /** A contact's copy ({@link ChunkStore.received}): the channel of the contact sending it. */
  channel?: string;
}

export const HASH_HEX = /^[0-9a-f]{64}$/;
const metaKey = (blob: string) => ['files', blob, 'meta'];
const chunkKey = (blob: string, n: number) => ['files', blob, String(n)];
const indexKey = (hash: string) => ['fileIndex', hash];
const importKey = (blob: string) => ['fileImports', blob];
const copyKey = (hash: string, channel: string) => ['fileIns', hash, channel];
const refusalKey = (channel: string, hash: string) => ['fileRefusals', channel, hash];

/** The blob of the copy of `hash` the contact of `channel` sends us. */
function copyBlob(hash: string, channel: string): string {
  const blob = `i${channel}.${hash}`;
  if (!HASH_HEX.test(hash) || !KEY_SEGMENT.test(blob)) throw new ProtocolError(`not a file hash and channel: ${JSON.stringify(blob.slice(0, 120))}`);
  return blob;
}

/** What {@link ChunkStore.receiving} holds for a file the contact of `channel` sends. */
export const receivingKey = (hash: string, channel: string): string => `${channel}/${hash}`;

/** Bytes the first `meta.stored` chunks hold. */
export const storedBytes = (meta: FileMeta) => Math.min(meta.stored * meta.chunkBytes, meta.size);

/** An incremental blake3 (WebAssembly: ~10× the pure-JS one on 200 MB files). */
export async function createHasher(): Promise<{ update(bytes: Uint8Array): void; hex(): string }> {
  const hasher = await createBLAKE3();
  hasher.init();
  return { update: (bytes) => void hasher.update(bytes), hex: () => hasher.digest('hex') };
}

const stores = new WeakMap<StorageAdapter, ChunkStore>();

/** The one ChunkStore of `storage`. */
export function chunkStoreOf(storage: StorageAdapter): ChunkStore {
  let store = stores.get(storage);
  if (!store) stores.set(storage, (store = new ChunkStore(storage)));
  return store;
}

export class ChunkStore {
  readonly storage: StorageAdapter;
  readonly chunkBytes: number;
  readonly #locks = new Map<string, Promise<unknown>>();
  /**
   * Copies a live file session is receiving from the contact now ({@link receivingKey}: registered
   * before it reads where to resume): the depot leaves that contact's deposited chunks for later instead
   * of racing it for the next chunk.
   */
  readonly receiving = new Set<string>();
  /** Files a live file session is sending now: bytes out so far, of the whole (what `fileStatus` reads as `progress`). */
  readonly sending = new Map<string, { done: number; total: number }>();

  constructor(storage: StorageAdapter, chunkBytes = FILE_CHUNK_BYTES) {
    this.storage = storage;
    this.chunkBytes = chunkBytes;
  }

  /** Run `task` after every earlier task on `hash`. */
  #locked<T>(hash: string, task: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(hash) ?? Promise.resolve();
    const run = before.then(task, task);
    const settled = run.catch(() => {});
    this.#locks.set(hash, settled);
    void settled.then(() => this.#locks.get(hash) === settled && this.#locks.delete(hash));
    return run;
  }

  async #blob(hash: string): Promise<string> {
    if (!HASH_HEX.test(hash)) throw new ProtocolError(`not a file hash: ${JSON.stringify(hash.slice(0, 80))}`);
    const ref = await this.storage.load(indexKey(hash));
    return ref ? fromUtf8(ref) : hash;
  }

  async meta(hash: string): Promise<FileMeta | undefined> {
    const bytes = await this.storage.load(metaKey(await this.#blob(hash)));
    return bytes ? (JSON.parse(fromUtf8(bytes)) as FileMeta) : undefined;
  }

  /** Whether this device sent the file (its import indexed it) rather than receives it. */
  async sent(hash: string): Promise<boolean> {
    if (!HASH_HEX.test(hash)) return false;
    const ref = await this.storage.load(indexKey(hash));
    return ref !== undefined && fromUtf8(ref).startsWith('o');
  }

  async #copyMeta(hash: string, channel: string): Promise<FileMeta | undefined> {
    const bytes = await this.storage.load(metaKey(copyBlob(hash, channel)));
    return bytes ? (JSON.parse(fromUtf8(bytes)) as FileMeta) : undefined;
  }

  /**
   * How a file the contact of `channel` sends stands for that contact: the file's own record once it
   * is settled for everyone (complete here, cancelled, or sent by us), else that contact's copy (partial,
   * or failed for that contact alone), else undefined.
   */
  async received(hash: string, channel: string): Promise<FileMeta | undefined> {
    const meta = await this.meta(hash);
    if (meta && meta.state !== 'partial') return meta;
    return this.#copyMeta(hash, channel);
  }

  /** {@link received} once every change to the file already asked for is stored. */
  settledReceived(hash: string, channel: string): Promise<FileMeta | undefined> {
    return this.#locked(hash, () => this.received(hash, channel));
  }

  /** Every contact's copy of `hash` begun here (what `fileStatus` reads when no contact is named). */
  async copies(hash: string): Promise<FileMeta[]> {
    if (!HASH_HEX.test(hash)) return [];
    const out: FileMeta[] = [];
    for (const key of await this.storage.listKeys(['fileIns', hash])) {
      const meta = await this.#copyMeta(hash, key[2]!).catch(() => undefined);
      if (meta) out.push(meta);
    }
    return out;
  }

  /** Remove every contact's copy of `hash` but `keep`'s. */
  async #dropCopies(hash: string, keep?: string): Promise<void> {
    for (const key of await this.storage.listKeys(['fileIns', hash])) {
      if (key[2] !== keep) await this.storage.removeRange(['files', copyBlob(hash, key[2]!)]);
      await this.storage.remove(key);
    }
  }

  async #saveMeta(blob: string, meta: FileMeta): Promise<void> {
    await this.storage.save(metaKey(blob), utf8(JSON.stringify(meta)));
  }

  /**
   * Store a file to send: read `source` piece by piece into chunks while hashing it. Over `maxBytes`,
   * or aborted, nothing stays. The same file stored before is kept once.
   */
  async import(source: FileSource, options: { maxBytes: number; blobId: string; signal?: AbortSignal }): Promise<{ hash: string; size: number }> {
    const { maxBytes, signal } = options;
    const blob = `o${options.blobId}`;
    const hasher = await createHasher();
    let buffer = new Uint8Array(this.chunkBytes);
    let filled = 0;
    let chunks = 0;
    let size = 0;
    const flush = async () => {
      await this.storage.save(chunkKey(blob, chunks++), buffer.subarray(0, filled));
      buffer = new Uint8Array(this.chunkBytes);
      filled = 0;
    };
    await this.storage.save(importKey(blob), new Uint8Array(0));
    try {
      for await (const piece of piecesOf(source)) {
        if (signal?.aborted) throw new AbortedError('The file was not sent: cancelled while it was being stored.', signal.reason);
        size += piece.length;
        if (size > maxBytes) throw new FileTooLargeError(size, maxBytes);
        hasher.update(piece);
        for (let at = 0; at < piece.length;) {
          const n = Math.min(piece.length - at, this.chunkBytes - filled);
          buffer.set(piece.subarray(at, at + n), filled);
          filled += n;
          at += n;
          if (filled === this.chunkBytes) await flush();
        }
      }
      if (signal?.aborted) throw new AbortedError('The file was not sent: cancelled while it was being stored.', signal.reason);
      if (filled > 0) await flush();
    } catch (err) {
      await this.storage.removeRange(['files', blob]).catch(() => {});
      await this.storage.remove(importKey(blob)).catch(() => {});
      throw err;
    }
    const hash = hasher.hex();
    await this.#locked(hash, async () => {
      if ((await this.meta(hash))?.state === 'complete') return void (await this.storage.removeRange(['files', blob]));
      await this.#saveMeta(blob, { hash, size, chunkBytes: this.chunkBytes, stored: chunks, state: 'complete' });
      await this.storage.save(indexKey(hash), utf8(blob));
    });
    await this.storage.remove(importKey(blob));
    return { hash, size };
  }

  /** Remove what imports interrupted by a crash left (chunks without a record); run once at start. */
  async sweepImports(): Promise<number> {
    const left = await this.storage.loadRange(['fileImports']);
    for (const { key } of left) {
      const blob = key[1]!;
      await this.storage.removeRange(['files', blob]);
      await this.storage.remove(key);
    }
    return left.length;
  }

  /**
   * A file to receive from the contact of `channel`: the file's record if it is settled here for
   * everyone, else that contact's copy (resuming, or failed for it), else a new, empty copy.
   */
  begin(hash: string, size: number, channel: string): Promise<FileMeta> {
    return this.#locked(hash, async () => {
      const meta = await this.meta(hash);
      if (meta && meta.state !== 'partial') return meta;
      // A partial from before copies were per contact: its bytes cannot be told apart, so it begins again.
      if (meta) await this.storage.removeRange(['files', await this.#blob(hash)]);
      const blob = copyBlob(hash, channel);
      const own = await this.#copyMeta(hash, channel);
      if (own?.state === 'complete') await this.storage.save(indexKey(hash), utf8(blob)); // a crash came between its record and the index
      if (own) return own;
      const fresh: FileMeta = { hash, size, chunkBytes: this.chunkBytes, stored: 0, state: 'partial', channel };
      await this.storage.save(copyKey(hash, channel), new Uint8Array(0));
      await this.#saveMeta(blob, fresh);
      return fresh;
    });
  }

  /** Store chunk `index` of the copy the contact of `channel` sends; refused unless that copy is still partial and it is the next chunk and fits exactly. */
  append(hash: string, channel: string, index: number, chunk: Uint8Array): Promise<FileMeta> {
    return this.#locked(hash, async () => {
      const meta = await this.received(hash, channel);
      if (!meta || meta.state !== 'partial') throw new AbortedError(`The file ${hash.slice(0, 16)}… is no longer being received.`);
      return this.#store(hash, channel, meta, index, chunk);
    });
  }

  /** Chunk `index` checked against the copy's record and stored, the record after it. */
  async #store(hash: string, channel: string, meta: FileMeta, index: number, chunk: Uint8Array): Promise<FileMeta> {
    if (index !== meta.stored) throw new ProtocolError(`chunk ${index} of ${hash.slice(0, 16)}… is not the next one (${meta.stored})`);
    const expected = Math.min(meta.chunkBytes, meta.size - storedBytes(meta));
    if (chunk.length !== expected) throw new ProtocolError(`chunk ${index} of ${hash.slice(0, 16)}… has ${chunk.length} bytes, expected ${expected}`);
    const blob = copyBlob(hash, channel);
    await this.storage.save(chunkKey(blob, index), chunk);
    const next = { ...meta, stored: meta.stored + 1 };
    await this.#saveMeta(blob, next);
    return next;
  }

  /**
   * Store chunk `index` of the copy the contact of `channel` sends through the relay's depot, whose
   * deposits may come twice or out of order: `stored`; `duplicate` (stored before, or settled for this
   * contact); `ahead` (an earlier chunk is still missing: try again later); `busy` (a file session is
   * receiving this contact's copy). A chunk past the end or of the wrong length is refused
   * (ProtocolError), as {@link append} refuses it. Other contacts' copies play no part.
   */
  appendDeposited(
    hash: string,
    channel: string,
    index: number,
    chunk: Uint8Array,
  ): Promise<{ outcome: 'stored' | 'duplicate' | 'ahead' | 'busy'; meta?: FileMeta }> {
    return this.#locked(hash, async () => {
      if (this.receiving.has(receivingKey(hash, channel))) return { outcome: 'busy' as const };
      const meta = await this.received(hash, channel);
      if (!meta || meta.state !== 'partial' || index < meta.stored) return { outcome: 'duplicate' as const, ...(meta ? { meta } : {}) };
      const chunks = Math.ceil(meta.size / meta.chunkBytes);
      if (index >= chunks) throw new ProtocolError(`chunk ${index} of ${hash.slice(0, 16)}… is past its end (${chunks} chunks)`);
      if (index > meta.stored) return { outcome: 'ahead' as const, meta };
      return { outcome: 'stored' as const, meta: await this.#store(hash, channel, meta, index, chunk) };
    });
  }

  /** Whether the stored bytes of `hash` (the contact of `channel`'s copy, if given) hash to it, read chunk by chunk. */
  async verify(hash: string, channel?: string): Promise<{ ok: boolean; actual: string }> {
    const hasher = await createHasher();
    for await (const chunk of this.chunks(hash, 0, channel)) hasher.update(chunk);
    const actual = hasher.hex();
    return { ok: actual === hash, actual };
  }

  /**
   * Every byte of the contact of `channel`'s copy is stored and its hash checked: that copy is the file
   * now, complete for every contact, and the other contacts' copies go. Had the file already: the copy goes.
   */
  complete(hash: string, channel: string): Promise<void> {
    return this.#locked(hash, async () => {
      const own = await this.#copyMeta(hash, channel);
      if (own?.state !== 'partial') return;
      const meta = await this.meta(hash);
      if (meta && meta.state !== 'partial') return this.#dropCopies(hash);
      const blob = copyBlob(hash, channel);
      await this.#saveMeta(blob, { ...own, state: 'complete' });
      await this.storage.save(indexKey(hash), utf8(blob));
      await this.#dropCopies(hash, channel);
    });
  }

  /** A file we sent arrived whole at the contact of `channel` (or the relay holds it all for them): remembered for `fileStatus` after a restart. */
  delivered(hash: string, channel: string): Promise<void> {
    return this.#locked(hash, async () => {
      const meta = await this.meta(hash);
      if (meta?.state !== 'complete' || meta.deliveredTo?.includes(channel)) return;
      await this.#saveMeta(await this.#blob(hash), { ...meta, deliveredTo: [...(meta.deliveredTo ?? []), channel] });
    });
  }

  /** The file's record once every change to it already asked for is stored. */
  settledMeta(hash: string): Promise<FileMeta | undefined> {
    return this.#locked(hash, () => this.meta(hash));
  }

  /**
   * End a file for good, for every contact: its chunks and every contact's copy are discarded and its
   * record says why (`cancelled` here; `failed`), so no later connection fetches or serves it again.
   */
  settle(hash: string, state: 'failed' | 'cancelled', error: BackchannelError, size = 0): Promise<void> {
    return this.#locked(hash, async () => {
      const blob = await this.#blob(hash);
      const meta = await this.meta(hash);
      const copy = meta ? undefined : (await this.copies(hash))[0];
      await this.#dropCopies(hash);
      await this.storage.removeRange(['files', blob]);
      const total = meta?.size ?? copy?.size ?? size;
      await this.#saveMeta(blob, { hash, size: total, chunkBytes: this.chunkBytes, stored: 0, state, error: error.toJSON() });
    });
  }

  /**
   * End the contact of `channel`'s copy for good (too large, corrupt, refused by the sender,
   * cancelled by them): its chunks go and its record says why. Other contacts' copies, and the file
   * when it is complete here, stay as they are. `refusal`: the contact is owed a notice of it
   * ({@link owedRefusals}), kept until the notice is in the channel.
   */
  settleCopy(hash: string, channel: string, state: 'failed' | 'cancelled', error: BackchannelError, size = 0, refusal?: FileRefusal): Promise<void> {
    return this.#locked(hash, async () => {
      const meta = await this.meta(hash);
      if (meta && meta.state !== 'partial') return; // settled for everyone already
      const blob = copyBlob(hash, channel);
      // Owed before the record says failed: a crash after the record (and the depot's ack) still tells them.
      if (refusal) await this.storage.save(refusalKey(channel, hash), utf8(JSON.stringify(refusal)));
      const own = await this.#copyMeta(hash, channel);
      await this.storage.removeRange(['files', blob]);
      await this.storage.save(copyKey(hash, channel), new Uint8Array(0));
      await this.#saveMeta(blob, { hash, size: own?.size ?? size, chunkBytes: this.chunkBytes, stored: 0, state, error: error.toJSON(), channel });
    });
  }

  /**
   * Reclaim the copies contacts abandoned: every copy begun here (partial, or a failed record) whose
   * contact no longer names the file (`named` says false: the contact was removed, its channel is
   * gone) goes, chunks, record and all, with any refusal it was owed. A copy a live session is
   * receiving stays, and so does one that completed (a crash before its other copies went: it is the file).
   */
  async reclaimCopies(named: (hash: string, channel: string) => boolean): Promise<number> {
    let reclaimed = 0;
    for (const key of await this.storage.listKeys(['fileIns'])) {
      const [, hash, channel] = key as [string, string, string];
      if (named(hash, channel) || this.receiving.has(receivingKey(hash, channel))) continue;
      reclaimed += await this.#locked(hash, async () => {
        const blob = copyBlob(hash, channel);
        const own = await this.#copyMeta(hash, channel);
        const index = await this.storage.load(indexKey(hash));
        if (own?.state === 'complete' || (index && fromUtf8(index) === blob)) return 0;
        await this.storage.removeRange(['files', blob]);
        await this.storage.remove(refusalKey(channel, hash));
        await this.storage.remove(key);
        return 1;
      });
    }
    return reclaimed;
  }

  /** Refusals owed to contacts, by the channel of each ({@link settleCopy}): those whose notice may not be written yet. */
  async owedRefusals(): Promise<{ channel: string; refusal: FileRefusal }[]> {
    const out: { channel: string; refusal: FileRefusal }[] = [];
    for (const { key, data } of await this.storage.loadRange(['fileRefusals'])) {
      try {
        out.push({ channel: key[1]!, refusal: JSON.parse(fromUtf8(data)) as FileRefusal });
      } catch {
        await this.storage.remove(key); // unreadable: nothing to tell
      }
    }
    return out;
  }

  /** The notice of this refusal is in the contact's channel (or the contact is gone): no longer owed. */
  async refusalTold(channel: string, hash: string): Promise<void> {
    await this.storage.remove(refusalKey(channel, hash));
  }

  /** The stored chunks from the one holding byte `from` (the first sliced to start there); `channel`: that contact's copy. */
  async *chunks(hash: string, from = 0, channel?: string): AsyncGenerator<Uint8Array> {
    const blob = channel === undefined ? await this.#blob(hash) : copyBlob(hash, channel);
    const meta = channel === undefined ? await this.meta(hash) : await this.#copyMeta(hash, channel);
    if (!meta) throw new NotFoundError('file', hash);
    for (let n = Math.floor(from / meta.chunkBytes); n < meta.stored; n++) {
      const chunk = await this.storage.load(chunkKey(blob, n));
      if (!chunk) throw new NotFoundError('file chunk', `${hash}/${n}`);
      const skip = n === Math.floor(from / meta.chunkBytes) ? from - n * meta.chunkBytes : 0;
      yield skip > 0 ? chunk.subarray(skip) : chunk;
    }
  }

  /** A complete file's bytes as a stream, one chunk at a time (a NotFoundError unless complete). */
  async stream(hash: string): Promise<ReadableStream<Uint8Array>> {
    const meta = await this.meta(hash);
    if (meta?.state !== 'complete') throw new NotFoundError('complete file', hash);
    const chunks = this.chunks(hash);
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      async cancel() {
        await chunks.return(undefined);
      },
    });
  }
}

/** A fresh blob id for an import (hex of random bytes). */
export const blobIdOf = (random: Uint8Array) => toHex(random);
