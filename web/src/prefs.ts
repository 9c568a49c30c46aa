/**
 * What only this web app keeps about the person's view — the device's name, how far each chat was
 * read — in localStorage beside the SDK's IndexedDB. None of it syncs. (When a contact was last seen
 * is the SDK's: the card's `last_seen`.)
 */
export interface Prefs {
  deviceName(): string | undefined;
  setDeviceName(name: string): void;
  /** How many messages of this contact's chat were on screen the last time it was open. */
  readCount(contactId: string): number;
  setReadCount(contactId: string, count: number): void;
  clear(): void;
}

/** Prefs in a `Storage` (localStorage in the app; an in-memory map in Storybook). */
export function storagePrefs(store: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> = localStorage, prefix = 'backchannel-web:'): Prefs {
  const read = <T>(key: string, fallback: T): T => {
    try {
      const raw = store.getItem(prefix + key);
      return raw === null ? fallback : (JSON.parse(raw) as T);
    } catch {
      return fallback;
    }
  };
  const write = (key: string, value: unknown) => store.setItem(prefix + key, JSON.stringify(value));
  const KEYS = ['deviceName', 'read'];
  store.removeItem(`${prefix}seen`); // last seen, kept here by earlier versions: the SDK's card has it now
  return {
    deviceName: () => read<string | undefined>('deviceName', undefined),
    setDeviceName: (name) => write('deviceName', name),
    readCount: (id) => read<Record<string, number>>('read', {})[id] ?? 0,
    setReadCount: (id, count) => write('read', { ...read<Record<string, number>>('read', {}), [id]: count }),
    clear: () => KEYS.forEach((k) => store.removeItem(prefix + k)),
  };
}

/** A Storage in memory, for stories and tests. */
export function memoryStore(): Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> {
  const map = new Map<string, string>();
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}
