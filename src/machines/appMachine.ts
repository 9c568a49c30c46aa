/**
 * The app's states, as the original Backchannel had them: `ready` with a background link (DISCOVER +
 * SYNC) per contact as child actors, a `pairing` region (idle ⇄ inviting | accepting) while VERIFY runs,
 * and `closed`. The façade (`app/backchannel.ts`) is its one owner and sends it every event.
 * @module
 */
import { enqueueActions, setup } from 'xstate';
import type { Database } from '../db/database.js';
import type { DocId } from '../db/documentStore.js';
import type { DiscoverInput } from './discoverMachine.js';
import { contactLinkMachine } from './contactLinkMachine.js';

export interface AppInput {
  db: Database;
  /** Everything DISCOVER needs except the contact key. */
  discover: Omit<DiscoverInput, 'contactKey'>;
}

export type AppEvent =
  | { type: 'contact.added'; contactId: DocId; contactKey: Uint8Array; channelId: DocId }
  | { type: 'contact.removed'; contactId: DocId }
  | { type: 'pairing.invite' }
  | { type: 'pairing.accept' }
  | { type: 'pairing.done' }
  | { type: 'CLOSE' };

const linkId = (contactId: DocId) => `link-${contactId}`;

export const appMachine = setup({
  types: { input: {} as AppInput, context: {} as AppInput, events: {} as AppEvent },
  actors: { contactLink: contactLinkMachine },
}).createMachine({
  id: 'app',
  context: ({ input }) => input,
  initial: 'ready',
  states: {
    ready: {
      type: 'parallel',
      on: {
        'contact.added': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (event.type !== 'contact.added') return;
            enqueue.spawnChild('contactLink', {
              id: linkId(event.contactId),
              input: {
                contactId: event.contactId,
                channelId: event.channelId,
                discover: { ...context.discover, contactKey: event.contactKey },
                docs: context.db.docs,
                storage: context.db.storage,
                deviceId: context.db.deviceId,
              },
            });
          }),
        },
        'contact.removed': {
          actions: enqueueActions(({ event, enqueue }) => {
            if (event.type === 'contact.removed') enqueue.stopChild(linkId(event.contactId));
          }),
        },
        CLOSE: 'closed',
      },
      states: {
        pairing: {
          initial: 'idle',
          states: {
            idle: { on: { 'pairing.invite': 'inviting', 'pairing.accept': 'accepting' } },
            inviting: { on: { 'pairing.done': 'idle' } },
            accepting: { on: { 'pairing.done': 'idle' } },
          },
        },
      },
    },
    closed: { type: 'final' },
  },
});
