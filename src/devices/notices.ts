/**
 * Notices: what devices tell each other inside the channels they already sync (so they travel by
 * SYNC, or by the relay's depot for a device away, like any message), never shown as chat.
 *
 * In a contact's channel a notice is a message whose `notice` field holds JSON:
 *   - `{"removed":true}`: its writer's person removed the contact. The contact's devices keep the
 *     history and stop the link. Only ever the peer's: a sender naming a device of mine is ignored.
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
  /**
   * The devices of this set sign every message they write (db/messageSignature.ts): unsigned messages
   * in their names are refused. Signed with the rest; every statement this version makes says so.
   */
  signs?: true;
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

/** What a set statement signs: a purpose, the time, the signer, each device (sorted), then `signs` when it says so. */
export function deviceSetBytes(statement: Omit<DeviceSetStatement, 'signature'>): Uint8Array {
  const devices = statement.devices.map((d) => `${d.device_id}:${d.public_key}`).sort();
  return utf8(['backchannel:device-set:v1', String(statement.at), statement.by, ...devices, ...(statement.signs === true ? ['signs'] : [])].join('\n'));
}

/** Sign my set (`devices`, this device included) with this device's key `by` (`sign`: e.g. `Database.sign`). */
export function signDeviceSet(devices: readonly OwnDevice[], at: number, by: string, sign: (m: Uint8Array) => Uint8Array): DeviceSetStatement {
  const statement = { devices: devices.map((d) => ({ device_id: d.device_id, public_key: d.public_key })), at, by, signs: true as const };
  return { ...statement, signature: toHex(sign(deviceSetBytes(statement))) };
}

/** A statement in shape, within bounds, naming its signer, and signed by it. */
export function verifyDeviceSet(s: unknown): s is DeviceSetStatement {
  const v = s as DeviceSetStatement;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.devices) || v.devices.length > LINK_BOUNDS.devices) return false;
  if (!v.devices.every((d) => typeof d === 'object' && d !== null && isDeviceId(d.device_id) && isPublicKeyHex(d.public_key))) return false;
  if (!Number.isSafeInteger(v.at) || !isPublicKeyHex(v.by) || typeof v.signature !== 'string' || !/^[0-9a-f]{128}$/.test(v.signature)) return false;
  if (v.signs !== undefined && v.signs !== true) return false;
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
 * Whether the contact removed me, by the first removal notice among `messages` written by a device
 * not of mine (`mine`: my device ids, this one included): the sender then, else undefined. A removal
 * in a contact's channel only ever means the peer: a message's `sender` is self-asserted and the peer
 * rule lets the contact write one naming a device of mine, so my devices tell each other with
 * `forget` in our own channel instead, never here.
 */
export function removalIn(messages: readonly Message[], mine: ReadonlySet<string>): { by: 'peer'; sender: string } | undefined {
  for (const m of messages) if (isRemoval(m) && !mine.has(m.sender)) return { by: 'peer', sender: m.sender };
  return undefined;
}

/** Checks a set statement ({@link verifyDeviceSet}'s contract); {@link cachedDeviceSetVerifier} makes one that checks each statement once. */
export type DeviceSetVerifier = (s: unknown) => s is DeviceSetStatement;

/**
 * A verifier that remembers its verdicts (by the statement's signature and signed bytes, so an
 * altered statement is another key): a channel's set notices are read again on every change, and each
 * costs an Ed25519 check. Forgets everything past `limit` entries.
 */
export function cachedDeviceSetVerifier(verify: DeviceSetVerifier = verifyDeviceSet, limit = 4096): DeviceSetVerifier {
  const verdicts = new Map<string, boolean>();
  return (s: unknown): s is DeviceSetStatement => {
    const v = s as Partial<DeviceSetStatement> | null;
    // Every field the verdict depends on, with its type (JSON): an altered statement is a new key.
    const key = typeof v === 'object' && v !== null ? JSON.stringify([v.signature, v.by, v.at, v.devices, v.signs]) : undefined;
    if (key === undefined) return false;
    const known = verdicts.get(key);
    if (known !== undefined) return known;
    const ok = verify(s);
    if (verdicts.size >= limit) verdicts.clear();
    verdicts.set(key, ok);
    return ok;
  };
}

/**
 * The device ids of the contact's set, as the channel's set notices prove it from `rootKey` (the key
 * the contact's card records): the statement of a trusted key makes its devices' keys trusted in
 * turn. Only each signer's newest statement that verifies counts (a device removed from the set
 * stops counting); a worklist by signer reads each once. Empty without a root key.
 */
export function peerSetOf(rootKey: string | undefined, messages: readonly Pick<Message, 'notice'>[], verify: DeviceSetVerifier = verifyDeviceSet): Set<string> {
  return new Set(provenSetOf(rootKey, messages, verify).devices.keys());
}

/**
 * The contact's set as {@link peerSetOf} proves it, with keys: `devices` (device id → public key, as
 * the statements name them), `keys`, every trusted public key (the root too, which may have no
 * statement: a contact with one device never writes one), `signing`, the devices a statement
 * that counts names with `signs` (their unsigned messages are refused), and `statements`, the ones
 * that count (each trusted signer's newest): copied on, they prove the same set elsewhere.
 */
export function provenSetOf(
  rootKey: string | undefined,
  messages: readonly Pick<Message, 'notice'>[],
  verify: DeviceSetVerifier = verifyDeviceSet,
): { devices: Map<string, string>; keys: Set<string>; signing: Set<string>; statements: DeviceSetStatement[] } {
  const devices = new Map<string, string>();
  const signing = new Set<string>();
  const statements: DeviceSetStatement[] = [];
  if (!rootKey) return { devices, keys: new Set(), signing, statements };
  // Each signer's statements, newest first (by its clock, then by place in the channel).
  const bySigner = new Map<string, { s: unknown; at: number; i: number }[]>();
  messages.forEach((m, i) => {
    const set = parse(m.notice)?.set as Partial<DeviceSetStatement> | undefined;
    if (typeof set !== 'object' || set === null || typeof set.by !== 'string' || !Number.isSafeInteger(set.at)) return;
    const list = bySigner.get(set.by) ?? [];
    list.push({ s: set, at: set.at!, i });
    bySigner.set(set.by, list);
  });
  const newest = (key: string): DeviceSetStatement | undefined => {
    const list = (bySigner.get(key) ?? []).sort((x, y) => y.at - x.at || y.i - x.i);
    for (const { s } of list) if (verify(s)) return s;
    return undefined;
  };
  const keys = new Set([rootKey]);
  const work = [rootKey];
  for (let key = work.pop(); key !== undefined; key = work.pop()) {
    const s = newest(key);
    if (s !== undefined) statements.push(s);
    for (const d of s?.devices ?? []) {
      devices.set(d.device_id, d.public_key);
      if (s?.signs === true) signing.add(d.device_id);
      if (!keys.has(d.public_key)) {
        keys.add(d.public_key);
        work.push(d.public_key);
      }
    }
  }
  return { devices, keys, signing, statements };
}

/** The self-channel text telling my other devices to forget the contact whose channel is `channel`. */
export const forgetNotice = (channel: string): string => JSON.stringify({ forget: channel });

/** The self-channel text announcing a device I linked (its signed record). */
export const linkedNotice = (record: DeviceLinkRecord): string => JSON.stringify({ linked: record });

/** The self-channel text telling my other devices that the contact whose channel is `channel` removed me. */
export const leftNotice = (channel: string): string => JSON.stringify({ left: channel });

/** The channels my devices' notices of `kind` name in these self-channel messages (only my devices' notices count). */
function channelsIn(messages: readonly Message[], mine: ReadonlySet<string>, kind: 'forget' | 'left'): string[] {
  const out: string[] = [];
  for (const m of messages) {
    if (!mine.has(m.sender)) continue;
    const channel = parse(m.text)?.[kind];
    if (typeof channel === 'string' && /^[0-9a-f]{32}$/.test(channel) && !out.includes(channel)) out.push(channel);
  }
  return out;
}

/** The channels my devices asked to forget ({@link forgetNotice}), in these self-channel messages. */
export const forgottenIn = (messages: readonly Message[], mine: ReadonlySet<string>): string[] => channelsIn(messages, mine, 'forget');

/** The channels my devices told were left by the contact ({@link leftNotice}: it removed me), in these self-channel messages. */
export const leftIn = (messages: readonly Message[], mine: ReadonlySet<string>): string[] => channelsIn(messages, mine, 'left');

/**
 * My set as the self channel's notices tell it, in order: a `linked` record whose approver is in the
 * set (`keys`: device id → public key, what this device knows) adds its device; an `unlink` notice
 * removes one, and its key. A device unlinked anywhere in the channel neither approves nor is added
 * (a stolen device keeps the set key: it may still write here, and put its records before the
 * notice). Only my devices' notices count (`mine`: my device ids; senders are self-asserted).
 */
export function announcedDevices(messages: readonly Message[], mine: ReadonlySet<string>, keys: ReadonlyMap<string, string>): OwnDevice[] {
  const notices = messages.map((m) => ({ m, notice: parse(m.text) }));
  const unlinked = new Set<string>();
  for (const { notice } of notices) if (typeof notice?.unlink === 'string') unlinked.add(notice.unlink);
  const trusted = new Map([...keys].filter(([id]) => !unlinked.has(id)));
  const unlinkedKeys = new Set([...keys].filter(([id]) => unlinked.has(id)).map(([, key]) => key));
  for (const { notice } of notices) {
    const record = notice?.linked as Partial<DeviceLinkRecord> | undefined;
    if (typeof record?.device_id === 'string' && unlinked.has(record.device_id) && typeof record.public_key === 'string') unlinkedKeys.add(record.public_key);
  }
  const set = new Map<string, OwnDevice>();
  for (const { m, notice } of notices) {
    if ((!mine.has(m.sender) && !set.has(m.sender)) || unlinked.has(m.sender)) continue;
    const record = notice?.linked as DeviceLinkRecord | undefined;
    if (
      record !== undefined &&
      verifyDeviceLink(record) &&
      !unlinked.has(record.device_id) &&
      !unlinkedKeys.has(record.by) &&
      [...trusted.values()].includes(record.by)
    ) {
      trusted.set(record.device_id, record.public_key);
      set.set(record.device_id, { device_id: record.device_id, public_key: record.public_key });
    } else if (typeof notice?.unlink === 'string') {
      set.delete(notice.unlink);
      trusted.delete(notice.unlink);
    }
  }
  return [...set.values()];
}
