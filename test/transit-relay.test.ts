/**
 * Our transit relay (server/transitRelay.ts) against raw TCP clients, honest and hostile: pairing by
 * token and side (old and new handshakes), garbage, overlong and impatient handshakes, silent, lonely
 * and idle connections, per-address and per-token caps; and `backchannel relay --transit-port` as a
 * process. Every wait is on a socket event, with the relay's timeouts set short.
 */
import fc from 'fast-check';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_HANDSHAKE_BYTES, parseRelayHandshake, startTransitRelay, type TransitLimits, type TransitRelay } from '../server/transitRelay.js';
import { startRelay } from '../server/relay.js';
import { resolveRelayConfig } from '../server/relayConfig.js';
import { DEFAULT_TRANSIT_LIMITS } from '../server/transitRelay.js';
import { Branches } from './helpers/branches.js';
import { backchannelCli, startRelayProcess } from './helpers/processes.js';
import { FC_RUNS } from './helpers/runs.js';

const TOKEN = 'ab'.repeat(32);
const line = (token: string, side?: string) => `please relay ${token}${side === undefined ? '' : ` for side ${side}`}\n`;
const SIDE_A = '0123456789abcdef';
const SIDE_B = 'fedcba9876543210';

interface Client {
  socket: Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves once `text` has arrived in full. */
  until(text: string): Promise<void>;
  /** Resolves with everything received when the relay closes the connection. */
  closed: Promise<string>;
}

const relays: TransitRelay[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.close()));
});

async function relay(limits: Partial<TransitLimits> = {}): Promise<TransitRelay> {
  const r = await startTransitRelay({ port: 0, limits });
  relays.push(r);
  return r;
}

function client(r: TransitRelay, first?: string | Uint8Array): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = connect(r.port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const waiters: { text: string; resolve: () => void }[] = [];
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      for (const w of [...waiters]) if (data.includes(w.text)) waiters.splice(waiters.indexOf(w), 1) && w.resolve();
    });
    const closed = new Promise<string>((res) => socket.once('close', () => res(data.toString('latin1'))));
    socket.on('error', () => {});
    socket.once('error', reject);
    socket.once('connect', () => {
      if (first !== undefined) socket.write(first);
      resolve({
        socket,
        received: () => data.toString('latin1'),
        until: (text) => new Promise<void>((res) => (data.includes(text) ? res() : waiters.push({ text, resolve: res }))),
        closed,
      });
    });
  });
}

describe('transit relay: honest clients', () => {
  it('pairs two sides of one token, says ok to both, and carries bytes both ways', async () => {
    const r = await relay();
    const a = await client(r, line(TOKEN, SIDE_A));
    const b = await client(r, line(TOKEN, SIDE_B));
    await Promise.all([a.until('ok\n'), b.until('ok\n')]);
    const big = Buffer.alloc(3_000_000, 7);
    a.socket.write(big);
    b.socket.write('from b');
    await Promise.all([a.until('ok\nfrom b'), b.until('ok\n' + big.subarray(0, 1000).toString('latin1'))]);
    await new Promise<void>((res) => {
      const check = () => (b.received().length >= 3 + big.length ? res() : b.socket.once('data', check));
      check();
    });
    expect(b.received().length).toBe(3 + big.length);
    expect(r.server.stats().paired).toBe(1);
    // One side hangs up: the other is closed too.
    a.socket.end();
    await b.closed;
  });

  it('an old-style handshake (no side) pairs with a new one', async () => {
    const r = await relay();
    const a = await client(r, line(TOKEN));
    const b = await client(r, line(TOKEN, SIDE_B));
    await Promise.all([a.until('ok\n'), b.until('ok\n')]);
  });

  it('two connections of the same side wait; the other side pairs with one and the spare is closed', async () => {
    const r = await relay();
    const a1 = await client(r, line(TOKEN, SIDE_A));
    const a2 = await client(r, line(TOKEN, SIDE_A));
    await until(() => r.server.stats().waiting === 2, r);
    expect(a1.received() + a2.received()).toBe('');
    const b = await client(r, line(TOKEN, SIDE_B));
    await b.until('ok\n');
    const spare = await Promise.race([a1.closed.then(() => a2), a2.closed.then(() => a1)]);
    await spare.until('ok\n');
    expect(r.server.stats().refusals.get('redundant')).toBe(1);
  });

  it('`backchannel relay --transit-port 0` serves it next to the mailbox', async () => {
    const process = await startRelayProcess(['--memory', '--transit-port', '0']);
    try {
      const [, port] = await process.running.waitFor(/transit relay listening on tcp:127\.0\.0\.1:(\d+)\r?\n/);
      const fake = { port: Number(port) } as TransitRelay;
      const [a, b] = await Promise.all([client(fake, line(TOKEN, SIDE_A)), client(fake, line(TOKEN, SIDE_B))]);
      await Promise.all([a.until('ok\n'), b.until('ok\n')]);
      a.socket.destroy();
      b.socket.destroy();
    } finally {
      await process.stop();
    }
  });
});

/** Wait for a state the relay reaches once a client's bytes arrived (checked every 10 ms, up to 20 s). */
async function until(condition: () => boolean, r: TransitRelay): Promise<void> {
  for (const deadline = Date.now() + 20_000; !condition() && Date.now() < deadline;) await new Promise((res) => setTimeout(res, 10));
  expect(condition(), JSON.stringify({ ...r.server.stats(), refusals: [...r.server.stats().refusals] })).toBe(true);
}

describe('transit relay: inside startRelay', () => {
  it('runs on its own port next to the mailbox, shows in /metrics, and stops with the relay', async () => {
    const whole = await startRelay({ transitPort: 0 });
    try {
      const transit = whole.transit!;
      expect(transit.hint).toBe(`tcp:127.0.0.1:${transit.port}`);
      const [a, b] = await Promise.all([client(transit, line(TOKEN, SIDE_A)), client(transit, line(TOKEN, SIDE_B))]);
      await Promise.all([a.until('ok\n'), b.until('ok\n')]);
      const bad = await client(transit, 'nonsense\n');
      await bad.closed;
      const metrics = await (await fetch(`http://127.0.0.1:${whole.port}/metrics`)).text();
      expect(metrics).toMatch(/^backchannel_transit_pairs_total 1$/m);
      expect(metrics).toMatch(/^backchannel_transit_refusals_total\{reason="bad-handshake"\} 1$/m);
      await whole.close();
      await Promise.all([a.closed, b.closed]);
    } finally {
      await whole.close();
    }
  });
});

describe('transit relay: configuration', () => {
  it('a transit port already taken is one line naming --transit-port, exit 1', async () => {
    const taken = await relay();
    const run = await backchannelCli(['relay', '--memory', '--port', '0', '--transit-port', String(taken.port)]).result;
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error: port ${taken.port} on 127.0.0.1 is already in use — pick another with --transit-port\n`);
  });

  it('takes its limits from --limit transit.NAME=N over "transitLimits" in the config file; unknown names are refused', () => {
    const config = resolveRelayConfig({
      file: { name: 'relay.json', json: { transitLimits: { idleTimeoutMs: 5_000, maxWaitingPerToken: 2 } } },
      limit: 'transit.idleTimeoutMs=7000',
    });
    expect(config.transitLimits).toEqual({ ...DEFAULT_TRANSIT_LIMITS, idleTimeoutMs: 7_000, maxWaitingPerToken: 2 });
    expect(() => resolveRelayConfig({ limit: 'transit.bogus=1' })).toThrow(/unknown limit 'bogus'/);
    expect(() => resolveRelayConfig({ file: { name: 'relay.json', json: { transitLimits: { idleTimeoutMs: -1 } } } })).toThrow(/whole number/);
  });
});

describe('transit relay: hostile clients', () => {
  it('garbage gets "bad handshake" and is closed', async () => {
    const r = await relay();
    const c = await client(r, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await c.closed).toBe('bad handshake\n');
  });

  it('a line that never ends is refused once it is longer than any handshake: the buffer stays bounded', async () => {
    const r = await relay();
    const c = await client(r, 'please relay ' + 'a'.repeat(10_000));
    expect(await c.closed).toBe('bad handshake\n');
  });

  it('bytes after the handshake before "ok" are impatience: refused', async () => {
    const r = await relay();
    const together = await client(r, line(TOKEN, SIDE_A) + 'early bytes');
    expect(await together.closed).toBe('impatient\n');
    const later = await client(r, line(TOKEN, SIDE_A));
    await until(() => r.server.stats().waiting === 1, r);
    later.socket.write('too soon');
    expect(await later.closed).toBe('impatient\n');
    expect(r.server.stats().waiting).toBe(0);
  });

  it('a silent connection is closed after the handshake timeout', async () => {
    const r = await relay({ handshakeTimeoutMs: 200 });
    const c = await client(r);
    expect(await c.closed).toBe('timeout\n');
    expect(r.server.stats().refusals.get('handshake-timeout')).toBe(1);
  });

  it('a connection nobody pairs with is closed after the lonely timeout', async () => {
    const r = await relay({ lonelyTimeoutMs: 200 });
    const c = await client(r, line(TOKEN, SIDE_A));
    expect(await c.closed).toBe('');
    expect(r.server.stats()).toMatchObject({ waiting: 0 });
    expect(r.server.stats().refusals.get('lonely')).toBe(1);
  });

  it('a pair that goes quiet is closed after the idle timeout', async () => {
    const r = await relay({ idleTimeoutMs: 300 });
    const a = await client(r, line(TOKEN, SIDE_A));
    const b = await client(r, line(TOKEN, SIDE_B));
    await Promise.all([a.closed, b.closed]);
    expect(a.received()).toBe('ok\n');
    expect(r.server.stats().refusals.get('idle')).toBeGreaterThanOrEqual(1);
  });

  it('per-address and per-token caps close the excess at once', async () => {
    const r = await relay({ maxConnectionsPerAddress: 3, maxWaitingPerToken: 2 });
    const held = await Promise.all([client(r, line(TOKEN, SIDE_A)), client(r, line(TOKEN, SIDE_A))]);
    await until(() => r.server.stats().waiting === 2, r);
    const third = await client(r, line(TOKEN, SIDE_A));
    expect(await third.closed).toBe('');
    expect(r.server.stats().refusals.get('waiting-per-token')).toBe(1);
    await until(() => r.server.stats().connections === 2, r); // the refused one is gone on the relay's side too
    const fourth = await client(r, line('cd'.repeat(32), SIDE_A));
    const fifth = await client(r, line('ef'.repeat(32), SIDE_A));
    await until(() => r.server.stats().refusals.get('connections-per-address') === 1, r);
    const closedOne = await Promise.race([fourth.closed.then(() => 4), fifth.closed.then(() => 5)]);
    expect([4, 5]).toContain(closedOne);
    for (const c of [...held, fourth, fifth]) c.socket.destroy();
  });

  it('parses handshakes as the real relay does: prefixes wait, other lines are bad, nothing may follow', () => {
    const branches = new Branches('handshake parse', ['done', 'waiting', 'bad', 'impatient'] as const);
    const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
    const side = fc.option(fc.stringMatching(/^[0-9a-f]{16}$/), { nil: undefined });
    fc.assert(
      fc.property(
        hex,
        side,
        fc.integer({ min: 0, max: 200 }),
        fc.oneof(
          fc.string({ maxLength: 120 }),
          fc.string({ maxLength: 120 }).map((x) => `${x}\n`),
          fc.constant(`please relay ${'a'.repeat(63)}\n`),
        ),
        fc.constantFrom('valid', 'prefix', 'extra', 'junk'),
        (token, s, cut, junk, kind) => {
          const good = new TextEncoder().encode(line(token, s));
          let input: Uint8Array;
          if (kind === 'valid') input = good;
          else if (kind === 'prefix') input = good.subarray(0, Math.min(cut, good.length - 1));
          else if (kind === 'extra') input = new TextEncoder().encode(line(token, s) + (junk || 'x'));
          else input = new TextEncoder().encode(junk);
          const parsed = parseRelayHandshake(input);
          branches.hit(parsed.state);
          if (kind === 'valid') expect(parsed).toEqual({ state: 'done', token, side: s });
          if (kind === 'prefix') expect(parsed.state).toBe('waiting');
          if (kind === 'extra') expect(parsed.state).toBe('impatient');
          if (kind === 'junk' && junk.includes('\n')) expect(parsed.state).toBe('bad');
          if (parsed.state === 'waiting') expect(input.length).toBeLessThan(MAX_HANDSHAKE_BYTES);
        },
      ),
      { numRuns: FC_RUNS },
    );
    branches.check();
  });
});
