/**
 * Runs the Transport suite over real WebRTC inside a network namespace this test creates (WebRTC
 * gathers every interface, so nothing may run outside one): vitest again, inside the namespace, on
 * test/netns/webrtc-transport.netns.ts. Every case of the suite must pass there.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, vitestInNetns, type Netns } from './helpers/netns.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
let ns: Netns;
beforeAll(() => {
  ns = createNetns(79);
});
afterAll(() => ns?.remove());

describe('Transport conformance over real WebRTC', () => {
  it('passes every case inside a network namespace', async () => {
    const { code, output } = await vitestInNetns(ns, ROOT, 'test/netns/webrtc-transport.netns.ts');
    console.log(output);
    expect(code, output).toBe(0);
    // The suite ran: every case, none failed.
    const [, passed, total] = /Tests\s+(\d+) passed \((\d+)\)/.exec(output) ?? [];
    expect(Number(passed)).toBeGreaterThanOrEqual(6);
    expect(passed).toBe(total);
  }, 180_000);
});
