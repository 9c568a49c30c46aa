/**
 * What a device does for its files when it starts (app/actors.ts `openDatabase`, after sweeping
 * interrupted imports) and when it forgets a contact: copies no contact names any more are reclaimed
 * (files/chunkStore.ts `reclaimCopies`), then every refusal a contact is still owed is written into its
 * channel as a notice (files/refusal.ts), unless a device of mine wrote it already. The refusal was
 * stored before the chunk that caused it was acknowledged, so a crash between the depot's ack and the
 * app writing the notice loses nothing: the notice is written here, once.
 * @module
 */
import type { Contact, Database } from '../db/database.js';
import { chunkStoreOf } from './chunkStore.js';
import { fileRefusalNotice, refusalsIn } from './refusal.js';

/** Contacts whose files may still come: neither removed by me nor gone (they removed me). */
const live = (db: Database): Contact[] => db.contacts().filter((c) => c.removed_by === undefined);

/** Write the refusal notices contacts are owed and not yet sent (a crash came first); the number written. */
export async function tellOwedRefusals(db: Database): Promise<number> {
  const store = chunkStoreOf(db.storage);
  const mine = (sender: string) => sender === db.deviceId || db.docs.isOwnDevice(sender);
  let written = 0;
  for (const { channel, refusal } of await store.owedRefusals()) {
    const contact = live(db).find((c) => db.channelsOf(c).includes(channel));
    // My notices in any of its channels (the inverse of what refusalsIn reads as the contact's).
    const told = contact !== undefined && refusalsIn(db.messagesOf(contact), (sender) => !mine(sender)).has(refusal.hash);
    if (contact !== undefined && !told) {
      await db.sendMessage(db.channelOf(contact), { notice: fileRefusalNotice(refusal) });
      written++;
    }
    await store.refusalTold(channel, refusal.hash);
  }
  return written;
}

/** What a start does for files. */
export async function fileUpkeep(db: Database): Promise<void> {
  await tellOwedRefusals(db);
}
