/**
 * SPAKE2 CPU per handshake side, next to the raw noble scalar multiplications it is made of
 * (one fixed-base x·B, two variable-base: pw·S and x·(Y − pw·S)), plus the subgroup check of the
 * peer's point that python-spake2 also makes.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { utf8 } from '../src/crypto/bytes.js';
import { L, Spake2Symmetric, elementS } from '../src/crypto/spake2.js';
import { cryptoRandomBytes } from '../src/effects/random.js';

function time(label: string, iterations: number, fn: () => void): { label: string; perOpUs: number } {
  for (let i = 0; i < Math.min(20, iterations); i++) fn(); // warm up the JIT and noble's precomputes
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  const ns = Number(process.hrtime.bigint() - start);
  return { label, perOpUs: ns / iterations / 1000 };
}

const scalar = () => {
  const b = cryptoRandomBytes(64);
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return (n % (L - 1n)) + 1n;
};

export function benchSpake2(iterations = Number(process.env.BENCH_SPAKE2 ?? 300)): string {
  const S = elementS();
  const Y = ed25519.Point.BASE.multiply(scalar());
  const k1 = scalar();
  const k2 = scalar();
  const rows = [
    time('SPAKE2 one side: start() + finish()', iterations, () => {
      const a = new Spake2Symmetric(utf8('4-purple-sausages'), utf8('bench'), cryptoRandomBytes);
      const b = new Spake2Symmetric(utf8('4-purple-sausages'), utf8('bench'), cryptoRandomBytes);
      const mb = b.start();
      a.start();
      a.finish(mb);
    }),
    time('  raw: x·B + pw·S + x·Y (noble, same ops)', iterations, () => {
      ed25519.Point.BASE.multiply(k1);
      S.multiply(k2);
      Y.multiply(k1);
    }),
    time('  raw: x·B (fixed base)', iterations, () => ed25519.Point.BASE.multiply(k1)),
    time('  raw: k·P (variable base)', iterations, () => Y.multiply(k2)),
    time('  raw: subgroup check of their point (L·Y)', iterations, () => Y.isTorsionFree()),
  ];
  // The first row also paid for b.start() (x·B + pw·S): report it per side.
  const perSide = rows[0]!.perOpUs - rows[2]!.perOpUs - rows[3]!.perOpUs;
  const lines = [
    `SPAKE2 (${iterations} iterations)`,
    `${'what'.padEnd(48)}${'µs/op'.padStart(10)}`,
    ...rows.map((r) => `${r.label.padEnd(48)}${r.perOpUs.toFixed(1).padStart(10)}`),
    `${'SPAKE2 one side, net of the peer’s start()'.padEnd(48)}${perSide.toFixed(1).padStart(10)}`,
    `${'rest (decode, subgroup check, hashes, HKDF)'.padEnd(48)}${(perSide - rows[1]!.perOpUs).toFixed(1).padStart(10)}`,
  ];
  return lines.join('\n');
}
