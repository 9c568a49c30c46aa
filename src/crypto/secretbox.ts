/**
 * NaCl secretbox with a fresh random 24-byte nonce per message (or one the caller derived, see
 * nonce.ts), framed as magic-wormhole does: `nonce ‖ ciphertext+MAC` (40 bytes of overhead).
 * @module
 */
import nacl from 'tweetnacl';
import { CryptoError } from '../errors.js';
import { assertBytes, concatBytes } from './bytes.js';
import type { RandomBytes } from './spake2.js';

export const NONCE_LENGTH = nacl.secretbox.nonceLength; // 24
export const SECRETBOX_OVERHEAD = NONCE_LENGTH + nacl.secretbox.overheadLength; // 40

/** Encrypt under `key` with a nonce drawn from `randomBytes` (a CSPRNG: 192 random bits never repeat). */
export function seal(key: Uint8Array, plaintext: Uint8Array, randomBytes: RandomBytes): Uint8Array {
  assertBytes(key, 'key', nacl.secretbox.keyLength);
  assertBytes(plaintext, 'plaintext');
  const nonce = randomBytes(NONCE_LENGTH);
  assertBytes(nonce, `randomBytes(${NONCE_LENGTH})`, NONCE_LENGTH);
  return sealWithNonce(key, nonce, plaintext);
}

/** Encrypt under `key` with this `nonce`, which must never seal another plaintext under this key. */
export function sealWithNonce(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array {
  assertBytes(key, 'key', nacl.secretbox.keyLength);
  assertBytes(nonce, 'nonce', NONCE_LENGTH);
  assertBytes(plaintext, 'plaintext');
  return concatBytes(nonce, nacl.secretbox(plaintext, nonce, key));
}

/** Decrypt `nonce ‖ box`; throws {@link CryptoError} when the MAC does not verify. */
export function open(key: Uint8Array, sealed: Uint8Array): Uint8Array {
  assertBytes(key, 'key', nacl.secretbox.keyLength);
  assertBytes(sealed, 'sealed');
  if (sealed.length < SECRETBOX_OVERHEAD) {
    throw new CryptoError(`sealed message too short: ${sealed.length} < ${SECRETBOX_OVERHEAD} bytes`);
  }
  const plaintext = nacl.secretbox.open(sealed.subarray(NONCE_LENGTH), sealed.subarray(0, NONCE_LENGTH), key);
  if (!plaintext) throw new CryptoError('decryption failed: wrong key or tampered message');
  return plaintext;
}
