/**
 * A file on disk as `send` takes it: a read stream (read piece by piece as the chunk store asks), its
 * name and size. `saveFile` writes a received file out the same way.
 * @module
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { OutgoingFile } from '../machines/appTypes.js';

/** A file on disk as `send` takes it: streamed from `path` (never read whole), its name and size from the file system. */
export async function fileFromPath(path: string, mimetype = 'application/octet-stream'): Promise<OutgoingFile> {
  const { size } = await stat(path);
  return { data: createReadStream(path, { highWaterMark: 256 * 1024 }), filename: basename(path), mimetype, size };
}

/** Write a file's stream (Backchannel.openFile) to `path`, chunk by chunk. */
export async function saveFile(stream: ReadableStream<Uint8Array>, path: string): Promise<void> {
  await pipeline(Readable.fromWeb(stream as Parameters<typeof Readable.fromWeb>[0]), createWriteStream(path) as Writable);
}
