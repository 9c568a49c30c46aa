/**
 * Runs the Transport suite over the PeerJS adapter in Node, inside a network namespace this test
 * creates: the real `peerjs` client on @roamhq/wrtc and a real PeerServer on the namespace's first veth
 * address (test/netns/peerjs-transport.netns.ts). Every case must pass there, tamper and replay included.
 * (Chromium ↔ Chromium through PeerJS is discover-webrtc.test.ts.)
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, vitestInNetns, type Netns } from './helpers/netns.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
let ns: Netns;
beforeAll(() => {
  ns = createNetns(87);
});
afterAll(() => ns?.remove());

describe('Transport conformance over PeerJS', () => {
  it('passes every case inside a network namespace', async () => {
    const { code, output } = await vitestInNetns(ns, ROOT, 'test/netns/peerjs-transport.netns.ts', { BACKCHANNEL_NETNS_ADDRESS: ns.addresses[0] });
    console.log(output);
    expect(code, output).toBe(0);
    // The suite ran (tamper and replay too) and the reconnect case: none failed.
    const [, passed, total] = /Tests\s+(\d+) passed \((\d+)\)/.exec(output) ?? [];
    expect(Number(passed)).toBeGreaterThanOrEqual(8);
    expect(passed).toBe(total);
  }, 180_000);
});
