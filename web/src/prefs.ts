/**
 * What only this web app keeps about the person's view — the device's name, how far each chat was
 * read, when a contact was last seen — in localStorage beside the SDK's IndexedDB. None of it syncs.
 */
export interface Prefs {
  deviceName(): string | undefined;
  setDeviceName(name: string): void;
  /** How many messages of this contact's chat were on screen the last time it was open. */
  readCount(contactId: string): number;
  setReadCount(contactId: string, count: number): void;
  lastSeen(contactId: string): number | undefined;
  setLastSeen(contactId: string, at: number): void;
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
  const KEYS = ['deviceName', 'read', 'seen'];
  return {
    deviceName: () => read<string | undefined>('deviceName', undefined),
    setDeviceName: (name) => write('deviceName', name),
    readCount: (id) => read<Record<string, number>>('read', {})[id] ?? 0,
    setReadCount: (id, count) => write('read', { ...read<Record<string, number>>('read', {}), [id]: count }),
    lastSeen: (id) => read<Record<string, number>>('seen', {})[id],
    setLastSeen: (id, at) => write('seen', { ...read<Record<string, number>>('seen', {}), [id]: at }),
    clear: () => KEYS.forEach((k) => store.removeItem(prefix + k)),
  };
}

/** Note when each contact's device was last connected (any presence change). */
export function trackLastSeen(bc: { subscribe(listener: (e: { type: string; contactId?: string }) => void): () => void }, prefs: Prefs): () => void {
  return bc.subscribe((e) => {
    if (e.type === 'presence' && e.contactId) prefs.setLastSeen(e.contactId, Date.now());
  });
}

/** A Storage in memory, for stories and tests. */
export function memoryStore(): Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> {
  const map = new Map<string, string>();
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}
