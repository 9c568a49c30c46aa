/**
 * Node filesystem storage, crash-safe: each key is a file under `root` (segments become directories);
 * `save` writes a temporary file, fsyncs it, renames it over the target and fsyncs the directory, so a
 * crash at any instant leaves the old value or the new one, never a torn file.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { StorageAdapter, StorageChunk, StorageKey } from '../effects/storage.js';
import { assertKey } from './storageKeys.js';

const TMP = '.tmp-';

export class NodeFsStorage implements StorageAdapter {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  #path(key: StorageKey): string {
    return join(this.root, ...assertKey(key));
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.#path(key)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
      throw err;
    }
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    const target = this.#path(key);
    const dir = dirname(target);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `${TMP}${randomBytes(6).toString('hex')}`);
    const file = await open(tmp, 'w');
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    const d = await open(dir, 'r');
    try {
      await d.sync(); // make the rename itself durable
    } finally {
      await d.close();
    }
  }

  async remove(key: StorageKey): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  async loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    const out: StorageChunk[] = [];
    const walk = async (dir: string, key: string[]): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw err;
      }
      for (const entry of entries) {
        if (entry.name.startsWith(TMP)) continue; // a write a crash interrupted: not a value
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path, [...key, entry.name]);
        else if (entry.isFile()) out.push({ key: [...key, entry.name], data: new Uint8Array(await readFile(path)) });
      }
    };
    const p = assertKey(prefix, true);
    const exact = p.length > 0 ? await this.load(p) : undefined;
    if (exact) out.push({ key: p, data: exact });
    await walk(join(this.root, ...p), p);
    return out;
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    const p = assertKey(prefix, true);
    if (p.length === 0) {
      for (const entry of await readdir(this.root).catch(() => [] as string[])) await rm(join(this.root, entry), { recursive: true, force: true });
      return;
    }
    await rm(join(this.root, ...p), { recursive: true, force: true });
  }
}
