/**
 * One contact, kept in sync in the background: DISCOVER finds the contact's device (and keeps
 * reconnecting on its own), and each time it yields a channel a SYNC child runs over it, and beside it
 * the file session (files/: the bytes of files the channel's messages name).
 *
 *   linking.searching (depot child: fetch what waits on the relay, deposit what we write)
 *   → linking.connected (sync child running; the parent hears `contact.online`) → back to searching
 *     when the channel or the sync ends (`contact.offline`)
 *   resting (DISCOVER gave up: the relay stayed unreachable; try again after a minute) · stopped
 * @module
 */
import { assign, sendParent, sendTo, setup } from 'xstate';
import type { Transport } from '../effects/transport.js';
import type { DocId } from '../db/documentStore.js';
import type { DocumentStore } from '../db/documentStore.js';
import type { StorageAdapter } from '../effects/storage.js';
import { discoverMachine, type DiscoverInput } from './discoverMachine.js';
import { syncMachine } from './syncMachine.js';
import { depotMachine, type DepotInput, type RefusedParams } from '../depot/depotMachine.js';
import type { TopicUnprovenError } from '../errors.js';
import { fileSessionActor, type FileCommand } from '../files/fileActor.js';
import type { FileEvent } from '../files/session.js';
import { DEFAULT_FILE_SIZE_LIMIT } from '../db/schema.js';

/** What one contact's link is started with: the contact and channel documents, DISCOVER's input, and storage. */
export interface ContactLinkInput {
  contactId: DocId;
  channelId: DocId;
  discover: DiscoverInput;
  docs: DocumentStore;
  storage: StorageAdapter;
  deviceId: string;
  /** The largest file to accept (Settings' `file_size_limit`). */
  maxFileBytes?: number;
}

type LinkEvent =
  | { type: 'link.connected'; channel: Transport; via: 'direct' | 'relayed' }
  | { type: 'link.disconnected'; reason: string }
  | { type: 'link.deposited'; heads: string[] }
  | { type: 'link.refused'; reason: string; error?: TopicUnprovenError }
  | { type: 'link.relay'; up: boolean }
  | FileEvent
  | FileCommand
  | { type: 'STOP' };

/** What a link tells its parent (the app): the contact's device is reachable, and how, or not. */
export type LinkPresence =
  | { type: 'contact.online'; contactId: DocId; via: 'direct' | 'relayed' }
  | { type: 'contact.offline'; contactId: DocId }
  /** The relay's depot holds our changes up to `heads` for the contact. */
  | { type: 'contact.deposited'; contactId: DocId; heads: string[] }
  /** The relay refused to keep our changes for the contact (quota, size): they wait here. */
  | { type: 'contact.refused'; contactId: DocId; reason: string; error?: TopicUnprovenError }
  /** This link's connection to the relay came up or went down. */
  | { type: 'contact.relay'; contactId: DocId; up: boolean }
  /** A file transfer with the contact moved on, finished or failed. */
  | { type: 'contact.file'; contactId: DocId; file: FileEvent };

/** After DISCOVER gave up (the relay stayed unreachable), wait this long before searching again. */
export const LINK_REST_MS = 60_000;

/** DISCOVER as a child machine that tells this machine of each channel it opens and loses. */
export const linkedDiscover = discoverMachine.provide({
  actions: {
    announceConnected: sendParent(({ context }) => ({ type: 'link.connected', channel: context.channel!, via: context.via! })),
    announceDisconnected: sendParent(({ event }) => ({
      type: 'link.disconnected',
      reason: event.type === 'session.channelClosed' ? event.reason : event.type,
    })),
  },
});

/**
 * The depot client as a child machine that tells this machine what the relay stored or refused and
 * whether it is reachable. While searching it fetches what waits and deposits what we write; while
 * connected it only collects (and acknowledges) what was deposited before, so the relay forgets it.
 */
export const linkedDepot = depotMachine.provide({
  actions: {
    announceDeposited: sendParent(({ context }) => ({ type: 'link.deposited', heads: context.stored[0]!.heads })),
    announceRefused: sendParent((_, params: RefusedParams) => ({ type: 'link.refused', ...params })),
    announceUp: sendParent({ type: 'link.relay', up: true }),
    announceDown: sendParent({ type: 'link.relay', up: false }),
    announceFetched: () => {},
  },
});

/** The depot child's input: the link's relay, key and stores; `deposit` false only collects. */
function depotInput(input: ContactLinkInput, deposit: boolean): DepotInput {
  return {
    url: input.discover.url,
    connector: input.discover.connector,
    contactKey: input.discover.contactKey,
    channelId: input.channelId,
    docs: input.docs,
    storage: input.storage,
    deviceId: input.deviceId,
    randomBytes: input.discover.randomBytes,
    deposit,
  };
}

/** One contact's link: DISCOVER, then SYNC and file transfers over the channel, or the relay's depot while the device is away. */
export const contactLinkMachine = setup({
  types: {
    input: {} as ContactLinkInput,
    context: {} as { input: ContactLinkInput; channel?: Transport; via?: 'direct' | 'relayed' },
    events: {} as LinkEvent,
  },
  actors: { discover: linkedDiscover, sync: syncMachine, depot: linkedDepot, files: fileSessionActor },
  actions: {
    adopt: assign(({ event }) => (event.type === 'link.connected' ? { channel: event.channel, via: event.via } : {})),
    online: sendParent(({ context }): LinkPresence => ({ type: 'contact.online', contactId: context.input.contactId, via: context.via! })),
    offline: sendParent(({ context }): LinkPresence => ({ type: 'contact.offline', contactId: context.input.contactId })),
  },
  delays: { rest: LINK_REST_MS },
}).createMachine({
  id: 'contactLink',
  context: ({ input }) => ({ input }),
  initial: 'linking',
  on: {
    STOP: '.stopped',
    'link.deposited': {
      actions: sendParent(({ context, event }): LinkPresence => ({ type: 'contact.deposited', contactId: context.input.contactId, heads: event.heads })),
    },
    'link.relay': {
      actions: sendParent(({ context, event }): LinkPresence => ({ type: 'contact.relay', contactId: context.input.contactId, up: event.up })),
    },
    'link.refused': {
      actions: sendParent(({ context, event }): LinkPresence => ({
        type: 'contact.refused',
        contactId: context.input.contactId,
        reason: event.reason,
        ...(event.error ? { error: event.error } : {}),
      })),
    },
    ...Object.fromEntries(
      (['file.progress', 'file.done', 'file.failed', 'file.waiting'] as const).map((type) => [
        type,
        { actions: sendParent(({ context, event }): LinkPresence => ({ type: 'contact.file', contactId: context.input.contactId, file: event as FileEvent })) },
      ]),
    ),
  },
  states: {
    linking: {
      // DISCOVER reconnects by itself with backoff; it ends only when the relay stayed unreachable.
      invoke: { id: 'discover', src: 'discover', input: ({ context }) => context.input.discover, onDone: 'resting' },
      initial: 'searching',
      on: {
        'link.disconnected': { target: '.searching', actions: assign({ channel: undefined, via: undefined }) },
      },
      states: {
        searching: {
          // The contact's device is not reachable: the relay's depot carries our changes.
          invoke: { id: 'depot', src: 'depot', input: ({ context }) => depotInput(context.input, true) },
          on: { 'link.connected': { target: 'connected', actions: 'adopt' } },
        },
        connected: {
          entry: 'online',
          exit: 'offline',
          // A new channel (DISCOVER reconnected): restart SYNC on it. Only `connected` is re-entered,
          // never `linking`, whose DISCOVER child must live on.
          on: {
            'link.connected': { target: 'connected', reenter: true, actions: 'adopt' },
            'file.cancel': { actions: sendTo('files', ({ event }) => event) },
          },
          invoke: [
            {
              id: 'files',
              src: 'files',
              input: ({ context }) => ({
                channel: context.channel!,
                storage: context.input.storage,
                docs: context.input.docs,
                channelId: context.input.channelId,
                deviceId: context.input.deviceId,
                maxFileBytes: context.input.maxFileBytes ?? DEFAULT_FILE_SIZE_LIMIT,
              }),
            },
            { id: 'collect', src: 'depot', input: ({ context }) => depotInput(context.input, false) },
            {
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
          ],
        },
      },
    },
    resting: {
      // Still worth depositing for the contact while we wait (the relay may be back before we are).
      invoke: { id: 'depot', src: 'depot', input: ({ context }) => depotInput(context.input, true) },
      after: { rest: 'linking' },
    },
    stopped: { type: 'final' },
  },
});
