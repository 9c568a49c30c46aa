/**
 * File bytes on the injected {@link StorageAdapter}, chunked, never whole in memory:
 *
 *   ['files', blob, '0' … 'n-1']   the chunks ({@link FILE_CHUNK_BYTES} each, the last one shorter)
 *   ['files', blob, 'meta']        {@link FileMeta} as JSON: size, chunks stored, state — the transfer's
 *                                  persisted progress, so a restart resumes from the last stored chunk
 *   ['fileIndex', hash]            files we sent: the blob their import wrote (its hash was known only at
 *                                  the end); a received file's blob is its hash
 *   ['fileImports', blob]          an import under way: what {@link ChunkStore.sweepImports} removes after a crash
 *
 * One store per StorageAdapter ({@link chunkStoreOf}), so every change to one file's record runs in
 * turn (a cancel cannot race a chunk being saved).
 * @module
 */
import { createBLAKE3 } from 'hash-wasm';
import type { StorageAdapter } from '../effects/storage.js';
import { fromUtf8, toHex, utf8 } from '../crypto/bytes.js';
import { AbortedError, BackchannelError, FileTooLargeError, NotFoundError, ProtocolError, type ErrorJson } from '../errors.js';
import { piecesOf, type FileSource } from './source.js';

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
  /** A partial file begun by a contact's deposits or session: its channel (another contact's deposits never add to it). */
  channel?: string;
}

export const HASH_HEX = /^[0-9a-f]{64}$/;
const metaKey = (blob: string) => ['files', blob, 'meta'];
const chunkKey = (blob: string, n: number) => ['files', blob, String(n)];
const indexKey = (hash: string) => ['fileIndex', hash];
const importKey = (blob: string) => ['fileImports', blob];

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
   * Files a live file session is receiving from the contact now (registered before it reads where to
   * resume): the depot leaves their deposited chunks for later instead of racing it for the next chunk.
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
    return (await this.storage.load(indexKey(hash))) !== undefined;
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

  /** A file to receive from the contact of `channel`: its record (resuming) or a new, empty one. */
  begin(hash: string, size: number, channel?: string): Promise<FileMeta> {
    return this.#locked(hash, async () => {
      const meta = await this.meta(hash);
      if (meta) return meta;
      const fresh: FileMeta = { hash, size, chunkBytes: this.chunkBytes, stored: 0, state: 'partial', ...(channel ? { channel } : {}) };
      await this.#saveMeta(await this.#blob(hash), fresh);
      return fresh;
    });
  }

  /** Store chunk `index` of a file being received; refused unless the file is still partial and it is the next chunk and fits exactly. */
  append(hash: string, index: number, chunk: Uint8Array): Promise<FileMeta> {
    return this.#locked(hash, async () => {
      const blob = await this.#blob(hash);
      const meta = await this.meta(hash);
      if (!meta || meta.state !== 'partial') throw new AbortedError(`The file ${hash.slice(0, 16)}… is no longer being received.`);
      if (index !== meta.stored) throw new ProtocolError(`chunk ${index} of ${hash.slice(0, 16)}… is not the next one (${meta.stored})`);
      const expected = Math.min(meta.chunkBytes, meta.size - storedBytes(meta));
      if (chunk.length !== expected) throw new ProtocolError(`chunk ${meta.stored} of ${hash.slice(0, 16)}… has ${chunk.length} bytes, expected ${expected}`);
      await this.storage.save(chunkKey(blob, meta.stored), chunk);
      const next = { ...meta, stored: meta.stored + 1 };
      await this.#saveMeta(blob, next);
      return next;
    });
  }

  /**
   * Store chunk `index` of a file being received through the relay's depot, whose deposits may come
   * twice or out of order: `stored`; `duplicate` (stored before, or the file is settled); `ahead`
   * (an earlier chunk is still missing: try again later); `busy` (a file session is receiving it);
   * `other` (another channel's contact began this partial: its bytes are not this one's to extend). A
   * chunk past the end or of the wrong length is refused (ProtocolError), as {@link append} refuses it.
   */
  appendDeposited(
    hash: string,
    index: number,
    chunk: Uint8Array,
    channel?: string,
  ): Promise<{ outcome: 'stored' | 'duplicate' | 'ahead' | 'busy' | 'other'; meta?: FileMeta }> {
    return this.#locked(hash, async () => {
      if (this.receiving.has(hash)) return { outcome: 'busy' as const };
      const meta = await this.meta(hash);
      if (meta?.state === 'partial' && meta.channel !== undefined && channel !== undefined && meta.channel !== channel)
        return { outcome: 'other' as const, meta };
      if (!meta || meta.state !== 'partial' || index < meta.stored) return { outcome: 'duplicate' as const, ...(meta ? { meta } : {}) };
      const chunks = Math.ceil(meta.size / meta.chunkBytes);
      if (index >= chunks) throw new ProtocolError(`chunk ${index} of ${hash.slice(0, 16)}… is past its end (${chunks} chunks)`);
      if (index > meta.stored) return { outcome: 'ahead' as const, meta };
      const expected = Math.min(meta.chunkBytes, meta.size - storedBytes(meta));
      if (chunk.length !== expected) throw new ProtocolError(`chunk ${index} of ${hash.slice(0, 16)}… has ${chunk.length} bytes, expected ${expected}`);
      const blob = await this.#blob(hash);
      await this.storage.save(chunkKey(blob, index), chunk);
      const next = { ...meta, stored: meta.stored + 1 };
      await this.#saveMeta(blob, next);
      return { outcome: 'stored' as const, meta: next };
    });
  }

  /** Whether the stored bytes of `hash` hash to it (read chunk by chunk). */
  async verify(hash: string): Promise<{ ok: boolean; actual: string }> {
    const hasher = await createHasher();
    for await (const chunk of this.chunks(hash)) hasher.update(chunk);
    const actual = hasher.hex();
    return { ok: actual === hash, actual };
  }

  /** Every byte is stored and its hash checked: the file is complete. */
  complete(hash: string): Promise<void> {
    return this.#locked(hash, async () => {
      const meta = await this.meta(hash);
      if (meta?.state === 'partial') await this.#saveMeta(await this.#blob(hash), { ...meta, state: 'complete' });
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

  /** Drop a partial file's bytes and record (its hash did not match): it can begin again, from any contact. */
  discard(hash: string): Promise<void> {
    return this.#locked(hash, async () => {
      if ((await this.meta(hash))?.state === 'partial') await this.storage.removeRange(['files', await this.#blob(hash)]);
    });
  }

  /** The file's record once every change to it already asked for is stored. */
  settledMeta(hash: string): Promise<FileMeta | undefined> {
    return this.#locked(hash, () => this.meta(hash));
  }

  /**
   * End a file for good: its chunks are discarded and its record says why (`failed`: too large,
   * corrupt, unknown to the sender; `cancelled`), so no later connection fetches or serves it again.
   */
  settle(hash: string, state: 'failed' | 'cancelled', error: BackchannelError, size = 0): Promise<void> {
    return this.#locked(hash, async () => {
      const blob = await this.#blob(hash);
      const meta = await this.meta(hash);
      await this.storage.removeRange(['files', blob]);
      await this.#saveMeta(blob, { hash, size: meta?.size ?? size, chunkBytes: this.chunkBytes, stored: 0, state, error: error.toJSON() });
    });
  }

  /** The stored chunks from the one holding byte `from` (the first sliced to start there). */
  async *chunks(hash: string, from = 0): AsyncGenerator<Uint8Array> {
    const blob = await this.#blob(hash);
    const meta = await this.meta(hash);
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
