/**
 * SYNC frames on a {@link Transport}: a version byte, a type byte, then the body.
 *
 *   hello: [1][1][device id: 16 bytes]
 *   sync:  [1][2][doc id: 16 bytes][seq: u32][part: u16][parts: u16][Automerge sync message part]
 *   error: [1][3][UTF-8 reason]
 *   file:  [1][4][file transfer body: src/files/wire.ts] — multiplexed on the same channel; SYNC ignores them
 *   features: [1][2][doc id][seq: 0xffffffff][part: 0xfffe][parts: 0xffff][frame types it accepts beyond 1–3: a byte each]
 *   bundle: [1][5][seq: u32][part: u16][parts: u16][bundle body part] — several documents' sync messages and
 *           snapshots in one message (the body: {@link encodeBundleBody}), sent only to a peer that accepts 5
 *
 * Features: right after its hello each side says which optional frame types it accepts (4: files), and
 * nobody sends a frame of such a type to a peer that did not say so. The announcement has the shape of
 * a stray middle part of a sync message, which every SYNC receiver, also one from before this existed,
 * drops as a gap. Frame types this version does not know are ignored, not fatal, so later ones are safe.
 * A sync message larger than the channel's frame limit is split into parts; the receiver reassembles
 * up to a bound and drops anything out of order (the sync protocol recovers on the next round).
 * @module
 */
import { concatBytes, fromHex, fromUtf8, toHex, utf8 } from '../crypto/bytes.js';
import { ProtocolError, TooLargeError } from '../errors.js';

/** The SYNC frames' version byte. */
export const SYNC_PROTOCOL_VERSION = 1;
const HELLO = 1;
const SYNC = 2;
const ERROR = 3;
/** File transfer frames share the channel (src/files/wire.ts parses their body). */
export const FILE_FRAME = 4;
/** Bundles: the sync messages of several documents, and first-sync snapshots, in one (deflated) message. */
export const BUNDLE_FRAME = 5;
const SYNC_HEADER = 2 + 16 + 4 + 2 + 2;
const BUNDLE_HEADER = 2 + 4 + 2 + 2;
/** Bundles carry no document id: their reassembly goes under this one. */
const NO_DOC = '00'.repeat(16);
/** The features frame's marker: a part no real message has (see the module comment). */
const FEATURES_SEQ = 0xffffffff;
const FEATURES_PART = 0xfffe;
const FEATURES_PARTS = 0xffff;
/** At most this many feature bytes are read from a peer's announcement. */
const MAX_FEATURES = 32;
/** Sync message numbers wrap below the features marker. */
export const SYNC_SEQ_MODULUS = FEATURES_SEQ;

export type SyncFrame =
  | { type: 'hello'; deviceId: string }
  | { type: 'sync'; docId: string; seq: number; part: number; parts: number; data: Uint8Array }
  | { type: 'error'; reason: string }
  | { type: 'file'; body: Uint8Array }
  /** A part of a bundle (several documents' messages in one): see {@link decodeBundleBody}. */
  | { type: 'bundle'; docId: string; seq: number; part: number; parts: number; data: Uint8Array }
  /** The optional frame types the peer accepts (sent once, after its hello). */
  | { type: 'features'; docId: string; accepts: number[] }
  /** A frame type this version does not know (a later peer's): ignored. */
  | { type: 'unknown'; frameType: number };

/** The optional frame types this version understands: file transfer frames and bundles. */
export const OPTIONAL_FRAME_TYPES: readonly number[] = [FILE_FRAME, BUNDLE_FRAME];

/** Announce the optional frame types we accept, under one of the channel's documents (a peer checks it carries it). */
export function encodeFeatures(docId: string, accepts: readonly number[]): Uint8Array {
  const header = new Uint8Array(SYNC_HEADER);
  header[0] = SYNC_PROTOCOL_VERSION;
  header[1] = SYNC;
  header.set(fromHex(docId, 'docId'), 2);
  const view = new DataView(header.buffer);
  view.setUint32(18, FEATURES_SEQ);
  view.setUint16(22, FEATURES_PART);
  view.setUint16(24, FEATURES_PARTS);
  return concatBytes(header, Uint8Array.from(accepts.slice(0, MAX_FEATURES)));
}

export function encodeHello(deviceId: string): Uint8Array {
  return concatBytes(Uint8Array.of(SYNC_PROTOCOL_VERSION, HELLO), fromHex(deviceId, 'deviceId'));
}

export function encodeError(reason: string): Uint8Array {
  return concatBytes(Uint8Array.of(SYNC_PROTOCOL_VERSION, ERROR), utf8(reason.slice(0, 500)));
}

/** Split one sync message into frames of at most `maxFrameBytes`. */
export function encodeSync(docId: string, seq: number, message: Uint8Array, maxFrameBytes: number): Uint8Array[] {
  return split(SYNC, fromHex(docId, 'docId'), seq, message, maxFrameBytes);
}

/** Split one bundle body ({@link encodeBundleBody}) into frames of at most `maxFrameBytes`. */
export function encodeBundle(seq: number, body: Uint8Array, maxFrameBytes: number): Uint8Array[] {
  return split(BUNDLE_FRAME, new Uint8Array(0), seq, body, maxFrameBytes);
}

function split(type: number, id: Uint8Array, seq: number, message: Uint8Array, maxFrameBytes: number): Uint8Array[] {
  const headerBytes = 2 + id.length + 8;
  const room = maxFrameBytes - headerBytes;
  if (room < 1) throw new ProtocolError(`frame limit ${maxFrameBytes} leaves no room for data`);
  const parts = Math.max(1, Math.ceil(message.length / room));
  if (parts > 0xffff) throw new TooLargeError('sync message', message.length, 0xffff * room);
  const frames: Uint8Array[] = [];
  for (let part = 0; part < parts; part++) {
    const header = new Uint8Array(headerBytes);
    header[0] = SYNC_PROTOCOL_VERSION;
    header[1] = type;
    header.set(id, 2);
    const view = new DataView(header.buffer);
    view.setUint32(2 + id.length, seq >>> 0);
    view.setUint16(6 + id.length, part);
    view.setUint16(8 + id.length, parts);
    frames.push(concatBytes(header, message.subarray(part * room, (part + 1) * room)));
  }
  return frames;
}

/** A split message's number and part, as {@link split} writes them from `at`: {@link ProtocolError} unless part < parts. */
function numbering(frame: Uint8Array, at: number, what: string): { seq: number; part: number; parts: number } {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const seq = view.getUint32(at);
  const part = view.getUint16(at + 4);
  const parts = view.getUint16(at + 6);
  if (parts === 0 || part >= parts) throw new ProtocolError(`${what} frame part ${part} of ${parts}`);
  return { seq, part, parts };
}

/** Parse one frame; anything malformed is a {@link ProtocolError}. */
export function decodeFrame(frame: Uint8Array): SyncFrame {
  if (!(frame instanceof Uint8Array) || frame.length < 2) throw new ProtocolError('sync frame too short');
  if (frame[0] !== SYNC_PROTOCOL_VERSION) {
    throw new ProtocolError(`sync protocol version ${frame[0]} is not supported (we speak ${SYNC_PROTOCOL_VERSION})`, { version: frame[0] });
  }
  switch (frame[1]) {
    case HELLO:
      if (frame.length !== 18) throw new ProtocolError('hello frame must carry a 16-byte device id');
      return { type: 'hello', deviceId: toHex(frame.subarray(2)) };
    case SYNC: {
      if (frame.length < SYNC_HEADER) throw new ProtocolError('sync frame header truncated');
      const { seq, part, parts } = numbering(frame, 18, 'sync');
      if (seq === FEATURES_SEQ && part === FEATURES_PART && parts === FEATURES_PARTS) {
        return { type: 'features', docId: toHex(frame.subarray(2, 18)), accepts: [...frame.subarray(SYNC_HEADER, SYNC_HEADER + MAX_FEATURES)] };
      }
      return { type: 'sync', docId: toHex(frame.subarray(2, 18)), seq, part, parts, data: frame.subarray(SYNC_HEADER) };
    }
    case ERROR: {
      let reason: string;
      try {
        reason = fromUtf8(frame.subarray(2));
      } catch {
        reason = '(unreadable reason)';
      }
      return { type: 'error', reason };
    }
    case FILE_FRAME:
      return { type: 'file', body: frame.subarray(2) };
    case BUNDLE_FRAME: {
      if (frame.length < BUNDLE_HEADER) throw new ProtocolError('bundle frame header truncated');
      return { type: 'bundle', docId: NO_DOC, ...numbering(frame, 2, 'bundle'), data: frame.subarray(BUNDLE_HEADER) };
    }
    default:
      return { type: 'unknown', frameType: frame[1]! };
  }
}

/** Reassembles split sync messages, in order, within a byte bound. */
export class Reassembler {
  readonly #maxBytes: number;
  #current: { type: string; docId: string; seq: number; parts: number; next: number; chunks: Uint8Array[]; size: number } | undefined;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Returns the whole message when `frame` completes one; undefined while parts are missing. */
  push(frame: Extract<SyncFrame, { type: 'sync' | 'bundle' }>): Uint8Array | undefined {
    if (frame.parts === 1) {
      this.#current = undefined;
      return frame.data;
    }
    const cur = this.#current;
    if (frame.part === 0) {
      this.#current = { type: frame.type, docId: frame.docId, seq: frame.seq, parts: frame.parts, next: 1, chunks: [frame.data], size: frame.data.length };
    } else if (cur && cur.type === frame.type && cur.docId === frame.docId && cur.seq === frame.seq && cur.next === frame.part && cur.parts === frame.parts) {
      cur.chunks.push(frame.data);
      cur.size += frame.data.length;
      cur.next++;
    } else {
      this.#current = undefined; // a gap: drop the partial message, the protocol asks again
      return undefined;
    }
    const now = this.#current!;
    if (now.size > this.#maxBytes) {
      this.#current = undefined;
      throw new TooLargeError('incoming sync message', now.size, this.#maxBytes);
    }
    if (now.next < now.parts) return undefined;
    this.#current = undefined;
    return concatBytes(...now.chunks);
  }
}
