/**
 * File transfer frames: the body of a SYNC frame of type 4 (sync/frame.ts), so file bytes share the
 * contact's Transport with sync frames. The receiver pulls; the sender pushes only within credit.
 *
 *   want: [1][hash: 32][from: u64]      receiver → sender: send the file from byte `from`
 *   ack:  [2][hash: 32][stored: u64]    receiver → sender: bytes stored so far (credit: the sender may
 *                                       run {@link FILE_WINDOW_BYTES} ahead); `stored` = size once verified
 *   data: [3][hash: 32][offset: u64][bytes]  sender → receiver, at most {@link FILE_FRAME_BYTES} in all
 *   stop: [4][hash: 32][reason: u8][UTF-8 detail]  either side: this transfer ends (see {@link StopReason})
 * @module
 */
import { concatBytes, fromHex, fromUtf8, toHex, utf8 } from '../crypto/bytes.js';
import { ProtocolError } from '../errors.js';
import { FILE_FRAME, SYNC_PROTOCOL_VERSION } from '../sync/frame.js';

/** Largest file frame on the wire (the bound: data channel messages of at most 16 KiB). */
export const FILE_FRAME_BYTES = 16 * 1024;
/** Bytes a sender may send beyond what the receiver acknowledged as stored: the receiver's buffer bound. */
export const FILE_WINDOW_BYTES = 2 * 1024 * 1024;

const WANT = 1;
const ACK = 2;
const DATA = 3;
const STOP = 4;
const HEAD = 2 + 1 + 32; // version, type, kind, hash
const DATA_HEADER = HEAD + 8;
/** Payload room in one data frame. */
export const FILE_DATA_BYTES = FILE_FRAME_BYTES - DATA_HEADER;

export const STOP_REASONS = ['unknown', 'cancelled', 'too-large', 'corrupt', 'failed'] as const;
/** Why a transfer stopped: the sender does not share it, a side cancelled, over the limit, hash mismatch, other. */
export type StopReason = (typeof STOP_REASONS)[number];

export type FileFrame =
  | { kind: 'want'; hash: string; from: number }
  | { kind: 'ack'; hash: string; stored: number }
  | { kind: 'data'; hash: string; offset: number; bytes: Uint8Array }
  | { kind: 'stop'; hash: string; reason: StopReason; detail: string };

function head(kind: number, hash: string, extra: number): Uint8Array {
  const frame = new Uint8Array(HEAD + extra);
  frame[0] = SYNC_PROTOCOL_VERSION;
  frame[1] = FILE_FRAME;
  frame[2] = kind;
  frame.set(fromHex(hash, 'hash'), 3);
  return frame;
}

function setU64(frame: Uint8Array, at: number, value: number): void {
  new DataView(frame.buffer, frame.byteOffset, frame.byteLength).setBigUint64(at, BigInt(value));
}

export function encodeWant(hash: string, from: number): Uint8Array {
  const frame = head(WANT, hash, 8);
  setU64(frame, HEAD, from);
  return frame;
}

export function encodeAck(hash: string, stored: number): Uint8Array {
  const frame = head(ACK, hash, 8);
  setU64(frame, HEAD, stored);
  return frame;
}

export function encodeData(hash: string, offset: number, bytes: Uint8Array): Uint8Array {
  if (bytes.length > FILE_DATA_BYTES) throw new ProtocolError(`file data frame of ${bytes.length} bytes (at most ${FILE_DATA_BYTES})`);
  const frame = head(DATA, hash, 8 + bytes.length);
  setU64(frame, HEAD, offset);
  frame.set(bytes, DATA_HEADER);
  return frame;
}

export function encodeStop(hash: string, reason: StopReason, detail = ''): Uint8Array {
  const frame = head(STOP, hash, 1);
  frame[HEAD] = STOP_REASONS.indexOf(reason);
  return concatBytes(frame, utf8(detail.slice(0, 300)));
}

/** A file frame's body (what follows the version and type bytes); anything malformed is a {@link ProtocolError}. */
export function decodeFileFrame(body: Uint8Array): FileFrame {
  if (body.length < 33) throw new ProtocolError('file frame too short');
  if (body.length > FILE_FRAME_BYTES) throw new ProtocolError(`file frame of ${body.length} bytes`);
  const hash = toHex(body.subarray(1, 33));
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const u64 = () => {
    if (body.length < 41) throw new ProtocolError('file frame truncated');
    const v = view.getBigUint64(33);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError('file offset out of range');
    return Number(v);
  };
  switch (body[0]) {
    case WANT:
      if (body.length !== 41) throw new ProtocolError('want frame size');
      return { kind: 'want', hash, from: u64() };
    case ACK:
      if (body.length !== 41) throw new ProtocolError('ack frame size');
      return { kind: 'ack', hash, stored: u64() };
    case DATA: {
      const offset = u64();
      if (body.length === 41) throw new ProtocolError('empty file data frame');
      return { kind: 'data', hash, offset, bytes: body.subarray(41) };
    }
    case STOP: {
      if (body.length < 34) throw new ProtocolError('stop frame truncated');
      const reason = STOP_REASONS[body[33]!] ?? 'failed';
      let detail = '';
      try {
        detail = fromUtf8(body.subarray(34));
      } catch {
        detail = '(unreadable)';
      }
      return { kind: 'stop', hash, reason, detail };
    }
    default:
      throw new ProtocolError(`unknown file frame kind ${body[0]}`);
  }
}
