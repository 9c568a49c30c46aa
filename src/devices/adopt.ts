/**
 * The new device's side of a link: check the bundle the approving device sent (linkBundle.ts) and
 * take it in — the set's devices, the settings, and a card per contact (same contact key, so the same
 * channel document and DISCOVER topic as the other devices). Nothing is stored unless the bundle holds.
 * @module
 */
import { fromHex } from '../crypto/bytes.js';
import type { Contact, Database } from '../db/database.js';
import type { IceServer, SettingsDoc } from '../db/schema.js';
import { readLinkBundle, type OwnDevice } from './linkBundle.js';
import { selfLinkOf } from './selfLink.js';

/** The devices, contacts and settings a joined device now has. */
export interface Adopted {
  devices: OwnDevice[];
  /** The channel my devices share, now that there are several. */
  self?: Contact;
  contacts: Contact[];
  settings: SettingsDoc;
}

/** Take in the bundle `value` sent by the device with key `approver` (hex); LinkRefusedError if it does not hold. */
export async function adoptLinkBundle(db: Database, value: unknown, approver: string | undefined): Promise<Adopted> {
  const bundle = readLinkBundle(value, approver, { device_id: db.deviceId, public_key: db.publicKey });
  // Settings first: if the database still refuses them, nothing of the set is stored yet.
  const { relay_server, ice_servers, file_size_limit } = bundle.settings;
  const settings = await db.updateSettings({
    relay_server,
    ice_servers: ice_servers as IceServer[],
    ...(file_size_limit === undefined ? {} : { file_size_limit }),
  });
  const devices = await db.addOwnDevices(bundle.devices, fromHex(bundle.set.key));
  const known = new Set(db.contacts().map((c) => c.channels[0]));
  for (const c of bundle.contacts) {
    if (known.has(c.key)) continue;
    await db.addContact({
      moniker: c.moniker,
      contactKey: fromHex(c.key),
      ...(c.public_key ? { publicKey: c.public_key } : {}),
      ...(c.earlierKeys ? { previousKeys: c.earlierKeys.map((k) => fromHex(k)) } : {}),
    });
    known.add(c.key);
  }
  return { devices, contacts: db.contacts(), settings, self: selfLinkOf(db) };
}
