/**
 * Browser storage in IndexedDB through localforage. One IndexedDB `put` per save, which IndexedDB makes
 * atomic; keys are the segments joined with `/`.
 * @module
 */
import localforage from 'localforage';
import type { StorageAdapter, StorageChunk, StorageKey } from '../effects/storage.js';
import { assertKey } from './storageKeys.js';

/** Storage in IndexedDB through `localforage` (an optional peer dependency), in a store named `name`. */
export class LocalforageStorage implements StorageAdapter {
  readonly #store: LocalForage;
  readonly #ready: Promise<void>;

  /** `name` separates databases, e.g. one per signed-in profile. */
  constructor(name = 'backchannel') {
    this.#store = localforage.createInstance({ name, storeName: 'chunks' });
    // IndexedDB only: a silent fall-back to localStorage would break the atomicity promise.
    this.#ready = this.#store.setDriver(localforage.INDEXEDDB);
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    await this.#ready;
    const v = await this.#store.getItem<ArrayBuffer>(assertKey(key).join('/'));
    return v == null ? undefined : new Uint8Array(v);
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    await this.#ready;
    // Store a fresh ArrayBuffer: structured clone keeps it exact, and the caller's array stays theirs.
    await this.#store.setItem(assertKey(key).join('/'), data.slice().buffer);
  }

  async remove(key: StorageKey): Promise<void> {
    await this.#ready;
    await this.#store.removeItem(assertKey(key).join('/'));
  }

  async #keysUnder(prefix: StorageKey): Promise<string[]> {
    await this.#ready;
    const p = assertKey(prefix, true).join('/');
    return (await this.#store.keys()).filter((k) => p === '' || k === p || k.startsWith(p + '/'));
  }

  async loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    const out: StorageChunk[] = [];
    for (const k of await this.#keysUnder(prefix)) {
      const v = await this.#store.getItem<ArrayBuffer>(k);
      if (v != null) out.push({ key: k.split('/'), data: new Uint8Array(v) });
    }
    return out;
  }

  async listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    return (await this.#keysUnder(prefix)).map((k) => k.split('/'));
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    for (const k of await this.#keysUnder(prefix)) await this.#store.removeItem(k);
  }
}
