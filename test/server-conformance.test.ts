/**
 * The same frame script against the Python wormhole-mailbox-server and ours: the replies must match
 * frame for frame (timestamps and random ids aside).
 */
import { describe, expect, it } from 'vitest';
import { useBothServers } from './helpers/bothServers.js';
import { rawClient, type RawClient } from './helpers/rawClient.js';
import { startRedis } from './helpers/redis.js';
import { startRelay } from '../server/index.js';

const both = useBothServers();

let sentinel = 1000;
/** Per client, how many of its frames earlier steps already took. */
const taken = new WeakMap<RawClient, number>();
/**
 * Send one frame and collect what the client received since its previous step: fan-out from other
 * clients' steps, then this frame's replies. A ping sent right after the frame marks the end, because a
 * server answers one connection's frames in order (no guessing with sleeps, which flaked under load).
 */
async function exchange(c: RawClient, frame: unknown): Promise<Record<string, unknown>[]> {
  const before = taken.get(c) ?? 0;
  if (typeof frame === 'string') c.sendText(frame);
  else c.send(frame);
  const mark = ++sentinel;
  c.send({ type: 'ping', ping: mark, id: 'ffff' });
  await c.next((f) => f.type === 'pong' && f.pong === mark, 10_000);
  taken.set(c, c.frames.length);
  return c.frames.slice(before).filter((f) => !(f.type === 'ack' && f.id === 'ffff') && !(f.type === 'pong' && f.pong === mark));
}

/** Replace what legitimately differs: clocks, mailbox ids. */
function normalise(frames: Record<string, unknown>[], mailboxes: Map<string, string>): unknown[] {
  return frames.map((f) => {
    const { server_tx, server_rx, ...rest } = f;
    expect(typeof server_tx).toBe('number');
    if (server_rx !== undefined) expect(typeof server_rx).toBe('number');
    const copy: Record<string, unknown> = { ...rest };
    for (const key of ['mailbox'] as const) {
      if (typeof copy[key] === 'string') {
        if (!mailboxes.has(copy[key] as string)) mailboxes.set(copy[key] as string, `MB${mailboxes.size}`);
        copy[key] = mailboxes.get(copy[key] as string);
      }
    }
    if (copy.orig && typeof copy.orig === 'object') {
      const orig = { ...(copy.orig as Record<string, unknown>) };
      if (typeof orig.mailbox === 'string' && mailboxes.has(orig.mailbox)) orig.mailbox = mailboxes.get(orig.mailbox);
      copy.orig = orig;
    }
    return copy;
  });
}

async function script(url: string, appid = 'conformance'): Promise<unknown[]> {
  const mailboxes = new Map<string, string>();
  const transcript: unknown[] = [];
  const a = await rawClient(url);
  const b = await rawClient(url);
  const c = await rawClient(url);
  for (const client of [a, b, c]) await client.next((f) => f.type === 'welcome');
  transcript.push(normalise(a.frames.splice(0), mailboxes)); // welcome
  b.frames.splice(0);
  c.frames.splice(0);
  const step = async (client: RawClient, frame: Record<string, unknown>) => {
    const replies = normalise(await exchange(client, frame), mailboxes);
    transcript.push([normalise([{ ...frame, server_tx: 0 }], mailboxes), replies]);
  };
  await step(a, { type: 'ping', ping: 7, id: '0001' });
  await step(a, { type: 'list', id: '0002' });
  await step(a, { id: '0003' });
  await step(a, { type: 'bind', appid, id: '0004' });
  await step(a, { type: 'bind', appid, side: 'aaaa', id: '0005' });
  await step(a, { type: 'bind', appid, side: 'aaaa', id: '0006' });
  await step(a, { type: 'frobnicate', id: '0007' });
  await step(a, { type: 'claim', id: '0008' });
  await step(a, { type: 'add', phase: 'x', body: '00', id: '0009' });
  await step(a, { type: 'claim', nameplate: '314', id: '000a' });
  await step(a, { type: 'claim', nameplate: '314', id: '000b' });
  await step(a, { type: 'list', id: '000c' });
  await step(a, { type: 'open', mailbox: mailboxes.keys().next().value!, id: '000d' });
  await step(a, { type: 'add', phase: 'pake', body: 'abcd', id: '000e' });
  await step(a, { type: 'add', body: 'abcd', id: '000f' });
  await step(b, { type: 'bind', appid, side: 'bbbb', id: '0010' });
  await step(b, { type: 'claim', nameplate: '314', id: '0011' });
  await step(b, { type: 'open', mailbox: mailboxes.keys().next().value!, id: '0012' });
  await step(b, { type: 'add', phase: 'pake', body: 'ef01', id: '0013' });
  await step(c, { type: 'bind', appid, side: 'cccc', id: '0014' });
  await step(c, { type: 'claim', nameplate: '314', id: '0015' });
  await step(a, { type: 'release', nameplate: '999', id: '0016' });
  await step(a, { type: 'release', id: '0017' });
  await step(a, { type: 'release', id: '0018' });
  await step(b, { type: 'release', nameplate: '314', id: '0019' });
  await step(a, { type: 'close', mood: 'happy', mailbox: 'nope', id: '001a' });
  await step(a, { type: 'close', mood: 'happy', id: '001b' });
  await step(a, { type: 'close', mood: 'happy', id: '001c' });
  await step(b, { type: 'close', mood: 'happy', id: '001d' });
  a.close();
  b.close();
  c.close();
  return transcript;
}

describe('mailbox protocol conformance with wormhole-mailbox-server 0.4.1', () => {
  it('answers a scripted session frame for frame like the Python server', async () => {
    const theirs = await script(both.python.url);
    const mine = await script(both.ours.url);
    expect(mine).toEqual(theirs);
  });

  it('with its pairing state in Redis (RedisMailboxStore), still frame for frame', async () => {
    const redis = await startRedis();
    const relay = await startRelay({ redis: redis.url });
    try {
      // A fresh appid: the Python server still holds the first test's nameplates under the old one.
      const theirs = await script(both.python.url, 'conformance-2');
      expect(await script(relay.url, 'conformance-2')).toEqual(theirs);
    } finally {
      await relay.close();
      await redis.stop();
    }
  });
});
