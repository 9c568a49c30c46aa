/**
 * What a device does for its files when it starts (app/actors.ts `openDatabase`, after sweeping
 * interrupted imports), and when a contact is removed (by me or by them):
 *
 * - A copy of a file a contact sends (files/chunkStore.ts) is abandoned once no contact whose files
 *   may still come names it (removed by me or by them, its channel gone): reclaimed, chunks and all.
 *   While the contact and its message remain, the copy stays however old, since the transfer resumes
 *   into it whenever the contact is back (a sender that no longer has the file answers `unknown`, and
 *   the session discards the copy then); a copy a live session is receiving is never touched.
 * - Every refusal a contact is still owed is written into its channel as a notice (files/refusal.ts),
 *   unless a device of mine wrote it already. The refusal was stored before the chunk that caused it
 *   was acknowledged, so a crash between the depot's ack and the app writing the notice loses nothing.
 * @module
 */
import { documentId, type Contact, type Database } from '../db/database.js';
import type { DocId } from '../db/documentStore.js';
import { chunkStoreOf } from './chunkStore.js';
import { fileRefusalNotice, toldIn } from './refusal.js';

/** Contacts whose files may still come: neither removed by me nor gone (they removed me). */
const live = (db: Database): Contact[] => db.contacts().filter((c) => c.removed_by === undefined);

/** Reclaim every copy whose contact no longer names its file; the number reclaimed. */
export async function reclaimAbandonedCopies(db: Database): Promise<number> {
  // Most starts find no copy begun: then no channel's messages are read.
  if ((await db.storage.listKeys(['fileIns'])).length === 0) return 0;
  const named = new Set<string>();
  const name = (channels: readonly string[], messages: readonly { file?: { hash: string } }[]) => {
    const hashes = messages.flatMap((m) => (m.file ? [m.file.hash] : []));
    for (const channel of channels) for (const hash of hashes) named.add(`${channel}/${hash}`);
  };
  for (const contact of live(db)) name(db.channelsOf(contact), db.messagesOf(contact));
  // My devices' own channels run a file session too, the one before the last rotation as well (it stays
  // linked): what they name is not abandoned either.
  const previous = db.previousSetKey();
  const own = [db.selfChannel(), previous && documentId(previous)].filter((id): id is DocId => id !== undefined && db.docs.has(id));
  name(
    own,
    own.flatMap((id) => db.messages(id)),
  );
  return chunkStoreOf(db.storage).reclaimCopies((hash, channel) => named.has(`${channel}/${hash}`));
}

/** Write the refusal notices contacts are owed and not yet sent (a crash came first); the number written. */
export async function tellOwedRefusals(db: Database): Promise<number> {
  const store = chunkStoreOf(db.storage);
  const mine = (sender: string) => sender === db.deviceId || db.docs.isOwnDevice(sender);
  let written = 0;
  for (const { channel, refusal } of await store.owedRefusals()) {
    const contact = live(db).find((c) => db.channelsOf(c).includes(channel));
    const told = contact !== undefined && toldIn(db.messagesOf(contact), refusal.hash, mine);
    if (contact !== undefined && !told) {
      await db.sendMessage(db.channelOf(contact), { notice: fileRefusalNotice(refusal) });
      written++;
    }
    await store.refusalTold(channel, refusal.hash);
  }
  return written;
}

/** Both, in order: a reclaimed copy's refusal is owed to nobody. */
export async function fileUpkeep(db: Database): Promise<void> {
  await reclaimAbandonedCopies(db);
  await tellOwedRefusals(db);
}
