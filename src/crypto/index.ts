/**
 * `@backchannel/sdk/crypto`: the primitives under pairing, sealing and discovery (docs/protocol.md).
 * Pure functions over bytes: no I/O, no platform API.
 * @module
 */
export { Spake2Symmetric, type RandomBytes } from './spake2.js';
export { deriveKey, derivePhaseKey, deriveVerifier, deriveContactKey, formatVerifier, CONTACT_KEY_PURPOSE } from './keys.js';
export { seal, sealWithNonce, open } from './secretbox.js';
export { syntheticNonce } from './nonce.js';
export { discoveryTopic, blake3 } from './topic.js';
export { constantTimeEqual, toHex, fromHex } from './bytes.js';
export { deriveBytes, derivedSource } from './derive.js';
export { topicKey, topicOf, proofMessage, proveTopic, verifyTopicProof, TOPIC_KEY_PURPOSE, TOPIC_PROOF_LABEL, CHALLENGE_LENGTH } from './topicKey.js';
export type { TopicKey, TopicProof } from './topicKey.js';
export { signingKeypair, sign, verifySignature, isPublicKeyHex, type SigningKeypair } from './signing.js';
export { sealTo, openSealed, boxPublicKey, boxSecretKey, SEALED_BOX_OVERHEAD, SEALED_BOX_PURPOSE } from './sealedBox.js';
