/**
 * Issue #11 §8, one connection per device: a device with 1,000 contacts opens (every topic announced,
 * every depot fetched) on one socket to the relay; beside it, in the same run, 200 contacts as devices
 * opened before (a DISCOVER socket and a depot socket per contact: `relayConnections: 'per-contact'`)
 * and 200 on one socket. Each device is its own process (bench/muxWorker.ts) against a relay process;
 * sockets are counted at the device and at the relay (/metrics), RSS read from /proc for both.
 * BENCH_MUX_CONTACTS sets the large device's contacts (1000).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { residentBytes, ROOT, startRelayProcess, type RelayProcess } from '../test/helpers/processes.js';
import { ms, type Figure } from './figures.js';

interface Opened {
  contacts: number;
  mode: 'shared' | 'per-contact';
  readyMs: number;
  openMs: number;
  /** CPU time of the device process from open to every contact reachable (all threads, GC's included). */
  cpuMs: number;
  /** DISCOVER sockets open at the device when every contact was reachable. */
  sockets: number;
  rssBytes: number;
  /** Read while the device held its sockets. */
  relaySockets: number;
  relayRssBytes: number;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

async function discoverConnections(relay: RelayProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${relay.port}/metrics`)).text();
  return Number(/^backchannel_connections_open\{service="discover"\} (\d+)$/m.exec(text)?.[1] ?? NaN);
}

/** One device process: open it, read what it and the relay hold, close it. */
async function openDevice(relay: RelayProcess, contacts: number, mode: 'shared' | 'per-contact'): Promise<Opened> {
  const child = spawn(process.execPath, ['--expose-gc', join(ROOT, 'dist/bench/muxWorker.js'), relay.url, String(contacts), mode], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the device with ${contacts} contacts did not open within 10 minutes`)), 600_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) (clearTimeout(timer), resolve(out.slice(0, nl)));
    });
    child.on('exit', (code) => (clearTimeout(timer), reject(new Error(`the device exited (${code}) before it opened`))));
  });
  const device = JSON.parse(line) as Omit<Opened, 'relaySockets' | 'relayRssBytes'>;
  const opened: Opened = { ...device, relaySockets: await discoverConnections(relay), relayRssBytes: residentBytes(relay.running.child.pid!) };
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.stdin.end();
  await exited;
  return opened;
}

export async function benchMux(contacts = Number(process.env.BENCH_MUX_CONTACTS ?? 1000)): Promise<{ text: string; figures: Figure[] }> {
  const data = mkdtempSync(join(tmpdir(), 'bc-bench-mux-'));
  // A fresh relay per device, so each one's RSS is its own.
  const measure = async (n: number, mode: 'shared' | 'per-contact') => {
    const relay = await startRelayProcess(['--data', join(data, `${mode}-${n}`)], { timeoutMs: 60 * 60_000 });
    try {
      return await openDevice(relay, n, mode);
    } finally {
      await relay.stop();
    }
  };
  try {
    const before = await measure(200, 'per-contact');
    const small = await measure(200, 'shared');
    const large = await measure(contacts, 'shared');
    const row = (o: Opened) =>
      `${String(o.contacts).padStart(5)} contacts, ${o.mode.padEnd(11)} ready ${ms(o.readyMs).padStart(8)}, every contact reachable ${ms(o.openMs).padStart(8)} (CPU ${ms(o.cpuMs).padStart(8)}), ` +
      `sockets ${o.sockets} (relay counts ${o.relaySockets}), RSS device ${mib(o.rssBytes)}, relay ${mib(o.relayRssBytes)}`;
    const text = ['One connection per device (issue #11 §8):', ...[before, small, large].map(row)].join('\n');
    const figures: Figure[] = [
      {
        what: `device with ${contacts} contacts: open (all announced, depots fetched)`,
        ours: ms(large.openMs),
        reference: `200, a socket each: ${ms(before.openMs)}`,
        ratio: large.openMs / before.openMs,
        goal: '< 1 s',
        met: large.openMs < 1000,
        note: `200 contacts on one socket: ${ms(small.openMs)}; CPU time of the device opening ${contacts}: ${ms(large.cpuMs)}`,
      },
      {
        what: `device with ${contacts} contacts: DISCOVER sockets held`,
        ours: `${large.relaySockets}`,
        reference: `200, a socket each: ${before.relaySockets}`,
        ratio: large.relaySockets / before.relaySockets,
        goal: '1',
        met: large.relaySockets === 1 && large.sockets === 1,
      },
      {
        what: `device with ${contacts} contacts: RSS device / relay`,
        ours: `${mib(large.rssBytes)} / ${mib(large.relayRssBytes)}`,
        reference: `200, a socket each: ${mib(before.rssBytes)} / ${mib(before.relayRssBytes)}`,
        ratio: large.rssBytes / before.rssBytes,
        goal: 'printed',
        met: true,
      },
    ];
    return { text, figures };
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
}
