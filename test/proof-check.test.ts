/**
 * The relay's topic proof check (server/proofCheck.ts, Node's Ed25519) gives the same answer as the
 * device-side pure-JS check (`verifyTopicProof`, strict RFC 8032) on honest proofs, forgeries, other
 * keys and challenges, flipped bits, malformed fields and the encodings strictness refuses: S + L (the
 * same signature, S not reduced) and a key whose y is not below p.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkTopicProof } from '../server/proofCheck.js';
import { fromHex, toHex } from '../src/crypto/bytes.js';
import { proveTopic, topicKey, topicOf, verifyTopicProof, type TopicProof } from '../src/crypto/topicKey.js';
import { Branches, budgetMs } from './helpers/branches.js';
import { FC_RUNS } from './helpers/runs.js';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const toLittleEndian = (n: bigint, length: number) => Uint8Array.from({ length }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
const fromLittleEndian = (b: Uint8Array) => b.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);

describe('the relay checks topic proofs as the device does', () => {
  it(
    'checkTopicProof = verifyTopicProof on every kind of proof',
    () => {
      const outcomes = new Branches('proof check', ['honest', 'other challenge', 'other key', 'flipped bit', 'S + L', 'y not below p', 'malformed'] as const);
      const challenge = new Uint8Array(32).fill(3);
      const honestOf = (seed: Uint8Array) => proveTopic(topicKey(seed), challenge);
      const flip = (hex: string, bit: number) => {
        const bytes = fromHex(hex);
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        return toHex(bytes);
      };
      const seeds = fc.uint8Array({ minLength: 32, maxLength: 32 });
      const cases = fc.oneof(
        seeds.map((s): [string, TopicProof, Uint8Array] => ['honest', honestOf(s), challenge]),
        fc.tuple(seeds, fc.uint8Array({ minLength: 32, maxLength: 32 })).map(([s, c]): [string, TopicProof, Uint8Array] => ['other challenge', honestOf(s), c]),
        fc.tuple(seeds, seeds).map(([a, b]): [string, TopicProof, Uint8Array] => ['other key', { ...honestOf(a), topic: honestOf(b).topic }, challenge]),
        fc.tuple(seeds, fc.integer({ min: 0, max: 767 })).map(([s, bit]): [string, TopicProof, Uint8Array] => {
          const p = honestOf(s);
          return ['flipped bit', bit < 512 ? { ...p, signature: flip(p.signature, bit) } : { ...p, key: flip(p.key, bit - 512) }, challenge];
        }),
        seeds.map((s): [string, TopicProof, Uint8Array] => {
          const p = honestOf(s);
          const sig = fromHex(p.signature);
          const bigS = fromLittleEndian(sig.subarray(32)) + L;
          if (bigS >= 2n ** 256n) return ['S + L', { ...p, signature: 'x' }, challenge];
          sig.set(toLittleEndian(bigS, 32), 32);
          return ['S + L', { ...p, signature: toHex(sig) }, challenge];
        }),
        fc.tuple(fc.integer({ min: 0, max: 18 }), fc.boolean(), seeds).map(([k, sign, s]): [string, TopicProof, Uint8Array] => {
          // y = p + k (an encoding of a small y, not reduced), and an honest signature of another key.
          const key = toLittleEndian(2n ** 255n - 19n + BigInt(k), 32);
          if (sign) key[31]! |= 0x80;
          return ['y not below p', { topic: topicOf(key), key: toHex(key), signature: honestOf(s).signature }, challenge];
        }),
        fc
          .record({ topic: fc.string(), key: fc.string(), signature: fc.oneof(fc.string(), fc.constant('zz'.repeat(64))) })
          .map((p): [string, TopicProof, Uint8Array] => ['malformed', p, challenge]),
      );
      fc.assert(
        fc.property(cases, ([label, p, c]) => {
          outcomes.hit(label as 'honest');
          const expected = verifyTopicProof(c, p);
          expect(checkTopicProof(c, p)).toBe(expected);
          if (label === 'honest') expect(expected).toBe(true);
          if (label === 'S + L' || label === 'y not below p' || label === 'malformed') expect(expected).toBe(false);
        }),
        { numRuns: FC_RUNS },
      );
      outcomes.check();
    },
    budgetMs(FC_RUNS, 20),
  );
});
