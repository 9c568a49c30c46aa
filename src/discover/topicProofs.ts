/**
 * A contact's topic key and its proofs, made once: the DISCOVER session and the depot client of one
 * contact hold the same contact key (one object, from the link's input) and answer the same challenge
 * when they share a connection (discover/relayMux.ts), so the Ed25519 key is derived once per contact
 * and each challenge signed once, not twice; 1,000 contacts opening are 1,000 signatures.
 * @module
 */
import { fromHex } from '../crypto/bytes.js';
import { proveTopic, topicKey, type TopicKey, type TopicProof } from '../crypto/topicKey.js';

const keys = new WeakMap<Uint8Array, TopicKey>();
const lastProof = new WeakMap<TopicKey, { challenge: string; proof: TopicProof }>();

/** {@link topicKey} of `contactKey`, derived once per key object (kept as long as the key is). */
export function topicKeyOf(contactKey: Uint8Array): TopicKey {
  let key = keys.get(contactKey);
  if (!key) keys.set(contactKey, (key = topicKey(contactKey)));
  return key;
}

/** {@link proveTopic} for the connection whose challenge is `challenge` (hex); the last one is remembered. */
export function proofFor(key: TopicKey, challenge: string): TopicProof {
  const last = lastProof.get(key);
  if (last?.challenge === challenge) return last.proof;
  const proof = proveTopic(key, fromHex(challenge));
  lastProof.set(key, { challenge, proof });
  return proof;
}
