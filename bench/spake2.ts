/**
 * SPAKE2 CPU per side (start() + finish() on one side, the peer's message made beforehand), next to the
 * noble limit: the same group operations done with @noble/curves directly, each the fastest noble offers
 * for it — x·B (fixed base, noble's table), pw·S (S with its own precomputed table), x·(Y − pw·S)
 * (variable base) and the subgroup check of the peer's point (L·Y), plus decoding it and encoding ours.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { utf8 } from '../src/crypto/bytes.js';
import { arbitraryElement, L, Spake2Symmetric } from '../src/crypto/spake2.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import type { Figure } from './figures.js';
import { benchScale } from './servers.js';

const Point = ed25519.Point;

/**
 * CPU µs per op of each function (this process's user + system time, so time spent descheduled on a
 * shared machine does not count), each the best of `rounds` rounds of `iterations`, rounds interleaved.
 */
function timeAll(iterations: number, rounds: number, fns: ((i: number) => void)[]): number[] {
  for (const fn of fns) for (let i = 0; i < Math.min(20, iterations); i++) fn(i); // warm up the JIT and noble's tables
  const best = fns.map(() => Infinity);
  for (let round = 0; round < rounds; round++) {
    for (const [k, fn] of fns.entries()) {
      const start = process.cpuUsage();
      for (let i = 0; i < iterations; i++) fn(i);
      const used = process.cpuUsage(start);
      best[k] = Math.min(best[k]!, (used.user + used.system) / iterations);
    }
  }
  return best;
}

const scalar = () => {
  let n = 0n;
  for (const x of cryptoRandomBytes(64)) n = (n << 8n) | BigInt(x);
  return (n % (L - 1n)) + 1n;
};

export function benchSpake2(iterations = Number(process.env.BENCH_SPAKE2 ?? 10)): { text: string; figure: Figure } {
  const password = utf8('4-purple-sausages');
  const appid = utf8('bench');
  // The peer's messages, made outside the timing.
  const peers = Array.from({ length: iterations }, () => new Spake2Symmetric(password, appid, cryptoRandomBytes).start());
  // The noble limit, on a point S with its own table (a fresh copy, not ours).
  const S = arbitraryElement(utf8('symmetric'));
  S.precompute(6, false);
  const Ys = peers.map((m) => m.subarray(1));
  const Yp = Ys.map((y) => Point.fromBytes(y));
  const xs = Array.from({ length: iterations }, scalar);
  const pws = Array.from({ length: iterations }, scalar);
  const pwSp = pws.map((pw) => S.multiply(pw));
  const xBp = xs.map((x) => Point.BASE.multiply(x));
  const [ours, limit, xB, pwS, xK, subgroup, decode, encode] = timeAll(iterations, Number(process.env.BENCH_SPAKE2_ROUNDS ?? 30 * benchScale()), [
    (i) => {
      const a = new Spake2Symmetric(password, appid, cryptoRandomBytes);
      a.start();
      a.finish(peers[i]!);
    },
    // The limit: one side's group work in sequence, with noble directly (no hashing, no checks beyond the subgroup's).
    (i) => {
      const blinding = S.multiply(pws[i]!);
      Point.BASE.multiply(xs[i]!).add(blinding).toBytes();
      const Y = Point.fromBytes(Ys[i]!);
      Y.isTorsionFree();
      Y.subtract(blinding).multiply(xs[i]!).toBytes();
    },
    (i) => Point.BASE.multiply(xs[i]!),
    (i) => S.multiply(pws[i]!),
    (i) => Yp[i]!.subtract(pwSp[i]!).multiply(xs[i]!).toBytes(),
    (i) => Yp[i]!.isTorsionFree(),
    (i) => Point.fromBytes(Ys[i]!),
    (i) => xBp[i]!.add(pwSp[i]!).toBytes(),
  ]) as [number, number, number, number, number, number, number, number];
  const rows: [string, number][] = [
    ['SPAKE2 one side: start() + finish()', ours],
    ['noble limit: the same group operations in sequence', limit],
    ['  each alone, summed:', xB + pwS + xK + subgroup + decode + encode],
    ['    x·B (fixed base, noble’s table)', xB],
    ['    pw·S (S precomputed)', pwS],
    ['    x·(Y − pw·S), encoded (variable base)', xK],
    ['    subgroup check of Y (L·Y)', subgroup],
    ['    decode Y', decode],
    ['    add and encode our message', encode],
  ];
  const text = [
    `SPAKE2 CPU per side (process CPU time, the best of many short interleaved rounds of ${iterations})`,
    ...rows.map(([label, us]) => `  ${label.padEnd(52)}${`${(us / 1000).toFixed(3)} ms`.padStart(10)}`),
  ].join('\n');
  return {
    text,
    figure: {
      what: 'SPAKE2 CPU per side vs the noble limit',
      ours: `${(ours / 1000).toFixed(2)} ms`,
      reference: `${(limit / 1000).toFixed(2)} ms (noble)`,
      ratio: ours / limit,
      goal: '≤ 1.1×',
      met: ours / limit <= 1.1,
    },
  };
}
