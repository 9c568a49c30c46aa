/**
 * The relay's bound on frames in flight per DISCOVER connection counts frames *for* a connection too:
 * while its queue is stuck (here, a deposit its storage has not saved yet), what its peers send it
 * waits in the same queue, and past `maxQueuedFrames` the connection is closed (1008) instead of the
 * queue growing without bound. The sender is not affected. (`depot-abuse-process.test.ts` covers frames
 * read from a connection, against a relay process.)
 */
import { describe, expect, it } from 'vitest';
import { Depot } from '../server/depot.js';
import { DiscoveryServer } from '../server/discoveryServer.js';
import type { ConnectionHandle } from '../server/mailboxServer.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { fromHex } from '../src/crypto/bytes.js';
import { proveTopic, topicKey } from '../src/crypto/topicKey.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import type { StorageKey } from '../src/effects/storage.js';

/** Memory storage whose saves wait until `release()`. */
class StuckStorage extends MemoryStorage {
  #waiting: (() => void)[] = [];
  override async save(key: StorageKey, data: Uint8Array): Promise<void> {
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return super.save(key, data);
  }
  release(): void {
    for (const resolve of this.#waiting.splice(0)) resolve();
  }
}

interface Client {
  frames: Record<string, unknown>[];
  closed?: { code?: number; reason?: string };
  handle: ConnectionHandle;
  send(frame: Record<string, unknown>): Promise<void>;
}

function connect(server: DiscoveryServer): Client {
  const client = { frames: [] as Record<string, unknown>[] } as Client;
  client.handle = server.connect({
    send: (text) => void client.frames.push(JSON.parse(text) as Record<string, unknown>),
    close: (code, reason) => (client.closed = { code, reason }),
  });
  // The server's handle returns its queue's promise: await it to know the frame was handled.
  client.send = (frame) => client.handle.receive(JSON.stringify(frame)) as unknown as Promise<void>;
  return client;
}

describe('DISCOVER frames in flight, both ways', () => {
  it('closes a connection whose queue is stuck once its peers send it more than maxQueuedFrames', async () => {
    const storage = new StuckStorage();
    const server = new DiscoveryServer({
      randomBytes: cryptoRandomBytes,
      depot: new Depot({ storage }),
      limits: { maxQueuedFrames: 8 },
    });
    const key = topicKey(new Uint8Array(32).fill(3));
    const [victim, sender] = [connect(server), connect(server)];
    for (const c of [victim, sender]) {
      await c.send({ type: 'prove', ...proveTopic(key, fromHex(c.frames[0]!.challenge as string)) });
      await c.send({ type: 'announce', topic: key.topic });
    }
    const joined = victim.frames.find((f) => f.type === 'joined')!;
    const announced = sender.frames.find((f) => f.type === 'announced')!;
    expect(joined.peer).toBe(announced.peer);
    const victimPeer = (announced.peers as string[])[0]!;

    // The victim's queue waits on its deposit; the sender keeps sending to it.
    void victim.send({ type: 'deposit', topic: key.topic, blob: 'AAAA' });
    for (let i = 0; i < 20 && !victim.closed; i++) await sender.send({ type: 'send', topic: key.topic, to: victimPeer, kind: 'data', blob: 'QUJD' });
    expect(victim.closed).toEqual({ code: 1008, reason: 'too many frames in flight' });
    expect(sender.closed).toBeUndefined();
    // Once the victim is gone its peer id is too: the sender hears `left` and the relay refuses more sends to it.
    await sender.send({ type: 'ping' }); // queued after the `left` the close caused
    expect(sender.frames).toContainEqual({ type: 'left', topic: key.topic, peer: victimPeer });
    storage.release();
    await sender.send({ type: 'send', topic: key.topic, to: victimPeer, kind: 'data', blob: 'QUJD' });
    expect(sender.frames.at(-1)).toEqual({ type: 'error', re: 'send', reason: 'no such peer on this topic' });
    await server.shutdown();
  });
});
