/**
 * magic-wormhole's file transfer (docs/file-transfer-protocol.md; cli/cmd_send.py, cmd_receive.py),
 * over our {@link Wormhole} and {@link connectTransit}: the sender sends `transit` then `offer`
 * (`file` or a zipped `directory`), the receiver answers with its own `transit` and `file_ack`, the
 * bytes go as transit records, and the receiver's last record is `{"ack":"ok","sha256":…}`. Text
 * offers (`message`) are answered too, so one `receive` takes whatever the sender offers.
 * Where the bytes come from and go to is the host's: sources and sinks are passed in.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromUtf8, toHex, utf8 } from '../crypto/bytes.js';
import type { ByteStreamAddress, ByteStreamConnector } from '../effects/byteStream.js';
import { cryptoRandomBytes, type RandomBytes } from '../effects/random.js';
import { AbortedError, BackchannelError, ProtocolError, TransferFailedError, toBackchannelError } from '../errors.js';
import { connectTransit, type TransitPipe } from './transitConnection.js';
import { mergeRelays, relayHintsOf, transitMessage } from './transitHints.js';
import { deriveTransitKey, FILE_TRANSFER_APPID, type TransitRole } from './transitKeys.js';
import { Wormhole, type WormholeOptions } from './wormhole.js';

export { FILE_TRANSFER_APPID };

/** A single file offered: its name and its size in bytes. */
export interface FileOfferBody {
  filename: string;
  filesize: number;
}

/** A directory offered as one deflated zip: its name, the zip's size, and what it unpacks to. */
export interface DirectoryOfferBody {
  mode: 'zipfile/deflated';
  dirname: string;
  /** Bytes on the wire: the zip's size. */
  zipsize: number;
  /** Bytes once unpacked. */
  numbytes: number;
  numfiles: number;
}

/** The sender's `offer` for bytes: a file or a zipped directory (a text `message` offer is not one). */
export type FileOffer = { file: FileOfferBody } | { directory: DirectoryOfferBody };

/** Bytes that travel for an offer. */
export function offerSize(offer: FileOffer): number {
  return 'file' in offer ? offer.file.filesize : offer.directory.zipsize;
}

/** Plaintext bytes per record we send (the Python CLI sends 16 KiB; any size up to the peer's bound works). */
export const SEND_RECORD_BYTES = 64 * 1024;

interface Common extends Omit<WormholeOptions, 'appid' | 'code'> {
  /** Transit relays we offer and use (`tcp:host:port` parsed: {@link parseTransitHelper}). */
  transitRelays: readonly ByteStreamAddress[];
  /** How to open TCP-like streams (`nodeTcpConnector()` in Node). */
  byteConnector: ByteStreamConnector;
  /** Bytes moved so far, of `total`. */
  onProgress?: (done: number, total: number) => void;
  /** The transit connection is up, through `via` (`tcp:host:port`). */
  onConnected?: (via: string) => void;
  transitTimeoutMs?: number;
}

/** What {@link sendFile} needs: the wormhole connection, the transit relays, the offer and its bytes. */
export interface SendFileOptions extends Common {
  /** Join with this code; omit to allocate one (see `onCode`). */
  code?: string;
  /** Called with the code once it is known (allocated or given): show it to the receiver. */
  onCode?: (code: string) => void;
  offer: FileOffer;
  /** The offered bytes, exactly {@link offerSize} of them; opened once the receiver accepted. */
  source: () => AsyncIterable<Uint8Array>;
}

interface Message {
  transit?: unknown;
  offer?: unknown;
  answer?: { file_ack?: unknown; message_ack?: unknown };
  error?: unknown;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError(undefined, signal.reason);
}

/** Close the pipe when `signal` aborts, so a read or write waiting on it ends at once. */
function closeOnAbort(pipe: TransitPipe, signal: AbortSignal | undefined): TransitPipe {
  signal?.addEventListener('abort', () => pipe.close(), { once: true });
  return pipe;
}

/** This side's transit pipe, through our relays and the peer's; closed when the signal aborts. */
async function openPipe(
  role: TransitRole,
  transitKey: Uint8Array,
  peerRelays: Parameters<typeof mergeRelays>[1],
  options: Common,
  randomBytes: RandomBytes,
): Promise<TransitPipe> {
  const pipe = await connectTransit({
    role,
    transitKey,
    relays: mergeRelays(options.transitRelays, peerRelays),
    connector: options.byteConnector,
    randomBytes,
    signal: options.signal,
    clock: options.clock,
    timeoutMs: options.transitTimeoutMs,
  });
  closeOnAbort(pipe, options.signal);
  options.onConnected?.(pipe.via);
  return pipe;
}

/** The error to report: an abort wins over the closed pipe it caused. */
function reported(err: unknown, signal: AbortSignal | undefined): unknown {
  return signal?.aborted && !(err instanceof AbortedError) ? new AbortedError(undefined, signal.reason) : err;
}

function moodFor(err: unknown) {
  return err instanceof BackchannelError && err.code === 'WRONG_CODE' ? ('scary' as const) : ('errory' as const);
}

/** Send a file or a zipped directory; resolves with the sha256 both sides agreed on. */
export async function sendFile(options: SendFileOptions): Promise<{ sha256: string }> {
  const randomBytes = options.randomBytes ?? cryptoRandomBytes;
  const wormhole = new Wormhole({ ...options, appid: FILE_TRANSFER_APPID, code: options.code });
  let pipe: TransitPipe | undefined;
  try {
    options.onCode?.(await wormhole.code);
    const { key } = await wormhole.verified;
    const transitKey = deriveTransitKey(key);
    wormhole.send({ transit: transitMessage(options.transitRelays) });
    wormhole.send({ offer: options.offer });
    let peerRelays: ByteStreamAddress[] = [];
    for (;;) {
      const message = await wormhole.nextJson<Message>();
      if (message.error !== undefined)
        throw new TransferFailedError(`remote error, transfer abandoned: ${String(message.error)}`, { reason: 'remote-error', detail: String(message.error) });
      if (message.transit !== undefined) peerRelays = relayHintsOf(message.transit);
      if (message.answer !== undefined) {
        if (message.answer.file_ack !== 'ok') {
          throw new TransferFailedError(`ambiguous response from remote, transfer abandoned: ${JSON.stringify(message.answer)}`, { reason: 'rejected' });
        }
        break;
      }
    }
    pipe = await openPipe('sender', transitKey, peerRelays, options, randomBytes);
    const total = offerSize(options.offer);
    const hash = sha256.create();
    let done = 0;
    options.onProgress?.(0, total);
    for await (const chunk of options.source()) {
      for (let at = 0; at < chunk.length; at += SEND_RECORD_BYTES) {
        const piece = chunk.subarray(at, at + SEND_RECORD_BYTES);
        if (done + piece.length > total) throw new TransferFailedError(`The source grew past the ${total} bytes offered.`, { reason: 'size' });
        hash.update(piece);
        await pipe.sendRecord(piece);
        done += piece.length;
        options.onProgress?.(done, total);
      }
      throwIfAborted(options.signal);
    }
    if (done !== total) throw new TransferFailedError(`The source ended after ${done} of the ${total} bytes offered.`, { reason: 'size' });
    const expected = toHex(hash.digest());
    const ack = parseAck(await pipe.receiveRecord());
    if (ack.ack !== 'ok') throw new TransferFailedError(`Transfer failed (remote says: ${JSON.stringify(ack)})`, { reason: 'ack' });
    if (ack.sha256 !== undefined && ack.sha256 !== expected) throw new TransferFailedError('Transfer failed (bad remote hash)', { reason: 'hash' });
    pipe.close();
    await wormhole.close('happy');
    return { sha256: expected };
  } catch (err) {
    pipe?.close();
    await wormhole.close(moodFor(err)).catch(() => {});
    throw reported(err, options.signal);
  }
}

function parseAck(record: Uint8Array): { ack?: unknown; sha256?: unknown } {
  try {
    const ack: unknown = JSON.parse(fromUtf8(record));
    if (typeof ack === 'object' && ack !== null && !Array.isArray(ack)) return ack as { ack?: unknown; sha256?: unknown };
  } catch {
    // fall through
  }
  throw new ProtocolError(`The receiver's ack is not a JSON object (${record.length} bytes).`);
}

/** Where received bytes go: the host writes them (a file, a temporary zip) and finishes or discards. */
export interface FileSink {
  /** Store the next received bytes, in order; the next record is read once this resolves. */
  write(bytes: Uint8Array): Promise<void>;
  /** Every byte arrived (size checked): keep them. The ack is sent only once this resolves. */
  finish(): Promise<void>;
  /** The transfer failed: discard what was written. */
  abort(): Promise<void>;
}

/** What {@link receive} needs: the wormhole connection and code, the transit relays, and where accepted bytes go. */
export interface ReceiveOptions extends Common {
  code: string;
  /** Called with a file or directory offer: return where its bytes go, or throw to refuse it. */
  accept: (offer: FileOffer) => Promise<FileSink>;
}

/** What {@link receive} got: a text message, or a file or directory whose bytes went to the sink (with their sha256). */
export type Received = { kind: 'text'; text: string } | { kind: 'file'; offer: FileOffer; sha256: string };

const NAME_LIMIT = 4096;
const isSize = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
const isName = (s: unknown): s is string => typeof s === 'string' && s.length > 0 && s.length <= NAME_LIMIT;

/** A peer's offer, checked field by field; anything else is a {@link ProtocolError}. */
export function parseOffer(offer: unknown): FileOffer | { message: string } {
  if (typeof offer === 'object' && offer !== null) {
    const o = offer as Record<string, unknown>;
    if (typeof o.message === 'string') return { message: o.message };
    const f = o.file as Record<string, unknown> | undefined;
    if (typeof f === 'object' && f !== null && isName(f.filename) && isSize(f.filesize)) return { file: { filename: f.filename, filesize: f.filesize } };
    const d = o.directory as Record<string, unknown> | undefined;
    if (typeof d === 'object' && d !== null && isName(d.dirname) && isSize(d.zipsize) && isSize(d.numbytes) && isSize(d.numfiles)) {
      if (d.mode !== 'zipfile/deflated') throw new ProtocolError(`unknown directory-transfer mode ${JSON.stringify(d.mode)}`);
      return { directory: { mode: 'zipfile/deflated', dirname: d.dirname, zipsize: d.zipsize, numbytes: d.numbytes, numfiles: d.numfiles } };
    }
  }
  throw new ProtocolError('unknown offer type');
}

/** Receive whatever the sender offers: a text, a file or a directory (the host's `accept` decides). */
export async function receive(options: ReceiveOptions): Promise<Received> {
  const randomBytes = options.randomBytes ?? cryptoRandomBytes;
  const wormhole = new Wormhole({ ...options, appid: FILE_TRANSFER_APPID, code: options.code });
  let pipe: TransitPipe | undefined;
  let sink: FileSink | undefined;
  try {
    const { key } = await wormhole.verified;
    const transitKey = deriveTransitKey(key);
    let peerRelays: ByteStreamAddress[] | undefined;
    let offer: FileOffer | undefined;
    while (offer === undefined) {
      const message = await wormhole.nextJson<Message>();
      if (message.error !== undefined)
        throw new TransferFailedError(`remote error, transfer abandoned: ${String(message.error)}`, { reason: 'remote-error', detail: String(message.error) });
      if (message.transit !== undefined && peerRelays === undefined) {
        peerRelays = relayHintsOf(message.transit);
        wormhole.send({ transit: transitMessage(options.transitRelays) });
      }
      if (message.offer === undefined) continue;
      let parsed: FileOffer | { message: string };
      try {
        parsed = parseOffer(message.offer);
      } catch (err) {
        wormhole.send({ error: (err as Error).message });
        throw err;
      }
      if ('message' in parsed) {
        wormhole.send({ answer: { message_ack: 'ok' } });
        await wormhole.close('happy');
        return { kind: 'text', text: parsed.message };
      }
      if (peerRelays === undefined) {
        wormhole.send({ error: 'no transit message before the offer' });
        throw new ProtocolError('The sender offered a file without a transit message first.');
      }
      offer = parsed;
    }
    try {
      sink = await options.accept(offer);
    } catch (err) {
      wormhole.send({ error: 'transfer rejected' });
      throw toBackchannelError(err, (message) => new TransferFailedError(`transfer rejected: ${message}`, { reason: 'rejected' }));
    }
    wormhole.send({ answer: { file_ack: 'ok' } });
    pipe = await openPipe('receiver', transitKey, peerRelays ?? [], options, randomBytes);
    const total = offerSize(offer);
    const hash = sha256.create();
    let done = 0;
    options.onProgress?.(0, total);
    while (done < total) {
      const record = await pipe.receiveRecord().catch((err: unknown) => {
        throw err instanceof BackchannelError && err.code === 'TRANSPORT_CLOSED'
          ? new TransferFailedError(`Connection dropped before the full file arrived: got ${done} bytes, wanted ${total}.`, { reason: 'size' })
          : err;
      });
      if (done + record.length > total) throw new TransferFailedError(`The sender sent more than the ${total} bytes it offered.`, { reason: 'size' });
      hash.update(record);
      await sink.write(record);
      done += record.length;
      options.onProgress?.(done, total);
      throwIfAborted(options.signal);
    }
    const digest = toHex(hash.digest());
    await sink.finish();
    sink = undefined;
    await pipe.sendRecord(utf8(JSON.stringify({ ack: 'ok', sha256: digest })));
    pipe.close();
    await wormhole.close('happy');
    return { kind: 'file', offer, sha256: digest };
  } catch (err) {
    pipe?.close();
    await sink?.abort().catch(() => {});
    await wormhole.close(moodFor(err)).catch(() => {});
    throw reported(err, options.signal);
  }
}
