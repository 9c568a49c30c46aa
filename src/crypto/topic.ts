/**
 * The DISCOVER (and depot) topic: blake3 of the contact's topic public key (topicKey.ts), so the relay
 * routes without learning the key and can check a device's proof that it holds the topic key.
 * @module
 */
import { blake3 } from '@noble/hashes/blake3.js';
import { topicKey } from './topicKey.js';

export { blake3 };

/** What a device announces (and deposits under) for a contact: hex(blake3(topic public key)). */
export function discoveryTopic(contactKey: Uint8Array): string {
  return topicKey(contactKey).topic;
}
