/**
 * RedisMailboxStore as two relays use it: concurrent allocations through both never hand out one
 * nameplate twice, an `add` through one relay reaches the other's watchers with its index, never its
 * own, the byte budget holds over both under concurrent claims (each operation is one atomic script),
 * and it counts bytes exactly as the memory store does, also for strings outside ASCII. A pairing costs
 * one script per client step and no SUBSCRIBE (each relay listens on its own channel from its start),
 * and a nameplate freed through one relay is allocated last through the other too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../server/limits.js';
import { RedisMailboxStore } from '../server/redisMailboxStore.js';
import { MemoryMailboxStore, type MailboxStore } from '../server/store.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { startRedis, type RedisProcess } from './helpers/redis.js';
import { until } from './helpers/wait.js';

let redis: RedisProcess;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => redis?.stop());

const store = (relayId: string, namespace: string) =>
  new RedisMailboxStore({ redis: redis.client(), subscriber: redis.client(), limits: DEFAULT_LIMITS, randomBytes: cryptoRandomBytes, relayId, namespace });

describe('RedisMailboxStore shared by two relays', () => {
  it('concurrent allocations through both relays get distinct nameplates', async () => {
    const [a, b] = [store('a', 'alloc'), store('b', 'alloc')];
    const got = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).allocateNameplate('app', `side${i}`, Date.now())));
    expect(new Set(got).size).toBe(40);
    expect((await a.listNameplates('app')).length).toBe(40);
    // The first nine are the one-digit ids, as server.py hands them out.
    expect(got.filter((n) => n.length === 1).length).toBe(9);
  });

  it('an add through one relay reaches the other relay’s watchers, with its index', async () => {
    const [a, b] = [store('a', 'watch'), store('b', 'watch')];
    const mailbox = await a.claimNameplate('app', '7', 'sideA', 1);
    expect(await b.claimNameplate('app', '7', 'sideB', 2)).toBe(mailbox);
    const onA: [string, number][] = [];
    const onB: [string, number][] = [];
    const stopA = await a.watch('app', mailbox, (m, i) => onA.push([m.phase, i]));
    const stopB = await b.watch('app', mailbox, (m, i) => onB.push([m.phase, i]));
    await a.addMessage('app', mailbox, { side: 'sideA', phase: 'pake', body: 'aa', server_rx: 3, msg_id: null }, 3);
    await b.addMessage('app', mailbox, { side: 'sideB', phase: 'pake', body: 'bb', server_rx: 4, msg_id: null }, 3);
    await until(() => onA.length === 1 && onB.length === 1);
    expect(onA).toEqual([['pake', 1]]); // B's add, the second message
    expect(onB).toEqual([['pake', 0]]); // A's add, the first
    expect((await b.openMailbox('app', mailbox, 'sideB', 5)).map((m) => m.body)).toEqual(['aa', 'bb']);
    await a.addMessage('app', mailbox, { side: 'sideA', phase: '0', body: 'cc', server_rx: 6, msg_id: null }, 3);
    await until(() => onB.length === 2);
    expect(onA).toHaveLength(1);
    await Promise.all([stopA(), stopB()]);
    expect(await a.closeMailbox('app', mailbox, 'sideA', 'happy')).toBe(false);
    expect(await b.closeMailbox('app', mailbox, 'sideB', 'happy')).toBe(true);
  });

  it('holds the byte budget over both relays when they claim at the same instant', async () => {
    const limits = { ...DEFAULT_LIMITS, maxStoreBytes: 5_000 };
    const [a, b] = ['a', 'b'].map(
      (relayId) =>
        new RedisMailboxStore({ redis: redis.client(), subscriber: redis.client(), limits, randomBytes: cryptoRandomBytes, relayId, namespace: 'budget' }),
    );
    const results = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => (i % 2 ? a! : b!).claimNameplate('app', String(100 + i), `side${i}`, 1)));
    const refused = results.filter((r) => r.status === 'rejected');
    console.log(`concurrent claims under a 5,000-byte budget: ${results.length - refused.length} kept, ${refused.length} refused`);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect(String((r as PromiseRejectedResult).reason)).toContain('the relay is full');
    expect((await a!.stats()).bytes).toBeLessThanOrEqual(5_000);
  });

  it('counts bytes exactly as the memory store does, step by step, also outside ASCII', async () => {
    const memory = new MemoryMailboxStore({ limits: DEFAULT_LIMITS, randomBytes: cryptoRandomBytes });
    const shared = store('r', 'bytes');
    const steps: [string, (s: MailboxStore, mailbox: string) => Promise<unknown>][] = [
      ['claim', (s) => s.claimNameplate('appé✓', '42', 'sideü', 1)],
      ['claim again', (s) => s.claimNameplate('appé✓', '42', 'side𝄞', 2)],
      ['open', (s, m) => s.openMailbox('appé✓', m, 'side𝄞', 3)],
      ['add', (s, m) => s.addMessage('appé✓', m, { side: 'sideü', phase: 'pakeé', body: 'abcd', server_rx: 4, msg_id: 'idß' }, 4)],
      ['release', (s) => s.releaseNameplate('appé✓', '42', 'sideü', 5)],
      ['close with a mood', (s, m) => s.closeMailbox('appé✓', m, 'sideü', 'happyé', 6)],
      ['allocate', (s) => s.allocateNameplate('other', 'sïde', 6)],
      ['close the last', (s, m) => s.closeMailbox('appé✓', m, 'side𝄞', 'happy', 7)],
    ];
    const mailboxes = new Map<MailboxStore, string>();
    for (const [what, step] of steps) {
      for (const s of [memory, shared] as MailboxStore[]) {
        const result = await step(s, mailboxes.get(s) ?? '');
        if (!mailboxes.has(s)) mailboxes.set(s, result as string);
      }
      expect((await shared.stats()).bytes, what).toBe((await memory.stats()).bytes);
    }
    expect((await shared.stats()).bytes).toBeGreaterThan(0); // the allocation is still held
  });

  it('an add through another relay racing an open reaches the opener exactly once (in the open, or after it)', async () => {
    const [a, b] = [store('a', 'race'), store('b', 'race')];
    const via = { open: 0, watcher: 0 };
    for (let round = 0; round < 150; round++) {
      const mailbox = await a.claimNameplate('app', String(round), 'sideA', 1);
      // As the mailbox server does: watch first, but listen (take what the watcher hears) only once the open answered.
      let listening = false;
      const heard: number[] = [];
      const stop = await b.watch('app', mailbox, (_m, index) => listening && heard.push(index));
      const [opened] = await Promise.all([
        b.openMailbox('app', mailbox, 'sideB', 2).then((stored) => ((listening = true), stored)),
        a.addMessage('app', mailbox, { side: 'sideA', phase: 'pake', body: 'aa', server_rx: 2, msg_id: null }, 2),
      ]);
      await until(() => opened.length + heard.length >= 1, 5_000).catch(() => {});
      expect(opened.length + heard.length, `round ${round}`).toBe(1);
      via[opened.length ? 'open' : 'watcher']++;
      await stop();
    }
    console.log(`the racing add reached the opener: in the open ${via.open}×, through the watcher ${via.watcher}×`);
  });

  it('a pairing through two relays costs one script per client step, and no SUBSCRIBE or UNSUBSCRIBE', async () => {
    // What the relays send Redis, counted at their connections (Redis's own stats count the scripts' calls too).
    const sent = new Map<string, number>();
    const counted = () => {
      const client = redis.client();
      const send = client.sendCommand.bind(client);
      client.sendCommand = (command) => {
        sent.set(command.name, (sent.get(command.name) ?? 0) + 1);
        return send(command);
      };
      return client;
    };
    const [a, b] = ['a', 'b'].map(
      (relayId) =>
        new RedisMailboxStore({ redis: counted(), subscriber: counted(), limits: DEFAULT_LIMITS, randomBytes: cryptoRandomBytes, relayId, namespace: 'cost' }),
    ) as [RedisMailboxStore, RedisMailboxStore];
    // Each store subscribes to its relay's channel once, when it starts: that is not per pairing.
    await Promise.all([a.watch('app', 'none', () => {}), b.watch('app', 'none', () => {})]);
    sent.clear();
    const heardByA: string[] = [];
    const heardByB: string[] = [];
    const nameplate = await a.allocateNameplate('app', 'sideA', 1);
    const mailbox = await b.claimNameplate('app', nameplate, 'sideB', 1);
    // As the mailbox server does on `open`: watch, then open.
    const stopA = await a.watch('app', mailbox, (m) => heardByA.push(m.phase));
    await a.openMailbox('app', mailbox, 'sideA', 2);
    const stopB = await b.watch('app', mailbox, (m) => heardByB.push(m.phase));
    await b.openMailbox('app', mailbox, 'sideB', 2);
    for (const phase of ['pake', 'version', '0']) {
      await a.addMessage('app', mailbox, { side: 'sideA', phase, body: 'aa', server_rx: 3, msg_id: null }, 3);
      await b.addMessage('app', mailbox, { side: 'sideB', phase, body: 'bb', server_rx: 3, msg_id: null }, 3);
      if (phase === 'pake') await Promise.all([a.releaseNameplate('app', nameplate, 'sideA', 3), b.releaseNameplate('app', nameplate, 'sideB', 3)]);
    }
    await until(() => heardByA.length === 3 && heardByB.length === 3);
    await Promise.all([stopA(), stopB()]);
    await a.closeMailbox('app', mailbox, 'sideA', 'happy');
    await b.closeMailbox('app', mailbox, 'sideB', 'happy');
    const calls = (command: string) => sent.get(command) ?? 0;
    const scripts = calls('evalsha') + calls('eval');
    console.log(`one pairing through two relays: ${scripts} scripts; everything sent: ${JSON.stringify(Object.fromEntries(sent))}`);
    expect(heardByA).toEqual(['pake', 'version', '0']);
    expect(heardByB).toEqual(['pake', 'version', '0']);
    // allocate, claim, 2 opens, 6 adds, 2 releases, 2 closes (a script's first run on this Redis adds an EVAL)
    expect(calls('evalsha')).toBe(14);
    expect([...sent.keys()].filter((c) => c !== 'evalsha' && c !== 'eval')).toEqual([]);
  });

  it('a nameplate freed through one relay is allocated last through the other', async () => {
    const [a, b] = [store('a', 'reuse'), store('b', 'reuse')];
    const freed = await a.allocateNameplate('app', 'first', 1);
    await a.releaseNameplate('app', freed, 'first', 2);
    // Eight one-digit ids are still free and rested: B takes those first, the freed one only last.
    const next = [];
    for (let i = 0; i < 8; i++) next.push(await b.allocateNameplate('app', `side${i}`, 3));
    expect(next).not.toContain(freed);
    expect(await b.allocateNameplate('app', 'last', 4)).toBe(freed);
  });
});
