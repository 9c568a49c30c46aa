/**
 * One contact, kept in sync in the background: DISCOVER finds the contact's device (and keeps
 * reconnecting on its own), and each time it yields a channel a SYNC child runs over it.
 *
 *   linking.searching → linking.connected (sync child running) → back to searching when the channel
 *   or the sync ends · stopped
 * @module
 */
import { assign, fromCallback, setup } from 'xstate';
import { createActor } from 'xstate';
import type { Channel } from '../effects/channel.js';
import type { DocId } from '../db/documentStore.js';
import type { DocumentStore } from '../db/documentStore.js';
import type { StorageAdapter } from '../effects/storage.js';
import { discoverMachine, type DiscoverInput } from './discoverMachine.js';
import { syncMachine } from './syncMachine.js';

export interface ContactLinkInput {
  contactId: DocId;
  channelId: DocId;
  discover: DiscoverInput;
  docs: DocumentStore;
  storage: StorageAdapter;
  deviceId: string;
}

type LinkEvent =
  | { type: 'link.connected'; channel: Channel; via: 'direct' | 'relayed' }
  | { type: 'link.disconnected'; reason: string }
  | { type: 'STOP' };

/** DISCOVER as a child that reports each connection and loss to this machine. */
export const discoverBridge = fromCallback<{ type: 'noop' }, DiscoverInput, LinkEvent>(({ input, sendBack }) => {
  const actor = createActor(discoverMachine, { input });
  actor.on('connected', ({ channel, via }) => sendBack({ type: 'link.connected', channel, via }));
  actor.on('disconnected', ({ reason }) => sendBack({ type: 'link.disconnected', reason }));
  actor.start();
  return () => actor.stop();
});

export const contactLinkMachine = setup({
  types: {
    input: {} as ContactLinkInput,
    context: {} as { input: ContactLinkInput; channel?: Channel; via?: 'direct' | 'relayed' },
    events: {} as LinkEvent,
  },
  actors: { discover: discoverBridge, sync: syncMachine },
  actions: {
    adopt: assign(({ event }) => (event.type === 'link.connected' ? { channel: event.channel, via: event.via } : {})),
  },
}).createMachine({
  id: 'contactLink',
  context: ({ input }) => ({ input }),
  initial: 'linking',
  on: { STOP: '.stopped' },
  states: {
    linking: {
      invoke: { id: 'discover', src: 'discover', input: ({ context }) => context.input.discover },
      initial: 'searching',
      on: {
        'link.disconnected': { target: '.searching', actions: assign({ channel: undefined, via: undefined }) },
      },
      states: {
        searching: {
          on: { 'link.connected': { target: 'connected', actions: 'adopt' } },
        },
        connected: {
          // A new channel (DISCOVER reconnected): restart SYNC on it. Only `connected` is re-entered,
          // never `linking`, whose DISCOVER child must live on.
          on: { 'link.connected': { target: 'connected', reenter: true, actions: 'adopt' } },
          invoke: {
            id: 'sync',
            src: 'sync',
            input: ({ context }) => ({
              docs: context.input.docs,
              storage: context.input.storage,
              channel: context.channel!,
              deviceId: context.input.deviceId,
              docIds: [context.input.channelId],
            }),
            onDone: 'searching',
          },
        },
      },
    },
    stopped: { type: 'final' },
  },
});
