/**
 * The zip files of `backchannel wormhole send DIR` / `receive`, as the Python CLI and wormhole-william
 * write and read them: deflated entries, '/'-separated relative names (UTF-8 flagged when not ASCII),
 * Unix modes in the external attributes. Written with fflate's streaming `Zip`, one file at a time in
 * small pieces; read through the central directory of the spooled file (so data descriptors and zip64
 * from other tools are fine), each entry inflated piece by piece with fflate's `Inflate`: memory stays
 * bounded whatever the directory's size.
 * @module
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { crc32 } from 'node:zlib';
import { Inflate, Zip, ZipDeflate } from 'fflate';
import { TooLargeError, TransferFailedError } from '../src/errors.js';

/** The largest size or offset a zip without zip64 can state (fflate writes no zip64). */
const MAX_32 = 0xffff_ffff;
const MAX_ENTRIES_16 = 0xffff;
/** How much is read (and, compressed, pushed through Inflate) at a time. */
const PIECE = 16 * 1024;

/** One file to put in the zip: where it is, and its name inside the zip ('/'-separated, relative). */
export interface ZipSource {
  path: string;
  name: string;
}

/** A zip's dates are 1980–2107 (fflate: to 2099); a file's mtime outside that is clamped, not refused. */
const zipDate = (mtime: Date): Date =>
  new Date(Math.min(Math.max(mtime.getTime(), new Date(1980, 0, 1, 0, 0, 2).getTime()), new Date(2099, 11, 31, 23, 59, 58).getTime()));

/** Write `files` deflated into a new zip at `zipPath`, one piece at a time. */
export async function writeZip(files: readonly ZipSource[], zipPath: string): Promise<void> {
  if (files.length > MAX_ENTRIES_16) throw new TooLargeError('The number of files in a directory to send', files.length, MAX_ENTRIES_16);
  const out = await open(zipPath, 'w');
  let written = 0;
  let failure: Error | null = null;
  const pending: Uint8Array[] = [];
  const zip = new Zip((err, data) => {
    if (err) failure ??= err;
    else pending.push(data);
  });
  // fflate's Zip hands over its output synchronously as entries are pushed: write it before reading on.
  const flush = async () => {
    for (const chunk of pending.splice(0)) {
      await out.write(chunk);
      written += chunk.length;
    }
    if (failure) throw failure;
    if (written > MAX_32) throw new TooLargeError('A directory zip (without zip64)', written, MAX_32);
  };
  try {
    for (const file of files) {
      const info = await stat(file.path);
      if (info.size >= MAX_32) throw new TooLargeError(`The file ${file.name} (zip without zip64)`, info.size, MAX_32 - 1);
      const entry = new ZipDeflate(file.name, { level: 6 });
      entry.os = 3; // Unix: the mode is in the high half of the external attributes, as Python's zipfile writes it
      entry.attrs = ((info.mode & 0xffff) << 16) >>> 0;
      entry.mtime = zipDate(info.mtime);
      zip.add(entry);
      for await (const piece of createReadStream(file.path, { highWaterMark: PIECE }) as AsyncIterable<Buffer>) {
        entry.push(piece);
        await flush();
      }
      entry.push(new Uint8Array(0), true);
      await flush();
    }
    zip.end();
    await flush();
  } finally {
    await out.close();
  }
}

/** What the central directory says of one entry. */
interface Entry {
  name: string;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  localOffset: number;
  externalAttributes: number;
}

const malicious = (detail: string) => new TransferFailedError(`malicious zip: ${detail}`, { reason: 'rejected' });
const corrupt = (detail: string) => new TransferFailedError(`invalid zip: ${detail}`, { reason: 'rejected' });

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, position);
  if (bytesRead !== length) throw corrupt('it ends early');
  return buffer;
}

/** A 64-bit little-endian number, refused beyond what a double holds exactly. */
function u64(buffer: Buffer, at: number): number {
  const value = buffer.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt('a zip64 size is out of range');
  return Number(value);
}

/** Where the central directory is and how many entries it has (zip64 when the classic record says so). */
async function centralDirectory(file: FileHandle, size: number): Promise<{ offset: number; count: number }> {
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = await readAt(file, size - tailLength, tailLength);
  for (let at = tailLength - 22; at >= 0; at--) {
    if (tail.readUInt32LE(at) !== 0x06054b50 || at + 22 + tail.readUInt16LE(at + 20) > tailLength) continue;
    let count = tail.readUInt16LE(at + 10);
    let offset = tail.readUInt32LE(at + 16);
    if (tail.readUInt16LE(at + 4) !== 0) throw corrupt('multi-disk zips are not supported');
    if (count === 0xffff || offset === MAX_32) {
      const locatorAt = size - tailLength + at - 20;
      const locator = locatorAt >= 0 ? await readAt(file, locatorAt, 20) : undefined;
      if (!locator || locator.readUInt32LE(0) !== 0x07064b50) throw corrupt('no zip64 end of central directory locator');
      const record = await readAt(file, u64(locator, 8), 56);
      if (record.readUInt32LE(0) !== 0x06064b50) throw corrupt('no zip64 end of central directory record');
      count = u64(record, 32);
      offset = u64(record, 48);
    }
    return { offset, count };
  }
  throw corrupt('no end of central directory record');
}

/** Code page 437's upper half: names without the UTF-8 flag are in it (as yauzl and Python read them). */
const CP437_HIGH = 'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';
const decodeName = (bytes: Buffer, utf8: boolean): string =>
  utf8 ? bytes.toString('utf8') : Array.from(bytes, (b) => (b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80]!)).join('');

/** Refuse names that could leave the target, as yauzl did: backslashes, absolute paths, `..` parts. */
function checkName(name: string): void {
  if (name.includes('\\') || name.includes('\0')) throw malicious(`invalid characters in fileName: ${name}`);
  if (/^[a-zA-Z]:/.test(name) || name.startsWith('/')) throw malicious(`absolute path: ${name}`);
  if (name.split('/').includes('..')) throw malicious(`invalid relative path: ${name}`);
}

/** The entries of the central directory at `offset`, one at a time. */
async function* entries(file: FileHandle, offset: number, count: number): AsyncGenerator<Entry> {
  let at = offset;
  for (let i = 0; i < count; i++) {
    const header = await readAt(file, at, 46);
    if (header.readUInt32LE(0) !== 0x02014b50) throw corrupt('bad central directory entry');
    const nameLength = header.readUInt16LE(28);
    const extraLength = header.readUInt16LE(30);
    const variable = await readAt(file, at + 46, nameLength + extraLength);
    at += 46 + nameLength + extraLength + header.readUInt16LE(32);
    const flags = header.readUInt16LE(8);
    const entry: Entry = {
      name: decodeName(variable.subarray(0, nameLength), (flags & 0x800) !== 0),
      flags,
      method: header.readUInt16LE(10),
      crc: header.readUInt32LE(16),
      compressedSize: header.readUInt32LE(20),
      uncompressedSize: header.readUInt32LE(24),
      localOffset: header.readUInt32LE(42),
      externalAttributes: header.readUInt32LE(38),
    };
    // zip64: the fields that say 0xffffffff are in the 0x0001 extra field, in this order.
    const extra = variable.subarray(nameLength);
    for (let e = 0; e + 4 <= extra.length; e += 4 + extra.readUInt16LE(e + 2)) {
      if (extra.readUInt16LE(e) !== 0x0001) continue;
      let field = e + 4;
      const next = () => {
        if (field + 8 > e + 4 + extra.readUInt16LE(e + 2)) throw corrupt('short zip64 extra field');
        const value = u64(extra, field);
        field += 8;
        return value;
      };
      if (entry.uncompressedSize === MAX_32) entry.uncompressedSize = next();
      if (entry.compressedSize === MAX_32) entry.compressedSize = next();
      if (entry.localOffset === MAX_32) entry.localOffset = next();
    }
    yield entry;
  }
}

function writeTo(stream: WriteStream, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    const done = () => (stream.off('error', reject), resolve());
    if (stream.write(bytes)) done();
    else stream.once('drain', done);
  });
}

/** Inflate (or copy) one entry's bytes into `path`, counting every byte against the limits as it comes. */
async function extract(file: FileHandle, entry: Entry, path: string, mode: number, count: (bytes: number) => void): Promise<void> {
  const local = await readAt(file, entry.localOffset, 30);
  if (local.readUInt32LE(0) !== 0x04034b50) throw corrupt(`bad local header for ${entry.name}`);
  let at = entry.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  const end = at + entry.compressedSize;
  const out = createWriteStream(path, { flags: 'wx', mode });
  await new Promise<void>((resolve, reject) => (out.once('open', () => resolve()), out.once('error', reject)));
  let crc = 0;
  let size = 0;
  let ended = entry.method === 0;
  const pieces: Uint8Array[] = [];
  const accept = (piece: Uint8Array) => {
    size += piece.length;
    if (size > entry.uncompressedSize) throw corrupt(`${entry.name} inflates to more than its stated ${entry.uncompressedSize} bytes`);
    count(piece.length);
    crc = crc32(piece, crc);
    pieces.push(piece);
  };
  const inflate = new Inflate((data, final) => {
    accept(data);
    if (final) ended = true;
  });
  try {
    while (at < end) {
      const piece = await readAt(file, at, Math.min(PIECE, end - at));
      at += piece.length;
      if (entry.method === 0) accept(piece);
      else inflate.push(piece, at === end);
      for (const p of pieces.splice(0)) await writeTo(out, p);
    }
    if (entry.method === 8 && entry.compressedSize === 0) inflate.push(new Uint8Array(0), true);
    if (!ended || size !== entry.uncompressedSize) throw corrupt(`${entry.name} is ${size} bytes, not the stated ${entry.uncompressedSize}`);
    if (crc >>> 0 !== entry.crc) throw corrupt(`${entry.name} fails its CRC check`);
  } catch (err) {
    out.destroy();
    throw err instanceof Error && !(err instanceof TransferFailedError) && !(err instanceof TooLargeError) ? corrupt(`${entry.name}: ${err.message}`) : err;
  }
  await new Promise<void>((resolve, reject) => (out.once('error', reject), out.end(() => resolve())));
}

/**
 * Unpack `zipPath` into `target`: no name may leave it, and no more files or bytes than the offer
 * declared (a zip bomb stops at the first piece over).
 */
export async function unzipInto(zipPath: string, target: string, limits: { maxBytes: number; maxFiles: number }): Promise<void> {
  const file = await open(zipPath, 'r');
  try {
    const { offset, count } = await centralDirectory(file, (await file.stat()).size);
    let bytes = 0;
    let files = 0;
    for await (const entry of entries(file, offset, count)) {
      checkName(entry.name);
      const path = resolve(target, entry.name);
      if (path !== target && !path.startsWith(target + sep)) throw malicious(`${entry.name} is outside the target`);
      if (entry.name.endsWith('/')) {
        await mkdir(path, { recursive: true });
        continue;
      }
      if (++files > limits.maxFiles) throw new TooLargeError('The zip file count', files, limits.maxFiles);
      if (entry.flags & 0x1) throw corrupt(`${entry.name} is encrypted`);
      if (entry.method !== 0 && entry.method !== 8) throw corrupt(`${entry.name} uses compression method ${entry.method}`);
      await mkdir(dirname(path), { recursive: true });
      const mode = ((entry.externalAttributes >>> 16) & 0o777) | 0o600;
      await extract(file, entry, path, mode, (n) => {
        bytes += n;
        if (bytes > limits.maxBytes) throw new TooLargeError('The unpacked directory', bytes, limits.maxBytes);
      });
    }
  } finally {
    await file.close();
  }
}
