/**
 * Transit records: a 4-byte big-endian length, then `nonce ‖ secretbox`. Each direction has its own
 * key and counts its nonces from 0 (24 bytes, big-endian), so a nonce never repeats under a key and a
 * record that is replayed, dropped or reordered fails at once.
 * @module
 */
import { NONCE_LENGTH, SECRETBOX_OVERHEAD, open, sealWithNonce } from '../crypto/secretbox.js';
import { CryptoError, TooLargeError } from '../errors.js';

/** The 24-byte big-endian form of a record counter. */
export function counterNonce(counter: bigint): Uint8Array {
  const nonce = new Uint8Array(NONCE_LENGTH);
  let n = counter;
  for (let i = NONCE_LENGTH - 1; i >= 0 && n > 0n; i--) {
    nonce[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return nonce;
}

function nonceValue(nonce: Uint8Array): bigint {
  let n = 0n;
  for (const b of nonce) n = (n << 8n) | BigInt(b);
  return n;
}

/** Seals outgoing records with the next counter nonce; the counter only moves forward. */
export class RecordSealer {
  #next = 0n;
  readonly #key: Uint8Array;
  constructor(key: Uint8Array) {
    this.#key = key;
  }

  /** The record as it goes on the wire: length prefix included. */
  seal(plaintext: Uint8Array): Uint8Array {
    if (this.#next >= 1n << BigInt(8 * NONCE_LENGTH)) throw new CryptoError('transit nonces exhausted');
    const sealed = sealWithNonce(this.#key, counterNonce(this.#next++), plaintext);
    const frame = new Uint8Array(4 + sealed.length);
    new DataView(frame.buffer).setUint32(0, sealed.length);
    frame.set(sealed, 4);
    return frame;
  }
}

/**
 * Cuts the incoming bytes into records and opens them in order. Holds at most one record's bytes:
 * a length over `maxRecordBytes` is refused before anything is buffered.
 */
export class RecordOpener {
  #expected = 0n;
  readonly #key: Uint8Array;
  readonly #maxRecordBytes: number;
  #buffer = new Uint8Array(0);

  constructor(key: Uint8Array, maxRecordBytes: number) {
    this.#key = key;
    this.#maxRecordBytes = maxRecordBytes;
  }

  /** Bytes held for a record not yet complete. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Feed received bytes; returns every plaintext completed by them, in order. */
  push(bytes: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.#buffer.length + bytes.length);
    joined.set(this.#buffer);
    joined.set(bytes, this.#buffer.length);
    const out: Uint8Array[] = [];
    let at = 0;
    for (;;) {
      if (joined.length - at < 4) break;
      const length = new DataView(joined.buffer, joined.byteOffset + at).getUint32(0);
      if (length > this.#maxRecordBytes + SECRETBOX_OVERHEAD) throw new TooLargeError('A transit record', length, this.#maxRecordBytes + SECRETBOX_OVERHEAD);
      if (length < SECRETBOX_OVERHEAD) throw new CryptoError(`transit record too short: ${length} bytes`);
      if (joined.length - at - 4 < length) break;
      const sealed = joined.subarray(at + 4, at + 4 + length);
      const nonce = nonceValue(sealed.subarray(0, NONCE_LENGTH));
      if (nonce !== this.#expected) throw new CryptoError(`transit record out of order: nonce ${nonce}, expected ${this.#expected}`);
      this.#expected++;
      out.push(open(this.#key, sealed));
      at += 4 + length;
    }
    this.#buffer = joined.slice(at);
    return out;
  }
}
