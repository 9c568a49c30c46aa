/**
 * A relay from before reader tokens, met through `createBackchannel`: it refused a deposit whose
 * readers carry ack tokens (`tag:check`) with its own words, {@link BARE_READERS_PROBLEM}. The app goes
 * on (the same deposit again, its readers by bare tag), tells the host once with a `relayOutdated`
 * warning ({@link RelayOutdatedError}), and the contact still gets the message when back.
 *
 * The older relay is the real relay of this version behind Alice's socket, with its one difference put
 * back in front of it: a deposit listing tokens is answered, as that relay did, with an `error`
 * carrying the request's `id` and never reaches the relay; every other frame goes through untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel } from '../src/app/backchannel.js';
import { BARE_READERS_PROBLEM } from '../src/depot/wire.js';
import { errorFrame } from '../src/discover/wire.js';
import type { SocketConnector } from '../src/effects/socket.js';
import { RelayOutdatedError } from '../src/errors.js';
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

/** The relay before reader tokens, as `connector`'s sockets see it; `refused` counts what it refused. */
function beforeReaderTokens(connector: SocketConnector) {
  /** Deposits refused (readers with tokens), and the readers each one taken listed (bare tags). */
  const seen = { refused: 0, bare: [] as number[] };
  const wrapped: SocketConnector = (url, handlers) => {
    const socket = connector(url, handlers);
    return {
      ...socket,
      send(text: string) {
        const frame = text.startsWith('{"type":"deposit"') ? (JSON.parse(text) as { readers?: string[] }) : undefined;
        if (frame?.readers?.some((r) => r.includes(':'))) {
          seen.refused++;
          // Answered after this send returns, as a reply from the relay would be.
          queueMicrotask(() => handlers.onMessage(JSON.stringify(errorFrame(frame as Record<string, unknown>, BARE_READERS_PROBLEM))));
          return;
        }
        if (frame?.readers) seen.bare.push(frame.readers.length);
        socket.send(text);
      },
      close: (...args: Parameters<typeof socket.close>) => socket.close(...args),
    };
  };
  return { connector: wrapped, seen };
}

describe('a relay from before reader tokens', () => {
  it('takes the deposit again by bare tags, warns the host once (RELAY_OUTDATED), and both of the contact’s devices still read it', async () => {
    const old = beforeReaderTokens(nodeSocketConnector());
    const storages = [new MemoryStorage(), new MemoryStorage()];
    const open = (storage: MemoryStorage) => createBackchannel({ storage, connector: nodeSocketConnector(), relay: relay.url, journal: false });
    const opened: Backchannel[] = [];
    const track = async (p: Promise<Backchannel>) => (opened.push(await p), opened.at(-1)!);
    try {
      const alice = await track(createBackchannel({ storage: new MemoryStorage(), connector: old.connector, relay: relay.url, journal: false }));
      const [bob1, bob2] = await Promise.all(storages.map((s) => track(open(s))));
      const [deposited, warned, refused] = [eventsOf(alice, 'deposited'), eventsOf(alice, 'relayOutdated'), eventsOf(alice, 'refused')];
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob1!.accept(code, { moniker: 'Alice' })]);
      const link = await bob1!.linkDevice();
      await Promise.all([link.done, bob2!.acceptLink(link.code)]);
      // Alice learns Bob's set, two devices with keys: her deposits list them as readers, each with a token.
      await bob1!.send(aliceOnBob.id, { text: 'from my phone' });
      await bob2!.send(bob2!.contacts()[0]!.id, { text: 'from my laptop' });
      await until(() => ['from my phone', 'from my laptop'].every((t) => alice.messages(bobOnAlice.id).some((m) => textOf(m.text) === t)), 30_000);
      await Promise.all([bob1!.close(), bob2!.close()]);
      await until(() => alice.presence(bobOnAlice.id) === undefined);

      const first = await alice.send(bobOnAlice.id, { text: 'while you were away' });
      await deposited.next((e) => e.upTo?.id === first.id);
      expect(old.seen.refused, 'a deposit with tokens went first and was refused').toBeGreaterThan(0);
      // The same deposit again, listing both of Bob's devices by bare tag: the relay keeps it for each.
      expect(old.seen.bare.length, 'the same deposit went again by bare tags').toBeGreaterThan(0);
      expect(new Set(old.seen.bare)).toEqual(new Set([2]));
      const refusedBefore = old.seen.refused;
      expect(warned.seen).toHaveLength(1);
      const { error } = warned.seen[0]!;
      expect(error).toBeInstanceOf(RelayOutdatedError);
      expect(error.code).toBe('RELAY_OUTDATED');
      expect(error.data).toMatchObject({ reason: BARE_READERS_PROBLEM });
      expect(alice.relayOutdated).toBe(error);
      // Nothing failed in the host's eyes: no refusal.
      expect(refused.seen).toEqual([]);

      // A second message: deposited too, and no second warning.
      const second = await alice.send(bobOnAlice.id, { text: 'and this' });
      await deposited.next((e) => e.upTo?.id === second.id);
      expect(warned.seen).toHaveLength(1);
      // On the same connection it went by bare tags at once: no second refusal.
      expect(old.seen.refused).toBe(refusedBefore);

      // Bob's devices come back one at a time with Alice away: only the relay can hand them both messages.
      await alice.close();
      for (const storage of storages) {
        const back = await track(open(storage));
        const aliceThere = back.contacts()[0]!.id;
        await until(() => ['while you were away', 'and this'].every((t) => back.messages(aliceThere).some((m) => textOf(m.text) === t)), 30_000);
        await back.close();
      }
    } finally {
      await Promise.all(opened.map((bc) => bc.close()));
    }
  }, 120_000);
});
