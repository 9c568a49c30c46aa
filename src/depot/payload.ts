/**
 * What a deposit carries, sealed under a subkey of the contact key:
 * `[1][sender device id: 16][doc id: 16][Automerge changes]`. Pure: bytes in, bytes out.
 * @module
 */
import { concatBytes, fromBase64, fromHex, toBase64, toHex } from '../crypto/bytes.js';
import { deriveKey } from '../crypto/keys.js';
import { open, seal } from '../crypto/secretbox.js';
import type { RandomBytes } from '../effects/random.js';

const VERSION = 1;

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
