/**
 * Randomness a state machine can use inside its transitions: a secret 32-byte seed, drawn once from
 * the injected source when the machine starts, expanded per purpose with keyed blake3
 * (`blake3(label, key = seed)`). A transition is then a pure function of context and event — the
 * journal can replay it exactly — and every label is used for one purpose only, so no value repeats.
 * @module
 */
import { blake3 } from '@noble/hashes/blake3.js';
import { utf8 } from './bytes.js';
import { assertBytes } from './bytes.js';

/** Keyed blake3 of a seed, one label per purpose: randomness inside a transition. */
export function deriveBytes(seed: Uint8Array, label: string, length: number): Uint8Array {
  assertBytes(seed, 'seed', 32);
  return blake3(utf8(label), { key: seed, dkLen: length });
}

/** A `RandomBytes` for one purpose: successive calls get successive labels (`label:0`, `label:1`, …). */
export function derivedSource(seed: Uint8Array, label: string): (length: number) => Uint8Array {
  let i = 0;
  return (length) => deriveBytes(seed, `${label}:${i++}`, length);
}
