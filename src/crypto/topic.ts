/**
 * The DISCOVER topic: blake3(contact key), so the signalling server can route without learning the key.
 * @module
 */
import { blake3 } from '@noble/hashes/blake3.js';
import { assertBytes, toHex } from './bytes.js';

export { blake3 };

/** Hex blake3 of the contact key: what a device announces to find the other devices of a contact. */
export function discoveryTopic(contactKey: Uint8Array): string {
  assertBytes(contactKey, 'contactKey', 32);
  return toHex(blake3(contactKey));
}
