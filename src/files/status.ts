/**
 * How a file stands on this device, read from what the device stores (its chunk store record, and the
 * messages that name it): what a host shows after a reload, before any live `transfer` event.
 * @module
 */
import { BackchannelError } from '../errors.js';
import { storedBytes, type ChunkStore, type FileMeta } from './chunkStore.js';
import type { Direction } from './session.js';

/**
 * A file's state as stored: `waiting` (sent here and not yet confirmed by the contact; or named by the
 * contact and no byte here yet), `progress` (some bytes received, `done` of `total`; or being sent now,
 * `done` bytes out so far), `done` (complete
 * here; a sent file: the contact confirmed it), `failed` (`error`: cancelled, too large, corrupt…),
 * `unknown` (no message of a contact names it and nothing is stored).
 */
export interface FileStatus {
  status: 'waiting' | 'progress' | 'done' | 'failed' | 'unknown';
  /** `out`: this device sent it; `in`: a contact did. Absent when `unknown`. */
  direction?: Direction;
  /** Bytes stored here (in); out: sent so far while a transfer runs, else confirmed by the contact (all or nothing, as stored). */
  done: number;
  total: number;
  error?: BackchannelError;
}

/**
 * The stored status of `hash`. `named`: the size of the file as a contact's message names it, when one
 * does (a file not yet begun has no record here). `channelId`: the status for that channel's contact (a
 * sent file: delivered to them; a received one: their copy); without it, a sent file is `done` once any
 * contact has it, and a received one reads as its most advanced copy. `refused`: the contact's device
 * refused the file we sent (its notice in the channel, files/refusal.ts): `failed` with this error,
 * even if the relay holds every byte for them.
 */
export async function fileStatusOf(
  store: ChunkStore,
  hash: string,
  named?: { size: number },
  channelId?: string,
  refused?: BackchannelError,
): Promise<FileStatus> {
  const sent = await store.sent(hash);
  const direction: Direction = sent ? 'out' : 'in';
  const meta =
    sent || channelId === undefined
      ? ((await store.settledMeta(hash)) ?? (sent ? undefined : mostAdvanced(await store.copies(hash))))
      : await store.settledReceived(hash, channelId);
  if (!meta) return named && !sent ? { status: 'waiting', direction, done: 0, total: named.size } : { status: 'unknown', done: 0, total: 0 };
  const total = meta.size;
  if (meta.state === 'failed' || meta.state === 'cancelled') {
    return { status: 'failed', direction, done: 0, total, ...(meta.error ? { error: BackchannelError.fromJSON(meta.error) } : {}) };
  }
  if (sent) {
    if (refused) return { status: 'failed', direction, done: 0, total, error: refused };
    const delivered = channelId === undefined ? (meta.deliveredTo?.length ?? 0) > 0 : meta.deliveredTo?.includes(channelId);
    if (delivered) return { status: 'done', direction, done: total, total };
    // Being sent now (a file session runs it): bytes out so far; else it waits for the contact.
    const sending = store.sending.get(hash);
    return sending ? { status: 'progress', direction, done: sending.done, total } : { status: 'waiting', direction, done: 0, total };
  }
  if (meta.state === 'complete') return { status: 'done', direction, done: total, total };
  const done = storedBytes(meta);
  return { status: done > 0 ? 'progress' : 'waiting', direction, done, total };
}

/** The copy furthest along: a partial before a failed one. */
function mostAdvanced(copies: FileMeta[]): FileMeta | undefined {
  const partial = copies.filter((c) => c.state === 'partial').sort((a, b) => b.stored - a.stored);
  return partial[0] ?? copies[0];
}
