/**
 * magic-wormhole's key schedule (wormhole/_key.py) and Backchannel's contact key, over HKDF-SHA256.
 * @module
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { InvalidArgumentError } from '../errors.js';
import { assertBytes, concatBytes, toHex, utf8 } from './bytes.js';

/** Key length of NaCl secretbox and of every derived key unless asked otherwise. */
export const KEY_LENGTH = 32;

/** magic-wormhole `derive_key(key, purpose, length)`: HKDF-SHA256, no salt, `purpose` as info. */
export function deriveKey(key: Uint8Array, purpose: Uint8Array | string, length = KEY_LENGTH): Uint8Array {
  assertBytes(key, 'key');
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) {
    throw new InvalidArgumentError(`"length" must be an integer in 1..8160, got ${length}`);
  }
  const info = typeof purpose === 'string' ? utf8(purpose) : purpose;
  return hkdf(sha256, key, undefined, info, length);
}

/** magic-wormhole `derive_phase_key(key, side, phase)`: the key for one side's message in one phase. */
export function derivePhaseKey(key: Uint8Array, side: string, phase: string): Uint8Array {
  const purpose = concatBytes(utf8('wormhole:phase:'), sha256(utf8(side)), sha256(utf8(phase)));
  return deriveKey(key, purpose);
}

/** The verifier both sides can compare out of band: derive_key(key, "wormhole:verifier"). */
export function deriveVerifier(key: Uint8Array): Uint8Array {
  return deriveKey(key, 'wormhole:verifier');
}

/** Purpose string of the Backchannel contact key; changing it changes every contact key. */
export const CONTACT_KEY_PURPOSE = 'backchannel:contact-key:v1';

/** The 32-byte contact key Backchannel keeps after VERIFY; the PAKE key itself is discarded. */
export function deriveContactKey(pakeKey: Uint8Array): Uint8Array {
  return deriveKey(pakeKey, CONTACT_KEY_PURPOSE);
}

/**
 * A verifier as people compare it: hex in groups of four, e.g. `3a7f-09c2-…`. Shorter than the
 * 64 hex digits and still 64 bits, which is plenty against a one-shot online attacker.
 */
export function formatVerifier(verifier: Uint8Array, groups = 4): string {
  assertBytes(verifier, 'verifier');
  const hex = toHex(verifier).slice(0, groups * 4);
  return hex.match(/.{4}/g)!.join('-');
}
