/**
 * The transit protocol's keys and handshake lines (magic-wormhole transit.py), all derived from the
 * wormhole's PAKE key: nothing here is ever sent in the clear except the relay token, which only lets
 * the transit relay pair the two sides.
 * @module
 */
import { toHex, utf8 } from '../crypto/bytes.js';
import { deriveKey } from '../crypto/keys.js';

/**
 * The appid in the transit key's purpose. magic-wormhole's CLI uses this one whatever `--appid` says
 * (its BUG339_APPID), and wormhole-william the same, so file transfers use it too.
 */
export const FILE_TRANSFER_APPID = 'lothar.com/wormhole/text-or-file-xfer';

/** derive_key(wormhole key, "<appid>/transit-key"): the root of every key below. */
export function deriveTransitKey(wormholeKey: Uint8Array, appid = FILE_TRANSFER_APPID): Uint8Array {
  return deriveKey(wormholeKey, `${appid}/transit-key`);
}

/** Which end of a file transfer: the sender picks the connection and sends the bytes, the receiver acks them. */
export type TransitRole = 'sender' | 'receiver';

/** `transit sender <hex> ready\n\n` / `transit receiver <hex> ready\n\n`: proves the key on a fresh connection. */
export function transitHandshake(transitKey: Uint8Array, role: TransitRole): Uint8Array {
  return utf8(`transit ${role} ${toHex(deriveKey(transitKey, `transit_${role}`))} ready\n\n`);
}

/** The token the relay pairs on: the same for both sides, unguessable without the key. */
export function relayToken(transitKey: Uint8Array): string {
  return toHex(deriveKey(transitKey, 'transit_relay_token'));
}

/** `please relay <token> for side <side>\n`; `side` is 16 hex digits, random per transfer. */
export function relayHandshake(transitKey: Uint8Array, side: string): Uint8Array {
  if (!/^[0-9a-f]{16}$/.test(side)) throw new RangeError(`side must be 16 lower-case hex digits, got ${JSON.stringify(side)}`);
  return utf8(`please relay ${relayToken(transitKey)} for side ${side}\n`);
}

/** The record keys of each direction: what the sender seals, the receiver opens, and back. */
export function recordKeys(transitKey: Uint8Array, role: TransitRole): { send: Uint8Array; receive: Uint8Array } {
  const sender = deriveKey(transitKey, 'transit_record_sender_key');
  const receiver = deriveKey(transitKey, 'transit_record_receiver_key');
  return role === 'sender' ? { send: sender, receive: receiver } : { send: receiver, receive: sender };
}
