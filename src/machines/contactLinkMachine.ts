/**
 * One contact, kept in sync in the background: DISCOVER finds the contact's devices (and keeps
 * reconnecting on its own), and for each channel it yields — one per device of the contact that is
 * online — a SYNC child runs over it, and beside it the file session (files/: the bytes of files the
 * channel's messages name): children `sync-<sid>` and `files-<sid>`, spawned and stopped per device
 * (`sid`: the device's DISCOVER session id, which the events below carry as `peer`).
 *
 *   linking.searching (depot child: fetch what waits on the relay, deposit what we write)
 *   → linking.connected while at least one peer is (the parent hears `contact.online`) → back to
 *     searching when the last peer's channel or sync ends (`contact.offline`)
 *   resting (DISCOVER gave up: the relay stayed unreachable; try again after a minute) · stopped
 * @module
 */
import { enqueueActions, sendParent, setup } from 'xstate';
import type { Transport } from '../effects/transport.js';
import type { DocId } from '../db/documentStore.js';
import type { DocumentStore } from '../db/documentStore.js';
import type { StorageAdapter } from '../effects/storage.js';
import { discoverMachine, type DiscoverInput, type DisconnectedParams } from './discoverMachine.js';
import type { Via } from '../discover/session.js';
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
  /** Files up to this size go to the away contact by the relay's depot (the depot's `relayFileBytes`). */
  relayFileBytes?: number;
  /** The channel is my devices' own: what my other devices deposit there is for me (the depot's `own`). */
  own?: boolean;
  /**
   * The link runs on the card's previous key (after a rotation, beside its own link): it reports
   * under the card's `contactId`, marked `previous`, and the app decides per report what counts.
   */
  previous?: boolean;
}

/** `peer` is a device's DISCOVER session id (`sid`): the name these events have in recorded journals, which replay reads. */
type LinkEvent =
  | { type: 'link.connected'; peer: string; channel: Transport; via: Via }
  | { type: 'link.disconnected'; peer: string; reason: string }
  /** A peer's SYNC child ended (closed or failed): that peer is done. */
  | { type: `xstate.done.actor.${string}`; actorId?: string }
  | { type: 'link.deposited'; heads: string[] }
  /** A peer device's SYNC: it has our channel up to `heads`. */
  | { type: 'link.synced'; heads: string[] }
  | { type: 'link.refused'; reason: string; error?: TopicUnprovenError }
  | { type: 'link.relay'; up: boolean }
  /** The depot's relay is one from before reader tokens: deposits list readers by bare tag (the depot's `bareReaders`). */
  | { type: 'link.bareReaders'; reason: string }
  | FileEvent
  | FileCommand
  | { type: 'STOP' };

/**
 * What a link tells its parent (the app): the contact is reachable, and how, or not. Presence is the
 * contact's, not a device's: online while any of its devices is connected, `via` 'direct' if any
 * of those channels is direct (told again when that changes), else 'relayed'.
 */
export type LinkPresence = {
  contactId: DocId;
  /** From the link on the card's previous key (its heads are that channel's; it has no presence of its own). */
  previous?: true;
} & (
  | { type: 'contact.online'; via: Via }
  | { type: 'contact.offline' }
  /** The relay's depot holds our changes up to `heads` for the contact. */
  | { type: 'contact.deposited'; heads: string[] }
  /** A device of the contact has our channel up to `heads`, by live SYNC (Automerge's shared heads). */
  | { type: 'contact.synced'; heads: string[] }
  /** The relay refused to keep our changes for the contact (quota, size): they wait here. */
  | { type: 'contact.refused'; reason: string; error?: TopicUnprovenError }
  /** This link's connection to the relay came up or went down. */
  | { type: 'contact.relay'; up: boolean }
  /** The relay is one from before reader tokens (it refused them, `reason`): deposits go with bare reader tags. */
  | { type: 'contact.relayOutdated'; reason: string }
  /** A file transfer with the contact moved on, finished or failed. */
  | { type: 'contact.file'; file: FileEvent }
);

/** The source a link's reports carry (`previous` only when set, so the reports of a card's own link are as before). */
const sourceOf = (input: ContactLinkInput): Pick<LinkPresence, 'contactId' | 'previous'> => ({
  contactId: input.contactId,
  ...(input.previous ? { previous: true as const } : {}),
});

/** After DISCOVER gave up (the relay stayed unreachable), wait this long before searching again. */
export const LINK_REST_MS = 60_000;

/** DISCOVER as a child machine that tells this machine of each channel it opens and loses (per peer device). */
export const linkedDiscover = discoverMachine.provide({
  actions: {
    announceConnected: sendParent(({ event }) => {
      const e = event as Extract<LinkEvent, { type: 'link.connected' }> & { type: string };
      return { type: 'link.connected', peer: e.peer, channel: e.channel, via: e.via };
    }),
    announceDisconnected: sendParent((_, params: DisconnectedParams) => ({ type: 'link.disconnected', ...params })),
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
    announceBareReaders: sendParent((_, params: { reason: string }) => ({ type: 'link.bareReaders', reason: params.reason })),
  },
});

/** SYNC, telling the link what a peer device now has of our channel (a removal waits for that, or a deposit). */
export const linkedSync = syncMachine.provide({
  actions: { shared: sendParent((_, params: { docId: DocId; heads: string[] }) => ({ type: 'link.synced', heads: params.heads })) },
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
    ...(input.relayFileBytes === undefined ? {} : { relayFileBytes: input.relayFileBytes }),
    ...(input.own ? { own: true } : {}),
  };
}

/** A connected peer device of the contact: its channel and how it was reached. */
export interface LinkPeer {
  channel: Transport;
  via: Via;
}

/** One contact's link's state data: its input, and each connected peer device (by its DISCOVER session id). */
export interface ContactLinkContext {
  input: ContactLinkInput;
  peers: Record<string, LinkPeer>;
}

/** The ids of one device's children, by its session id. */
const syncId = (sid: string) => `sync-${sid}`;
const filesId = (sid: string) => `files-${sid}`;
const SYNC_DONE = 'xstate.done.actor.sync-';

/** The contact's `via` over all its connected devices: direct if any channel is direct. */
export function viaOf(peers: Record<string, LinkPeer>): Via {
  return Object.values(peers).some((p) => p.via === 'direct') ? 'direct' : 'relayed';
}

/** One contact's link: DISCOVER, then SYNC and file transfers over each device's channel, or the relay's depot while all are away. */
export const contactLinkMachine = setup({
  types: {
    input: {} as ContactLinkInput,
    context: {} as ContactLinkContext,
    events: {} as LinkEvent,
  },
  actors: { discover: linkedDiscover, sync: linkedSync, depot: linkedDepot, files: fileSessionActor },
  actions: {
    // A peer's channel (new, or replacing its old one): SYNC and the file session on it, under ids of its own.
    adopt: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'link.connected') return;
      const { peer: sid, channel, via } = event;
      if (context.peers[sid]) {
        enqueue.stopChild(syncId(sid));
        enqueue.stopChild(filesId(sid));
      }
      const { input } = context;
      enqueue.spawnChild('files', {
        id: filesId(sid),
        input: {
          channel,
          storage: input.storage,
          docs: input.docs,
          channelId: input.channelId,
          deviceId: input.deviceId,
          maxFileBytes: input.maxFileBytes ?? DEFAULT_FILE_SIZE_LIMIT,
        },
      });
      enqueue.spawnChild('sync', {
        id: syncId(sid),
        input: { docs: input.docs, storage: input.storage, channel, deviceId: input.deviceId, docIds: [input.channelId] },
      });
      enqueue.assign({ peers: { ...context.peers, [sid]: { channel, via } } });
    }),
    /** This peer is gone (its channel or its SYNC ended): its children stop. */
    forget: enqueueActions(({ context, enqueue }, params: { sid: string }) => {
      if (!context.peers[params.sid]) return;
      enqueue.stopChild(syncId(params.sid));
      enqueue.stopChild(filesId(params.sid));
      const rest = Object.fromEntries(Object.entries(context.peers).filter(([sid]) => sid !== params.sid));
      enqueue.assign({ peers: rest });
      // The contact is still online through its other devices; tell the app if that changed how.
      const via = viaOf(rest);
      if (Object.keys(rest).length > 0 && via !== viaOf(context.peers))
        enqueue.sendParent({ type: 'contact.online', ...sourceOf(context.input), via } satisfies LinkPresence);
    }),
    forgetAll: enqueueActions(({ context, enqueue }) => {
      for (const sid of Object.keys(context.peers)) {
        enqueue.stopChild(syncId(sid));
        enqueue.stopChild(filesId(sid));
      }
      enqueue.assign({ peers: {} });
    }),
    online: sendParent(({ context }): LinkPresence => ({ type: 'contact.online', ...sourceOf(context.input), via: viaOf(context.peers) })),
    offline: sendParent(({ context }): LinkPresence => ({ type: 'contact.offline', ...sourceOf(context.input) })),
    cancelFile: enqueueActions(({ context, event, enqueue }) => {
      for (const sid of Object.keys(context.peers)) enqueue.sendTo(filesId(sid), event as FileCommand);
    }),
  },
  delays: { rest: LINK_REST_MS },
}).createMachine({
  id: 'contactLink',
  context: ({ input }) => ({ input, peers: {} }),
  initial: 'linking',
  on: {
    STOP: '.stopped',
    'link.deposited': {
      actions: sendParent(({ context, event }): LinkPresence => ({ type: 'contact.deposited', ...sourceOf(context.input), heads: event.heads })),
    },
    'link.synced': {
      actions: sendParent(({ context, event }): LinkPresence => ({ type: 'contact.synced', ...sourceOf(context.input), heads: event.heads })),
    },
    'link.relay': {
      actions: sendParent(({ context, event }): LinkPresence => ({ type: 'contact.relay', ...sourceOf(context.input), up: event.up })),
    },
    'link.bareReaders': {
      actions: sendParent(({ context, event }): LinkPresence => ({ type: 'contact.relayOutdated', ...sourceOf(context.input), reason: event.reason })),
    },
    'link.refused': {
      actions: sendParent(({ context, event }): LinkPresence => ({
        type: 'contact.refused',
        ...sourceOf(context.input),
        reason: event.reason,
        ...(event.error ? { error: event.error } : {}),
      })),
    },
    ...Object.fromEntries(
      (['file.progress', 'file.done', 'file.failed', 'file.waiting'] as const).map((type) => [
        type,
        { actions: sendParent(({ context, event }): LinkPresence => ({ type: 'contact.file', ...sourceOf(context.input), file: event as FileEvent })) },
      ]),
    ),
  },
  states: {
    linking: {
      // DISCOVER reconnects by itself with backoff; it ends only when the relay stayed unreachable.
      invoke: { id: 'discover', src: 'discover', input: ({ context }) => context.input.discover, onDone: 'resting' },
      initial: 'searching',
      states: {
        searching: {
          // None of the contact's devices is reachable: the relay's depot carries our changes.
          invoke: { id: 'depot', src: 'depot', input: ({ context }) => depotInput(context.input, true) },
          on: { 'link.connected': { target: 'connected', actions: 'adopt' } },
        },
        connected: {
          entry: 'online',
          // Only `connected` is left, never `linking`, whose DISCOVER child must live on.
          exit: ['forgetAll', 'offline'],
          invoke: { id: 'collect', src: 'depot', input: ({ context }) => depotInput(context.input, false) },
          on: {
            // Another device of the contact, or a peer's new channel (its SYNC restarts on it).
            'link.connected': {
              actions: enqueueActions(({ context, event, enqueue }) => {
                const before = viaOf(context.peers);
                enqueue('adopt');
                const after = viaOf({ ...context.peers, [event.peer]: { channel: event.channel, via: event.via } });
                if (after !== before) enqueue.sendParent({ type: 'contact.online', ...sourceOf(context.input), via: after } satisfies LinkPresence);
              }),
            },
            'link.disconnected': [
              { guard: ({ context, event }) => Object.keys(context.peers).every((sid) => sid === event.peer), target: 'searching' },
              { actions: { type: 'forget', params: ({ event }) => ({ sid: event.peer }) } },
            ],
            // A peer's SYNC ended by itself (closed, or failed on a refused change): that peer is done.
            'xstate.done.actor.*': [
              {
                guard: ({ context, event }) => {
                  const sid = event.type.startsWith(SYNC_DONE) ? event.type.slice(SYNC_DONE.length) : undefined;
                  return sid !== undefined && Object.keys(context.peers).every((s) => s === sid);
                },
                target: 'searching',
              },
              {
                guard: ({ event }) => event.type.startsWith(SYNC_DONE),
                actions: { type: 'forget', params: ({ event }) => ({ sid: event.type.slice(SYNC_DONE.length) }) },
              },
            ],
            'file.cancel': { actions: 'cancelFile' },
          },
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
