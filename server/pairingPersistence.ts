/**
 * Nameplates and mailboxes that outlive a relay restart (`--data DIR`), as the Python server keeps
 * them in SQLite: the memory store's state is saved as one snapshot through the same StorageAdapter as
 * the depot, under the key `pairing/state`. Saves follow changes, coalesced: at most one write in
 * flight and one pending, so a burst of changes costs two writes. `close()` waits for the last one,
 * so a graceful stop (SIGTERM) loses nothing; a crash loses at most the changes of the write in flight.
 * @module
 */
import type { StorageAdapter } from '../src/effects/storage.js';
import type { Logger } from './log.js';
import { MemoryMailboxStore, type MemoryStoreOptions, type StoreSnapshot } from './store.js';

const KEY = ['pairing', 'state'];

export interface PersistentStore {
  store: MemoryMailboxStore;
  /** Resolves once every change so far is on disk. */
  flush(): Promise<void>;
}

export async function openPersistentStore(storage: StorageAdapter, options: Omit<MemoryStoreOptions, 'onChange'>, log: Logger): Promise<PersistentStore> {
  let dirty = false;
  let writing: Promise<void> | undefined;
  const write = async () => {
    while (dirty) {
      dirty = false;
      const text = JSON.stringify(store.snapshot());
      try {
        await storage.save(KEY, new TextEncoder().encode(text));
      } catch (err) {
        log('error', 'pairing-save-failed', { error: String(err) });
      }
    }
    writing = undefined;
  };
  const store = new MemoryMailboxStore({
    ...options,
    onChange: () => {
      dirty = true;
      // Started after the current operation has finished changing the store.
      writing ??= Promise.resolve().then(write);
    },
  });
  const saved = await storage.load(KEY);
  if (saved) {
    try {
      store.restore(JSON.parse(new TextDecoder().decode(saved)) as StoreSnapshot);
      const stats = await store.stats();
      log('info', 'pairing-restored', { nameplates: stats.nameplates, mailboxes: stats.mailboxes });
    } catch (err) {
      // A damaged snapshot costs the pairings in flight, not the relay.
      log('error', 'pairing-restore-failed', { error: String(err) });
    }
  }
  return {
    store,
    async flush() {
      while (writing) await writing;
    },
  };
}
