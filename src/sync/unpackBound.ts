/**
 * How much a peer's Automerge sync message unpacks to, measured before Automerge unpacks it. A sync
 * message carries changes as Automerge chunks: a document (type 0) or a change (type 1) whose columns
 * may each be deflated, or a whole change deflated (type 2). Deflate packs up to ~1000:1, so a message
 * within {@link LIMITS}.syncMessageBytes could make `receiveSyncMessage` allocate gigabytes before the
 * document store could refuse the result. Here every deflated part is inflated as a stream, a little at
 * a time (synchronously, with fflate), counting its bytes against one budget for the whole message and throwing the output away (a
 * deflated change is kept, up to {@link MAX_DEFLATED_CHANGE_BYTES}, to read its own columns); past the budget the message is
 * refused with {@link TooLargeError}. A chunk this reader cannot follow (another type, a length past
 * its end) is refused too ({@link ProtocolError}): it fails closed, as peerRules.ts does.
 *
 * Layouts (Automerge's binary format): chunk = magic (4) · checksum (4) · type (1) · uLEB length · body;
 * a column's spec is `id << 4 | deflate (8) | type`.
 * @module
 */
import * as A from '@automerge/automerge';
import { Inflate } from 'fflate';
import { ProtocolError, TooLargeError } from '../errors.js';
import { LIMITS } from '../db/schema.js';
import { toHex } from '../crypto/bytes.js';

/**
 * What one sync message may unpack to, by default: room for a whole document at its cap
 * ({@link LIMITS}.documentBytes bounds what it stores, packed) several times over, and far below what
 * a deflate bomb within {@link LIMITS}.syncMessageBytes would reach.
 */
export const MAX_UNPACKED_BYTES = 4 * LIMITS.documentBytes;

const MAGIC = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT = 0;
const CHANGE = 1;
const COMPRESSED_CHANGE = 2;
const DEFLATE = 8;
/** Compressed bytes fed to the inflater at a time: at most ~1 MiB of output each, counted before the next. */
const FEED_BYTES = 1024;
/** A deflated change is held whole to read its columns: at most this much (Automerge sends changes plain). */
export const MAX_DEFLATED_CHANGE_BYTES = 16 * 1024 * 1024;

class Reader {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}
  byte(): number {
    if (this.at >= this.bytes.length) throw new ProtocolError('a change in the sync message ends early');
    return this.bytes[this.at++]!;
  }
  uleb(): number {
    let value = 0;
    for (let shift = 1, i = 0; i < 8; i++, shift *= 128) {
      const b = this.byte();
      value += (b & 0x7f) * shift;
      if (b < 0x80) return value;
    }
    throw new ProtocolError('a length in the sync message is too long');
  }
  /** A signed LEB128 (its value is not needed). */
  sleb(): void {
    for (let i = 0; i < 10; i++) if (this.byte() < 0x80) return;
    throw new ProtocolError('a number in the sync message is too long');
  }
  take(n: number): Uint8Array {
    if (n > this.bytes.length - this.at) throw new ProtocolError('a part of a change in the sync message runs past its end');
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  get done(): boolean {
    return this.at >= this.bytes.length;
  }
}

/** A running count of unpacked bytes against the message's bound. */
class Budget {
  used = 0;
  constructor(
    readonly max: number,
    readonly what = 'what the sync message unpacks to',
  ) {}
  spend(n: number): void {
    this.used += n;
    if (this.used > this.max) throw new TooLargeError(this.what, this.used, this.max);
  }
}

/**
 * Inflate raw deflate data a piece at a time (fflate's streaming inflater, synchronous: the engine's
 * turn-by-turn behaviour stays as it was), counting; `keep` collects the output (at most `keepMax`).
 */
function inflate(
  data: Uint8Array,
  budget: Budget,
  keep: boolean,
  keepMax = MAX_DEFLATED_CHANGE_BYTES,
  what = 'a deflated part of the sync message',
): Uint8Array | undefined {
  const kept: Uint8Array[] = [];
  let total = 0;
  let over: TooLargeError | undefined;
  const inflater = new Inflate((out) => {
    if (over) return;
    total += out.length;
    try {
      budget.spend(out.length);
      if (keep && total > keepMax) throw new TooLargeError('a deflated change in the sync message', total, keepMax);
    } catch (err) {
      over = err as TooLargeError;
      return;
    }
    if (keep) kept.push(out);
  });
  try {
    for (let at = 0; at < data.length && !over; at += FEED_BYTES) inflater.push(data.subarray(at, at + FEED_BYTES), at + FEED_BYTES >= data.length);
    if (data.length === 0) inflater.push(data, true);
  } catch (err) {
    if (!over) throw new ProtocolError(`${what} does not inflate: ${(err as Error).message}`);
  }
  if (over) throw over;
  if (!keep) return undefined;
  const out = new Uint8Array(total);
  let at = 0;
  for (const k of kept) (out.set(k, at), (at += k.length));
  return out;
}

/**
 * Inflate raw deflate data whole, refusing ({@link TooLargeError}) past `maxBytes` of output as it goes:
 * a bundle's body (sync/bundle.ts). {@link ProtocolError} if it does not inflate.
 */
export function inflateBounded(data: Uint8Array, maxBytes: number): Uint8Array {
  return inflate(data, new Budget(maxBytes, 'what a bundle of sync messages inflates to'), true, Infinity, 'a bundle of sync messages')!;
}

/** Column metadata, then the columns: a deflated one inflates against the budget, a plain one counts as it is. */
function columns(r: Reader, specs: [number, number][], budget: Budget): void {
  for (const [spec, length] of specs) {
    const data = r.take(length);
    if (spec & DEFLATE) inflate(data, budget, false);
    else budget.spend(length);
  }
}

function specs(r: Reader): [number, number][] {
  const n = r.uleb();
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) out.push([r.uleb(), r.uleb()]);
  return out;
}

function skipBytesList(r: Reader): void {
  for (let n = r.uleb(); n > 0; n--) r.take(r.uleb());
}

function documentBody(r: Reader, budget: Budget): void {
  skipBytesList(r); // actors
  r.take(32 * r.uleb()); // heads
  const changeColumns = specs(r);
  const opColumns = specs(r);
  columns(r, [...changeColumns, ...opColumns], budget);
}

function changeBody(r: Reader, budget: Budget): void {
  r.take(32 * r.uleb()); // dependencies
  r.take(r.uleb()); // actor
  r.uleb(); // seq
  r.uleb(); // start op
  r.sleb(); // time
  r.take(r.uleb()); // message
  skipBytesList(r); // other actors
  columns(r, specs(r), budget);
  budget.spend(r.bytes.length - r.at); // extra bytes
}

function chunks(bytes: Uint8Array, budget: Budget): void {
  const r = new Reader(bytes);
  while (!r.done) {
    const magic = r.take(4);
    if (MAGIC.some((b, i) => magic[i] !== b)) throw new ProtocolError('a change in the sync message is not an Automerge chunk');
    r.take(4); // checksum: Automerge checks it
    const type = r.byte();
    const body = new Reader(r.take(r.uleb()));
    if (type === DOCUMENT) documentBody(body, budget);
    else if (type === CHANGE) changeBody(body, budget);
    else if (type === COMPRESSED_CHANGE) changeBody(new Reader(inflate(body.bytes, budget, true)!), budget);
    else throw new ProtocolError(`a change in the sync message is an Automerge chunk of type ${type}, which this version does not read`);
  }
}

/**
 * Throws {@link TooLargeError} if the changes in `message` (an encoded Automerge sync message) unpack to
 * more than `maxBytes`, {@link ProtocolError} if they cannot be read (else returns it, decoded); never holds more than
 * {@link MAX_DEFLATED_CHANGE_BYTES} (a deflated change while its columns are read) plus about a MiB.
 */
export function checkUnpackedSize(message: Uint8Array, maxBytes: number): A.DecodedSyncMessage {
  let decoded: A.DecodedSyncMessage;
  try {
    decoded = A.decodeSyncMessage(message);
  } catch (err) {
    throw new ProtocolError(`malformed sync message: ${(err as Error).message}`);
  }
  const budget = new Budget(maxBytes);
  for (const change of decoded.changes) chunks(change, budget);
  return decoded;
}

/**
 * The same check for Automerge changes as `loadIncremental` takes them (concatenated chunks, as a
 * depot deposit carries them): {@link TooLargeError} past `maxBytes` unpacked, {@link ProtocolError}
 * if they cannot be read.
 */
export function checkChangesUnpackedSize(changes: Uint8Array, maxBytes: number): void {
  chunks(changes, new Budget(maxBytes));
}

/** Automerge's sync message types (v1, v2): each starts with the sender's heads. */
const SYNC_MESSAGE_TYPES = [0x42, 0x43];

/**
 * The heads a sync message names (its first field), read without decoding the rest: what the sender
 * holds of the document. {@link ProtocolError} if the message does not start like one.
 */
export function syncMessageHeads(message: Uint8Array): string[] {
  const r = new Reader(message);
  if (!SYNC_MESSAGE_TYPES.includes(r.byte())) throw new ProtocolError('not an Automerge sync message');
  const heads: string[] = [];
  for (let n = r.uleb(); n > 0; n--) heads.push(toHex(r.take(32)));
  return heads;
}
