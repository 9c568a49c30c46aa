/** A device for depot tests: a database on in-memory storage with one contact, whose channel the deposits are for. */
import { MemoryStorage } from '../../src/adapters/memoryStorage.js';
import { Database } from '../../src/db/database.js';

/** A device with one contact of key `contactKey` (both sides of a depot test share it): its storage, database and that channel. */
export async function depotDevice(contactKey: Uint8Array) {
  const storage = new MemoryStorage();
  const db = await Database.open({ storage });
  const contact = await db.addContact({ moniker: 'peer', contactKey });
  return { storage, db, channelId: db.channelOf(contact) };
}

/** What {@link depotDevice} makes. */
export type DepotDevice = Awaited<ReturnType<typeof depotDevice>>;
