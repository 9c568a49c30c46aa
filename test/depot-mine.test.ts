/**
 * What my other device leaves on the relay for a contact who is away is for the contact, not for me:
 * this device fetches it once, sees it is my other device's (in a contact's channel such a deposit is
 * left alone, unacknowledged), and from then on its fetches name that device's tag (`mine`) and the
 * relay leaves those deposits out. Before, every poll (every 10 s, and every `waiting`) fetched them
 * again, a file's chunks included. The contact still gets everything when back.
 *
 * Through `createBackchannel` against the real relay; Alice's first device's socket is watched (its
 * fetches and the relay's `deposits` replies), nothing in between is changed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel } from '../src/app/backchannel.js';
import { fromHex } from '../src/crypto/bytes.js';
import { topicKey } from '../src/crypto/topicKey.js';
import { depotTag } from '../src/depot/payload.js';
import type { SocketConnector } from '../src/effects/socket.js';
import { textOf } from '../src/db/schema.js';
import { eventsOf } from './helpers/events.js';
import { until } from './helpers/wait.js';

let relay: Relay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay?.close();
});

type Frame = { type?: string; topic?: string; mine?: string[]; items?: { id: string }[] };

/** `connector`, with every depot fetch it sends and every `deposits` reply it receives recorded, in order. */
function watched(connector: SocketConnector) {
  const seen: { dir: 'fetch' | 'deposits'; frame: Frame }[] = [];
  const parse = (text: string): Frame | undefined => {
    try {
      return JSON.parse(text) as Frame;
    } catch {
      return undefined;
    }
  };
  const wrapped: SocketConnector = (url, handlers) => {
    const socket = connector(url, {
      ...handlers,
      onMessage: (text) => {
        const frame = parse(text);
        if (frame?.type === 'deposits') seen.push({ dir: 'deposits', frame });
        handlers.onMessage(text);
      },
    });
    return {
      ...socket,
      send(text: string) {
        const frame = parse(text);
        if (frame?.type === 'fetch') seen.push({ dir: 'fetch', frame });
        socket.send(text);
      },
      close: (...args: Parameters<typeof socket.close>) => socket.close(...args),
    };
  };
  return { connector: wrapped, seen };
}

describe("my other device's deposits for a contact", () => {
  it('are fetched once by this device, then left out at the relay (`mine`); the contact still gets them', async () => {
    const watch = watched(nodeSocketConnector());
    const open = (storage: MemoryStorage, connector = nodeSocketConnector()) => createBackchannel({ storage, connector, relay: relay.url, journal: false });
    const bobStorage = new MemoryStorage();
    const opened: Backchannel[] = [];
    try {
      const alice1 = await open(new MemoryStorage(), watch.connector);
      const [alice2, bob] = await Promise.all([open(new MemoryStorage()), open(bobStorage)]);
      opened.push(alice1, alice2, bob);
      const { code, done } = await alice1.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
      const link = await alice1.linkDevice();
      await Promise.all([link.done, alice2.acceptLink(link.code)]);
      await until(() => alice2.contacts().length === 1, 30_000);
      const bobOnAlice2 = alice2.contacts()[0]!; // the same card, under this device's id for it
      await bob.close();
      await until(() => alice1.presence(bobOnAlice.id) === undefined && alice2.presence(bobOnAlice2.id) === undefined, 30_000);

      const { topic } = topicKey(fromHex(bobOnAlice.channels[0]!));
      const alice2Tag = depotTag(fromHex(bobOnAlice.channels[0]!), alice2.deviceId);
      const deposited = eventsOf(alice2, 'deposited');
      const fetchesOnTopic = () => watch.seen.filter((s) => s.frame.topic === topic);

      // Alice's second device writes to Bob, away: the relay keeps it for him, and tells Alice's first device.
      await alice2.send(bobOnAlice2.id, { text: 'from my laptop' });
      await deposited.next((e) => e.upTo?.text === 'from my laptop');
      // Alice's first device fetches it once (the waste this removes: before, at every poll)...
      await until(() => fetchesOnTopic().some((s) => s.dir === 'deposits' && (s.frame.items?.length ?? 0) > 0), 30_000);
      // ...and then names her second device's tag in its fetches.
      await until(() => fetchesOnTopic().some((s) => s.dir === 'fetch' && s.frame.mine?.includes(alice2Tag)), 30_000);
      const learnedAt = fetchesOnTopic().findIndex((s) => s.dir === 'fetch' && s.frame.mine?.includes(alice2Tag));

      // More from the second device: the relay tells the first (`waiting`), whose fetch now brings none of it.
      await alice2.send(bobOnAlice2.id, { text: 'and a second one' });
      await deposited.next((e) => e.upTo?.text === 'and a second one');
      // A reply that comes after the relay held it: to the `waiting` fetch, or (had that come first) the next poll's.
      const replies = () => fetchesOnTopic().filter((s) => s.dir === 'deposits').length;
      const before = replies();
      await until(() => replies() > before, 30_000);
      const later = fetchesOnTopic().slice(learnedAt + 1);
      expect(later.filter((s) => s.dir === 'fetch').every((s) => s.frame.mine?.includes(alice2Tag))).toBe(true);
      expect(later.filter((s) => s.dir === 'deposits').flatMap((s) => s.frame.items ?? [])).toEqual([]);
      // Left alone, not acknowledged: still on the relay for Bob.
      expect((await relay.depot.fetch(topic, undefined, undefined)).items.length).toBeGreaterThanOrEqual(2);

      // Bob comes back with Alice's devices gone: the relay hands him both.
      await Promise.all([alice1.close(), alice2.close()]);
      const back = await open(bobStorage);
      opened.push(back);
      await until(() => ['from my laptop', 'and a second one'].every((t) => back.messages(aliceOnBob.id).some((m) => textOf(m.text) === t)), 30_000);
    } finally {
      await Promise.all(opened.map((bc) => bc.close()));
    }
  }, 120_000);
});
