/**
 * Device-link records: one person's devices as a set that only grows by a signature of a device
 * already in it. A record says "device `device_id` with key `public_key` joined, approved by the device
 * whose key is `by`", signed with `by`'s System keypair (crypto/signing.ts) after the new device
 * redeemed a code the approving device created. A device cannot be added without one: a record signed
 * by any key outside the set, or altered after signing, is refused.
 *
 * The seam linked devices build on (issue 12 §4): the records travel in the devices' shared root
 * document; this module only makes and checks them. Pure: bytes and strings in, results out.
 * @module
 */
import { fromHex, toHex, utf8 } from '../crypto/bytes.js';
import { isPublicKeyHex, verifySignature } from '../crypto/signing.js';

/** A device's membership of my set, signed by the System keypair of the device that approved it. */
export interface DeviceLinkRecord {
  device_id: string;
  /** The new device's public key, hex. */
  public_key: string;
  /** When it was linked (ms, the approving device's clock). */
  linked_at: number;
  /** The approving device's public key, hex. */
  by: string;
  /** Ed25519 over the record's canonical bytes (every field but this one), hex. */
  signature: string;
}

/** What is signed: a purpose string and every field, one per line (no field may hold a newline). */
export function linkRecordBytes(record: Omit<DeviceLinkRecord, 'signature'>): Uint8Array {
  return utf8(['backchannel:device-link:v1', record.device_id, record.public_key, String(record.linked_at), record.by].join('\n'));
}

const isDeviceId = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{32}$/.test(v);

/** Sign a link record with the approving device's key (`sign`: e.g. `Database.sign`). */
export function signDeviceLink(record: Omit<DeviceLinkRecord, 'signature'>, sign: (message: Uint8Array) => Uint8Array): DeviceLinkRecord {
  if (!isDeviceId(record.device_id) || !isPublicKeyHex(record.public_key) || !isPublicKeyHex(record.by) || !Number.isSafeInteger(record.linked_at)) {
    throw new TypeError('a device-link record needs a device_id (32 hex), public_key and by (64 hex), and linked_at (ms)');
  }
  return { ...record, signature: toHex(sign(linkRecordBytes(record))) };
}

/** One record's own signature is by `by` and covers every field. */
export function verifyDeviceLink(record: DeviceLinkRecord): boolean {
  if (!isDeviceId(record?.device_id) || !isPublicKeyHex(record.public_key) || !isPublicKeyHex(record.by)) return false;
  if (!Number.isSafeInteger(record.linked_at) || typeof record.signature !== 'string' || !/^[0-9a-f]{128}$/.test(record.signature)) return false;
  return verifySignature(fromHex(record.by), linkRecordBytes(record), fromHex(record.signature));
}

/**
 * The device keys of one person's set: the first device's key, then each record whose signature holds
 * and whose approver is already in the set (records may come in any order; a record whose approver
 * never joins is refused). Returns the keys accepted and the records refused.
 */
export function deviceSet(rootKey: string, records: readonly DeviceLinkRecord[]): { keys: Set<string>; refused: DeviceLinkRecord[] } {
  const keys = new Set<string>([rootKey]);
  let pending = records.filter(verifyDeviceLink);
  const forged = records.filter((r) => !pending.includes(r));
  for (let grew = true; grew;) {
    grew = false;
    const next: DeviceLinkRecord[] = [];
    for (const r of pending) {
      if (keys.has(r.by)) {
        keys.add(r.public_key);
        grew = true;
      } else next.push(r);
    }
    pending = next;
  }
  return { keys, refused: [...forged, ...pending] };
}
