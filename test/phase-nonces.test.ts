/**
 * Sealing a wormhole phase uses a synthetic nonce (crypto/nonce.ts): the same (phase, plaintext) gives
 * the same box, a different plaintext in the same phase a different nonce, and the body is still the
 * magic-wormhole frame (`nonce ‖ secretbox`) any peer opens with plain NaCl.
 */
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8 } from '../src/crypto/bytes.js';
import { derivePhaseKey } from '../src/crypto/keys.js';
import { syntheticNonce } from '../src/crypto/nonce.js';
import { NONCE_LENGTH } from '../src/crypto/secretbox.js';
import { sendPlaintext } from '../src/machines/wormhole/key.js';
import { initialContext } from '../src/machines/wormhole/context.js';
import type { Enqueue, Outbound, WormholeContext } from '../src/machines/wormhole/types.js';
import { openPhase, sealPhase } from '../src/wormhole/phases.js';
import { FC_RUNS } from './helpers/runs.js';

const key = new Uint8Array(32).fill(7);
const nonceOf = (body: string) => toHex(fromHex(body).subarray(0, NONCE_LENGTH));
const bytes = fc.uint8Array({ maxLength: 256 });
const phase = fc.oneof(fc.constant('version'), fc.nat({ max: 1000 }).map(String), fc.string({ maxLength: 12 }));
const side = fc.stringMatching(/^[0-9a-f]{10}$/);

describe('synthetic phase nonces', () => {
  it('same side, phase and plaintext → the same box, which opens', () => {
    fc.assert(
      fc.property(side, phase, bytes, (s, p, plaintext) => {
        const body = sealPhase(key, s, p, plaintext);
        expect(sealPhase(key, s, p, plaintext)).toBe(body);
        expect(toHex(openPhase(key, s, p, body))).toBe(toHex(plaintext));
      }),
      { numRuns: FC_RUNS },
    );
  });

  it('same phase, different plaintext → a different nonce', () => {
    fc.assert(
      fc.property(side, phase, bytes, bytes, (s, p, a, b) => {
        fc.pre(toHex(a) !== toHex(b));
        expect(nonceOf(sealPhase(key, s, p, a))).not.toBe(nonceOf(sealPhase(key, s, p, b)));
      }),
      { numRuns: FC_RUNS },
    );
  });

  it('the same plaintext in another phase, from another side or under another key → another nonce', () => {
    const plaintext = utf8('{"paired":1}');
    const nonces = [
      sealPhase(key, 'aaaaaaaaaa', '0', plaintext),
      sealPhase(key, 'aaaaaaaaaa', '1', plaintext),
      sealPhase(key, 'bbbbbbbbbb', '0', plaintext),
      sealPhase(new Uint8Array(32).fill(8), 'aaaaaaaaaa', '0', plaintext),
    ].map(nonceOf);
    expect(new Set(nonces).size).toBe(nonces.length);
  });

  it('the phase is length-prefixed in the hash: ("1", "2…") and ("12", "…") do not collide', () => {
    const phaseKey = derivePhaseKey(key, 'aaaaaaaaaa', '1');
    expect(toHex(syntheticNonce(phaseKey, '1', utf8('2x')))).not.toBe(toHex(syntheticNonce(phaseKey, '12', utf8('x'))));
  });

  it('keeps the wire format: nonce ‖ secretbox under the phase key, as any magic-wormhole peer opens it', () => {
    const plaintext = utf8('{"app_versions":{}}');
    const sealed = fromHex(sealPhase(key, 'aaaaaaaaaa', 'version', plaintext));
    expect(sealed.length).toBe(NONCE_LENGTH + nacl.secretbox.overheadLength + plaintext.length);
    const opened = nacl.secretbox.open(sealed.subarray(NONCE_LENGTH), sealed.subarray(0, NONCE_LENGTH), derivePhaseKey(key, 'aaaaaaaaaa', 'version'));
    expect(opened && toHex(opened)).toBe(toHex(plaintext));
  });
});

/** The body the wormhole machine's key region queues for `plaintext` as phase 0, from one fixed seed. */
function machineSeals(plaintext: Uint8Array): Outbound {
  const context: WormholeContext = {
    ...initialContext({
      appid: 'test.example/nonces',
      url: 'ws://127.0.0.1:1/v1',
      connector: () => ({ send() {}, close() {} }),
      randomBytes: (n) => new Uint8Array(n).fill(1),
      side: 'aaaaaaaaaa',
    }),
    // As it stands once the key is verified (and the relay was reached).
    key,
    verified: true,
    everConnected: true,
  };
  const queued: Outbound[] = [];
  const enqueue = Object.assign(() => {}, {
    sendTo: () => {},
    raise: () => {},
    assign: (update: Partial<WormholeContext>) => queued.push(...(update.pending ?? [])),
  }) as Enqueue;
  sendPlaintext(context, plaintext, enqueue);
  expect(queued.map((o) => o.phase)).toEqual(['0']);
  return queued[0]!;
}

describe('the wormhole machine seals with them', () => {
  it('two runs from the same seed (a forked or replayed journal) that send different phase-0 plaintexts use different nonces', () => {
    const a = machineSeals(utf8('{"paired":1}'));
    const b = machineSeals(utf8('{"paired":2}'));
    expect(nonceOf(a.body)).not.toBe(nonceOf(b.body));
    // …and a replay that sends the same plaintext rebuilds the same body, byte for byte.
    expect(machineSeals(utf8('{"paired":1}')).body).toBe(a.body);
  });
});
