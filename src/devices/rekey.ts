/**
 * Rekey notices: a channel's next key, sealed to each device that may read on (crypto/sealedBox.ts)
 * and signed with the System key of the device that drew it. Written into the channel whose key it
 * replaces, so it travels the way that channel's messages do (SYNC, or the depot for a device away),
 * and an unlinked device that still holds the old key finds no box it can open.
 *   - `kind: 'set'`: our own channel's next set key (in the old own channel's text).
 *   - `kind: 'contact'`: a contact channel's next contact key (the contact channel's `notice`, and a
 *     copy in our own channel's text for my other devices); `set` carries the writer's set now.
 * Pure: JSON, signatures and boxes in, results out.
 * @module
 */
import { fromHex, toHex, utf8 } from '../crypto/bytes.js';
import { sealTo, SEALED_BOX_OVERHEAD } from '../crypto/sealedBox.js';
import type { RandomBytes } from '../crypto/spake2.js';
import { isPublicKeyHex, verifySignature } from '../crypto/signing.js';
import { LINK_BOUNDS } from './linkBundle.js';
import { verifyDeviceSet, type DeviceSetStatement } from './notices.js';

/** A channel's next key, sealed per device, signed: see the module comment. */
export interface RekeyNotice {
  kind: 'set' | 'contact';
  /** The document id of the channel whose key this replaces. */
  channel: string;
  /** Milliseconds, the signer's clock: of two rotations of one channel the later wins. */
  at: number;
  /** The next key (32 bytes) sealed to each recipient: its public key (hex) → box (hex). */
  sealed: Record<string, string>;
  /** The signer's device set after the change (a contact's rotation: the unlinked device left out). */
  set?: DeviceSetStatement;
  /** The signer's public key, hex. */
  by: string;
  /** Ed25519 over {@link rekeyBytes}, hex. */
  signature: string;
}

/** Recipients a notice may name: a contact's set and mine. */
export const REKEY_RECIPIENTS = 2 * LINK_BOUNDS.devices;
const BOX_HEX = 2 * (32 + SEALED_BOX_OVERHEAD);
const isDocId = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{32}$/.test(v);

/** What a rekey notice signs: a purpose, every field, the set's signature, then each box (sorted). */
export function rekeyBytes(n: Omit<RekeyNotice, 'signature'>): Uint8Array {
  const boxes = Object.entries(n.sealed).map(([k, box]) => `${k}:${box}`);
  return utf8(['backchannel:rekey:v1', n.kind, n.channel, String(n.at), n.by, n.set?.signature ?? '', ...boxes.sort()].join('\n'));
}

/** Draw nothing: seal `key` to each of `recipients` (public keys, hex) and sign with `sign` as `by`. */
export function makeRekey(
  fields: { kind: RekeyNotice['kind']; channel: string; at: number; by: string; set?: DeviceSetStatement },
  key: Uint8Array,
  recipients: Iterable<string>,
  sign: (m: Uint8Array) => Uint8Array,
  randomBytes: RandomBytes,
): RekeyNotice {
  const sealed: Record<string, string> = {};
  for (const r of recipients) {
    // A set may name a key that is no curve point (a contact signs what it likes): that device gets no
    // box, and the rotation goes on for every other recipient and contact.
    try {
      sealed[r] = toHex(sealTo(fromHex(r), key, randomBytes));
    } catch {
      continue;
    }
  }
  const notice = { ...fields, sealed };
  return { ...notice, signature: toHex(sign(rekeyBytes(notice))) };
}

/** A notice in shape, within bounds, and signed by its `by`. */
export function verifyRekey(v: unknown): v is RekeyNotice {
  const n = v as RekeyNotice;
  if (typeof n !== 'object' || n === null || (n.kind !== 'set' && n.kind !== 'contact') || !isDocId(n.channel)) return false;
  if (!Number.isSafeInteger(n.at) || !isPublicKeyHex(n.by) || typeof n.signature !== 'string' || !/^[0-9a-f]{128}$/.test(n.signature)) return false;
  if (typeof n.sealed !== 'object' || n.sealed === null || Array.isArray(n.sealed)) return false;
  const boxes = Object.entries(n.sealed);
  if (
    boxes.length > REKEY_RECIPIENTS ||
    !boxes.every(([k, box]) => isPublicKeyHex(k) && typeof box === 'string' && box.length === BOX_HEX && /^[0-9a-f]+$/.test(box))
  )
    return false;
  if (n.set !== undefined && !(verifyDeviceSet(n.set) && n.set.by === n.by)) return false;
  return verifySignature(fromHex(n.by), rekeyBytes(n), fromHex(n.signature));
}

/** The JSON a rekey notice travels as (a contact channel's `notice`, our own channel's text). */
export const rekeyText = (n: RekeyNotice): string => JSON.stringify({ rekey: n });

/** The rekey notice a message's text or notice holds, unchecked (undefined if none). */
export function rekeyOf(text: string | undefined): unknown {
  if (!text || !text.startsWith('{"rekey"')) return undefined;
  try {
    return (JSON.parse(text) as { rekey?: unknown }).rekey;
  } catch {
    return undefined;
  }
}

/**
 * Of the notices that rekey `channel` (of `kind`), those signed by a key `trusted` takes and sealed
 * to `me` (any, without `me`: which rotation won a race), the one every device picks alike: the latest
 * `at`, then the smallest signature. Verifies only the candidates (each costs an Ed25519 check).
 */
export function pickRekey(
  texts: Iterable<string | undefined>,
  want: { kind: RekeyNotice['kind']; channel: string; me?: string },
  trusted: (by: string) => boolean,
): RekeyNotice | undefined {
  let best: RekeyNotice | undefined;
  for (const text of texts) {
    const n = rekeyOf(text) as Partial<RekeyNotice> | undefined;
    if (n?.kind !== want.kind || n.channel !== want.channel || typeof n.by !== 'string' || !trusted(n.by)) continue;
    if (typeof n.sealed !== 'object' || n.sealed === null || (want.me !== undefined && !Object.hasOwn(n.sealed, want.me))) continue;
    if (best && (n.at! < best.at || (n.at === best.at && n.signature! >= best.signature))) continue;
    if (verifyRekey(n)) best = n;
  }
  return best;
}

/** The next key a notice holds for the device with public key `me` (`open`: its sealed-box opener, e.g. `Database.openSealed`); undefined if its box does not open to 32 bytes. */
export function openRekey(n: RekeyNotice, me: string, open: (box: Uint8Array) => Uint8Array): Uint8Array | undefined {
  const box = n.sealed[me];
  if (box === undefined) return undefined;
  try {
    const key = open(fromHex(box));
    return key.length === 32 ? key : undefined;
  } catch {
    return undefined;
  }
}
