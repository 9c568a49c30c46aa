/**
 * Browser storage in the origin-private file system (Chrome's File System API, as the seed asks).
 * Segments become directories; `save` goes through `createWritable()`, which writes to a swap file
 * and replaces the target only when the stream closes, so a crash leaves the old value or the new.
 * @module
 */
import type { StorageAdapter, StorageChunk, StorageKey } from '../effects/storage.js';
import { assertKey, loadListed } from './storageKeys.js';

/** Storage in the browser's origin-private file system (OPFS), under a folder named `name`; a file per key. */
export class OpfsStorage implements StorageAdapter {
  readonly #root: Promise<FileSystemDirectoryHandle>;

  /**
   * Everything lives under the directory `name` of the origin's private file system, or of `root`
   * (a `FileSystemDirectoryHandle`, typed loosely so the declarations need no DOM lib).
   */
  constructor(name = 'backchannel', root?: Promise<object>) {
    this.#root = ((root as Promise<FileSystemDirectoryHandle> | undefined) ?? navigator.storage.getDirectory()).then((r) =>
      r.getDirectoryHandle(name, { create: true }),
    );
  }

  async #dir(segments: string[], create: boolean): Promise<FileSystemDirectoryHandle | undefined> {
    let dir = await this.#root;
    for (const s of segments) {
      try {
        dir = await dir.getDirectoryHandle(s, { create });
      } catch (err) {
        if (!create && isMissing(err)) return undefined;
        throw err;
      }
    }
    return dir;
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    const k = assertKey(key);
    const dir = await this.#dir(k.slice(0, -1), false);
    if (!dir) return undefined;
    try {
      const file = await (await dir.getFileHandle(k.at(-1)!)).getFile();
      return new Uint8Array(await file.arrayBuffer());
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    const k = assertKey(key);
    const dir = (await this.#dir(k.slice(0, -1), true))!;
    const handle = await dir.getFileHandle(k.at(-1)!, { create: true });
    const writable = await handle.createWritable();
    try {
      await writable.write(data.slice());
      await writable.close();
    } catch (err) {
      await writable.abort().catch(() => {});
      throw err;
    }
  }

  async remove(key: StorageKey): Promise<void> {
    const k = assertKey(key);
    const dir = await this.#dir(k.slice(0, -1), false);
    await dir?.removeEntry(k.at(-1)!).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }

  loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    return loadListed(this, prefix);
  }

  async listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    const p = assertKey(prefix, true);
    const out: StorageKey[] = [];
    if (p.length > 0) {
      const parent = await this.#dir(p.slice(0, -1), false).catch(() => undefined);
      const file = await parent?.getFileHandle(p.at(-1)!).catch(() => undefined);
      if (file) out.push(p);
    }
    const walk = async (dir: FileSystemDirectoryHandle, key: string[]): Promise<void> => {
      for await (const [name, handle] of dir.entries()) {
        if (handle.kind === 'directory') await walk(handle as FileSystemDirectoryHandle, [...key, name]);
        else out.push([...key, name]);
      }
    };
    const start = await this.#dir(p, false).catch(() => undefined);
    if (start) await walk(start, p);
    return out;
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    const p = assertKey(prefix, true);
    if (p.length === 0) {
      const root = await this.#root;
      for await (const name of root.keys()) await root.removeEntry(name, { recursive: true });
      return;
    }
    const parent = await this.#dir(p.slice(0, -1), false);
    await parent?.removeEntry(p.at(-1)!, { recursive: true }).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }
}

function isMissing(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return name === 'NotFoundError' || name === 'TypeMismatchError';
}
