/**
 * What a deposit carries, sealed under a subkey of the contact key, one of:
 *
 *   `[1][sender device id: 16][doc id: 16][Automerge changes]`
 *   `[2][sender device id: 16][doc id: 16][file hash: 32][file size: u64][chunk index: u32][chunk bytes]`
 *
 * (a file's stored chunk, `files/chunkStore.ts`: a small file waits on the relay as one deposit per
 * chunk), possibly behind its readers' ack tokens:
 *
 *   `[3][n: u8][n × (reader tag: 8 ‖ sealed box of a 16-byte token: 88)][one of the above]`
 *
 * Each reader's token is fresh per deposit and sealed to that device's key (`crypto/sealedBox.ts`;
 * one box per key it has, at most two); the deposit lists `tag:ackCheck(token)` for it
 * (`depot/wire.ts`), so only that device can ack for itself. Pure: bytes in, bytes out.
 * @module
 */
import { concatBytes, fromBase64, fromHex, toBase64, toHex } from '../crypto/bytes.js';
import { deriveKey } from '../crypto/keys.js';
import { open, seal } from '../crypto/secretbox.js';
import { openSealed, SEALED_BOX_OVERHEAD, sealTo } from '../crypto/sealedBox.js';
import type { RandomBytes } from '../effects/random.js';
import { ackCheck, MAX_DEPOSIT_READERS } from './wire.js';

const VERSION = 1;
const CHUNK_VERSION = 2;
const ACKS_VERSION = 3;
/** Bytes of an ack token. */
const TOKEN_BYTES = 16;
/** Bytes of one reader's box in a deposit: its tag and the token sealed to one of its keys. */
const ACK_BOX_BYTES = 8 + TOKEN_BYTES + SEALED_BOX_OVERHEAD;
/** Keys of one reader a token is sealed to, at most (a device's key, and one before a rotation). */
const MAX_KEYS_PER_READER = 2;
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

/** The devices a deposit is for: device id → its public keys (Ed25519, hex). */
export type ReaderKeys = ReadonlyMap<string, Iterable<string>>;

/** One deposit's readers: what it lists (`readers` on the wire) and the boxes carrying their tokens. */
export interface DepositAcks {
  readers: string[];
  /** `[n][n × (tag ‖ sealed token)]`, sealed inside the deposit. */
  boxes: Uint8Array;
}

/** How a deposit's readers are made: the bytes they add to a deposit, and fresh tokens for each new one. */
export interface AckPlan {
  bytes: number;
  make(randomBytes: RandomBytes): DepositAcks;
}

const hexKey = (k: string): Uint8Array | undefined => {
  try {
    const bytes = fromHex(k);
    return bytes.length === 32 ? bytes : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The readers of deposits for `devices` (the contact's verified set, or my other devices in our own
 * channel): their tags, distinct, at most `max` (the relay refuses more: a set larger than that lists
 * `max` of them, and a device left out gets a deposit only while it waits for the others); undefined
 * when there are none, so a deposit goes at the first acknowledgement as before. A device with no key
 * we can seal to is listed by its bare tag (acked by the tag: anyone holding the contact key could).
 * Under the cap, devices with a key come first, then those without, then `later` (devices unlinked,
 * which only still read the notice), each group by tag: devices that can only be acked by their bare
 * tag never push out one that proves itself.
 */
export function ackPlan(contactKey: Uint8Array, devices: ReaderKeys, max = MAX_DEPOSIT_READERS, later?: ReadonlySet<string>): AckPlan | undefined {
  const byTag = new Map<string, Uint8Array[]>();
  const isLater = new Set<string>();
  for (const [id, keys] of devices) {
    const tag = depotTag(contactKey, id);
    const known = byTag.get(tag) ?? [];
    for (const k of keys) {
      const key = hexKey(k);
      if (key && known.length < MAX_KEYS_PER_READER && !known.some((x) => toHex(x) === k)) known.push(key);
    }
    byTag.set(tag, known);
    if (later?.has(id)) isLater.add(tag);
  }
  const rank = (tag: string) => (isLater.has(tag) ? 2 : byTag.get(tag)!.length > 0 ? 0 : 1);
  const tags = [...byTag.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0)).slice(0, max);
  if (tags.length === 0) return undefined;
  const boxes = tags.reduce((n, t) => n + byTag.get(t)!.length, 0);
  return {
    bytes: 2 + boxes * ACK_BOX_BYTES,
    make(randomBytes) {
      const readers: string[] = [];
      const sealed: Uint8Array[] = [];
      for (const tag of tags) {
        const keys = byTag.get(tag)!;
        const token = randomBytes(TOKEN_BYTES);
        const boxed = keys.flatMap((key) => {
          try {
            return [concatBytes(fromHex(tag), sealTo(key, token, randomBytes))];
          } catch {
            return []; // not a key anyone can seal to
          }
        });
        readers.push(boxed.length > 0 ? `${tag}:${ackCheck(toHex(token))}` : tag);
        sealed.push(...boxed);
      }
      return { readers, boxes: concatBytes(Uint8Array.of(sealed.length), ...sealed) };
    },
  };
}

/** The ack token `acks` (an opened deposit's) sealed to this device, tagged `tag`, whose Ed25519 seed is `seed`; hex. */
export function ackToken(acks: readonly { tag: string; sealed: Uint8Array }[] | undefined, tag: string, seed: Uint8Array): string | undefined {
  for (const box of acks ?? []) {
    if (box.tag !== tag) continue;
    try {
      const token = openSealed(seed, box.sealed);
      if (token.length === TOKEN_BYTES) return toHex(token);
    } catch {
      // sealed to another key of ours, or not for us
    }
  }
  return undefined;
}

/** The plaintext behind its readers' boxes, when there are any. */
const withAcks = (plain: Uint8Array, acks: DepositAcks | undefined): Uint8Array => (acks ? concatBytes(Uint8Array.of(ACKS_VERSION), acks.boxes, plain) : plain);

export interface DepositContent {
  /** The device that deposited, 32 hex digits. */
  sender: string;
  /** The document the changes belong to, 32 hex digits. */
  docId: string;
  /** `Automerge.saveSince` output. */
  changes: Uint8Array;
}

/** Seal `content` for the wire's `blob` (base64), with its readers' tokens if given. */
export function sealDeposit(key: Uint8Array, content: DepositContent, randomBytes: RandomBytes, acks?: DepositAcks): string {
  const plain = concatBytes(Uint8Array.of(VERSION), fromHex(content.sender), fromHex(content.docId), content.changes);
  return toBase64(seal(key, withAcks(plain, acks), randomBytes));
}

/** Open a fetched blob of changes; undefined when it is not ours to read (another key, another kind or version, cut short). */
export function openDeposit(key: Uint8Array, blob: string): DepositContent | undefined {
  const opened = openAnyDeposit(key, blob);
  return opened?.kind === 'changes' ? { sender: opened.sender, docId: opened.docId, changes: opened.changes } : undefined;
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

/** Seal a file chunk for the wire's `blob` (base64), with its readers' tokens if given. */
export function sealChunk(key: Uint8Array, content: ChunkContent, randomBytes: RandomBytes, acks?: DepositAcks): string {
  const head = new Uint8Array(CHUNK_HEADER_BYTES);
  head[0] = CHUNK_VERSION;
  head.set(fromHex(content.sender), 1);
  head.set(fromHex(content.docId), 17);
  head.set(fromHex(content.hash), 33);
  const view = new DataView(head.buffer);
  view.setUint32(65, Math.floor(content.size / 2 ** 32));
  view.setUint32(69, content.size >>> 0);
  view.setUint32(73, content.index);
  return toBase64(seal(key, withAcks(concatBytes(head, content.bytes), acks), randomBytes));
}

/** One reader's box in an opened deposit: its tag and its token, sealed to one of its keys. */
export interface AckBox {
  tag: string;
  sealed: Uint8Array;
}

/** What an opened deposit holds: changes, or a file's chunk; `acks`: its readers' boxes, if it lists readers with tokens. */
export type OpenedDeposit = (({ kind: 'changes' } & DepositContent) | ({ kind: 'chunk' } & ChunkContent)) & { acks?: AckBox[] };

/** Open a fetched blob of either kind; undefined when it is not ours to read (another key, an unknown version, cut short). */
export function openAnyDeposit(key: Uint8Array, blob: string): OpenedDeposit | undefined {
  let plain: Uint8Array;
  try {
    plain = open(key, fromBase64(blob));
  } catch {
    return undefined;
  }
  if (plain[0] !== ACKS_VERSION) return readContent(plain);
  const n = plain[1] ?? 0;
  const end = 2 + n * ACK_BOX_BYTES;
  if (plain.length < end) return undefined;
  const acks: AckBox[] = [];
  for (let at = 2; at < end; at += ACK_BOX_BYTES) acks.push({ tag: toHex(plain.subarray(at, at + 8)), sealed: plain.subarray(at + 8, at + ACK_BOX_BYTES) });
  const content = readContent(plain.subarray(end));
  return content && { ...content, acks };
}

/** A deposit's content (changes or a chunk) from its plaintext; undefined for an unknown version or one cut short. */
function readContent(plain: Uint8Array): OpenedDeposit | undefined {
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
