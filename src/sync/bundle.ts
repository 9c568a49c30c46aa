/**
 * A bundle: several documents' sync messages, and first-sync snapshots, in one SYNC message (frame
 * type 5, sent only to a peer that announced it: src/sync/frame.ts). Many small documents then share
 * one message, one deflate and one round trip instead of a message of their own each.
 *
 *   body:  [format: 0 plain | 1 deflated][entries]   (deflated: the entries, raw deflate)
 *   entry: [kind: 1 sync message | 2 snapshot][doc id: 16 bytes][length: u32][bytes]
 *
 * A snapshot is a document as `Automerge.save` writes it, sent once on a first sync to a peer that
 * has almost none of the document; its receiver checks it as it checks any change from the peer.
 * Inflating is bounded as it goes (sync/unpackBound.ts); anything malformed is a {@link ProtocolError}.
 * @module
 */
import { deflateSync } from 'fflate';
import { concatBytes, fromHex, toHex } from '../crypto/bytes.js';
import { ProtocolError } from '../errors.js';
import { inflateBounded } from './unpackBound.js';

/** One document's part of a bundle. */
export interface BundleEntry {
  kind: 'sync' | 'snapshot';
  docId: string;
  data: Uint8Array;
}

const PLAIN = 0;
const DEFLATED = 1;
const KINDS = { sync: 1, snapshot: 2 } as const;
const ENTRY_HEADER = 1 + 16 + 4;

/** Encode entries as a bundle body; deflated when that makes it smaller (snapshots are deflated already). */
export function encodeBundleBody(entries: readonly BundleEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const header = new Uint8Array(ENTRY_HEADER);
    header[0] = KINDS[e.kind];
    header.set(fromHex(e.docId, 'docId'), 1);
    new DataView(header.buffer).setUint32(17, e.data.length);
    parts.push(header, e.data);
  }
  const plain = concatBytes(...parts);
  if (entries.some((e) => e.kind === 'snapshot')) return concatBytes(Uint8Array.of(PLAIN), plain);
  const deflated = deflateSync(plain, { level: 6 });
  return deflated.length < plain.length ? concatBytes(Uint8Array.of(DEFLATED), deflated) : concatBytes(Uint8Array.of(PLAIN), plain);
}

/** Decode a bundle body; its entries may take at most `maxBytes` together (inflated, counted as they inflate). */
export function decodeBundleBody(body: Uint8Array, maxBytes: number): BundleEntry[] {
  if (body.length < 1) throw new ProtocolError('an empty bundle');
  const format = body[0];
  if (format !== PLAIN && format !== DEFLATED) throw new ProtocolError(`a bundle in format ${format}, which this version does not read`);
  const entries = format === DEFLATED ? inflateBounded(body.subarray(1), maxBytes) : body.subarray(1);
  const view = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
  const out: BundleEntry[] = [];
  for (let at = 0; at < entries.length;) {
    if (entries.length - at < ENTRY_HEADER) throw new ProtocolError('a bundle entry is truncated');
    const kind = entries[at] === KINDS.sync ? 'sync' : entries[at] === KINDS.snapshot ? 'snapshot' : undefined;
    if (!kind) throw new ProtocolError(`a bundle entry of kind ${entries[at]}, which this version does not read`);
    const length = view.getUint32(at + 17);
    const start = at + ENTRY_HEADER;
    if (length > entries.length - start) throw new ProtocolError('a bundle entry runs past the end of its bundle');
    out.push({ kind, docId: toHex(entries.subarray(at + 1, at + 17)), data: entries.subarray(start, start + length) });
    at = start + length;
  }
  return out;
}
