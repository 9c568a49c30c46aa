/**
 * Notices: what devices tell each other inside the channels they already sync (so they travel by
 * SYNC, or by the relay's depot for a device away, like any message), never shown as chat.
 *
 * In a contact's channel a notice is a message whose `notice` field holds JSON:
 *   - `{"removed":true}`: its writer's person removed the contact. The contact's devices keep the
 *     history and stop the link; my other devices forget the contact too.
 *   - `{"set":{devices,at,by,signature}}`: the writer's device set, signed with a System key. The
 *     contact accepts messages from every device of a set that holds from the key its card records
 *     (`public_key`, the device it paired with): a set signed by a trusted key makes its devices' keys
 *     trusted in turn ({@link peerSetOf}).
 * In my devices' own channel (selfLink.ts) notices are the message text, as the unlink notice is:
 *   - `{"forget":<channel id>}`: a device of mine removed that contact; the others forget it too.
 *   - `{"left":<channel id>}`: that contact removed me (a device of mine read its notice): the others
 *     mark it so too (the notice itself may never reach them: the depot gives a deposit to one device).
 *   - `{"linked":<record>}`: a device of mine linked a new one (its signed record, linkRecord.ts):
 *     the others add it to their list, so every device lists the whole set.
 * Pure: JSON and signatures in, results out.
 * @module
 */
import { fromHex, toHex, utf8 } from '../crypto/bytes.js';
import { isPublicKeyHex, verifySignature } from '../crypto/signing.js';
import type { Message } from '../db/schema.js';
import { LINK_BOUNDS, type OwnDevice } from './linkBundle.js';
import { verifyDeviceLink, type DeviceLinkRecord } from './linkRecord.js';

/** A device set as one of its devices signed it: every device (the signer too), when, by whom. */
export interface DeviceSetStatement {
  devices: OwnDevice[];
  /** Milliseconds, the signer's clock. */
  at: number;
  /** The signer's public key, hex (one of `devices`). */
  by: string;
  /** Ed25519 over the statement without its signature, canonically encoded (`deviceSetBytes` in devices/notices.ts), hex. */
  signature: string;
}

const isDeviceId = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{32}$/.test(v);
const parse = (text: string | undefined): Record<string, unknown> | undefined => {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/** What a set statement signs: a purpose, the time, the signer, then each device (sorted). */
export function deviceSetBytes(statement: Omit<DeviceSetStatement, 'signature'>): Uint8Array {
  const devices = statement.devices.map((d) => `${d.device_id}:${d.public_key}`).sort();
  return utf8(['backchannel:device-set:v1', String(statement.at), statement.by, ...devices].join('\n'));
}

/** Sign my set (`devices`, this device included) with this device's key `by` (`sign`: e.g. `Database.sign`). */
export function signDeviceSet(devices: readonly OwnDevice[], at: number, by: string, sign: (m: Uint8Array) => Uint8Array): DeviceSetStatement {
  const statement = { devices: devices.map((d) => ({ device_id: d.device_id, public_key: d.public_key })), at, by };
  return { ...statement, signature: toHex(sign(deviceSetBytes(statement))) };
}

/** A statement in shape, within bounds, naming its signer, and signed by it. */
export function verifyDeviceSet(s: unknown): s is DeviceSetStatement {
  const v = s as DeviceSetStatement;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.devices) || v.devices.length > LINK_BOUNDS.devices) return false;
  if (!v.devices.every((d) => typeof d === 'object' && d !== null && isDeviceId(d.device_id) && isPublicKeyHex(d.public_key))) return false;
  if (!Number.isSafeInteger(v.at) || !isPublicKeyHex(v.by) || typeof v.signature !== 'string' || !/^[0-9a-f]{128}$/.test(v.signature)) return false;
  if (!v.devices.some((d) => d.public_key === v.by)) return false;
  return verifySignature(fromHex(v.by), deviceSetBytes(v), fromHex(v.signature));
}

/** The `notice` of a removal. */
export const removalNotice = (): string => JSON.stringify({ removed: true });

/** The `notice` carrying my signed set. */
export const deviceSetNotice = (statement: DeviceSetStatement): string => JSON.stringify({ set: statement });

/** Is this message a removal notice? */
export const isRemoval = (m: Pick<Message, 'notice'>): boolean => parse(m.notice)?.removed === true;

/**
 * Who removed the contact, by the first removal notice among `messages`: `device` (a device of mine:
 * `mine` holds my device ids, this one included) or `peer` (the contact); undefined if nobody did.
 */
export function removalIn(messages: readonly Message[], mine: ReadonlySet<string>): { by: 'peer' | 'device'; sender: string } | undefined {
  for (const m of messages) if (isRemoval(m)) return { by: mine.has(m.sender) ? 'device' : 'peer', sender: m.sender };
  return undefined;
}

/**
 * The device ids of the contact's set, as the channel's set notices prove it from `rootKey` (the key
 * the contact's card records): the statements signed by a trusted key make their devices' keys
 * trusted, until nothing more grows. Empty without a root key.
 */
export function peerSetOf(rootKey: string | undefined, messages: readonly Pick<Message, 'notice'>[]): Set<string> {
  const ids = new Set<string>();
  if (!rootKey) return ids;
  const keys = new Set([rootKey]);
  let pending: DeviceSetStatement[] = [];
  for (const m of messages) {
    const set = parse(m.notice)?.set;
    if (set !== undefined && verifyDeviceSet(set)) pending.push(set);
  }
  for (let grew = true; grew;) {
    grew = false;
    const next: DeviceSetStatement[] = [];
    for (const s of pending) {
      if (!keys.has(s.by)) {
        next.push(s);
        continue;
      }
      for (const d of s.devices) {
        keys.add(d.public_key);
        ids.add(d.device_id);
      }
      grew = true;
    }
    pending = next;
  }
  return ids;
}

/** The self-channel text telling my other devices to forget the contact whose channel is `channel`. */
export const forgetNotice = (channel: string): string => JSON.stringify({ forget: channel });

/** The self-channel text announcing a device I linked (its signed record). */
export const linkedNotice = (record: DeviceLinkRecord): string => JSON.stringify({ linked: record });

/** The self-channel text telling my other devices that the contact whose channel is `channel` removed me. */
export const leftNotice = (channel: string): string => JSON.stringify({ left: channel });

/**
 * The channels my devices asked to forget (`forget`), or told were left by the contact (`left`), in
 * these self-channel messages (only my devices' notices count).
 */
export function forgottenIn(messages: readonly Message[], mine: ReadonlySet<string>, kind: 'forget' | 'left' = 'forget'): string[] {
  const out: string[] = [];
  for (const m of messages) {
    if (!mine.has(m.sender)) continue;
    const forget = parse(m.text)?.[kind];
    if (typeof forget === 'string' && /^[0-9a-f]{32}$/.test(forget) && !out.includes(forget)) out.push(forget);
  }
  return out;
}

/**
 * My set as the self channel's notices tell it, in order: a `linked` record whose approver is already
 * in the set (`keys` starts with what this device knows) adds its device; an `unlink` notice removes
 * one. Only my devices' notices count (`mine`: my device ids).
 */
export function announcedDevices(messages: readonly Message[], mine: ReadonlySet<string>, keys: ReadonlySet<string>): OwnDevice[] {
  const trusted = new Set(keys);
  const set = new Map<string, OwnDevice>();
  for (const m of messages) {
    if (!mine.has(m.sender) && !set.has(m.sender)) continue;
    const notice = parse(m.text);
    const record = notice?.linked as DeviceLinkRecord | undefined;
    if (record !== undefined && verifyDeviceLink(record) && trusted.has(record.by)) {
      trusted.add(record.public_key);
      set.set(record.device_id, { device_id: record.device_id, public_key: record.public_key });
    } else if (typeof notice?.unlink === 'string') set.delete(notice.unlink);
  }
  return [...set.values()];
}
