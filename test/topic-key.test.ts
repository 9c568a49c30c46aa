/**
 * The topic key (src/crypto/topicKey.ts): vectors for the derivation and the proof, checked against
 * independent implementations (Node's HKDF and Ed25519, from OpenSSL), and a proof holds only for its
 * own topic, key and challenge. Both Ed25519 paths (Node's OpenSSL, noble's JavaScript for browsers)
 * give the vectors' bytes.
 */
import { createPrivateKey, createPublicKey, hkdfSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../src/crypto/bytes.js';
import { ed25519, nobleEd25519, nodeEd25519, RFC8032_TEST1, type Ed25519 } from '../src/crypto/ed25519.js';
import { discoveryTopic } from '../src/crypto/topic.js';
import { proofMessage, proveTopic, topicKey, topicOf, verifyTopicProof, type TopicProof } from '../src/crypto/topicKey.js';
import { InvalidArgumentError } from '../src/errors.js';
import { Branches, budgetMs } from './helpers/branches.js';
import { FC_RUNS } from './helpers/runs.js';

const contactKey = Uint8Array.from({ length: 32 }, (_, i) => i);
const challenge = new Uint8Array(32).fill(0xaa);

// Computed once with Node's OpenSSL (HKDF-SHA256, Ed25519) for seed, public key and signature; the
// topic is noble's blake3 (its own vector, against b3sum, is in keys.test.ts).
const VECTOR = {
  seed: 'f1fc95542c06a0b8c6d800631c4ffecabda27e2bd934fb57cba2b7ba7734a6e6',
  publicKey: '96f4c726deb6c7d63b4435e4d1576c5ab2c0e55caddd38ec7016d63ae61edf38',
  topic: '455e5b2008546a6dbf8314bc2f4a8819708305f253c24c59e278fb49a2c32591',
  signature: 'c8ec1da35db5c08d9f58346330f92ae271cdfa1ac3398ef8dee84807770475a2967c96f8bf066d8120394ecee3d6923204d153c9a673cb24a0cc7694fe0b700d',
};

/** Node's Ed25519 private key from a raw 32-byte seed (PKCS#8 prefix of RFC 8410). */
const nodeKey = (seed: Uint8Array) =>
  createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });

describe('the topic key', () => {
  it('derives seed, public key and topic as the vectors say', () => {
    const key = topicKey(contactKey);
    expect(toHex(key.seed)).toBe(VECTOR.seed);
    expect(toHex(key.publicKey)).toBe(VECTOR.publicKey);
    expect(key.topic).toBe(VECTOR.topic);
    expect(topicOf(key.publicKey)).toBe(VECTOR.topic);
    expect(discoveryTopic(contactKey)).toBe(VECTOR.topic);
    expect(proveTopic(key, challenge)).toEqual({ topic: VECTOR.topic, key: VECTOR.publicKey, signature: VECTOR.signature });
    expect(() => topicKey(new Uint8Array(16))).toThrow(InvalidArgumentError);
    expect(() => proofMessage(new Uint8Array(31), VECTOR.topic)).toThrow(InvalidArgumentError);
  });

  it('agrees with Node (OpenSSL) HKDF-SHA256 and Ed25519 for any contact key and challenge', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (ck, ch) => {
        const key = topicKey(ck);
        const seed = new Uint8Array(hkdfSync('sha256', ck, new Uint8Array(0), 'backchannel:topic-key:v1', 32));
        expect(toHex(key.seed)).toBe(toHex(seed));
        const priv = nodeKey(seed);
        expect(toHex(key.publicKey)).toBe(toHex(createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(12)));
        expect(proveTopic(key, ch).signature).toBe(sign(null, proofMessage(ch, key.topic), priv).toString('hex'));
      }),
      { numRuns: Math.max(20, Math.floor(FC_RUNS / 10)) },
    );
  });

  it(
    'a proof holds for its own topic, key and challenge only; malformed proofs are false, never thrown',
    () => {
      const outcomes = new Branches('topic proof', ['honest', 'other challenge', 'other topic', 'other key', 'flipped signature bit', 'malformed'] as const);
      const honest = topicKey(contactKey);
      const other = topicKey(new Uint8Array(32).fill(9));
      const proof = proveTopic(honest, challenge);
      const flip = (hex: string, bit: number) => {
        const bytes = fromHex(hex);
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        return toHex(bytes);
      };
      const cases = fc.oneof(
        fc.constant<[string, TopicProof, Uint8Array]>(['honest', proof, challenge]),
        fc
          .uint8Array({ minLength: 32, maxLength: 32 })
          .filter((c) => toHex(c) !== toHex(challenge))
          .map((c): [string, TopicProof, Uint8Array] => ['other challenge', proof, c]),
        // A proof by another topic's key, claiming ours; and ours, claiming another topic.
        fc.constant<[string, TopicProof, Uint8Array]>(['other key', { ...proveTopic(other, challenge), topic: honest.topic }, challenge]),
        fc.constant<[string, TopicProof, Uint8Array]>(['other topic', { ...proof, topic: other.topic }, challenge]),
        fc
          .integer({ min: 0, max: 511 })
          .map((bit): [string, TopicProof, Uint8Array] => ['flipped signature bit', { ...proof, signature: flip(proof.signature, bit) }, challenge]),
        fc
          .record({ topic: fc.string(), key: fc.oneof(fc.string(), fc.constant(proof.key)), signature: fc.oneof(fc.string(), fc.constant('zz'.repeat(64))) })
          .map((p): [string, TopicProof, Uint8Array] => ['malformed', p, challenge]),
      );
      fc.assert(
        fc.property(cases, ([label, p, c]) => {
          outcomes.hit(label as 'honest');
          expect(verifyTopicProof(c, p)).toBe(label === 'honest');
        }),
        { numRuns: FC_RUNS },
      );
      outcomes.check();
    },
    budgetMs(FC_RUNS, 10),
  );
});

describe('both Ed25519 paths', () => {
  it('Node has the OpenSSL path, and the topic key uses it', () => {
    expect(nodeEd25519, 'node:crypto Ed25519 missing: every topic key would take the slow path').toBeDefined();
    expect(ed25519).toBe(nodeEd25519);
  });

  const paths = [nobleEd25519, nodeEd25519].filter((p): p is Ed25519 => p !== undefined);
  for (const path of paths) {
    it(`${path.name}: the RFC 8032 vector and the topic key's vectors`, () => {
      expect(toHex(path.publicKey(fromHex(RFC8032_TEST1.seed)))).toBe(RFC8032_TEST1.publicKey);
      expect(toHex(path.sign(new Uint8Array(0), fromHex(RFC8032_TEST1.seed)))).toBe(RFC8032_TEST1.signature);
      const seed = fromHex(VECTOR.seed);
      expect(toHex(path.publicKey(seed))).toBe(VECTOR.publicKey);
      expect(toHex(path.sign(proofMessage(challenge, VECTOR.topic), seed))).toBe(VECTOR.signature);
      // Signing twice with one seed object (Node caches its key object) gives the same bytes.
      expect(toHex(path.sign(proofMessage(challenge, VECTOR.topic), seed))).toBe(VECTOR.signature);
    });
  }

  it('the two paths agree on any seed and message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 200 }), (seed, message) => {
        for (const path of paths) {
          expect(toHex(path.publicKey(seed)), path.name).toBe(toHex(nobleEd25519.publicKey(seed)));
          expect(toHex(path.sign(message, seed)), path.name).toBe(toHex(nobleEd25519.sign(message, seed)));
        }
      }),
      { numRuns: Math.max(20, Math.floor(FC_RUNS / 10)) },
    );
  });
});
