/**
 * Storage as automerge-repo shapes it: opaque byte values under string-array keys, five async
 * methods, plus `listKeys` (a listing that reads no value). Every adapter must make `save` atomic per key (after it resolves, a crash leaves either the
 * old or the new value, never a torn one) and durable, because the document store acknowledges a
 * change to the user only once `save` has resolved.
 * @module
 */

/**
 * A key: path-like segments, e.g. `['docs', '3fa2…', 'incremental', 'b81c…']`. A key is never also a
 * proper prefix of another stored key (filesystem adapters map keys to paths).
 */
export type StorageKey = string[];

/** One stored entry, as `loadRange` returns it. */
export interface StorageChunk {
  key: StorageKey;
  data: Uint8Array;
}

/** Where a device keeps its documents, journal and sync state (see the module comment for what every adapter must guarantee). */
export interface StorageAdapter {
  /** The value under `key`, or `undefined` when there is none. */
  load(key: StorageKey): Promise<Uint8Array | undefined>;
  /** Store `data` under `key`, atomically and durably: resolves once it would survive a crash. */
  save(key: StorageKey, data: Uint8Array): Promise<void>;
  /** Forget the value under `key` (nothing happens when there is none). */
  remove(key: StorageKey): Promise<void>;
  /** Every entry whose key starts with `prefix`, in no particular order. */
  loadRange(prefix: StorageKey): Promise<StorageChunk[]>;
  /** The keys `loadRange(prefix)` would return, without reading a value (a listing costs no more than the keys). */
  listKeys(prefix: StorageKey): Promise<StorageKey[]>;
  /** Forget every entry whose key starts with `prefix`. */
  removeRange(prefix: StorageKey): Promise<void>;
  /** Release what the adapter holds (files, handles); no call follows. */
  close?(): Promise<void>;
}

/** Key segments are restricted so every adapter can map them to file names safely. */
export const KEY_SEGMENT = /^[A-Za-z0-9_.-]{1,128}$/;
