/**
 * The device's signing key (the System document's optional `keypair`): Ed25519. Its public half is
 * the device key a contact's card records (`public_key`) and what signs device-link records; the
 * secret half never enters a document.
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { assertBytes } from './bytes.js';
import { ed25519 as fastest } from './ed25519.js';

/** A device's Ed25519 keypair. */
export interface SigningKeypair {
  /** 32 bytes. */
  publicKey: Uint8Array;
  /** The 32-byte Ed25519 seed. */
  secretKey: Uint8Array;
}

/** The keypair of a 32-byte secret seed (drawn from the CSPRNG by the caller). */
export function signingKeypair(secretKey: Uint8Array): SigningKeypair {
  assertBytes(secretKey, 'secretKey', 32);
  return { publicKey: fastest.publicKey(secretKey), secretKey };
}

/** An Ed25519 signature (64 bytes) of `message` by the seed `secretKey` (Node's OpenSSL where there is one: every message is signed). */
export function sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  assertBytes(secretKey, 'secretKey', 32);
  return fastest.sign(message, secretKey);
}

/** False for a bad signature, a malformed key or signature: never throws. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, message, publicKey);
  } catch {
    return false;
  }
}

/** A device public key as documents hold it: 64 lower-case hex digits. */
export const isPublicKeyHex = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
