/**
 * A real `redis-server` (Debian) on a free loopback port, with its data in a temp dir, for the tests
 * that run the relay on Redis and for the benchmarks. Durable (the tests' default): AOF, fsync every
 * write, so a test may restart it; `durable: false` keeps everything in memory (no AOF, no RDB).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './processes.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisProcess {
  url: string;
  /** The redis-server process (the benchmarks read its CPU time). */
  pid: number;
  /** A new client on it; closed by `stop()`. */
  client(): Redis;
  stop(): Promise<void>;
}

export async function startRedis(options: { durable?: boolean } = {}): Promise<RedisProcess> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing: run scripts/install-system-deps.sh first`);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bc-redis-'));
  const child: ChildProcess = spawn(
    REDIS_SERVER,
    [
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no'],
      ...(options.durable === false ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', 'always']),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
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
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}):\n${output}`));
    });
  });
  const url = `redis://127.0.0.1:${port}`;
  const clients: Redis[] = [];
  return {
    url,
    pid: child.pid!,
    client() {
      const c = new Redis(url, { maxRetriesPerRequest: 3 });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
