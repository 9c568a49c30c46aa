/**
 * The Stately inspector one-liners of docs/inspector.md, run for real up to the inspector's endpoint:
 * Node's `createWebSocketInspector` streaming to a loopback WebSocket server, and the browser's
 * `createBrowserInspector` (in Chromium) posting to an inspector window — a local page that forwards
 * what it receives to a loopback WebSocket server. Both endpoints get the app's states, and no code,
 * contact key, verifier or message text.
 */
import { createWebSocketInspector } from '@statelyai/inspect';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { describe, expect, it } from 'vitest';
import { startRelay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel } from '../src/app/backchannel.js';
import { openInChromium } from './helpers/chromium.js';
import { until } from './helpers/wait.js';

interface Received {
  type?: string;
  name?: string;
  event?: { type?: string };
  snapshot?: { value?: unknown };
}

/** What the inspector must show, and must not: the states, and none of the secrets. */
function expectRedactedStream(frames: string[], secrets: { code: string; verifier: string; keyHex: string; text: string }): void {
  const events = frames.map((f) => JSON.parse(f) as Received);
  const all = frames.join('\n');
  // It is the app: its actors, the pairing reaching `verified`, the message being sent.
  const actors = new Set(events.filter((e) => e.type === '@xstate.actor').map((e) => e.name));
  for (const name of ['app', 'pairing', 'wormhole']) expect(actors, name).toContain(name);
  expect(events.some((e) => e.type === '@xstate.snapshot' && String(JSON.stringify(e.snapshot?.value)).includes('"key":"verified"'))).toBe(true);
  expect(events.some((e) => e.type === '@xstate.event' && e.event?.type === 'message.send')).toBe(true);
  expect(all).toContain('[redacted');
  // And no secret: the code's words (the nameplate is public), the contact key, the verifier, the text.
  const [, w1, w2] = secrets.code.split('-');
  expect(all).not.toContain(`${w1}-${w2}`);
  expect(all).not.toContain(`"${w1}","${w2}"`);
  expect(all).not.toContain(secrets.keyHex);
  expect(all).not.toContain(secrets.verifier);
  expect(all).not.toContain(secrets.text);
}

/** A loopback WebSocket endpoint that keeps every frame it receives; with `page`, it also serves that HTML. */
async function endpoint(page?: string): Promise<{ url: string; http: string; frames: string[]; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page ?? '');
  });
  const wss = new WebSocketServer({ server });
  const frames: string[] = [];
  wss.on('connection', (ws) => ws.on('message', (data) => frames.push(data.toString())));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    http: `http://127.0.0.1:${port}/inspector`,
    frames,
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('the Stately inspector one-liners', () => {
  it('Node: createWebSocketInspector streams the app to a local inspector endpoint, redacted', async () => {
    const relay = await startRelay();
    const inspector = await endpoint();
    const connector = nodeSocketConnector();
    try {
      const ws = createWebSocketInspector({ url: inspector.url }); // the one-liner (docs/inspector.md)
      const alice = await createBackchannel({ storage: new MemoryStorage(), connector, relay: relay.url, inspect: ws.inspect });
      const bob = await createBackchannel({ storage: new MemoryStorage(), connector, relay: relay.url });
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobOnAlice] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
      const text = `a private note ${randomBytes(6).toString('hex')}`;
      await alice.send(bobOnAlice.id, { text });
      await until(() => inspector.frames.some((f) => f.includes('"message.send"')), 60_000);
      await Promise.all([alice.close(), bob.close()]);
      ws.stop();
      console.log(`the inspector endpoint received ${inspector.frames.length} events`);
      expectRedactedStream(inspector.frames, { code, verifier: bobOnAlice.verifier, keyHex: bobOnAlice.channels[0]!, text });
    } finally {
      await inspector.close();
      await relay.close();
    }
  });

  it('browser: createBrowserInspector posts the app to the inspector window, redacted (Chromium)', { timeout: 180_000 }, async () => {
    const relay = await startRelay();
    // The inspector window: says it is connected, as Stately's does, then forwards every event to our endpoint.
    const forwarder = (url: string) =>
      `<!doctype html><meta charset="utf-8"><title>inspector</title><script>
const ws = new WebSocket(${JSON.stringify(url)}); const queue = [];
ws.onopen = () => { for (const m of queue.splice(0)) ws.send(m); };
addEventListener('message', (e) => { const m = JSON.stringify(e.data); ws.readyState === 1 ? ws.send(m) : queue.push(m); });
opener.postMessage({ type: '@statelyai.connected' }, '*');
</script>`;
    const inspector = await endpoint();
    const page = await endpoint(forwarder(inspector.url));
    const browser = await openInChromium(fileURLToPath(new URL('./browser/inspectEntry.ts', import.meta.url)), 'pairWatched');
    try {
      const errors: string[] = [];
      browser.page.on('pageerror', (e) => errors.push(e.message));
      const text = `a private note ${randomBytes(6).toString('hex')}`;
      const secrets = await browser.page.evaluate(([r, i, t]) => window.pairWatched(r!, i!, t!), [relay.url, page.http, text]);
      await until(() => inspector.frames.some((f) => f.includes('"message.send"')), 60_000);
      console.log(`the inspector window forwarded ${inspector.frames.length} events`);
      expect(errors).toEqual([]);
      expectRedactedStream(inspector.frames, { ...secrets, text });
    } finally {
      await browser.close();
      await page.close();
      await inspector.close();
      await relay.close();
    }
  });
});
