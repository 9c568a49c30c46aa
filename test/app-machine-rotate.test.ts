/**
 * The app machine moving a contact's link after a key rotation (devices/rotate.ts), every effect a
 * stand-in: while the unlink's rotation runs, a last_seen write reads the contact's card back (already
 * on the new key); the link must still start again on the new key, beside one on the old. It did not:
 * the machine compared its cards with the rotation's and saw no move, so the link stayed on the old key
 * and the contact's device, on the new one, never met it (a removal after an unlink never arrived).
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, waitFor } from 'xstate';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { fromHex } from '../src/crypto/bytes.js';
import { documentId, type Contact } from '../src/db/database.js';
import type { DocId } from '../src/db/documentStore.js';
import type { SettingsDoc } from '../src/db/schema.js';
import { appMachine, type AppInput } from '../src/machines/appMachine.js';
import type { ContactLinkInput } from '../src/machines/contactLinkMachine.js';
import type { OwnDevicesSaved } from '../src/machines/appTypes.js';

const OLD = '1'.repeat(64);
const NEW = '2'.repeat(64);
const card = (channels: string[], last_seen?: number): Contact =>
  ({ id: 'contact-1' as DocId, kind: 'contact', moniker: 'Bob', channels, ...(last_seen === undefined ? {} : { last_seen }) }) as unknown as Contact;

describe('appMachine: links after a rotation', () => {
  it("a card read back during the unlink's rotation (last_seen) still moves its link to the new key, beside the old", async () => {
    let finishUnlink!: (out: OwnDevicesSaved) => void;
    let touched!: () => void;
    const touchedOnce = new Promise<void>((r) => (touched = r));
    /** Each link started: its id and the channel it runs on. */
    const started: { id: string; channel: string }[] = [];
    const machine = appMachine.provide({
      actors: {
        openDatabase: fromPromise(async () => ({
          db: { docs: {}, storage: new MemoryStorage(), deviceId: 'd'.repeat(32) },
          contacts: [card([OLD])],
          settings: { kind: 'settings', relay_server: 'ws://relay.test/v1', ice_servers: [] } as unknown as SettingsDoc,
          firstStart: false,
        })),
        contactLink: fromCallback(({ self, input }) => void started.push({ id: self.id, channel: (input as ContactLinkInput).channelId })),
        relayCheck: fromCallback(() => {}),
        unlinkDevice: fromPromise(() => new Promise<OwnDevicesSaved>((r) => (finishUnlink = r))),
        // The database already holds the rotated card when the last_seen write reads it back.
        touchContact: fromPromise(async () => (touched(), card([NEW, OLD], 1))),
      } as never,
    });
    const input = { storage: new MemoryStorage(), connector: () => ({}), randomBytes: (n: number) => new Uint8Array(n), appid: 'test' } as unknown as AppInput;
    const actor = createActor(machine, { input });
    actor.start();
    try {
      await waitFor(actor, (s) => s.matches({ ready: { network: 'online' } }));
      expect(started).toEqual([{ id: 'link-contact-1', channel: documentId(fromHex(OLD)) }]);

      actor.send({ type: 'device.unlink', req: 1, deviceId: 'e'.repeat(32) });
      await waitFor(actor, (s) => s.matches({ ready: { devices: 'unlinking' } }));
      actor.send({ type: 'contact.heard', contactId: 'contact-1' as DocId });
      await touchedOnce;
      await waitFor(actor, (s) => s.context.contacts[0]?.channels[0] === NEW); // read back: the card here shows the new key
      finishUnlink({ devices: [], contacts: [card([NEW, OLD], 1)], moved: ['contact-1' as DocId] });
      await waitFor(actor, (s) => s.matches({ ready: { devices: 'idle' } }));

      expect(started.slice(1)).toEqual([
        { id: 'link-contact-1', channel: documentId(fromHex(NEW)) },
        { id: 'link-contact-1-previous', channel: documentId(fromHex(OLD)) },
      ]);
    } finally {
      actor.stop();
    }
  });
});
