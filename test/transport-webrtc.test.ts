/**
 * Runs the Transport suite over real WebRTC inside a network namespace this test creates (WebRTC
 * gathers every interface, so nothing may run outside one): vitest again, inside the namespace, on
 * test/netns/webrtc-transport.netns.ts. Every case of the suite must pass there.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, type Netns } from './helpers/netns.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
let ns: Netns;
beforeAll(() => {
  ns = createNetns(79);
});
afterAll(() => ns?.remove());

describe('Transport conformance over real WebRTC', () => {
  it('passes every case inside a network namespace', async () => {
    const [cmd, ...args] = ns.exec([process.execPath, join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'test/netns/vitest.config.ts']);
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(cmd!, args, { cwd: ROOT, env: { ...process.env, BACKCHANNEL_NETNS: ns.name, NO_COLOR: '1', FORCE_COLOR: '0' } });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.on('close', (code) => resolve({ code, output }));
    });
    console.log(output);
    expect(code, output).toBe(0);
    // The suite ran: every case, none failed.
    const [, passed, total] = /Tests\s+(\d+) passed \((\d+)\)/.exec(output) ?? [];
    expect(Number(passed)).toBeGreaterThanOrEqual(6);
    expect(passed).toBe(total);
  }, 180_000);
});
