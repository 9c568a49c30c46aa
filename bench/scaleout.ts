/**
 * What sharing state through Redis costs: pairings per second through one relay with its in-memory
 * store, next to two relay processes on one redis-server with the inviter on one and the other side on
 * the other (every nameplate, mailbox and message goes through Redis transactions and pub/sub).
 */
import { startRelayProcess } from '../test/helpers/processes.js';
import { startRedis } from '../test/helpers/redis.js';
import { formatRate, measure } from './pairings.js';

export async function benchScaleout(levels = (process.env.BENCH_LEVELS ?? '1,10,100').split(',').map(Number)): Promise<string> {
  const redis = await startRedis();
  const relay = (args: string[]) => startRelayProcess(args, { timeoutMs: 30 * 60_000 });
  const single = await relay(['--memory']);
  const [a, b] = [await relay(['--redis', redis.url]), await relay(['--redis', redis.url])];
  const lines = [
    'Pairings per second: one relay in memory vs two relays sharing Redis (inviter on one, invitee on the other)',
    `${'concurrent pairs'.padEnd(18)}${'one relay, memory'.padStart(20)}${'two relays, Redis'.padStart(20)}${'ratio'.padStart(8)}`,
  ];
  try {
    for (const concurrency of levels) {
      const mem = await measure(single.url, concurrency);
      const shared = await measure(a.url, concurrency, b.url);
      lines.push(
        `${String(concurrency).padEnd(18)}${formatRate(mem).padStart(20)}${formatRate(shared).padStart(20)}${(shared.perSecond / mem.perSecond).toFixed(2).padStart(7)}x`,
      );
      console.error(lines.at(-1));
    }
  } finally {
    await Promise.all([single.stop(), a.stop(), b.stop()]);
    await redis.stop();
  }
  return lines.join('\n');
}
