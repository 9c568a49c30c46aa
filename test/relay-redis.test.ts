/**
 * Scale-out: two relay processes share one real redis-server, Alice on relay A and Bob on relay B.
 * They pair (nameplate allocated through A, claimed through B, SPAKE2 messages crossing over), DISCOVER
 * finds each other across relays (announce, sealed signalling and the relayed transport all routed
 * through Redis), messages flow both ways; then Bob goes offline, Alice's deposit lands in the shared
 * mailbox through A, relay A is killed, and Bob collects it through B. And the real `wormhole` CLI
 * sends through A to a real `wormhole receive` on B. And the depot's quotas hold over both relays.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DISCOVER_PATH } from '../src/discover/wire.js';
import { rawClient, type RawClient } from './helpers/rawClient.js';
import { proveOn } from './helpers/topicProof.js';
import { Device, pairDevices } from './helpers/device.js';
import { startRelayProcess, wormholeCli } from './helpers/processes.js';
import { startRedis, type RedisProcess } from './helpers/redis.js';
import { tempDirs } from './helpers/wait.js';

const dirs = tempDirs('bc-redis-');
const children: { kill(): void }[] = [];
let redis: RedisProcess | undefined;
afterAll(async () => {
  for (const c of children) c.kill();
  await redis?.stop();
  dirs.removeAll();
});

async function relayOn(redisUrl: string) {
  const relay = await startRelayProcess(['--redis', redisUrl]);
  children.push(relay.running.child);
  return relay;
}

describe('two relays on one Redis', () => {
  it('peers on different relays find each other, talk, and get offline deposits through the other relay', async () => {
    redis = await startRedis();
    const a = await relayOn(redis.url);
    const b = await relayOn(redis.url);
    const aliceDir = dirs.make();
    const bobDir = dirs.make();
    const alice = new Device(aliceDir, a.url, children);
    const bob0 = new Device(bobDir, b.url, children);
    await Promise.all([alice.wait(/^ready$/), bob0.wait(/^ready$/)]);
    const { inviteeId: bobId, inviterId: aliceId, verifiers } = await pairDevices(alice, bob0);
    expect(verifiers[0]).toBe(verifiers[1]);
    let bob = bob0;

    // Presence proves a live channel across relays (not the depot).
    await Promise.all([alice.wait(new RegExp(`^presence ${bobId} relayed \\S+$`)), bob.wait(new RegExp(`^presence ${aliceId} relayed \\S+$`))]);
    alice.tell(`send ${bobId} from relay A`);
    await bob.wait(/^message from relay A$/);
    bob.tell(`send ${aliceId} from relay B`);
    await alice.wait(/^message from relay B$/);

    // Bob offline; Alice deposits through A; A dies; Bob returns on B and still gets it.
    alice.lines.splice(0);
    await bob.quit();
    await alice.wait(new RegExp(`^presence ${bobId} offline \\S+$`));
    const shared = redis.client();
    // A new deposit key, not a count: other deposits may be acknowledged or replaced meanwhile.
    const deposits = () => shared.zrangebylex('backchannel:keys', '[depot/', '(depot0');
    const before = new Set(await deposits());
    alice.tell(`send ${bobId} kept in redis`);
    await alice.wait(/^deposited kept in redis$/); // acknowledged by relay A: stored in Redis
    expect((await deposits()).filter((k) => !before.has(k))).not.toEqual([]);
    await alice.quit();
    a.running.child.kill('SIGKILL');

    bob = new Device(bobDir, b.url, children);
    await bob.wait(/^message kept in redis$/, 30_000);
    const got = bob.lines.filter((l) => l.startsWith('message ')).map((l) => l.slice(8));
    expect(got).toEqual(['kept in redis']);
    await bob.quit();
    await b.stop();
  }, 120_000);

  it('the real wormhole CLI pairs across them: send through one relay, receive through the other', async () => {
    redis ??= await startRedis();
    const a = await relayOn(redis.url);
    const b = await relayOn(redis.url);
    const sender = wormholeCli(a.url, ['send', '--text', 'across two relays']);
    const [, code] = await sender.waitFor(/Wormhole code is: (\S+)\r?\n/);
    const receiver = wormholeCli(b.url, ['receive', '--only-text', code!]);
    const [r, s] = await Promise.all([receiver.result, sender.result]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('across two relays');
    expect(s.code, s.stderr).toBe(0);
    await Promise.all([a.stop(), b.stop()]);
  }, 60_000);

  it("the depot's per-topic and global quotas hold over both relays, not once per relay", async () => {
    const own = await startRedis(); // its own: nothing deposited before counts against the global cap
    const limits = ['--limit', 'depot.maxBytesPerTopic=3000,depot.maxBytesTotal=5000'];
    const relays = await Promise.all([0, 1].map(() => startRelayProcess(['--redis', own.url, ...limits])));
    for (const r of relays) children.push(r.running.child);
    const [a, b] = await Promise.all(relays.map((r) => rawClient(`ws://127.0.0.1:${r.port}${DISCOVER_PATH}`)));
    const keyOf = (c: string) => new Uint8Array(32).fill(c.charCodeAt(0));
    const topics: Record<string, string> = {};
    for (const c of [a!, b!]) for (const letter of 'xyz') topics[letter] = await proveOn(c, keyOf(letter));
    const deposit = async (c: RawClient, letter: string, size: number) => {
      c.frames.splice(0);
      c.send({ type: 'deposit', topic: topics[letter], blob: 'A'.repeat(size) });
      return c.next((f) => f.type === 'deposited' || f.type === 'error', 30_000);
    };
    expect(await deposit(a!, 'x', 1_000)).toMatchObject({ type: 'deposited' });
    expect(await deposit(b!, 'x', 1_000)).toMatchObject({ type: 'deposited' });
    expect(await deposit(a!, 'x', 1_000)).toMatchObject({ type: 'deposited' });
    // Relay B stored only one of topic x's three: alone it would take two more.
    expect(await deposit(b!, 'x', 1_000)).toMatchObject({ type: 'error', reason: 'depot full for this topic (3000 bytes)' });
    expect(await deposit(b!, 'y', 2_000)).toMatchObject({ type: 'deposited' });
    expect(await deposit(a!, 'z', 1)).toMatchObject({ type: 'error', reason: 'depot full on this relay (5000 bytes)' });
    expect(await deposit(b!, 'z', 1)).toMatchObject({ type: 'error', reason: 'depot full on this relay (5000 bytes)' });
    a!.close();
    b!.close();
    await Promise.all(relays.map((r) => r.stop()));
    await own.stop();
  }, 60_000);
});
