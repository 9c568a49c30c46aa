/**
 * The topic key: what a device shows the relay to use a contact's topic (DISCOVER and the depot)
 * without revealing the contact key. From the contact key, HKDF-SHA256 with its own label gives an
 * Ed25519 seed; the topic is blake3 of the public key, so a relay checks a proof with nothing stored:
 * blake3(publicKey) = topic, and the signature over its challenge for this connection verifies.
 *
 *   seed      = HKDF-SHA256(contact key, info = "backchannel:topic-key:v1")
 *   publicKey = Ed25519 public key of seed (RFC 8032)
 *   topic     = hex(blake3(publicKey))
 *   signature = Ed25519(seed, "backchannel:topic-proof:v1" ‖ challenge (32) ‖ topic (32 bytes))
 *
 * The relay's challenge is fresh per connection, so a proof seen on one connection proves nothing on
 * another. Ed25519 signatures are deterministic: signing is a pure function of key and challenge.
 * Keys and signatures come from the runtime's fastest Ed25519 (crypto/ed25519.ts); verifying stays on
 * noble, whose strict RFC 8032 checks are the relay's rule.
 * @module
 */
import { ed25519 as noble } from '@noble/curves/ed25519.js';
import { blake3 } from '@noble/hashes/blake3.js';
import { assertBytes, concatBytes, fromHex, toHex, utf8 } from './bytes.js';
import { ed25519 } from './ed25519.js';
import { deriveKey } from './keys.js';

/** HKDF info of the topic key's seed; changing it changes every topic. */
export const TOPIC_KEY_PURPOSE = 'backchannel:topic-key:v1';
/** Prefix of the signed proof message: a signature made here means nothing anywhere else. */
export const TOPIC_PROOF_LABEL = 'backchannel:topic-proof:v1';
/** Bytes of a relay's challenge. */
export const CHALLENGE_LENGTH = 32;

/** The key a device proves a topic with: derived from the contact key, so only its holders can. */
export interface TopicKey {
  /** The Ed25519 seed (secret: never leaves the device). */
  seed: Uint8Array;
  /** Its public key, shown to the relay with each proof. */
  publicKey: Uint8Array;
  /** hex(blake3(publicKey)): what the relay routes and keeps deposits by. */
  topic: string;
}

/** A proof that we hold the topic key, for one relay connection (the wire's `prove` frame, in hex). */
export interface TopicProof {
  topic: string;
  /** The Ed25519 public key, 64 hex digits. */
  key: string;
  /** Ed25519 signature over {@link proofMessage}, 128 hex digits. */
  signature: string;
}

/** The topic key of a contact key. */
export function topicKey(contactKey: Uint8Array): TopicKey {
  assertBytes(contactKey, 'contactKey', 32);
  const seed = deriveKey(contactKey, TOPIC_KEY_PURPOSE);
  const publicKey = ed25519.publicKey(seed);
  return { seed, publicKey, topic: topicOf(publicKey) };
}

/** The topic a public key proves: hex(blake3(publicKey)). */
export function topicOf(publicKey: Uint8Array): string {
  assertBytes(publicKey, 'publicKey', 32);
  return toHex(blake3(publicKey));
}

/** What a proof signs: the label, the relay's challenge for this connection, and the topic's 32 bytes. */
export function proofMessage(challenge: Uint8Array, topic: string): Uint8Array {
  assertBytes(challenge, 'challenge', CHALLENGE_LENGTH);
  return concatBytes(utf8(TOPIC_PROOF_LABEL), challenge, fromHex(topic, 'topic'));
}

/** Prove `key`'s topic to the relay connection that sent `challenge`. */
export function proveTopic(key: TopicKey, challenge: Uint8Array): TopicProof {
  const signature = ed25519.sign(proofMessage(challenge, key.topic), key.seed);
  return { topic: key.topic, key: toHex(key.publicKey), signature: toHex(signature) };
}

/**
 * Does `proof` show the topic key of `proof.topic` to the connection that sent `challenge`? Never
 * throws on malformed input (it is what a stranger sent): false.
 */
export function verifyTopicProof(challenge: Uint8Array, proof: TopicProof): boolean {
  try {
    const publicKey = fromHex(proof.key, 'key');
    const signature = fromHex(proof.signature, 'signature');
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    // The hash first: it is cheap, and a key for another topic proves nothing here.
    if (topicOf(publicKey) !== proof.topic) return false;
    // Strict RFC 8032 (no ZIP-215 leniency): one encoding per key and signature.
    return noble.verify(signature, proofMessage(challenge, proof.topic), publicKey, { zip215: false });
  } catch {
    return false;
  }
}
