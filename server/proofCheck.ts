/**
 * The relay's check of a topic proof (`prove`): the rules of `verifyTopicProof` (src/crypto/topicKey.ts;
 * blake3(key) = topic, strict RFC 8032 Ed25519 over the connection's challenge), with Node's Ed25519
 * (OpenSSL), several times quicker than the pure-JS one: a device opening 1,000 contacts asks for 1,000
 * checks on one connection, in a row. Strict as the pure-JS check is: S below the group order and
 * the key's y below p are checked here, before OpenSSL sees them.
 * @module
 */
import { createPublicKey, verify } from 'node:crypto';
import { fromHex } from '../src/crypto/bytes.js';
import { proofMessage, topicOf, type TopicProof } from '../src/crypto/topicKey.js';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo: the 32 key bytes follow. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** The group order L and the field prime p, as RFC 8032 names them. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const P = 2n ** 255n - 19n;

const littleEndian = (bytes: Uint8Array): bigint => bytes.reduceRight((n, b) => (n << 8n) | BigInt(b), 0n);

/** Does `proof` show the topic key of `proof.topic` to the connection that sent `challenge`? Never throws. */
export function checkTopicProof(challenge: Uint8Array, proof: TopicProof): boolean {
  try {
    const publicKey = fromHex(proof.key, 'key');
    const signature = fromHex(proof.signature, 'signature');
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    if (topicOf(publicKey) !== proof.topic) return false;
    if (littleEndian(signature.subarray(32)) >= L) return false; // one encoding per signature
    const y = publicKey.slice();
    y[31]! &= 0x7f;
    if (littleEndian(y) >= P) return false; // one encoding per key
    const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    return verify(null, proofMessage(challenge, proof.topic), key, signature);
  } catch {
    return false;
  }
}
