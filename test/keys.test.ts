import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, fromHex, fromUtf8, toHex, utf8 } from '../src/crypto/bytes.js';
import { deriveContactKey, deriveKey, derivePhaseKey, deriveVerifier, formatVerifier } from '../src/crypto/keys.js';
import { open, seal } from '../src/crypto/secretbox.js';
import { blake3, discoveryTopic } from '../src/crypto/topic.js';
import { topicKey } from '../src/crypto/topicKey.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { CryptoError, InvalidArgumentError } from '../src/errors.js';
import { FC_RUNS } from './helpers/runs.js';
import { Branches } from './helpers/branches.js';

interface Case {
  key_hex: string;
  side: string;
  phase: string;
  phase_key_hex: string;
  purpose: string;
  length: number;
  derived_hex: string;
  verifier_hex: string;
  sealed_hex: string;
  plaintext: string;
}
const { cases } = JSON.parse(readFileSync(new URL('./vectors/wormhole-keys.json', import.meta.url), 'utf8')) as { cases: Case[] };

describe('magic-wormhole key schedule (vectors from wormhole/_key.py)', () => {
  cases.forEach((v, i) => {
    it(`(${i}) side=${v.side} phase=${v.phase} purpose=${JSON.stringify(v.purpose)}`, () => {
      const key = fromHex(v.key_hex);
      expect(toHex(derivePhaseKey(key, v.side, v.phase))).toBe(v.phase_key_hex);
      expect(toHex(deriveKey(key, v.purpose, v.length))).toBe(v.derived_hex);
      expect(toHex(deriveVerifier(key))).toBe(v.verifier_hex);
      // A box sealed by PyNaCl opens here.
      expect(fromUtf8(open(fromHex(v.phase_key_hex), fromHex(v.sealed_hex)))).toBe(v.plaintext);
    });
  });
});

describe('secretbox framing', () => {
  it('round-trips and uses a fresh nonce every time', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 512 }), (key, plaintext) => {
        const a = seal(key, plaintext, cryptoRandomBytes);
        const b = seal(key, plaintext, cryptoRandomBytes);
        expect(a.length).toBe(plaintext.length + 40);
        expect(toHex(a.subarray(0, 24))).not.toBe(toHex(b.subarray(0, 24)));
        expect(toHex(open(key, a))).toBe(toHex(plaintext));
      }),
      { numRuns: FC_RUNS },
    );
  });

  it('rejects any flipped bit, truncation or wrong key with CryptoError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), (key, plaintext, n) => {
        const sealed = seal(key, plaintext, cryptoRandomBytes);
        const flipped = sealed.slice();
        flipped[n % flipped.length]! ^= 1 << (n % 8);
        expect(() => open(key, flipped)).toThrow(CryptoError);
        expect(() => open(key, sealed.subarray(0, n % 40))).toThrow(CryptoError);
        const other = key.slice();
        other[0]! ^= 0xff;
        expect(() => open(other, sealed)).toThrow(CryptoError);
      }),
      { numRuns: FC_RUNS },
    );
  });

  it('validates its parameters with typed errors', () => {
    expect(() => seal(new Uint8Array(31), new Uint8Array(1), cryptoRandomBytes)).toThrow(InvalidArgumentError);
    expect(() => seal(new Uint8Array(32), 'text' as unknown as Uint8Array, cryptoRandomBytes)).toThrow(InvalidArgumentError);
    expect(() => seal(new Uint8Array(32), new Uint8Array(1), () => new Uint8Array(3))).toThrow(InvalidArgumentError);
  });
});

describe('contact key, verifier, topic, compare', () => {
  it('the contact key is a 32-byte HKDF subkey, never the PAKE key itself', () => {
    const pake = utf8('k'.repeat(32));
    const contact = deriveContactKey(pake);
    expect(contact.length).toBe(32);
    expect(toHex(contact)).not.toBe(toHex(pake));
    expect(toHex(contact)).toBe(toHex(deriveKey(pake, 'backchannel:contact-key:v1')));
  });

  it('formats the verifier as four groups of four hex digits', () => {
    expect(formatVerifier(fromHex('0cb6e8da100b92f3aa'))).toBe('0cb6-e8da-100b-92f3');
  });

  it('blake3 matches the reference implementation; the topic is blake3 of the topic public key', () => {
    // blake3 of 32 zero bytes, as printed by the reference implementation (Debian b3sum 1.2.0).
    expect(toHex(blake3(new Uint8Array(32)))).toBe('2ada83c1819a5372dae1238fc1ded123c8104fdaa15862aaee69428a1820fcda');
    expect(discoveryTopic(new Uint8Array(32))).toBe(toHex(blake3(topicKey(new Uint8Array(32)).publicKey)));
    expect(() => discoveryTopic(new Uint8Array(16))).toThrow(InvalidArgumentError);
  });

  it('constantTimeEqual agrees with byte equality', () => {
    const outcomes = new Branches('constantTimeEqual', ['equal', 'one byte differs', 'lengths differ'] as const);
    // b is a copy of a, a copy with one byte flipped, or unrelated: every branch of the compare is hit.
    const pair = fc.uint8Array({ maxLength: 64 }).chain((a) =>
      fc.tuple(
        fc.constant(a),
        fc.oneof(
          fc.constant(a.slice()),
          fc.nat().map((i) => {
            const b = Uint8Array.from([...a, 0]).subarray(0, Math.max(1, a.length));
            b[i % b.length]! ^= 1 << (i % 8);
            return b;
          }),
          fc.uint8Array({ maxLength: 64 }),
        ),
      ),
    );
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const equal = toHex(a) === toHex(b);
        expect(constantTimeEqual(a, b)).toBe(equal);
        expect(constantTimeEqual(a, a.slice())).toBe(true);
        outcomes.hit(equal ? 'equal' : a.length === b.length ? 'one byte differs' : 'lengths differ');
      }),
      { numRuns: FC_RUNS },
    );
    outcomes.check();
  });
});
