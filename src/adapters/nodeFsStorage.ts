/**
 * Node filesystem storage, crash-safe: each key is a file under `root` (segments become directories).
 * `save` writes a temporary file, fsyncs it, renames it over the target and fsyncs the directory;
 * directories it had to create are fsynced in their parents, and `remove` fsyncs the directory it
 * removed from. So a crash at any instant leaves the old value or the new one, never a torn file, and
 * once a call resolved its effect survives a power cut (a rename or unlink is durable only once its
 * directory is synced; a new file only once every new directory on its path is).
 *
 * A crash between writing a temporary file and renaming it leaves the temporary file behind: never
 * read as a value, and swept away before this adapter's first operation. One adapter per directory at
 * a time (a second one would sweep the first one's writes in progress).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { StorageAdapter, StorageChunk, StorageKey } from '../effects/storage.js';
import { assertKey, loadListed } from './storageKeys.js';

/** Temporary files start with this; no key segment can (segments are [A-Za-z0-9_.-], and keys never start with a dot here). */
export const TEMP_PREFIX = '.tmp-';

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** fsync a directory, so the entries created, renamed or removed in it are on disk. */
async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Storage in a directory on disk (Node): a file per key, written to a temp file, fsynced and renamed; one adapter per directory at a time. */
export class NodeFsStorage implements StorageAdapter {
  readonly root: string;
  #swept: Promise<void> | undefined;

  constructor(root: string) {
    this.root = root;
  }

  #path(key: StorageKey): string {
    return join(this.root, ...assertKey(key));
  }

  /** Before the first operation: remove what interrupted saves left (once per adapter). */
  #ready(): Promise<void> {
    this.#swept ??= this.#sweep();
    return this.#swept;
  }

  async #sweep(): Promise<void> {
    const walk = async (dir: string): Promise<void> => {
      const entries = await entriesOf(dir);
      let removed = false;
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.name.startsWith(TEMP_PREFIX) && entry.isFile()) {
          await unlink(path).catch((err: unknown) => {
            if (code(err) !== 'ENOENT') throw err;
          });
          removed = true;
        } else if (entry.isDirectory()) await walk(path);
      }
      if (removed) await syncDir(dir);
    };
    await walk(this.root);
  }

  /** Create `dir` and any missing parents, fsyncing each parent that gained an entry. */
  async #mkdirs(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true }); // the first directory it created, if any
    if (first === undefined) return;
    // Every directory from `first` down to `dir` is new: sync the parent of each.
    const below = relative(first, dir);
    const chain = [first, ...(below ? below.split(sep) : []).map((_, i, parts) => join(first, ...parts.slice(0, i + 1)))];
    for (const d of chain) await syncDir(dirname(d));
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    await this.#ready();
    try {
      return new Uint8Array(await readFile(this.#path(key)));
    } catch (err) {
      if (code(err) === 'ENOENT' || code(err) === 'EISDIR') return undefined;
      throw err;
    }
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    const target = this.#path(key);
    await this.#ready();
    const dir = dirname(target);
    await this.#mkdirs(dir);
    const tmp = join(dir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
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
    await syncDir(dir); // make the rename itself durable
  }

  async remove(key: StorageKey): Promise<void> {
    const path = this.#path(key);
    await this.#ready();
    try {
      await unlink(path);
    } catch (err) {
      if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return; // nothing there: nothing to remove
      throw err;
    }
    await syncDir(dirname(path)); // make the unlink durable
  }

  loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    return loadListed(this, prefix);
  }

  async listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    const p = assertKey(prefix, true);
    await this.#ready();
    const out: StorageKey[] = [];
    const walk = async (dir: string, key: string[]): Promise<void> => {
      const entries = await entriesOf(dir);
      for (const entry of entries) {
        if (entry.name.startsWith(TEMP_PREFIX)) continue; // a write in progress: not a value
        if (entry.isDirectory()) await walk(join(dir, entry.name), [...key, entry.name]);
        else if (entry.isFile()) out.push([...key, entry.name]);
      }
    };
    if (p.length > 0 && (await isFile(join(this.root, ...p)))) out.push(p);
    await walk(join(this.root, ...p), p);
    return out;
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    const p = assertKey(prefix, true);
    await this.#ready();
    if (p.length === 0) {
      const entries = await readdir(this.root).catch(() => [] as string[]);
      for (const entry of entries) await rm(join(this.root, entry), { recursive: true, force: true });
      if (entries.length > 0) await syncDir(this.root);
      return;
    }
    const path = join(this.root, ...p);
    await rm(path, { recursive: true, force: true });
    await syncDir(dirname(path)).catch((err: unknown) => {
      if (code(err) !== 'ENOENT') throw err; // nothing was there to remove
    });
  }
}

/** A directory's entries; none when it (or a parent) is gone or is a file. */
async function entriesOf(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return [];
    throw err;
  }
}

/** Whether `path` is a file (false when it is missing, a directory, or below a file). */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return false;
    throw err;
  }
}
