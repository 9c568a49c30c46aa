/**
 * What sharing state through Redis costs: pairings per second through one relay with its in-memory
 * store, next to two relay processes on one redis-server with the inviter on one and the invitee on the
 * other (every nameplate, mailbox and message goes through Redis transactions and pub/sub). Same driver
 * as the Python comparison (bench/wsDriver.ts). Redis keeps its data in memory only (no AOF, no RDB),
 * as the single relay does.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort } from '../test/helpers/processes.js';
import { type Figure, perSecond } from './figures.js';
import { pairingLoad, startOurRelay } from './servers.js';

const REDIS_SERVER = '/usr/bin/redis-server';

async function startMemoryRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing: run scripts/install-system-deps.sh first`);
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 20_000);
    const onData = (d: Buffer) => {
      output += d;
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${output}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export async function benchScaleout(concurrency = 50): Promise<{ text: string; figures: Figure[] }> {
  const single = await startOurRelay();
  let one;
  try {
    one = await pairingLoad(single, concurrency);
  } finally {
    await single.stop();
  }
  const redis = await startMemoryRedis();
  let two;
  try {
    const a = await startOurRelay(['--redis', redis.url]);
    const b = await startOurRelay(['--redis', redis.url]);
    try {
      two = await pairingLoad(a, concurrency, b);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  } finally {
    await redis.stop();
  }
  const cpu = (r: typeof one) => r.cpuMs.reduce((x, y) => x + y, 0) / Math.max(1, r.done);
  const failed = (r: typeof one) => (r.failed ? `, ${r.failed} failed (${r.failures.join('; ')})` : '');
  const text = [
    `One relay in memory vs two relays sharing one redis-server (inviter on one, invitee on the other), ${concurrency} concurrent pairs`,
    `  one relay:          ${perSecond(one.perSecond)}, relay CPU ${cpu(one).toFixed(2)} ms/pairing${failed(one)}`,
    `  two relays + Redis: ${perSecond(two.perSecond)}, relays' CPU ${cpu(two).toFixed(2)} ms/pairing (both together; Redis not counted)${failed(two)}`,
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
