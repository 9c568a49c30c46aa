/**
 * Validation shared by every storage adapter: keys are arrays of safe segments.
 * @module
 */
import { KEY_SEGMENT, type StorageAdapter, type StorageChunk, type StorageKey } from '../effects/storage.js';
import { InvalidArgumentError } from '../errors.js';

export function assertKey(key: StorageKey, allowEmpty = false): StorageKey {
  if (!Array.isArray(key) || (!allowEmpty && key.length === 0)) {
    throw new InvalidArgumentError(`storage key must be a non-empty array of strings, got ${JSON.stringify(key)}`);
  }
  for (const segment of key) {
    if (typeof segment !== 'string' || !KEY_SEGMENT.test(segment) || segment === '.' || segment === '..') {
      throw new InvalidArgumentError(`bad storage key segment ${JSON.stringify(segment)}: use 1–128 of [A-Za-z0-9_.-]`);
    }
  }
  return key;
}

/** `loadRange` for an adapter whose listing is cheap and whose reads are one key each: list, then load. */
export async function loadListed(storage: Pick<StorageAdapter, 'listKeys' | 'load'>, prefix: StorageKey): Promise<StorageChunk[]> {
  const out: StorageChunk[] = [];
  for (const key of await storage.listKeys(prefix)) {
    const data = await storage.load(key);
    if (data) out.push({ key, data }); // removed meanwhile: not there any more
  }
  return out;
}
