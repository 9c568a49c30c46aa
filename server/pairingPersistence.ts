/**
 * Nameplates and mailboxes that outlive a relay restart (`--data DIR`), as the Python server keeps
 * them in SQLite: each record of the memory store is a value in the same StorageAdapter as the depot
 * (NodeFsStorage: one file each, written atomically), under `pairing/…`:
 *
 *   pairing/<appid#>/np/<nameplate#>          {appid, name, mailbox, sides}
 *   pairing/<appid#>/mb/<mailbox#>            {appid, id, forNameplate, updated, sides, count}
 *   pairing/<appid#>/msg/<mailbox#>/<index>   a StoredMessage
 *
 * (`#`: the first 32 hex digits of SHA-256, since names may hold any character.) Only records that
 * changed are written, one at a time, after the operation that changed them; a record changed again
 * before its turn is written once, as it is then. So writes cost what changed, never the whole store,
 * and the queue is bounded by the store. `flush()` waits for the queue: a graceful stop (SIGTERM)
 * loses nothing, a crash at most the changes not yet written.
 * @module
 */
import { createHash } from 'node:crypto';
import type { StorageAdapter } from '../src/effects/storage.js';
import type { Logger } from './log.js';
import { MemoryMailboxStore, type MailboxRecord, type MemoryStoreOptions, type NameplateRecord, type StoreChange, type StoredMessage } from './store.js';

const ROOT = 'pairing';
const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);

function keyOf(change: StoreChange): string[] {
  switch (change.kind) {
    case 'nameplate':
      return [ROOT, digest(change.appid), 'np', digest(change.name)];
    case 'mailbox':
      return [ROOT, digest(change.appid), 'mb', digest(change.id)];
    case 'message':
      return [ROOT, digest(change.appid), 'msg', digest(change.id), String(change.index)];
  }
}

export interface PersistentStore {
  store: MemoryMailboxStore;
  /** Resolves once every change so far is written. */
  flush(): Promise<void>;
}

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const decode = <T>(data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as T;

export async function openPersistentStore(storage: StorageAdapter, options: Omit<MemoryStoreOptions, 'onChange'>, log: Logger): Promise<PersistentStore> {
  const dirty = new Map<string, StoreChange>();
  let writing: Promise<void> | undefined;

  const write = async (change: StoreChange) => {
    const key = keyOf(change);
    if (change.kind === 'nameplate') {
      const record = store.nameplateRecord(change.appid, change.name);
      await (record ? storage.save(key, encode(record)) : storage.remove(key));
    } else if (change.kind === 'mailbox') {
      const record = store.mailboxRecord(change.appid, change.id);
      if (record) return storage.save(key, encode(record));
      await storage.remove(key);
      await storage.removeRange([ROOT, digest(change.appid), 'msg', digest(change.id)]);
    } else {
      // Gone meanwhile: the mailbox's own change removes its messages.
      const message = store.message(change.appid, change.id, change.index);
      if (message) await storage.save(key, encode(message));
    }
  };
  const drain = async () => {
    for (let next = dirty.entries().next(); !next.done; next = dirty.entries().next()) {
      const [k, change] = next.value;
      dirty.delete(k);
      await write(change).catch((err: unknown) => log('error', 'pairing-save-failed', { error: String(err) }));
    }
    writing = undefined;
  };

  const store = new MemoryMailboxStore({
    ...options,
    onChange: (change) => {
      dirty.set(keyOf(change).join('/'), change);
      // Started after the current operation has finished changing the store.
      writing ??= Promise.resolve().then(drain);
    },
  });

  try {
    const nameplates: NameplateRecord[] = [];
    const mailboxes = new Map<string, MailboxRecord & { messages: StoredMessage[] }>();
    const messages = new Map<string, [number, StoredMessage][]>();
    for (const { key, data } of await storage.loadRange([ROOT])) {
      const [, app, kind, id, index] = key;
      if (kind === 'np') nameplates.push(decode<NameplateRecord>(data));
      else if (kind === 'mb') mailboxes.set(`${app}/${id}`, { ...decode<MailboxRecord>(data), messages: [] });
      else if (kind === 'msg') messages.set(`${app}/${id}`, [...(messages.get(`${app}/${id}`) ?? []), [Number(index), decode<StoredMessage>(data)]]);
    }
    for (const [k, list] of messages) {
      const mailbox = mailboxes.get(k);
      if (mailbox) mailbox.messages = list.sort(([a], [b]) => a - b).map(([, m]) => m);
    }
    store.restore(nameplates, [...mailboxes.values()]);
    if (nameplates.length + mailboxes.size > 0) log('info', 'pairing-restored', { nameplates: nameplates.length, mailboxes: mailboxes.size });
  } catch (err) {
    // Damaged records cost the pairings in flight, not the relay.
    log('error', 'pairing-restore-failed', { error: String(err) });
    store.restore([], []);
  }

  return {
    store,
    async flush() {
      while (writing) await writing;
    },
  };
}
