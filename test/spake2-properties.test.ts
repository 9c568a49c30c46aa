import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, toHex, utf8 } from '../src/crypto/bytes.js';
import { Spake2Symmetric } from '../src/crypto/spake2.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { CryptoError } from '../src/errors.js';
import { FC_RUNS } from './helpers/runs.js';
import { Branches, budgetMs } from './helpers/branches.js';

const runs = Math.max(10, Math.floor(FC_RUNS / 4)); // each run is four scalar multiplications per side

function exchange(pwA: Uint8Array, pwB: Uint8Array, id: Uint8Array) {
  const a = new Spake2Symmetric(pwA, id, cryptoRandomBytes);
  const b = new Spake2Symmetric(pwB, id, cryptoRandomBytes);
  const ma = a.start();
  const mb = b.start();
  return [toHex(a.finish(mb)), toHex(b.finish(ma))] as const;
}

describe('SPAKE2 properties', () => {
  it(
    'same password ⇒ same key; different password ⇒ different keys',
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (pw, other, id) => {
          const [ka, kb] = exchange(pw, pw, id);
          expect(ka).toBe(kb);
          fc.pre(toHex(pw) !== toHex(other));
          const [wa, wb] = exchange(pw, other, id);
          expect(wa).not.toBe(wb);
        }),
        { numRuns: runs },
      );
    },
    budgetMs(runs, 600),
  );

  it(
    'rejects garbage, wrong side bytes, the identity, small-order and reflected points with CryptoError',
    () => {
      const fresh = () => {
        const s = new Spake2Symmetric(utf8('4-purple-sausages'), utf8('app'), cryptoRandomBytes);
        return { s, msg: s.start() };
      };
      const identity = concatBytes(Uint8Array.of(0x53), Uint8Array.of(1), new Uint8Array(31));
      // A point of order 2: (0, -1).
      const order2 = concatBytes(Uint8Array.of(0x53), Uint8Array.of(0xec), new Uint8Array(30).fill(0xff), Uint8Array.of(0x7f));
      const { s: r, msg: rMsg } = fresh();
      for (const bad of [new Uint8Array(0), new Uint8Array(33), identity, order2, concatBytes(Uint8Array.of(0x41), rMsg.subarray(1))]) {
        const { s } = fresh();
        expect(() => s.finish(bad)).toThrow(CryptoError);
      }
      expect(() => r.finish(rMsg)).toThrow(/reflect/);
      const outcomes = new Branches('SPAKE2 finish on 33 random bytes', ['accepted', 'rejected typed'] as const);
      // Honest messages (another side's start, any password) sit beside random bytes: both branches run.
      const honest = fc.uint8Array({ maxLength: 16 }).map((pw) => new Spake2Symmetric(pw, utf8('app'), cryptoRandomBytes).start());
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ minLength: 33, maxLength: 33 }), honest), (bytes) => {
          const { s } = fresh();
          try {
            s.finish(bytes);
            outcomes.hit('accepted');
          } catch (e) {
            expect(e).toBeInstanceOf(CryptoError);
            outcomes.hit('rejected typed');
          }
        }),
        { numRuns: runs },
      );
      outcomes.check();
    },
    budgetMs(runs, 600),
  );

  it('pinned deviation: a non-canonical point encoding (y ≥ p) is rejected, where python-spake2 would reduce it', () => {
    // y = p + 1 encodes the same point as y = 1 (the identity) non-canonically.
    const y = 2n ** 255n - 19n + 1n;
    const enc = new Uint8Array(32);
    for (let i = 0, v = y; i < 32; i++, v >>= 8n) enc[i] = Number(v & 0xffn);
    const { s } = (() => {
      const s = new Spake2Symmetric(utf8('pw'), utf8('app'), cryptoRandomBytes);
      s.start();
      return { s };
    })();
    expect(() => s.finish(concatBytes(Uint8Array.of(0x53), enc))).toThrow(CryptoError);
  });

  it('start and finish may each be called once', () => {
    const a = new Spake2Symmetric(utf8('pw'), utf8('app'), cryptoRandomBytes);
    const b = new Spake2Symmetric(utf8('pw'), utf8('app'), cryptoRandomBytes);
    expect(() => a.finish(b.start())).toThrow(/start\(\) before/);
    const c = new Spake2Symmetric(utf8('pw'), utf8('app'), cryptoRandomBytes);
    c.start();
    expect(() => c.start()).toThrow(CryptoError);
    const mb = new Spake2Symmetric(utf8('pw'), utf8('app'), cryptoRandomBytes).start();
    c.finish(mb);
    expect(() => c.finish(mb)).toThrow(/once/);
  });
});
