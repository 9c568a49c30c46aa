/**
 * File refusals: the receiver's word that it will not take a file a contact sent, written into their
 * channel as a notice (a message whose `notice` holds `{"file_refused":{hash,reason,detail,limit?}}`;
 * devices/notices.ts has the other kinds, whose readers pass this one by). A file session also tells a
 * refusal live (a `stop` frame), but only the notice lasts; and a file that came by the relay's depot has
 * nobody on the other end. The notice carries it, by SYNC or the depot like any message, and the
 * sender's transfer for that contact ends `failed` with the typed error it stands for, even if the relay
 * held every byte, and reads so after a restart. Until it is written it is owed (files/upkeep.ts).
 * Pure: JSON in, JSON out (a message as stored or as read from a document).
 * @module
 */
import { BackchannelError, FileCorruptError, FileTooLargeError } from '../errors.js';
import { textOf } from '../db/schema.js';
import { HASH_HEX } from './chunkStore.js';

/** Why the receiver refused a file: over its size limit, or its bytes were not the file (hash, size, a chunk). */
export type FileRefusalReason = 'too-large' | 'corrupt';

/** What a refusal notice says. */
export interface FileRefusal {
  hash: string;
  reason: FileRefusalReason;
  /** The receiver's words (what was wrong, or its error's message), for the sender's error. */
  detail: string;
  /** `too-large`: the receiver's limit in bytes. */
  limit?: number;
}

/** Longest `detail` kept: a notice is a short message. */
const MAX_DETAIL = 300;

/** The refusal a receiver's error stands for, if the contact should hear of it (too large, corrupt); else undefined. */
export function refusalOf(hash: string, error: BackchannelError): FileRefusal | undefined {
  if (error instanceof FileTooLargeError) {
    const limit = (error.data as { limit?: unknown }).limit;
    return { hash, reason: 'too-large', detail: error.message.slice(0, MAX_DETAIL), ...(Number.isSafeInteger(limit) ? { limit: limit as number } : {}) };
  }
  if (error instanceof FileCorruptError) {
    const detail = (error.data as { detail?: unknown }).detail;
    return { hash, reason: 'corrupt', detail: (typeof detail === 'string' ? detail : error.message).slice(0, MAX_DETAIL) };
  }
  return undefined;
}

/** The `notice` of a refusal. */
export const fileRefusalNotice = (refusal: FileRefusal): string => JSON.stringify({ file_refused: refusal });

/** The refusal a message's `notice` carries, checked for shape; undefined for anything else. */
export function fileRefusalOf(m: { notice?: unknown }): FileRefusal | undefined {
  const notice = textOf(m.notice); // a plain string, or the document's immutable one
  if (notice === undefined || !notice.includes('file_refused')) return undefined;
  let v: unknown;
  try {
    v = (JSON.parse(notice) as { file_refused?: unknown } | null)?.file_refused;
  } catch {
    return undefined;
  }
  const r = v as Partial<FileRefusal> | null | undefined;
  if (typeof r !== 'object' || r === null || typeof r.hash !== 'string' || !HASH_HEX.test(r.hash)) return undefined;
  if (r.reason !== 'too-large' && r.reason !== 'corrupt') return undefined;
  const detail = typeof r.detail === 'string' ? r.detail.slice(0, MAX_DETAIL) : '';
  const limit = Number.isSafeInteger(r.limit) && r.limit! >= 0 ? r.limit : undefined;
  return { hash: r.hash, reason: r.reason, detail, ...(limit === undefined ? {} : { limit }) };
}

/** The error the sender's transfer ends with: FileTooLargeError (`size`, the receiver's limit) or FileCorruptError. */
export function refusalError(refusal: FileRefusal, size: number): BackchannelError {
  return refusal.reason === 'too-large'
    ? new FileTooLargeError(size, refusal.limit ?? 0, { hash: refusal.hash })
    : new FileCorruptError(refusal.hash, `the contact found it damaged: ${refusal.detail}`);
}

/**
 * The files the contact refused in these channel messages, by hash (the first refusal of each): only
 * notices whose sender is not one of mine (`mine`: my device ids) count — a contact refuses only what
 * it was sent.
 */
export function refusalsIn(messages: readonly { sender?: unknown; notice?: unknown }[], mine: (sender: string) => boolean): Map<string, FileRefusal> {
  const out = new Map<string, FileRefusal>();
  for (const m of messages) {
    const sender = textOf(m.sender);
    if (sender === undefined || mine(sender)) continue;
    const refusal = fileRefusalOf(m);
    if (refusal && !out.has(refusal.hash)) out.set(refusal.hash, refusal);
  }
  return out;
}

/** Whether a device of mine (`mine`) already wrote a refusal notice of `hash` in these messages: then none is owed. */
export function toldIn(messages: readonly { sender?: unknown; notice?: unknown }[], hash: string, mine: (sender: string) => boolean): boolean {
  return refusalsIn(messages, (sender) => !mine(sender)).has(hash);
}
