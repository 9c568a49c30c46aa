/**
 * `backchannel wormhole send FILE|DIR` / `receive` on the file system: what to offer (a file as is,
 * a directory as a zip built in a temporary file, like the Python CLI's), and where received bytes go
 * (a `.tmp` file renamed when complete; a directory's zip spooled to a temporary file, then unpacked
 * inside the target, every name and size checked). The zip format is ./zip.ts; the protocol itself
 * is src/wormhole/fileTransfer.ts.
 * @module
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, normalize, relative, resolve, sep } from 'node:path';
import type { FileOffer, FileSink } from '../src/wormhole/fileTransfer.js';
import { unzipInto, writeZip } from './zip.js';

export { unzipInto };

/** A refusal the user can act on (exists already, not a file): the CLI prints it as one line. */
export class TransferRefused extends Error {}

export interface Prepared {
  offer: FileOffer;
  source: () => AsyncIterable<Uint8Array>;
  /** What the sender prints: "Sending 1.2 MB file named 'x'". */
  what: string;
  /** Remove the temporary zip, if one was made. */
  cleanup(): Promise<void>;
}

/** The files under `dir` (symlinks to files followed, symlinked directories skipped, as os.walk does). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string) => {
    for (const entry of (await readdir(at, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) out.push(path);
      else if (entry.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isFile()) out.push(path);
    }
  };
  await walk(dir);
  return out;
}

/** A file → its offer; a directory → a deflated zip in a temporary file and a directory offer. */
export async function prepareSend(path: string): Promise<Prepared> {
  const full = resolve(path);
  const name = basename(normalize(full));
  const info = await stat(full).catch(() => {
    throw new TransferRefused(`Cannot send: no file/directory named '${path}'`);
  });
  if (info.isFile()) {
    return {
      offer: { file: { filename: name, filesize: info.size } },
      source: () => createReadStream(full),
      what: `file named '${name}'`,
      cleanup: async () => {},
    };
  }
  if (!info.isDirectory()) throw new TransferRefused(`Cannot send '${path}': it is neither a file nor a directory`);
  const files = await filesUnder(full);
  const temp = await mkdtemp(join(tmpdir(), 'backchannel-send-'));
  const zipPath = join(temp, 'directory.zip');
  let numbytes = 0;
  for (const file of files) numbytes += (await stat(file)).size;
  // Names inside the zip are relative and always '/'-separated; the file's mode travels with it.
  await writeZip(
    files.map((file) => ({ path: file, name: relative(full, file).split(sep).join('/') })),
    zipPath,
  ).catch(async (err: unknown) => {
    await rm(temp, { recursive: true, force: true });
    throw err;
  });
  const zipsize = (await stat(zipPath)).size;
  return {
    offer: { directory: { mode: 'zipfile/deflated', dirname: name, zipsize, numbytes, numfiles: files.length } },
    source: () => createReadStream(zipPath),
    what: `directory named '${name}' (${files.length} files)`,
    cleanup: () => rm(temp, { recursive: true, force: true }),
  };
}

/** The name a received file or directory is written under: its last path part only, never `..`. */
export function safeName(name: string): string {
  const base = basename(name.replaceAll('\\', '/'));
  if (base === '' || base === '.' || base === '..' || base.includes('\0')) throw new TransferRefused(`refusing the offered name ${JSON.stringify(name)}`);
  return base;
}

function writeTo(stream: WriteStream, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    stream.once('error', onError);
    if (stream.write(bytes)) {
      stream.off('error', onError);
      resolve();
    } else
      stream.once('drain', () => {
        stream.off('error', onError);
        resolve();
      });
  });
}

const closeStream = (stream: WriteStream) =>
  new Promise<void>((resolve, reject) => {
    stream.once('error', reject);
    stream.end(() => resolve());
  });

export interface SinkOptions {
  /** Write here instead of the offered name in the working directory (overwrites, as wormhole's -o does). */
  outputFile?: string;
  cwd?: string;
}

/** Where an accepted offer's bytes go; refuses to overwrite unless `outputFile` was given. */
export async function sinkFor(offer: FileOffer, options: SinkOptions = {}): Promise<{ sink: FileSink; destination: string }> {
  const offered = 'file' in offer ? offer.file.filename : offer.directory.dirname;
  const destination = resolve(options.cwd ?? process.cwd(), options.outputFile ?? safeName(offered));
  const exists = await lstat(destination).then(
    () => true,
    () => false,
  );
  if (exists && options.outputFile === undefined) throw new TransferRefused(`refusing to overwrite existing '${basename(destination)}'`);
  // Nothing touches the disk until the first byte (or finish): a refused offer leaves no trace.
  if ('file' in offer) {
    const temp = new LazyFile(async () => `${destination}.tmp`);
    return {
      destination,
      sink: {
        write: async (bytes) => writeTo(await temp.stream(), bytes),
        finish: async () => {
          await closeStream(await temp.stream());
          if (exists) await rm(destination, { recursive: true, force: true });
          await rename(await temp.path(), destination);
        },
        abort: () => temp.discard(),
      },
    };
  }
  const { numbytes, numfiles } = offer.directory;
  const temp = new LazyFile(async () => join(await mkdtemp(join(tmpdir(), 'backchannel-receive-')), 'directory.zip'));
  return {
    destination,
    sink: {
      write: async (bytes) => writeTo(await temp.stream(), bytes),
      finish: async () => {
        try {
          await closeStream(await temp.stream());
          if (exists) await rm(destination, { recursive: true, force: true });
          await mkdir(destination, { recursive: true });
          await unzipInto(await temp.path(), destination, { maxBytes: numbytes, maxFiles: numfiles }).catch(async (err: unknown) => {
            await rm(destination, { recursive: true, force: true });
            throw err;
          });
        } finally {
          await rm(dirname(await temp.path()), { recursive: true, force: true });
        }
      },
      abort: async () => {
        await temp.discard();
        if (temp.created) await rm(dirname(await temp.path()), { recursive: true, force: true });
      },
    },
  };
}

/** A file opened for writing on first use; `discard` closes and removes it, if it was ever made. */
class LazyFile {
  #path: Promise<string> | undefined;
  #stream: Promise<WriteStream> | undefined;
  constructor(private readonly choosePath: () => Promise<string>) {}

  get created(): boolean {
    return this.#path !== undefined;
  }

  path(): Promise<string> {
    return (this.#path ??= this.choosePath());
  }

  stream(): Promise<WriteStream> {
    return (this.#stream ??= this.path().then(
      (path) =>
        new Promise<WriteStream>((resolve, reject) => {
          const out = createWriteStream(path, { flags: 'w' });
          out.once('open', () => resolve(out));
          out.once('error', reject);
        }),
    ));
  }

  async discard(): Promise<void> {
    if (!this.#stream) return;
    const out = await this.#stream.catch(() => undefined);
    if (out) await new Promise<void>((resolve) => (out.closed ? resolve() : (out.once('close', () => resolve()), out.destroy())));
    await unlink(await this.path()).catch(() => {});
  }
}
