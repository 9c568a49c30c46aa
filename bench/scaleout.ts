/**
 * What sharing state through Redis costs: pairings per second through one relay with its in-memory
 * store, next to two relay processes on one redis-server with the inviter on one and the invitee on the
 * other (every nameplate, mailbox and message goes through Redis transactions and pub/sub). Same driver
 * as the Python comparison (bench/wsDriver.ts). Redis keeps its data in memory only (no AOF, no RDB),
 * as the single relay does.
 */
import { startRedis } from '../test/helpers/redis.js';
import { type Figure, perSecond } from './figures.js';
import { pairingLoad, startOurRelay } from './servers.js';

export async function benchScaleout(concurrency = 50): Promise<{ text: string; figures: Figure[] }> {
  const single = await startOurRelay();
  let one;
  try {
    one = await pairingLoad(single, concurrency);
  } finally {
    await single.stop();
  }
  const redis = await startRedis({ durable: false });
  let two;
  try {
    const a = await startOurRelay(['--redis', redis.url]);
    const b = await startOurRelay(['--redis', redis.url]);
    try {
      two = await pairingLoad(a, concurrency, b, [redis.pid]);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  } finally {
    await redis.stop();
  }
  /** CPU per pairing of the processes `cpuMs` lists from `from` up to `to`. */
  const cpu = (r: typeof one, from = 0, to = 2) => r.cpuMs.slice(from, to).reduce((x, y) => x + y, 0) / Math.max(1, r.done);
  const failed = (r: typeof one) => (r.failed ? `, ${r.failed} failed (${r.failures.join('; ')})` : '');
  const text = [
    `One relay in memory vs two relays sharing one redis-server (inviter on one, invitee on the other), ${concurrency} concurrent pairs`,
    `  one relay:          ${perSecond(one.perSecond)}, relay CPU ${cpu(one).toFixed(2)} ms/pairing${failed(one)}`,
    `  two relays + Redis: ${perSecond(two.perSecond)}, relays' CPU ${cpu(two).toFixed(2)} ms/pairing (both together), Redis CPU ${cpu(two, 2, 3).toFixed(2)} ms/pairing${failed(two)}`,
  ].join('\n');
  const ratio = two.perSecond / one.perSecond;
  return {
    text,
    figures: [
      {
        what: `two relays on Redis vs one relay, pairings/s (${concurrency} pairs)`,
        ours: perSecond(two.perSecond),
        reference: `${perSecond(one.perSecond)} (one relay)`,
        ratio,
        goal: '≥ 0.9×',
        met: ratio >= 0.9,
        note: 'N relays on N cores: this machine has 2 cores, shared by the driver, Redis and both relays — not measurable here',
      },
    ],
  };
}
