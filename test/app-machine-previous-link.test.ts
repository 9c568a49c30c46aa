/**
 * The second link a rotated card runs (on its previous key, `appInputs.linkInputs`) reports under the
 * card's id: the host's `refused` and `transfer` name the card, and a file refusal notice is queued for
 * the card (it named `<card>-previous`, which no card has, so the host could not place the event and
 * the notice's write failed). What stays apart: the link's actor id (both run), its relay connection
 * (counted as a link of its own), presence (the previous link has none) and removal (its heads are
 * another channel's than the one with my notice). The real link machine runs,
 * its DISCOVER, depot, SYNC and file children stand-ins the test drives; every app effect a stand-in.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, waitFor } from 'xstate';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { fromHex } from '../src/crypto/bytes.js';
import { documentId, type Contact } from '../src/db/database.js';
import type { DocId } from '../src/db/documentStore.js';
import type { SettingsDoc } from '../src/db/schema.js';
import type { DepotInput } from '../src/depot/depotMachine.js';
import type { DiscoverInput } from '../src/machines/discoverMachine.js';
import { FileTooLargeError } from '../src/errors.js';
import { appMachine, type AppEmitted, type AppInput } from '../src/machines/appMachine.js';
import { contactLinkMachine } from '../src/machines/contactLinkMachine.js';

const NEW = '2'.repeat(64);
const OLD = '1'.repeat(64);
const CARD = 'contact-1' as DocId;
const card = { id: CARD, kind: 'contact', moniker: 'Bob', channels: [NEW, OLD] } as unknown as Contact;
/** A stand-in child telling its link something. */
type Tell = (e: { type: string; [k: string]: unknown }) => void;
const channelOf = (key: string) => documentId(fromHex(key));

function harness(options: { leaving?: boolean } = {}) {
  /** What each link's DISCOVER and depot stand-ins can tell their link, by the link's channel. */
  const discovers = new Map<DocId, Tell>();
  const depots = new Map<DocId, Tell>();
  const written: { contactId: DocId; notice?: string }[] = [];
  /** The heads each removal check looked at. */
  const checked: string[][] = [];
  const link = contactLinkMachine.provide({
    actors: {
      discover: fromCallback(({ sendBack, input }) => void discovers.set(documentId((input as DiscoverInput).contactKey), sendBack as Tell)),
      depot: fromCallback(({ sendBack, input }) => void depots.set((input as DepotInput).channelId, sendBack as Tell)),
      sync: fromCallback(() => {}),
      files: fromCallback(() => {}),
    } as never,
  });
  const machine = appMachine.provide({
    actors: {
      openDatabase: fromPromise(async () => ({
        db: { docs: {}, storage: new MemoryStorage(), deviceId: 'd'.repeat(32) },
        contacts: options.leaving ? [] : [card],
        leaving: options.leaving ? [{ ...card, removed_by: 'me' }] : [],
        settings: { kind: 'settings', relay_server: 'ws://relay.test/v1', ice_servers: [] } as unknown as SettingsDoc,
        firstStart: false,
      })),
      contactLink: link,
      relayCheck: fromCallback(() => {}),
      touchContact: fromPromise(async () => card),
      holdsRemoval: fromPromise(async ({ input }: { input: { heads: string[] } }) => {
        checked.push(input.heads);
        return false;
      }),
      sendMessage: fromPromise(async ({ input }: { input: { contactId: DocId; message: { notice?: string } } }) => {
        written.push({ contactId: input.contactId, notice: input.message.notice });
        return { text: '' };
      }),
    } as never,
  });
  const input = { storage: new MemoryStorage(), connector: () => ({}), randomBytes: (n: number) => new Uint8Array(n), appid: 'test' } as unknown as AppInput;
  const actor = createActor(machine, { input });
  const emitted: AppEmitted[] = [];
  actor.on('*', (e) => void emitted.push(e as AppEmitted));
  return { actor, emitted, written, checked, discovers, depots };
}

describe('appMachine: the link on a rotated card’s previous key', () => {
  it('reports under the card’s id; its relay connection counts apart, and it has no presence', async () => {
    const h = harness();
    h.actor.start();
    try {
      await waitFor(h.actor, (s) => s.matches({ ready: { network: 'online' } }));
      expect(Object.keys(h.actor.getSnapshot().children).filter((id) => id.startsWith('link-'))).toEqual(['link-contact-1', 'link-contact-1-previous']);
      const previousDepot = h.depots.get(channelOf(OLD))!;
      expect(previousDepot).toBeDefined();

      // The relay would not keep our changes on the previous key: the host hears it of the card.
      previousDepot({ type: 'link.refused', reason: 'quota' });
      expect(h.emitted.filter((e) => e.type === 'refused')).toEqual([{ type: 'refused', contactId: CARD, reason: 'quota' }]);

      // A file that came by the previous key's depot, refused: the transfer is the card's, and so is the notice.
      const notify = { hash: 'ab', reason: 'too-large' as const, detail: 'over the limit', limit: 1 };
      previousDepot({ type: 'file.failed', hash: 'ab', direction: 'in', error: new FileTooLargeError(5, 1), notify });
      expect(h.emitted.filter((e) => e.type === 'transfer').map((e) => (e as { contactId: DocId }).contactId)).toEqual([CARD]);
      await waitFor(h.actor, (s) => s.matches({ ready: { messages: 'idle' } }) && s.context.outbox.length === 0);
      expect(h.written.map((w) => w.contactId)).toEqual([CARD]);
      expect(h.written[0]!.notice).toContain('"ab"');

      // Each link's relay connection counts on its own: the previous one's going down leaves the card's up.
      h.depots.get(channelOf(NEW))!({ type: 'link.relay', up: true });
      previousDepot({ type: 'link.relay', up: true });
      previousDepot({ type: 'link.relay', up: false });
      expect(h.actor.getSnapshot().context.relayUp).toEqual({ [CARD]: true, [`${CARD}-previous`]: false });

      // A device met on the previous key is not the card's presence (only its own link's is).
      h.discovers.get(channelOf(OLD))!({ type: 'link.connected', peer: 's1', channel: {}, via: 'relayed' });
      expect(h.actor.getSnapshot().context.presence).toEqual({});
      expect(h.emitted.some((e) => e.type === 'presence')).toBe(false);
      h.discovers.get(channelOf(NEW))!({ type: 'link.connected', peer: 's2', channel: {}, via: 'direct' });
      expect(h.actor.getSnapshot().context.presence).toEqual({ [CARD]: 'direct' });

      // What the previous key's depot holds is another document's heads: no `deposited` for the host.
      h.discovers.get(channelOf(OLD))!({ type: 'link.disconnected', peer: 's1', reason: 'gone' });
      h.depots.get(channelOf(OLD))!({ type: 'link.deposited', heads: ['h'] });
      expect(h.emitted.some((e) => e.type === 'deposited')).toBe(false);
    } finally {
      h.actor.stop();
    }
  });

  it('a card I removed waits for my notice in its own channel: what the previous key holds is not checked for it', async () => {
    const h = harness({ leaving: true });
    h.actor.start();
    try {
      await waitFor(h.actor, (s) => s.matches({ ready: { network: 'online' } }));
      h.depots.get(channelOf(OLD))!({ type: 'link.deposited', heads: ['old'] });
      h.discovers.get(channelOf(OLD))!({ type: 'link.connected', peer: 's1', channel: {}, via: 'relayed' });
      h.depots.get(channelOf(OLD))!({ type: 'link.synced', heads: ['old'] });
      expect(h.actor.getSnapshot().context.contactOps).toEqual([]);
      h.depots.get(channelOf(NEW))!({ type: 'link.deposited', heads: ['new'] });
      await waitFor(h.actor, (s) => s.matches({ ready: { contacts: 'idle' } }) && s.context.contactOps.length === 0);
      expect(h.checked).toEqual([['new']]);
    } finally {
      h.actor.stop();
    }
  });
});
