/**
 * The servers the benchmarks load, each its own process on 127.0.0.1 with its pid known (for CPU and
 * RSS from /proc), and the driver process (bench/wsDriver.ts) that loads them.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireSystemTools, ROOT, startRelayProcess, SYSTEM_PYTHON, waitForPort } from '../test/helpers/processes.js';

export interface BenchServer {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * The driver is one address: the relay's per-address connection and claim rates are lifted (they would
 * refuse a load test by design), and so is the per-nameplate claim rate (see docs/benchmarks.md), and its connection caps raised for the idle-socket figure.
 */
export const BENCH_LIMITS = [
  'connectionBurstPerAddress=1000000000',
  'connectionsPerMinutePerAddress=1000000000',
  'claimBurstPerAddress=1000000000',
  'claimsPerMinutePerAddress=1000000000',
  // Nameplates are reused as soon as they are released: under load one is claimed many times a minute.
  'claimBurstPerNameplate=1000000000',
  'claimsPerMinutePerNameplate=1000000000',
  'maxConnections=100000',
  'maxConnectionsPerAddress=100000',
].join(',');

/** `backchannel relay` (from dist/), in memory unless other storage args are given. */
export async function startOurRelay(args: string[] = ['--memory'], nodeArgs: string[] = []): Promise<BenchServer> {
  const port = await freePort();
  if (nodeArgs.length > 0) return startNodeRelay(port, args, nodeArgs);
  const relay = await startRelayProcess([...args, '--limit', BENCH_LIMITS], { port, timeoutMs: 60 * 60_000 });
  return {
    name: 'our relay',
    url: relay.url,
    pid: relay.running.child.pid!,
    stop: async () => void (await relay.stop()),
  };
}

/** The relay with extra node flags (e.g. `--cpu-prof`), for profiling. */
async function startNodeRelay(port: number, args: string[], nodeArgs: string[]): Promise<BenchServer> {
  const child = spawn(
    process.execPath,
    [...nodeArgs, join(ROOT, 'bin/backchannel.js'), 'relay', '--port', String(port), '--quiet', ...args, '--limit', BENCH_LIMITS],
    {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  await waitForPort(port, 20_000, child);
  return {
    name: 'our relay',
    url: `ws://127.0.0.1:${port}/v1`,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Debian's wormhole-mailbox-server 0.4.1 (Twisted), with a fresh SQLite channel database on tmpfs
 * (/dev/shm) when there is one: our relay runs in memory, so the reference does not wait on fsync either
 * (on disk it commits every frame and manages a few pairings per second).
 */
export async function startPythonMailbox(): Promise<BenchServer> {
  requireSystemTools();
  const port = await freePort();
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'bc-bench-py-'));
  const child = spawn(
    SYSTEM_PYTHON,
    ['-m', 'twisted', 'wormhole-mailbox', '--port', `tcp:${port}:interface=127.0.0.1:backlog=1024`, '--channel-db', join(dir, 'relay.sqlite')],
    { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitForPort(port, 20_000, child);
  return {
    name: 'python mailbox',
    url: `ws://127.0.0.1:${port}/v1`,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PairingRun {
  done: number;
  failed: number;
  failures: string[];
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU of each pid in `pids`, over the measured window. */
  cpuMs: number[];
}

export interface IdleRun {
  count: number;
  before: number;
  after: number;
  perSocketBytes: number;
  openSeconds: number;
}

/** Run the driver (its own process) and return its JSON line. */
export function drive<T>(options: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist/bench/wsDriver.js'), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`driver exited ${code}: ${out}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as T);
    });
  });
}

export const benchScale = () => Number(process.env.BENCH_SCALE ?? 1);

/** A pairing load on `server` (the invitee on `other` when given): warm-up, then the measured window. */
/** `alsoPids`: other processes whose CPU time is measured over the same window (after the servers' in `cpuMs`). */
export function pairingLoad(server: BenchServer, concurrency: number, other?: BenchServer, alsoPids: number[] = []): Promise<PairingRun> {
  const scale = benchScale();
  return drive<PairingRun>({
    mode: 'pairings',
    url: server.url,
    otherUrl: other?.url,
    concurrency,
    warmupMs: 2_000 * scale,
    durationMs: Number(process.env.BENCH_WINDOW_MS ?? 8_000 * scale),
    pids: [...(other ? [server.pid, other.pid] : [server.pid]), ...alsoPids],
  });
}
