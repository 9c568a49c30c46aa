/**
 * RedisMailboxStore as two relays use it: concurrent allocations through both never hand out one
 * nameplate twice (the optimistic transactions retry on conflict), and an `add` through one relay
 * reaches the other's watchers with its index, never its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../server/limits.js';
import { RedisMailboxStore } from '../server/redisMailboxStore.js';
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
});
