/**
 * Sealing a secret to one device: anyone may seal to a device's Ed25519 public key (its System key),
 * only that device's secret seed opens it. The Ed25519 keys become X25519 ones (the birational map,
 * `@noble/curves`); a fresh ephemeral X25519 key per box, the shared secret through our HKDF
 * (keys.ts) with both public keys, then our secretbox. Sealed: `ephemeral public (32) ‖ nonce ‖ box`
 * (72 bytes of overhead). Anonymous: it says nothing of the sender (the notice carrying it is signed).
 * @module
 */
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { CryptoError } from '../errors.js';
import { assertBytes, concatBytes } from './bytes.js';
import { deriveKey } from './keys.js';
import { open, seal, SECRETBOX_OVERHEAD } from './secretbox.js';
import type { RandomBytes } from './spake2.js';

/** Purpose of the box key; changing it changes every box. */
export const SEALED_BOX_PURPOSE = 'backchannel:sealed-box:v1';
/** Bytes a sealed box adds to its plaintext. */
export const SEALED_BOX_OVERHEAD = 32 + SECRETBOX_OVERHEAD;

/** A device's X25519 public key from its Ed25519 public key (throws on a key that is not a point). */
export const boxPublicKey = (edPublicKey: Uint8Array): Uint8Array => {
  assertBytes(edPublicKey, 'edPublicKey', 32);
  return ed25519.utils.toMontgomery(edPublicKey);
};

/** A device's X25519 secret key from its Ed25519 seed (the hash-and-clamp Ed25519 signs with). */
export const boxSecretKey = (edSeed: Uint8Array): Uint8Array => {
  assertBytes(edSeed, 'edSeed', 32);
  return ed25519.utils.toMontgomerySecret(edSeed);
};

/** The box key: HKDF of the shared secret bound to both public keys (a box is for one recipient only). */
function boxKey(shared: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array): Uint8Array {
  return deriveKey(concatBytes(shared, ephemeral, recipient), SEALED_BOX_PURPOSE);
}

/** Seal `plaintext` to the device whose Ed25519 public key is `edPublicKey`; `randomBytes`: ephemeral key and nonce. */
export function sealTo(edPublicKey: Uint8Array, plaintext: Uint8Array, randomBytes: RandomBytes): Uint8Array {
  assertBytes(plaintext, 'plaintext');
  const recipient = boxPublicKey(edPublicKey);
  const secret = randomBytes(32);
  assertBytes(secret, 'randomBytes(32)', 32);
  const ephemeral = x25519.getPublicKey(secret);
  const shared = x25519.getSharedSecret(secret, recipient);
  return concatBytes(ephemeral, seal(boxKey(shared, ephemeral, recipient), plaintext, randomBytes));
}

/** Open a box sealed to the device whose Ed25519 seed is `edSeed`; {@link CryptoError} if it is not for it or was altered. */
export function openSealed(edSeed: Uint8Array, sealed: Uint8Array): Uint8Array {
  assertBytes(sealed, 'sealed');
  if (sealed.length < SEALED_BOX_OVERHEAD) throw new CryptoError(`sealed box too short: ${sealed.length} < ${SEALED_BOX_OVERHEAD} bytes`);
  const secret = boxSecretKey(edSeed);
  const ephemeral = sealed.subarray(0, 32);
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(secret, ephemeral);
  } catch {
    // A low-order ephemeral key gives an all-zero secret: noble refuses it.
    throw new CryptoError('sealed box: bad ephemeral key');
  }
  return open(boxKey(shared, ephemeral, x25519.getPublicKey(secret)), sealed.subarray(32));
}
