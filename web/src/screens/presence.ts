/** "Connected (relayed)", "last seen 5 minutes ago", "not seen yet". */
import type { Contact } from '@backchannel/sdk';
import type { Device } from '../device.js';
import type { Prefs } from '../prefs.js';

/** Connected now (the app machine's presence), else the card's `last_seen` (the SDK writes it, kept across restarts). */
export function presenceText(device: Device, contact: Contact, now = Date.now()): string {
  const via = device.bc.getSnapshot().presence[contact.id];
  if (via) return via === 'direct' ? 'Connected (direct)' : 'Connected (relayed)';
  const seen = contact.last_seen;
  return seen === undefined ? 'Not seen yet' : `Last seen ${ago(now - seen)}`;
}

function ago(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  return hours < 24 ? `${hours} h ago` : `${Math.round(hours / 24)} d ago`;
}

/** Incoming messages not yet on screen in the chat. */
export function unreadCount(device: Device, prefs: Prefs, contact: Contact): number {
  const me = device.bc.deviceId;
  return device.bc
    .messages(contact.id)
    .slice(prefs.readCount(contact.id))
    .filter((m) => m.sender !== me).length;
}
