/**
 * My devices' own channel: the set key (Database.setKey) names a channel document and a DISCOVER topic
 * that only my devices hold, linked like a contact's but never listed as one. Through it an approving
 * device tells one it unlinked (a notice message), and the depot keeps that notice for a device away.
 * @module
 */
import { toHex } from '../crypto/bytes.js';
import { documentId, type Contact, type Database } from '../db/database.js';
import type { Message } from '../db/schema.js';
import { unlinkStanding, unlinkTarget, type UnlinkEdge } from './unlinks.js';

/** The self channel as the card-shaped value a link takes (never stored as a contact); undefined before any device was linked. */
export function selfLinkOf(db: Database): Contact | undefined {
  if (db.selfChannel() === undefined) return undefined;
  const key = db.setKey();
  const previous = db.previousSetKey();
  // The set key before the last rotation stays linked (a device away learns the new one there), unwritten.
  return { id: documentId(key, 'contact'), kind: 'contact', schema: 1, moniker: 'my devices', channels: [toHex(key), ...(previous ? [toHex(previous)] : [])] };
}

/** The text of an unlink notice for `deviceId`. */
export const unlinkNotice = (deviceId: string): string => JSON.stringify({ unlink: deviceId });

/**
 * The device that unlinked `deviceId` in these self-channel messages, if a notice that counts did
 * (devices/unlinks.ts): written by a device of `mine` (my other devices' ids), and its writer not
 * itself unlinked by a notice that counts — an unlinked device that still holds the set key cannot
 * unlink the device the user kept. `verify`: whether a message is signed by the device it names (as
 * devices/rotate.ts checks it); without it the senders are taken as the document store checked them.
 */
export function unlinkedBy(messages: readonly Message[], deviceId: string, mine: ReadonlySet<string>, verify?: (m: Message) => boolean): string | undefined {
  const known = new Set([...mine, deviceId]);
  const edges: UnlinkEdge[] = [];
  for (const m of messages) {
    const target = unlinkTarget(m.text);
    if (target !== undefined && known.has(m.sender) && (verify === undefined || verify(m))) edges.push({ by: m.sender, target });
  }
  return unlinkStanding(edges, known).by.get(deviceId);
}
