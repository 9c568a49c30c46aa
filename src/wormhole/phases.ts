/**
 * What goes in a mailbox `add` body, phase by phase: the PAKE message as JSON `{"pake_v1": hex}`, and
 * every later phase sealed with its per-side, per-phase key (wormhole/_key.py) and a synthetic nonce
 * (crypto/nonce.ts: any 24 bytes are a valid nonce to a magic-wormhole peer). Bodies travel as hex.
 * @module
 */
import { ProtocolError } from '../errors.js';
import { fromHex, fromUtf8, toHex, utf8 } from '../crypto/bytes.js';
import { derivePhaseKey } from '../crypto/keys.js';
import { syntheticNonce } from '../crypto/nonce.js';
import { open, sealWithNonce } from '../crypto/secretbox.js';

export function encodePakeBody(message: Uint8Array): string {
  return toHex(utf8(JSON.stringify({ pake_v1: toHex(message) })));
}

/** The peer's SPAKE2 message from a `pake` body; a body without `pake_v1` is a {@link ProtocolError}. */
export function decodePakeBody(body: string): Uint8Array {
  let payload: unknown;
  try {
    payload = JSON.parse(fromUtf8(fromHex(body, 'pake body')));
  } catch {
    throw new ProtocolError('pake body is not hex-encoded JSON');
  }
  const hex = (payload as { pake_v1?: unknown } | null)?.pake_v1;
  if (typeof hex !== 'string') throw new ProtocolError('pake body has no pake_v1');
  return fromHex(hex, 'pake_v1');
}

/**
 * Seal `plaintext` for `phase` as sent by `side`; returns the hex body for `add`. Deterministic: the
 * nonce is derived from the phase key, the phase and the plaintext, so the same inputs give the same
 * body and a different plaintext never reuses a nonce.
 */
export function sealPhase(key: Uint8Array, side: string, phase: string, plaintext: Uint8Array): string {
  const phaseKey = derivePhaseKey(key, side, phase);
  return toHex(sealWithNonce(phaseKey, syntheticNonce(phaseKey, phase, plaintext), plaintext));
}

/** Open a hex body that `side` sent for `phase`; throws CryptoError if it was not sealed with our key. */
export function openPhase(key: Uint8Array, side: string, phase: string, body: string): Uint8Array {
  return open(derivePhaseKey(key, side, phase), fromHex(body, 'message body'));
}
