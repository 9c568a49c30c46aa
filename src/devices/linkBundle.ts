/**
 * What an approving device hands a device it links, sealed inside the link wormhole: the new device's
 * signed record (linkRecord.ts), the devices already in the set, and a copy of the contacts (their
 * contact keys: the new device runs its own links with them) and settings. Pure: build it, and read one
 * that arrived, checking every field and bound (what a peer sends may be anything).
 * @module
 */
import { isPublicKeyHex } from '../crypto/signing.js';
import { LinkRefusedError } from '../errors.js';
import { iceServerProblems, isRelayUrl } from '../db/schema.js';
import { verifyDeviceLink, type DeviceLinkRecord } from './linkRecord.js';

/** One device of my set as the others remember it. */
export interface OwnDevice {
  device_id: string;
  /** Its public key, hex. */
  public_key: string;
}

/** A contact as it travels to a linked device: its name, the contact key (hex) and its device key. */
export interface LinkedContact {
  moniker: string;
  /** The contact key, 64 hex digits (the card's `channels[0]`). */
  key: string;
  public_key?: string;
  /** The contact's earlier keys, newest first (rotated after an unlink): their channels hold the history. */
  earlierKeys?: string[];
}

/** The link bundle: see the module comment. */
export interface LinkBundle {
  /** The new device's record, signed by the approving device. */
  record: DeviceLinkRecord;
  /** Every device of the set the new device joins (the approving one first), itself excepted. */
  devices: OwnDevice[];
  contacts: LinkedContact[];
  settings: { relay_server: string; ice_servers: unknown[]; file_size_limit?: number };
  /** The key the set's devices share (hex): their own channel and topic (`key`: sealed in journals). */
  set: { key: string };
}

/** Bounds on a bundle a peer sends: it travels through the relay's mailbox (2 MiB a mailbox). */
export const LINK_BOUNDS = { contacts: 2_000, devices: 64, moniker: 200, url: 2048, iceServers: 32, previousKeys: 16 } as const;

const isHex = (v: unknown, n: number): v is string => typeof v === 'string' && v.length === n && /^[0-9a-f]+$/.test(v);
const isDevice = (v: unknown): v is OwnDevice => {
  const d = v as OwnDevice;
  return typeof d === 'object' && d !== null && isHex(d.device_id, 32) && isPublicKeyHex(d.public_key);
};

/**
 * Read a bundle sent by the device whose key the link wormhole proved (`approver`, hex) to this device
 * (`self`). Throws LinkRefusedError unless the record names this device, is signed by the approver and
 * every field is in shape and within {@link LINK_BOUNDS}.
 */
export function readLinkBundle(value: unknown, approver: string | undefined, self: OwnDevice): LinkBundle {
  const b = value as Partial<LinkBundle>;
  if (typeof b !== 'object' || b === null) throw new LinkRefusedError('no link bundle');
  const record = b.record as DeviceLinkRecord;
  if (!verifyDeviceLink(record)) throw new LinkRefusedError('the record is malformed or its signature does not hold');
  if (approver === undefined || record.by !== approver) throw new LinkRefusedError('the record is not signed by the device that showed the code');
  if (record.device_id !== self.device_id || record.public_key !== self.public_key) throw new LinkRefusedError('the record names another device');
  if (!Array.isArray(b.devices) || b.devices.length > LINK_BOUNDS.devices || !b.devices.every(isDevice)) throw new LinkRefusedError('bad device list');
  if (!b.devices.some((d) => d.public_key === approver)) throw new LinkRefusedError('the approving device is not in its own list');
  if (!Array.isArray(b.contacts) || b.contacts.length > LINK_BOUNDS.contacts) throw new LinkRefusedError('bad contact list');
  for (const c of b.contacts) {
    const ok =
      typeof c === 'object' &&
      c !== null &&
      typeof c.moniker === 'string' &&
      c.moniker.length <= LINK_BOUNDS.moniker &&
      isHex(c.key, 64) &&
      (c.public_key === undefined || isPublicKeyHex(c.public_key)) &&
      (c.earlierKeys === undefined ||
        (Array.isArray(c.earlierKeys) && c.earlierKeys.length <= LINK_BOUNDS.previousKeys && c.earlierKeys.every((k) => isHex(k, 64))));
    if (!ok) throw new LinkRefusedError('a contact is malformed');
  }
  const s = b.settings;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.relay_server !== 'string' ||
    s.relay_server.length > LINK_BOUNDS.url ||
    !isRelayUrl(s.relay_server) ||
    !Array.isArray(s.ice_servers) ||
    s.ice_servers.length > LINK_BOUNDS.iceServers ||
    iceServerProblems(s.ice_servers).length > 0 ||
    (s.file_size_limit !== undefined && !(Number.isSafeInteger(s.file_size_limit) && s.file_size_limit >= 0))
  ) {
    throw new LinkRefusedError('bad settings');
  }
  if (typeof b.set !== 'object' || b.set === null || !isHex(b.set.key, 64)) throw new LinkRefusedError('no set key');
  return {
    set: { key: b.set.key },
    record,
    devices: b.devices.map((d) => ({ device_id: d.device_id, public_key: d.public_key })),
    contacts: b.contacts.map((c) => ({
      moniker: c.moniker,
      key: c.key,
      ...(c.public_key ? { public_key: c.public_key } : {}),
      ...(c.earlierKeys?.length ? { earlierKeys: [...c.earlierKeys] } : {}),
    })),
    settings: { relay_server: s.relay_server, ice_servers: s.ice_servers, ...(s.file_size_limit === undefined ? {} : { file_size_limit: s.file_size_limit }) },
  };
}
