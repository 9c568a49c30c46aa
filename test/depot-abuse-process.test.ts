/**
 * `backchannel relay` as its own process, under a client that pipelines big deposits on
 * `/backchannel/v2` without waiting for (or reading) the replies: the relay bounds the frames and
 * bytes in flight per connection, closes that client with 1008, keeps its resident memory bounded,
 * and an honest deposit and fetch from another client still succeed. The attacker holds a contact key
 * of its own (it proves its topic): proofs keep strangers off others' topics, the bounds keep key holders in check.
 * And a relay whose data directory holds a topic far past its quota (written under looser limits, or
 * by relays overshooting together) builds its index and serves that topic a page at a time.
 * A key holder flooding readers and acks (10,000 tags, acks under tags no deposit lists) is refused or
 * changes nothing, and an honest deposit for two devices keeps its readers' acks across a restart;
 * another holder of the contact key (the contact's other device, an unlinked one) cannot ack for the
 * second reader, by its tag or with a made-up token: only the token sealed to that reader takes it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { fromHex } from '../src/crypto/bytes.js';
import { proveTopic, topicKey } from '../src/crypto/topicKey.js';
import { DISCOVER_PATH } from '../src/discover/wire.js';
import { proveOn } from './helpers/topicProof.js';
import { residentBytes as rss, startRelayProcess, type RelayProcess } from './helpers/processes.js';
import { rawClient } from './helpers/rawClient.js';
import { ackCheck } from '../src/depot/wire.js';
import { tempDirs } from './helpers/wait.js';

const dirs = tempDirs('bc-depot-abuse-');
const running: RelayProcess[] = [];
afterAll(async () => {
  for (const r of running) await r.stop();
  dirs.removeAll();
});

describe('a relay process under a client that pipelines deposits', () => {
  it('closes it with 1008, stays under 256 MiB resident, and still serves an honest deposit and fetch', { timeout: 120_000 }, async () => {
    const BOUND = 256 * 1024 * 1024;
    const relay = await startRelayProcess(['--data', dirs.make()]);
    running.push(relay);
    const url = `ws://127.0.0.1:${relay.port}${DISCOVER_PATH}`;
    const pid = relay.running.child.pid!;
    let peak = rss(pid);
    const sample = () => (peak = Math.max(peak, rss(pid)));

    // The attacker never reads: its socket is paused, so replies pile up on the relay's side too.
    const attacker = new WebSocket(url);
    const challenge = await new Promise<Uint8Array>((resolve, reject) => {
      attacker.once('message', (data) => resolve(fromHex((JSON.parse(data.toString()) as { challenge: string }).challenge)));
      attacker.once('error', reject);
    });
    const own = topicKey(new Uint8Array(32).fill(0xa1));
    attacker.send(JSON.stringify({ type: 'prove', ...proveTopic(own, challenge) }));
    const closed = new Promise<number>((resolve) => attacker.once('close', (code) => resolve(code)));
    let closeCode: number | undefined;
    void closed.then((code) => (closeCode = code));
    (attacker as unknown as { _socket: { pause(): void } })._socket.pause();

    const frame = JSON.stringify({ type: 'deposit', topic: own.topic, blob: 'A'.repeat(1_000_000) });
    const deadline = Date.now() + 60_000;
    let sent = 0;
    for (; sent < 1_500 && closeCode === undefined && attacker.readyState === WebSocket.OPEN && Date.now() < deadline; sent++) {
      attacker.send(frame);
      // Keep our own send buffer small: wait for the kernel to take what we queued.
      while (attacker.bufferedAmount > 16_000_000 && closeCode === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      if (sent % 16 === 0) sample();
    }
    // A closed-by-the-relay socket only reports it once it reads again.
    (attacker as unknown as { _socket: { resume(): void } })._socket.resume();
    const code = await Promise.race([closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000))]);
    sample();
    expect(code, `the relay closed the pipelining client after ${sent} frames`).toBe(1008);

    // An honest pair of clients: one deposits, the other fetches it.
    const contactKey = new Uint8Array(32).fill(0xb2);
    const depositor = await rawClient(url);
    const topic = await proveOn(depositor, contactKey);
    depositor.send({ type: 'deposit', topic, blob: 'aG9uZXN0' });
    const deposited = await depositor.next((f) => f.type === 'deposited' || f.type === 'error', 30_000);
    expect(deposited).toMatchObject({ type: 'deposited', topic });
    const fetcher = await rawClient(url);
    await proveOn(fetcher, contactKey);
    fetcher.send({ type: 'fetch', topic });
    const deposits = await fetcher.next((f) => f.type === 'deposits' || f.type === 'error', 30_000);
    expect(deposits).toMatchObject({ type: 'deposits', topic, items: [{ id: deposited.id, blob: 'aG9uZXN0' }] });
    sample();
    depositor.close();
    fetcher.close();

    expect(peak, `peak resident memory ${Math.round(peak / 2 ** 20)} MiB`).toBeLessThan(BOUND);
  });
});

describe('a relay process whose depot holds a hostile topic of 256 MiB', () => {
  it('builds its index and pages fetches from the start without reading the topic: stays under 192 MiB resident', { timeout: 180_000 }, async () => {
    const BOUND = 192 * 1024 * 1024;
    const data = dirs.make();
    const contactKey = new Uint8Array(32).fill(0xc3);
    const { topic } = topicKey(contactKey);
    // 256 deposits of 1 MiB (the largest one deposit may be), as the relay itself names and writes them.
    const dir = join(data, 'depot', topic);
    mkdirSync(dir, { recursive: true });
    const blob = Buffer.alloc(1024 * 1024, 'A');
    const ids = Array.from({ length: 256 }, (_, i) => `${String(Date.now()).padStart(15, '0')}-${String(i).padStart(6, '0')}-0badc0de-s${blob.length}`);
    for (const id of ids) writeFileSync(join(dir, id), blob);

    const relay = await startRelayProcess(['--data', data]);
    running.push(relay);
    const url = `ws://127.0.0.1:${relay.port}${DISCOVER_PATH}`;
    const pid = relay.running.child.pid!;
    let peak = rss(pid);
    const sample = () => (peak = Math.max(peak, rss(pid)));

    const fetcher = await rawClient(url);
    await proveOn(fetcher, contactKey);
    // Fetches from the start, each answered with one page (1 MiB: one deposit) and `more`.
    for (let i = 0; i < 8; i++) {
      fetcher.frames.splice(0);
      fetcher.send({ type: 'fetch', topic });
      const page = (await fetcher.next((f) => f.type === 'deposits' || f.type === 'error', 60_000)) as { items?: { id: string }[]; more?: boolean };
      expect(page.items?.map((d) => d.id)).toEqual([ids[0]]);
      expect(page.more).toBe(true);
      sample();
    }
    // And with a cursor, further in.
    fetcher.frames.splice(0);
    fetcher.send({ type: 'fetch', topic, after: ids[100] });
    const later = (await fetcher.next((f) => f.type === 'deposits' || f.type === 'error', 60_000)) as { items?: { id: string }[] };
    expect(later.items?.map((d) => d.id)).toEqual([ids[101]]);
    sample();
    fetcher.close();
    expect(peak, `peak resident memory ${Math.round(peak / 2 ** 20)} MiB with 256 MiB in one topic`).toBeLessThan(BOUND);
  });
});

describe('a relay process under a key holder flooding readers and acks', () => {
  it(
    'refuses 10,000 tags, ignores acks of tags a deposit does not list, and keeps an honest deposit for its second reader across a restart and forged acks',
    { timeout: 120_000 },
    async () => {
      const dir = dirs.make();
      let relay = await startRelayProcess(['--data', dir]);
      running.push(relay);
      const urlOf = (r: RelayProcess) => `ws://127.0.0.1:${r.port}${DISCOVER_PATH}`;
      const tag = (n: number) => n.toString(16).padStart(16, '0');
      const tags = (n: number) => Array.from({ length: n }, (_, i) => tag(i));
      type Client = Awaited<ReturnType<typeof rawClient>>;
      /** Send one depot request and wait for its answer (frames before it forgotten: the relay answers in order). */
      const request = (c: Client, frame: Record<string, unknown>) => {
        c.frames.splice(0);
        c.send(frame);
        return c.next((f) => f.type !== 'waiting', 30_000);
      };

      // The attacker's own topic: a deposit naming 10,000 readers is refused; acks naming tags its deposit does not list change nothing.
      const attacker = await rawClient(urlOf(relay));
      const own = await proveOn(attacker, new Uint8Array(32).fill(0xa3));
      expect(await request(attacker, { type: 'deposit', topic: own, blob: 'AAAA', readers: tags(10_000) })).toMatchObject({ type: 'error', re: 'deposit' });
      const target = await request(attacker, { type: 'deposit', topic: own, blob: 'AAAA', readers: tags(16) });
      expect(target).toMatchObject({ type: 'deposited' });
      attacker.frames.splice(0);
      // Its id among 999 made-up ones (distinct: an ack repeating an id is refused).
      const ids = [target.id, ...Array.from({ length: 999 }, (_, i) => `${'0'.repeat(15)}-${String(i).padStart(6, '0')}-00000000`)];
      for (let i = 0; i < 200; i++) attacker.send({ type: 'ack', topic: own, ids, tag: tag(1_000 + i) });
      await attacker.next(() => attacker.frames.filter((f) => f.type === 'acked').length >= 200, 60_000);
      expect(attacker.frames.filter((f) => f.type !== 'acked')).toEqual([]);
      // Still listed to its first reader: all 16 must ack.
      expect(await request(attacker, { type: 'fetch', topic: own, skip: tag(0) })).toMatchObject({ items: [{ id: target.id }] });
      attacker.close();

      // An honest deposit for Bob's two devices, each listed with the check of its own token (sealed to it
      // inside the blob: here the tokens are known to the test). The first acks with its token, then
      // forges acks for the second: by its tag, with made-up tokens; the relay restarts; the second still gets it.
      const contactKey = new Uint8Array(32).fill(0xb3);
      const [bob1, bob2] = [tag(0xb0b), tag(0xb0c)];
      const [token1, token2] = ['1b'.repeat(16), '2b'.repeat(16)];
      const alice = await rawClient(urlOf(relay));
      const topic = await proveOn(alice, contactKey);
      const readers = [`${bob1}:${ackCheck(token1)}`, `${bob2}:${ackCheck(token2)}`];
      const deposited = await request(alice, { type: 'deposit', topic, blob: 'aG9uZXN0', readers });
      alice.close();
      const first = await rawClient(urlOf(relay));
      await proveOn(first, contactKey);
      expect(await request(first, { type: 'ack', topic, ids: [deposited.id], tag: bob1, tokens: [token1] })).toMatchObject({ type: 'acked' });
      for (const forged of [{ tag: bob2 }, { tag: bob2, tokens: [token1] }, { tag: bob2, tokens: ['ff'.repeat(16)] }, {}])
        expect(await request(first, { type: 'ack', topic, ids: [deposited.id], ...forged })).toMatchObject({ type: 'acked' });
      expect(await request(first, { type: 'ack', topic, ids: [deposited.id], tokens: ['x'] })).toMatchObject({ type: 'error', re: 'ack' });
      first.close();
      await relay.stop();
      relay = await startRelayProcess(['--data', dir]);
      running.push(relay);
      const fetched = async (reader: string) => {
        const c = await rawClient(urlOf(relay));
        await proveOn(c, contactKey);
        const page = await request(c, { type: 'fetch', topic, skip: reader });
        c.close();
        return (page.items as { id: string }[]).map((d) => d.id);
      };
      expect(await fetched(bob1)).toEqual([]);
      expect(await fetched(bob2)).toEqual([deposited.id]);
      // The second device's own token takes it.
      const second = await rawClient(urlOf(relay));
      await proveOn(second, contactKey);
      expect(await request(second, { type: 'ack', topic, ids: [deposited.id], tokens: [token2] })).toMatchObject({ type: 'acked' });
      second.close();
      expect(await fetched(bob2)).toEqual([]);
    },
  );
});
