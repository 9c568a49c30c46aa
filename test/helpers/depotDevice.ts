/** A device for depot tests: a database on in-memory storage with one contact, whose channel the deposits are for. */
import { MemoryStorage } from '../../src/adapters/memoryStorage.js';
import { Database } from '../../src/db/database.js';
import { DEFAULT_MAX_BATCH_CHARS, DEFAULT_MAX_DEPOSIT_CHARS, type PrepareInput } from '../../src/depot/depotActors.js';
import { cryptoRandomBytes } from '../../src/effects/random.js';

/** A device with one contact of key `contactKey` (both sides of a depot test share it): its storage, database and that channel. */
export async function depotDevice(contactKey: Uint8Array) {
  const storage = new MemoryStorage();
  const db = await Database.open({ storage });
  const contact = await db.addContact({ moniker: 'peer', contactKey });
  return { storage, db, channelId: db.channelOf(contact) };
}

/** What {@link depotDevice} makes. */
export type DepotDevice = Awaited<ReturnType<typeof depotDevice>>;

/**
 * What `prepareDeposit` takes to deposit `d`'s channel under the depot key `key`, with the default
 * sizes and real randomness; `more` adds the rest (the contact key, `own`, files).
 */
export function prepareInput(d: DepotDevice, key: Uint8Array, more: Partial<PrepareInput> = {}): PrepareInput {
  return {
    docs: d.db.docs,
    storage: d.storage,
    channelId: d.channelId,
    key,
    deviceId: d.db.deviceId,
    randomBytes: cryptoRandomBytes,
    maxBlobChars: DEFAULT_MAX_DEPOSIT_CHARS,
    maxBatchChars: DEFAULT_MAX_BATCH_CHARS,
    ...more,
  };
}
