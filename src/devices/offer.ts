/**
 * The approving device's side of a link: the bundle for a new device that redeemed our code, its
 * record signed with this device's System keypair (linkRecord.ts).
 * @module
 */
import { toHex } from '../crypto/bytes.js';
import type { Database } from '../db/database.js';
import { signDeviceLink } from './linkRecord.js';
import { LINK_BOUNDS, type LinkBundle, type OwnDevice } from './linkBundle.js';

/** What `db` hands the device `peer`: its signed record, the set, the contacts (with their keys) and settings, at `now` (ms). */
export function linkBundleFor(db: Database, peer: OwnDevice, now: number): LinkBundle {
  const record = signDeviceLink({ device_id: peer.device_id, public_key: peer.public_key, linked_at: now, by: db.publicKey }, (m) => db.sign(m));
  const { relay_server, ice_servers, file_size_limit } = db.settings();
  return {
    set: { key: toHex(db.setKey()) },
    record,
    devices: [{ device_id: db.deviceId, public_key: db.publicKey }, ...db.ownDevices().filter((d) => d.device_id !== peer.device_id)],
    contacts: db
      .contacts()
      .filter((c) => c.removed_by === undefined)
      .map((c) => ({
        moniker: c.moniker,
        key: c.channels[0]!,
        ...(c.public_key ? { public_key: c.public_key } : {}),
        // Rotated keys: the new device reads the history in their channels too.
        ...(c.channels.length > 1 ? { earlierKeys: c.channels.slice(1, 1 + LINK_BOUNDS.previousKeys) } : {}),
      })),
    settings: { relay_server, ice_servers, ...(file_size_limit === undefined ? {} : { file_size_limit }) },
  };
}
