/**
 * Synthetic nonces (SIV-style) for sealing wormhole phases: the nonce is a keyed hash of what is
 * sealed, so sealing the same phase twice can never put one nonce on two different plaintexts — the
 * same (phase, plaintext) gives the same box, a different plaintext a different nonce — whatever a
 * bug, a replay or a restored journal does. It needs no randomness, so sealing stays a pure function
 * of the machine's context (replay rebuilds the same bytes). The cost is the usual one of
 * deterministic encryption: an observer learns when the same phase carried the same plaintext twice,
 * which the mailbox already shows by its phase names.
 * @module
 */
import { blake3 } from '@noble/hashes/blake3.js';
import { assertBytes, concatBytes, utf8 } from './bytes.js';
import { NONCE_LENGTH } from './secretbox.js';

/** blake3's key-derivation context for the nonce key: used for this purpose only. */
const NONCE_KEY_CONTEXT = utf8('backchannel 2026-12 wormhole phase nonce key');

/**
 * The 24-byte nonce for sealing `plaintext` as `phase` under `phaseKey`: keyed blake3 of
 * (length-prefixed phase ‖ plaintext) under a nonce key derived from the phase key, so the nonce
 * reveals nothing about the key or the plaintext to whoever lacks the key.
 */
export function syntheticNonce(phaseKey: Uint8Array, phase: string, plaintext: Uint8Array): Uint8Array {
  assertBytes(phaseKey, 'phaseKey', 32);
  assertBytes(plaintext, 'plaintext');
  const nonceKey = blake3(phaseKey, { context: NONCE_KEY_CONTEXT, dkLen: 32 });
  const name = utf8(phase);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, name.length);
  return blake3(concatBytes(length, name, plaintext), { key: nonceKey, dkLen: NONCE_LENGTH });
}
