/**
 * The sealed box (src/crypto/sealedBox.ts): the Ed25519 → X25519 keys against Node's OpenSSL X25519
 * (its own hash-and-clamp of the seed), a box opened by an independent reading (Node's X25519 and
 * HKDF, tweetnacl's secretbox), a fixed vector, and a box that opens only for its recipient, whole.
 */
import { createPrivateKey, createPublicKey, diffieHellman, createHash, hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex, utf8 } from '../src/crypto/bytes.js';
import { boxPublicKey, boxSecretKey, openSealed, sealTo, SEALED_BOX_OVERHEAD, SEALED_BOX_PURPOSE } from '../src/crypto/sealedBox.js';
import { signingKeypair } from '../src/crypto/signing.js';
import { CryptoError } from '../src/errors.js';
import { Branches, budgetMs } from './helpers/branches.js';
import { FC_RUNS } from './helpers/runs.js';

const seed = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const device = signingKeypair(seed);
/** Counter bytes: the ephemeral key, then the nonce, the same every run. */
const fixedBytes = () => {
  let n = 0;
  return (length: number) => Uint8Array.from({ length }, () => (n++ * 7 + 3) & 0xff);
};

/** Node's X25519 private key from the Ed25519 seed: SHA-512, first half (OpenSSL clamps it itself). */
const nodeX25519 = (edSeed: Uint8Array) =>
  createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: Buffer.from(createHash('sha512').update(edSeed).digest().subarray(0, 32)).toString('base64url'), x: '' },
    format: 'jwk',
  });
const rawPublic = (key: ReturnType<typeof createPrivateKey>) => new Uint8Array(Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url'));
const nodePublic = (raw: Uint8Array) => createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });

// Made once by sealTo with fixedBytes, checked below by the independent reading.
const VECTOR =
  'bb50ff9e82a574cfbf820e97f60fb9c143ec7415cf514f8cfd98eff59e059614e3eaf1f8ff060d141b222930373e454c535a61686f767d84b1677404ce32d03f2d114b46b006c5512eafab171223d254d6f7cb';

describe('sealing to a device', () => {
  it('turns the device keys into X25519 as OpenSSL does', () => {
    const x = nodeX25519(seed);
    expect(toHex(boxPublicKey(device.publicKey))).toBe(toHex(rawPublic(x)));
    expect(toHex(boxSecretKey(seed)).length).toBe(64);
  });

  it('gives the vector’s bytes, which an independent reading opens', () => {
    const sealed = sealTo(device.publicKey, utf8('the new key'), fixedBytes());
    expect(sealed.length).toBe(11 + SEALED_BOX_OVERHEAD);
    expect(toHex(sealed)).toBe(VECTOR);
    const ephemeral = sealed.subarray(0, 32);
    const shared = new Uint8Array(diffieHellman({ privateKey: nodeX25519(seed), publicKey: nodePublic(ephemeral) }));
    const key = new Uint8Array(hkdfSync('sha256', concatBytes(shared, ephemeral, boxPublicKey(device.publicKey)), new Uint8Array(0), SEALED_BOX_PURPOSE, 32));
    const plain = nacl.secretbox.open(sealed.subarray(56), sealed.subarray(32, 56), key);
    expect(plain && new TextDecoder().decode(plain)).toBe('the new key');
    expect(new TextDecoder().decode(openSealed(seed, sealed))).toBe('the new key');
  });

  it(
    'opens only for its recipient, and only whole',
    () => {
      const branches = new Branches('sealed box', ['opened', 'other device refused', 'tampered refused']);
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(), (plain, other, flip) => {
          const sealed = sealTo(device.publicKey, plain, (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)));
          expect(toHex(openSealed(seed, sealed))).toBe(toHex(plain));
          branches.hit('opened');
          if (toHex(other) !== toHex(seed)) {
            expect(() => openSealed(other, sealed)).toThrow(CryptoError);
            branches.hit('other device refused');
          }
          const bad = sealed.slice();
          bad[flip % bad.length]! ^= 1 << (flip % 8);
          expect(() => openSealed(seed, bad)).toThrow(CryptoError);
          branches.hit('tampered refused');
        }),
        { numRuns: Math.max(20, Math.floor(FC_RUNS / 5)) }, // x25519 in JavaScript: about 25 ms a run,
      );
      branches.check();
    },
    budgetMs(Math.max(20, Math.floor(FC_RUNS / 5)), 50),
  );

  it('refuses a box too short, or with a low-order ephemeral key', () => {
    expect(() => openSealed(seed, new Uint8Array(SEALED_BOX_OVERHEAD - 1))).toThrow(CryptoError);
    expect(() => openSealed(seed, new Uint8Array(SEALED_BOX_OVERHEAD + 4))).toThrow(CryptoError);
    expect(() => sealTo(fromHex('00'.repeat(31) + '80'), utf8('x'), fixedBytes())).toThrow();
  });
});
