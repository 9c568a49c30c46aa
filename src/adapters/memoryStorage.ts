/**
 * Storage in a Map: tests, and hosts that persist nothing. Copies on the way in and out, so callers
 * can never mutate what is stored.
 * @module
 */
import type { StorageAdapter, StorageChunk, StorageKey } from '../effects/storage.js';
import { assertKey } from './storageKeys.js';

/** Storage in memory, for tests and throwaway devices: gone when the process ends. */
export class MemoryStorage implements StorageAdapter {
  readonly #data = new Map<string, Uint8Array>();

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    const v = this.#data.get(assertKey(key).join('/'));
    return v && v.slice();
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    this.#data.set(assertKey(key).join('/'), data.slice());
  }

  async remove(key: StorageKey): Promise<void> {
    this.#data.delete(assertKey(key).join('/'));
  }

  async loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    const p = assertKey(prefix, true).join('/');
    const out: StorageChunk[] = [];
    for (const [k, v] of this.#data) if (p === '' || k === p || k.startsWith(p + '/')) out.push({ key: k.split('/'), data: v.slice() });
    return out;
  }

  async listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    const p = assertKey(prefix, true).join('/');
    const out: StorageKey[] = [];
    for (const k of this.#data.keys()) if (p === '' || k === p || k.startsWith(p + '/')) out.push(k.split('/'));
    return out;
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    for (const key of await this.listKeys(prefix)) this.#data.delete(key.join('/'));
  }

  /** How many entries are stored (tests). */
  get size(): number {
    return this.#data.size;
  }
}
