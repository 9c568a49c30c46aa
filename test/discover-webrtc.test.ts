/**
 * DISCOVER over real WebRTC (@roamhq/wrtc), Node ↔ Node, inside a network namespace the test creates:
 * the devices find each other through a real relay and connect directly. The relay's frames carry no
 * SDP, no candidate, no IP address.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayLeaks } from './helpers/relayFrames.js';
import { createNetns, type Netns } from './helpers/netns.js';
import { ROOT } from './helpers/processes.js';

let ns: Netns;
beforeAll(() => {
  ns = createNetns(77);
});
afterAll(() => ns?.remove());

/** coturn inside the namespace, on the first veth address, with one static long-term user. */
function startTurn(): { url: string; ready: Promise<void>; stop(): void } {
  const [cmd, ...rest] = ns.exec([
    'turnserver',
    '-n',
    '--no-cli',
    '--no-tls',
    '--no-dtls',
    '--log-file=stdout',
    '--simple-log',
    `--listening-ip=${ns.addresses[0]}`,
    `--relay-ip=${ns.addresses[0]}`,
    '--listening-port=3478',
    '--min-port=49160',
    '--max-port=49200',
    '--lt-cred-mech',
    '--user=bc:bc-secret',
    '--realm=backchannel.test',
    `--allowed-peer-ip=${ns.addresses[0]}`,
    '--no-multicast-peers',
  ]);
  const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'ignore'] });
  // coturn logs this once its listeners are bound: only then may a client allocate.
  let log = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      log += d;
      if (log.includes('Total General servers')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`turnserver exited (${code}) before it was ready:\n${log}`)));
  });
  return { url: `turn:${ns.addresses[0]}:3478?transport=udp`, ready, stop: () => child.kill('SIGTERM') };
}

function run(args: string[], fixture = 'webrtcPair.js'): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const [cmd, ...rest] = ns.exec([process.execPath, join(ROOT, 'dist/test/fixtures', fixture), ...args]);
    const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('DISCOVER over WebRTC in a network namespace', () => {
  it('connects two Node devices directly and carries a message; the relay sees no SDP or addresses', async () => {
    const { code, out, err } = await run([]);
    expect(code, err + out).toBe(0);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { ok: boolean; via: string[]; text: string; bulk: number; frames: string[] };
    expect(result.via).toEqual(['direct', 'direct']);
    expect(result.text).toBe('hello over webrtc');
    expect(result.bulk).toBe(64 * 65536); // backpressure waited and resumed; nothing lost
    expect(result.frames.length).toBeGreaterThan(6);
    expect(relayLeaks(result.frames, [], ns.addresses)).toEqual([]);
  });

  it('connects real Chromium (the bundled SDK, the browser’s own WebRTC) to a Node device', async () => {
    const { code, out, err } = await run([], 'browserPair.js');
    expect(code, err + out).toBe(0);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, string>;
    expect(result.nodeVia).toBe('direct');
    expect(result.browserVia).toBe('direct');
    expect(result.browserGot).toBe('hello from node');
    expect(result.reply).toBe('echo: hello from node');
  });

  it('optional PeerJS adapter: two Chromium pages connect through a real PeerServer and talk', async () => {
    const { code, out, err } = await run([], 'peerjsPair.js');
    expect(code, err + out).toBe(0);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { heard: string; reply: string };
    expect(result.heard).toBe('ping over peerjs');
    expect(result.reply).toBe('echo: ping over peerjs');
  });

  it('the app: two devices opened with createBackchannel({ rtc }) pair, connect direct and talk', async () => {
    const { code, out, err } = await run([], 'appWebrtc.js');
    expect(code, err + out).toBe(0);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { presence: string[]; texts: string[]; verifiers: string[] };
    expect(result.presence).toEqual(['direct', 'direct']);
    expect(result.texts).toEqual(['over webrtc', 'and back']);
    expect(result.verifiers[0]).toBe(result.verifiers[1]);
  });

  it('connects through a real TURN server (coturn) with a relay-only ICE policy', async () => {
    const turn = startTurn();
    try {
      await turn.ready;
      const { code, out, err } = await run(['relay', turn.url]);
      expect(code, err + out).toBe(0);
      const result = JSON.parse(out.trim().split('\n').at(-1)!) as { via: string[]; text: string; candidates: string[] };
      expect(result.via).toEqual(['direct', 'direct']);
      expect(result.text).toBe('hello over webrtc');
      // Relay-only: every pair the connection used is a TURN relay candidate.
      expect(result.candidates.length).toBeGreaterThan(0);
      expect(result.candidates.every((t) => t === 'relay')).toBe(true);
    } finally {
      turn.stop();
    }
  });
});
