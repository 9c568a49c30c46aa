/**
 * The files a channel names: those this device sent (the peer may fetch them) and those the peer sent
 * (ours to fetch), read from the channel's messages. Only well-formed references count: a blake3 hash
 * in hex and a whole, non-negative size.
 * @module
 */
import { textOf, type FileRef } from '../db/schema.js';
import { HASH_HEX } from './chunkStore.js';

export interface ChannelFiles {
  /** Sent by this device, by hash. */
  mine: Map<string, FileRef>;
  /** Sent by the peer, by hash, in message order. */
  theirs: Map<string, FileRef>;
}

/** `peerDeviceId`: only that device's files are theirs (it serves nothing else); unknown yet, any other device's. */
export function channelFiles(messages: readonly unknown[] | undefined, deviceId: string, peerDeviceId?: string): ChannelFiles {
  const mine = new Map<string, FileRef>();
  const theirs = new Map<string, FileRef>();
  for (const m of messages ?? []) {
    const message = m as { sender?: unknown; file?: Record<string, unknown> };
    const file = message.file;
    if (!file) continue;
    const hash = textOf(file.hash);
    const size = file.size;
    if (!hash || !HASH_HEX.test(hash) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) continue;
    const ref: FileRef = { hash, size, filename: textOf(file.filename) ?? '', mimetype: textOf(file.mimetype) ?? '' };
    const sender = textOf(message.sender);
    const into = sender === deviceId ? mine : peerDeviceId === undefined || sender === peerDeviceId ? theirs : undefined;
    if (into && !into.has(hash)) into.set(hash, ref);
  }
  return { mine, theirs };
}
