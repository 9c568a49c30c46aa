/**
 * What a deposit carries, sealed under a subkey of the contact key, one of:
 *
 *   `[1][sender device id: 16][doc id: 16][Automerge changes]`
 *   `[2][sender device id: 16][doc id: 16][file hash: 32][file size: u64][chunk index: u32][chunk bytes]`
 *
 * (a file's stored chunk, `files/chunkStore.ts`: a small file waits on the relay as one deposit per
 * chunk). Pure: bytes in, bytes out.
 * @module
 */
import { concatBytes, fromBase64, fromHex, toBase64, toHex } from '../crypto/bytes.js';
import { deriveKey } from '../crypto/keys.js';
import { open, seal } from '../crypto/secretbox.js';
import type { RandomBytes } from '../effects/random.js';
import { MAX_DEPOSIT_READERS } from './wire.js';

const VERSION = 1;
const CHUNK_VERSION = 2;
/** Bytes before a chunk's own in a file deposit (version, sender, doc, hash, size, index). */
export const CHUNK_HEADER_BYTES = 1 + 16 + 16 + 32 + 8 + 4;

/** The key deposits are sealed with. The label predates the name "depot": it stays, or old deposits could not be opened. */
export function depotKey(contactKey: Uint8Array): Uint8Array {
  return deriveKey(contactKey, 'backchannel:offline-mailbox:v1');
}

/**
 * This device's tag on the contact's deposits: opaque to the relay (keyed by the contact key, so it
 * differs per contact), the same on every deposit and fetch of this device, so the relay can leave out
 * a device's own deposits when it fetches. 8 bytes, hex.
 */
export function depotTag(contactKey: Uint8Array, deviceId: string): string {
  return toHex(deriveKey(contactKey, `backchannel:depot-tag:v1:${deviceId}`, 8));
}

/**
 * The `readers` of a deposit for devices `deviceIds` (the contact's verified set): their tags, sorted,
 * distinct, at most `max` (the relay refuses more: a set larger than that lists `max` of them, and a
 * device left out gets it only while the deposit waits for the others); undefined when there are none,
 * so the deposit goes at the first acknowledgement as before.
 */
export function readerTags(contactKey: Uint8Array, deviceIds: Iterable<string>, max = MAX_DEPOSIT_READERS): string[] | undefined {
  const tags = [...new Set([...deviceIds].map((id) => depotTag(contactKey, id)))].sort();
  return tags.length === 0 ? undefined : tags.slice(0, max);
}

export interface DepositContent {
  /** The device that deposited, 32 hex digits. */
  sender: string;
  /** The document the changes belong to, 32 hex digits. */
  docId: string;
  /** `Automerge.saveSince` output. */
  changes: Uint8Array;
}

/** Seal `content` for the wire's `blob` (base64). */
export function sealDeposit(key: Uint8Array, content: DepositContent, randomBytes: RandomBytes): string {
  const plain = concatBytes(Uint8Array.of(VERSION), fromHex(content.sender), fromHex(content.docId), content.changes);
  return toBase64(seal(key, plain, randomBytes));
}

/** Open a fetched blob; undefined when it is not ours to read (another key, another version, cut short). */
export function openDeposit(key: Uint8Array, blob: string): DepositContent | undefined {
  let plain: Uint8Array;
  try {
    plain = open(key, fromBase64(blob));
  } catch {
    return undefined;
  }
  if (plain[0] !== VERSION || plain.length < 33) return undefined;
  return { sender: toHex(plain.subarray(1, 17)), docId: toHex(plain.subarray(17, 33)), changes: plain.subarray(33) };
}

/** One stored chunk of a file (`files/chunkStore.ts`), as a deposit carries it. */
export interface ChunkContent {
  /** The device that deposited, 32 hex digits. */
  sender: string;
  /** The channel whose message names the file, 32 hex digits. */
  docId: string;
  /** The file's blake3 hash, 64 hex digits. */
  hash: string;
  /** The whole file's size in bytes. */
  size: number;
  /** Which chunk (from 0). */
  index: number;
  bytes: Uint8Array;
}

/** Seal a file chunk for the wire's `blob` (base64). */
export function sealChunk(key: Uint8Array, content: ChunkContent, randomBytes: RandomBytes): string {
  const head = new Uint8Array(CHUNK_HEADER_BYTES);
  head[0] = CHUNK_VERSION;
  head.set(fromHex(content.sender), 1);
  head.set(fromHex(content.docId), 17);
  head.set(fromHex(content.hash), 33);
  const view = new DataView(head.buffer);
  view.setUint32(65, Math.floor(content.size / 2 ** 32));
  view.setUint32(69, content.size >>> 0);
  view.setUint32(73, content.index);
  return toBase64(seal(key, concatBytes(head, content.bytes), randomBytes));
}

/** What an opened deposit holds: changes, or a file's chunk. */
export type OpenedDeposit = ({ kind: 'changes' } & DepositContent) | ({ kind: 'chunk' } & ChunkContent);

/** Open a fetched blob of either kind; undefined when it is not ours to read (another key, an unknown version, cut short). */
export function openAnyDeposit(key: Uint8Array, blob: string): OpenedDeposit | undefined {
  let plain: Uint8Array;
  try {
    plain = open(key, fromBase64(blob));
  } catch {
    return undefined;
  }
  if (plain[0] === VERSION && plain.length >= 33)
    return { kind: 'changes', sender: toHex(plain.subarray(1, 17)), docId: toHex(plain.subarray(17, 33)), changes: plain.subarray(33) };
  if (plain[0] !== CHUNK_VERSION || plain.length < CHUNK_HEADER_BYTES) return undefined;
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  const size = view.getUint32(65) * 2 ** 32 + view.getUint32(69);
  if (!Number.isSafeInteger(size)) return undefined;
  return {
    kind: 'chunk',
    sender: toHex(plain.subarray(1, 17)),
    docId: toHex(plain.subarray(17, 33)),
    hash: toHex(plain.subarray(33, 65)),
    size,
    index: view.getUint32(73),
    bytes: plain.subarray(CHUNK_HEADER_BYTES),
  };
}
