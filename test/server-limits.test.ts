/**
 * The relay under bad input and pressure: garbage never crashes it, every growable thing has a bound
 * with a clear error, expiry and graceful shutdown work.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, MailboxServer, MemoryMailboxStore, startRelay } from '../server/index.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { Wormhole } from '../src/wormhole/wormhole.js';
import { rawClient } from './helpers/rawClient.js';
import { FC_RUNS } from './helpers/runs.js';
import { until } from './helpers/wait.js';

function memoryServer(now = () => Date.now(), limits = DEFAULT_LIMITS) {
  const store = new MemoryMailboxStore({ limits, randomBytes: cryptoRandomBytes });
  return new MailboxServer({ store, limits, now });
}

const frame = fc.oneof(
  fc.string(),
  fc.json(),
  fc
    .record(
      {
        type: fc.constantFrom('bind', 'list', 'allocate', 'claim', 'release', 'open', 'add', 'close', 'ping', 'nope', ''),
        appid: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        side: fc.oneof(fc.string(), fc.integer(), fc.object()),
        nameplate: fc.oneof(fc.string(), fc.nat().map(String), fc.array(fc.string())),
        mailbox: fc.oneof(fc.string(), fc.integer()),
        phase: fc.oneof(fc.string(), fc.integer()),
        body: fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdef') }), fc.integer(), fc.constant(null)),
        mood: fc.oneof(fc.string(), fc.integer()),
        id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        ping: fc.anything(),
      },
      { requiredKeys: ['type'] },
    )
    .map((o) => JSON.stringify(o)),
);

describe('the mailbox server under garbage', () => {
  it('answers every frame, never throws, and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { maxLength: 30 }), async (frames) => {
        const server = memoryServer();
        const sent: Record<string, unknown>[] = [];
        let closed = false;
        const handle = server.connect({ send: (t) => sent.push(JSON.parse(t)), close: () => (closed = true) });
        for (const f of frames) handle.receive(f);
        await new Promise((r) => setTimeout(r, 0));
        await new Promise((r) => setImmediate(r));
        expect(closed).toBe(false);
        for (const s of sent) expect(typeof s.type).toBe('string');
        expect(sent.filter((s) => s.type === 'error' && s.error === 'internal error')).toEqual([]);
        // Each frame got at least an ack or an error.
        expect(sent.filter((s) => s.type === 'ack' || s.type === 'error').length).toBeGreaterThanOrEqual(frames.length);
        // And the server still works for a fresh client.
        const fresh: Record<string, unknown>[] = [];
        const h2 = server.connect({ send: (t) => fresh.push(JSON.parse(t)), close: () => {} });
        h2.receive(JSON.stringify({ type: 'ping', ping: 1 }));
        await new Promise((r) => setImmediate(r));
        expect(fresh.map((f) => f.type)).toEqual(['welcome', 'ack', 'pong']);
      }),
      { numRuns: FC_RUNS },
    );
  });

  it('answers malformed JSON and binary frames with an error, over a real socket', async () => {
    const relay = await startRelay();
    try {
      const c = await rawClient(relay.url);
      c.sendText('{not json');
      expect((await c.next((f) => f.type === 'error')).error).toBe('frame is not valid JSON');
      c.sendText('[1,2]');
      await c.next((f) => f.type === 'error' && f.error === 'frame is not a JSON object');
      c.send({ type: 'ping', ping: 5 });
      expect((await c.next((f) => f.type === 'pong')).pong).toBe(5);
      c.close();
    } finally {
      await relay.close();
    }
  });
});

describe('limits', () => {
  it('closes a connection that sends an oversized frame with 1009, and keeps serving others', async () => {
    const relay = await startRelay({ limits: { maxFrameBytes: 1024 } });
    try {
      const c = await rawClient(relay.url);
      c.sendText(JSON.stringify({ type: 'ping', ping: 'x'.repeat(2000) }));
      expect((await c.closed).code).toBe(1009);
      const d = await rawClient(relay.url);
      d.send({ type: 'ping', ping: 1 });
      await d.next((f) => f.type === 'pong');
      d.close();
    } finally {
      await relay.close();
    }
  });

  it('refuses more messages than a mailbox may hold, with a clear error', async () => {
    const relay = await startRelay({ limits: { maxMessagesPerMailbox: 3 } });
    try {
      const c = await rawClient(relay.url);
      c.send({ type: 'bind', appid: 'a', side: 's1' });
      c.send({ type: 'claim', nameplate: '1' });
      const { mailbox } = await c.next((f) => f.type === 'claimed');
      c.send({ type: 'open', mailbox });
      for (let i = 0; i < 4; i++) c.send({ type: 'add', phase: String(i), body: '00' });
      const err = await c.next((f) => f.type === 'error');
      expect(err.error).toMatch(/mailbox is full \(3 messages\)/);
      expect(c.frames.filter((f) => f.type === 'message')).toHaveLength(3);
      c.close();
    } finally {
      await relay.close();
    }
  });

  it('refuses connections beyond the per-address limit with HTTP 429', async () => {
    const relay = await startRelay({ limits: { maxConnectionsPerAddress: 2 } });
    try {
      const a = await rawClient(relay.url);
      const b = await rawClient(relay.url);
      await expect(rawClient(relay.url)).rejects.toThrow(/429/);
      a.close();
      await a.closed;
      // The relay frees the slot when it sees the close, a moment after the client does: retry until then.
      let c: Awaited<ReturnType<typeof rawClient>> | undefined;
      await until(async () => !!(c = await rawClient(relay.url).catch(() => undefined)), 10_000);
      c!.close();
      b.close();
    } finally {
      await relay.close();
    }
  });

  it('closes idle connections', async () => {
    const relay = await startRelay({ limits: { idleTimeoutMs: 200 } });
    try {
      const c = await rawClient(relay.url);
      const { reason } = await c.closed;
      expect(reason).toBe('idle timeout');
    } finally {
      await relay.close();
    }
  });

  it('closes a connection that floods frames faster than they are handled', async () => {
    const server = memoryServer(Date.now, { ...DEFAULT_LIMITS, maxQueuedFrames: 4 });
    let closedWith: string | undefined;
    const handle = server.connect({ send: () => {}, close: (_c, reason) => (closedWith = reason) });
    for (let i = 0; i < 10; i++) handle.receive(JSON.stringify({ type: 'ping', ping: i }));
    expect(closedWith).toBe('too many frames in flight');
  });
});

describe('expiry and shutdown', () => {
  it('prunes mailboxes and nameplates nobody touched within the TTL, but not ones in use', async () => {
    let now = 1_000_000;
    const server = memoryServer(() => now, { ...DEFAULT_LIMITS, mailboxTtlMs: 60_000 });
    const frames: Record<string, unknown>[] = [];
    const h = server.connect({ send: (t) => frames.push(JSON.parse(t)), close: () => {} });
    const settle = () => new Promise((r) => setImmediate(r));
    h.receive(JSON.stringify({ type: 'bind', appid: 'a', side: 's' }));
    h.receive(JSON.stringify({ type: 'claim', nameplate: '9' }));
    h.receive(JSON.stringify({ type: 'list' }));
    await settle();
    expect(frames.find((f) => f.type === 'nameplates')!.nameplates).toEqual([{ id: '9' }]);
    now += 120_000;
    expect(await server.prune()).toBe(1); // claimed but never opened: abandoned
    const h2 = server.connect({ send: (t) => frames.push(JSON.parse(t)), close: () => {} });
    h2.receive(JSON.stringify({ type: 'bind', appid: 'a', side: 't' }));
    h2.receive(JSON.stringify({ type: 'list' }));
    await settle();
    expect(frames.filter((f) => f.type === 'nameplates').at(-1)!.nameplates).toEqual([]);
    // An open mailbox with a listener survives expiry.
    h2.receive(JSON.stringify({ type: 'claim', nameplate: '10' }));
    await settle();
    const mailbox = frames.filter((f) => f.type === 'claimed').at(-1)!.mailbox;
    h2.receive(JSON.stringify({ type: 'open', mailbox }));
    await settle();
    now += 120_000;
    expect(await server.prune()).toBe(0);
  });

  it('shuts down gracefully: clients see 1001 and a waiting pairing fails with a typed error', async () => {
    const relay = await startRelay();
    const c = await rawClient(relay.url);
    const w = new Wormhole({
      relay: relay.url,
      appid: 'a',
      connector: nodeSocketConnector(),
      timeouts: { maxReconnects: 1, reconnectBaseMs: 10 },
    });
    await w.code;
    await relay.close();
    expect((await c.closed).code).toBe(1001);
    await expect(w.done).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
  });
});
