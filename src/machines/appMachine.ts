/**
 * The app's states, those of the original Backchannel made explicit:
 *
 *   starting (open the database; on first start it creates device_id and default settings)
 *   → ready, three regions at once:
 *       network:  online (a background link per contact: DISCOVER + SYNC) ⇄ offline (links stopped)
 *       pairing:  idle → inviting (code shown, waiting) | accepting (code entered) — VERIFY runs as
 *                 the `pairing` child machine (its wormhole a child of it) — → naming (save the new
 *                 contact under its name, start its link) → idle
 *       settings: idle ⇄ saving (a new relay or ICE servers restart every link)
 *   → closing (links stopped, storage closed) → closed          failed (the database did not open)
 *
 * Every effect is an actor provided in `setup` (database, pairing, links, storage): the machine itself
 * is a pure definition, and the façade (`app/backchannel.ts`) only sends events and listens to what
 * this machine emits.
 * @module
 */
import { assign, emit, enqueueActions, fromPromise, sendParent, sendTo, setup, stateIn } from 'xstate';
import { Database, documentId, type Contact } from '../db/database.js';
import type { DocId } from '../db/documentStore.js';
import type { IceServer, SettingsDoc } from '../db/schema.js';
import { fromHex } from '../crypto/bytes.js';
import type { Clock } from '../effects/clock.js';
import type { RandomBytes } from '../effects/random.js';
import type { SocketConnector } from '../effects/socket.js';
import type { StorageAdapter } from '../effects/storage.js';
import { toBackchannelError, type BackchannelError } from '../errors.js';
import type { DirectChannelFactory, RtcImplementation } from '../discover/session.js';
import type { Journal } from '../journal/journal.js';
import { contactLinkMachine, type ContactLinkInput, type LinkPresence } from './contactLinkMachine.js';
import type { DiscoverTimeouts } from './discoverMachine.js';
import { pairingMachine, type PairingAnnouncement, type PairingOutput, type PairingStep } from './pairingMachine.js';
import { BACKCHANNEL_APPID } from '../pair.js';
import type { WormholeInput, WormholeTimeouts } from './wormholeMachine.js';

export interface AppInput {
  storage: StorageAdapter;
  connector: SocketConnector;
  randomBytes: RandomBytes;
  /** The mailbox relay to use; saved to Settings when it differs. */
  relay?: string;
  rtc?: Pick<RtcImplementation, 'RTCPeerConnection'>;
  /** How an open WebRTC data channel becomes a Channel (the façade passes openWebRtcChannel). */
  openDirectChannel?: DirectChannelFactory;
  clock?: Clock;
  pairingTimeouts?: Partial<WormholeTimeouts>;
  discoverTimeouts?: Partial<DiscoverTimeouts>;
  /** The event journal (it observes this actor's system); written out before storage closes. */
  journal?: Journal;
}

export type Via = 'direct' | 'relayed';
/** The relay as the links see it: any link connected → `reachable`; all retrying → `unreachable`; no links → `unknown`. */
export type RelayStatus = 'reachable' | 'unreachable' | 'unknown';

export function relayStatus(relayUp: Record<string, boolean>): RelayStatus {
  const seen = Object.values(relayUp);
  return seen.length === 0 ? 'unknown' : seen.some(Boolean) ? 'reachable' : 'unreachable';
}
export type SettingsPatch = { relay_server?: string; ice_servers?: IceServer[] };

export interface AppContext {
  input: AppInput;
  /** The database: an effect handle, used only by the actors and link inputs. */
  db?: Database;
  /**
   * What the machine decides with, kept here so transitions never read storage (replay is exact):
   * the contacts' ids and keys for their links (monikers may lag a rename; read those from the db).
   */
  contacts: Contact[];
  settings?: SettingsDoc;
  firstStart: boolean;
  /** Contacts whose device is connected right now, and how. */
  presence: Record<DocId, Via>;
  /** Per link: is its connection to the relay up? (see {@link relayStatus}) */
  relayUp: Record<DocId, boolean>;
  /** The name the contact being paired will get. */
  moniker: string;
  /** VERIFY's result while `naming` saves the contact. */
  paired?: { contactKey: Uint8Array; verifier: string };
  patch?: SettingsPatch;
  error?: BackchannelError;
}

export type AppEvent =
  | { type: 'pairing.invite'; moniker?: string }
  | { type: 'pairing.accept'; code: string; moniker?: string }
  | { type: 'pairing.cancel' }
  | PairingAnnouncement
  | LinkPresence
  | { type: 'contact.removed'; contactId: DocId }
  | { type: 'network.offline' }
  | { type: 'network.online' }
  | { type: 'settings.update'; patch: SettingsPatch }
  | { type: 'CLOSE' };

export type AppEmitted =
  | { type: 'started'; firstStart: boolean }
  | { type: 'pairing.progress'; step: PairingStep | 'naming' }
  | { type: 'pairing.code'; code: string }
  | { type: 'pairing.failed'; error: BackchannelError }
  | { type: 'contact.paired'; contact: Contact; verifier: string }
  | { type: 'presence'; contactId: DocId; via: Via | undefined }
  | { type: 'deposited'; contactId: DocId; heads: string[] }
  | { type: 'refused'; contactId: DocId; reason: string }
  | { type: 'relay'; status: RelayStatus }
  | { type: 'settings.updated'; settings: SettingsDoc }
  | { type: 'settings.failed'; error: BackchannelError };

const DEFAULT_MONIKER = 'New contact';

interface Opened {
  db: Database;
  contacts: Contact[];
  settings: SettingsDoc;
  firstStart: boolean;
}
export const linkId = (contactId: DocId) => `link-${contactId}`;

/** The relay's DISCOVER endpoint beside its mailbox one: `…/v1` → `…/backchannel/v1`. */
export function discoveryUrlOf(relay: string): string {
  const url = new URL(relay);
  url.pathname = '/backchannel/v1';
  return url.toString();
}

function linkInput(context: AppContext, contact: Contact): ContactLinkInput {
  const { input, db } = context;
  const contactKey = fromHex(contact.channels[0]!);
  const { relay_server, ice_servers } = context.settings!;
  return {
    contactId: contact.id,
    channelId: documentId(contactKey),
    docs: db!.docs,
    storage: db!.storage,
    deviceId: db!.deviceId,
    discover: {
      contactKey,
      url: discoveryUrlOf(relay_server),
      connector: input.connector,
      randomBytes: input.randomBytes,
      rtc: input.rtc ? { RTCPeerConnection: input.rtc.RTCPeerConnection, config: { iceServers: ice_servers as RTCIceServer[] } } : undefined,
      openDirectChannel: input.openDirectChannel,
      timeouts: input.discoverTimeouts,
    },
  };
}

/** What `inviting` and `accepting` do while VERIFY runs: pass progress on; a cancel goes to the child,
 * which closes the mailbox "lonely" and then ends (with AbortedError) like any failure. */
const whilePairing = {
  'pairing.progress': { actions: 'emitProgress' },
  'pairing.cancel': { actions: 'cancelPairing' },
} as const;

/** VERIFY's end: a contact key to name, or a typed failure. */
const pairingDone = [
  { guard: ({ event }: { event: { output: PairingOutput } }) => !!event.output.error, target: 'idle', actions: 'emitPairingError' },
  { target: 'naming', actions: 'rememberPaired' },
] as const;

const asError = (error: unknown) => toBackchannelError(error);

export const appMachine = setup({
  types: { input: {} as AppInput, context: {} as AppContext, events: {} as AppEvent, emitted: {} as AppEmitted },
  actors: {
    contactLink: contactLinkMachine,
    // VERIFY as a child machine (its wormhole a child of it); it reports progress and its code to us.
    pairing: pairingMachine.provide({ actions: { announce: sendParent((_, params: PairingAnnouncement) => params) } }),
    openDatabase: fromPromise<Opened, Pick<AppInput, 'storage' | 'randomBytes' | 'relay' | 'clock'>>(async ({ input }) => {
      const db = await Database.open({ storage: input.storage, randomBytes: input.randomBytes, clock: input.clock });
      if (input.relay !== undefined && db.settings().relay_server !== input.relay) await db.updateSettings({ relay_server: input.relay });
      return { db, contacts: db.contacts(), settings: db.settings(), firstStart: db.firstStart };
    }),
    saveContact: fromPromise<Contact, { db: Database; moniker: string; contactKey: Uint8Array }>(({ input }) =>
      input.db.addContact({ moniker: input.moniker, contactKey: input.contactKey }),
    ),
    saveSettings: fromPromise<SettingsDoc, { db: Database; patch: SettingsPatch }>(({ input }) => input.db.updateSettings(input.patch)),
    closeStorage: fromPromise<void, Pick<AppInput, 'storage' | 'journal'>>(async ({ input }) => {
      await input.journal?.close();
      await input.storage.close?.();
    }),
  },
  actions: {
    linkAll: enqueueActions(({ context, enqueue }) => {
      for (const contact of context.contacts) enqueue.spawnChild('contactLink', { id: linkId(contact.id), input: linkInput(context, contact) });
    }),
    unlinkAll: enqueueActions(({ context, enqueue }) => {
      for (const contact of context.contacts) enqueue.stopChild(linkId(contact.id));
      for (const contactId of Object.keys(context.presence)) enqueue.emit({ type: 'presence', contactId, via: undefined });
      if (relayStatus(context.relayUp) !== 'unknown') enqueue.emit({ type: 'relay', status: 'unknown' });
      enqueue.assign({ presence: {}, relayUp: {} });
    }),
    /** Record one link's relay connection; tell the host when the overall status changes. */
    noteRelay: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'contact.relay' && event.type !== 'contact.removed') return;
      const relayUp = { ...context.relayUp };
      if (event.type === 'contact.relay') relayUp[event.contactId] = event.up;
      else delete relayUp[event.contactId];
      enqueue.assign({ relayUp });
      const status = relayStatus(relayUp);
      if (status !== relayStatus(context.relayUp)) enqueue.emit({ type: 'relay', status });
    }),
    rememberPaired: assign({
      paired: ({ event }) => {
        const output = (event as unknown as { output: PairingOutput }).output;
        return { contactKey: output.contactKey!, verifier: output.verifier! };
      },
    }),
    cancelPairing: sendTo('pairing', { type: 'CANCEL' }),
    emitPairingError: emit(({ event }) => ({ type: 'pairing.failed' as const, error: asError((event as unknown as { output: PairingOutput }).output.error) })),
    emitProgress: emit(({ event }) => ({ type: 'pairing.progress' as const, step: event.type === 'pairing.progress' ? event.step : 'connecting' })),
    emitFailed: emit(({ event }) => ({ type: 'pairing.failed' as const, error: asError((event as unknown as { error: unknown }).error) })),
  },
  guards: {
    online: stateIn({ ready: { network: 'online' } }),
  },
}).createMachine({
  id: 'app',
  context: ({ input }) => ({ input, contacts: [], firstStart: false, presence: {}, relayUp: {}, moniker: DEFAULT_MONIKER }),
  initial: 'starting',
  states: {
    starting: {
      on: { CLOSE: 'closing' },
      invoke: {
        src: 'openDatabase',
        input: ({ context }) => context.input,
        onDone: {
          target: 'ready',
          actions: [
            assign(({ event }) => event.output),
            emit(({ event }) => ({ type: 'started' as const, firstStart: event.output.firstStart })),
          ],
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => asError(event.error) }) },
      },
    },
    ready: {
      type: 'parallel',
      on: {
        CLOSE: 'closing',
        'contact.online': {
          actions: [
            assign({ presence: ({ context, event }) => ({ ...context.presence, [event.contactId]: event.via }) }),
            emit(({ event }) => ({ type: 'presence' as const, contactId: event.contactId, via: event.via })),
          ],
        },
        'contact.offline': {
          actions: [
            assign({ presence: ({ context, event }) => Object.fromEntries(Object.entries(context.presence).filter(([id]) => id !== event.contactId)) }),
            emit(({ event }) => ({ type: 'presence' as const, contactId: event.contactId, via: undefined })),
          ],
        },
        'contact.deposited': { actions: emit(({ event }) => ({ type: 'deposited' as const, contactId: event.contactId, heads: event.heads })) },
        'contact.relay': { actions: 'noteRelay' },
        'contact.refused': { actions: emit(({ event }) => ({ type: 'refused' as const, contactId: event.contactId, reason: event.reason })) },
        'contact.removed': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            enqueue('noteRelay');
            enqueue.stopChild(linkId(event.contactId));
            enqueue.assign({ contacts: context.contacts.filter((c) => c.id !== event.contactId) });
            if (!(event.contactId in context.presence)) return;
            enqueue.assign({ presence: Object.fromEntries(Object.entries(context.presence).filter(([id]) => id !== event.contactId)) });
            enqueue.emit({ type: 'presence', contactId: event.contactId, via: undefined });
          }),
        },
      },
      states: {
        network: {
          initial: 'online',
          states: {
            online: { entry: 'linkAll', exit: 'unlinkAll', on: { 'network.offline': 'offline' } },
            offline: { on: { 'network.online': 'online' } },
          },
        },
        pairing: {
          initial: 'idle',
          states: {
            idle: {
              on: {
                'pairing.invite': { target: 'inviting', actions: assign({ moniker: ({ event }) => event.moniker ?? DEFAULT_MONIKER }) },
                'pairing.accept': { target: 'accepting', actions: assign({ moniker: ({ event }) => event.moniker ?? DEFAULT_MONIKER }) },
              },
            },
            inviting: {
              invoke: { id: 'pairing', src: 'pairing', input: ({ context }) => pairingInput(context), onDone: pairingDone },
              on: { ...whilePairing, 'pairing.code': { actions: emit(({ event }) => ({ type: 'pairing.code' as const, code: event.code })) } },
            },
            accepting: {
              invoke: {
                id: 'pairing',
                src: 'pairing',
                input: ({ context, event }) => pairingInput(context, (event as { code: string }).code),
                onDone: pairingDone,
              },
              on: whilePairing,
            },
            naming: {
              entry: emit({ type: 'pairing.progress', step: 'naming' }),
              invoke: {
                src: 'saveContact',
                input: ({ context }) => ({ db: context.db!, moniker: context.moniker, contactKey: context.paired!.contactKey }),
                onDone: {
                  target: 'idle',
                  actions: [
                    enqueueActions(({ context, event, enqueue, check }) => {
                      enqueue.assign({ contacts: [...context.contacts.filter((c) => c.id !== event.output.id), event.output] });
                      if (check('online')) enqueue.spawnChild('contactLink', { id: linkId(event.output.id), input: linkInput(context, event.output) });
                    }),
                    emit(({ context, event }) => ({ type: 'contact.paired' as const, contact: event.output, verifier: context.paired!.verifier })),
                    assign({ paired: undefined }),
                  ],
                },
                onError: { target: 'idle', actions: ['emitFailed', assign({ paired: undefined })] },
              },
            },
          },
        },
        settings: {
          initial: 'idle',
          states: {
            idle: { on: { 'settings.update': { target: 'saving', actions: assign({ patch: ({ event }) => event.patch }) } } },
            saving: {
              invoke: {
                src: 'saveSettings',
                input: ({ context }) => ({ db: context.db!, patch: context.patch! }),
                onDone: {
                  target: 'idle',
                  actions: enqueueActions(({ event, enqueue, check }) => {
                    enqueue.assign({ settings: event.output });
                    // Links carry the relay URL and ICE servers they started with: start them again.
                    if (check('online')) {
                      enqueue('unlinkAll');
                      enqueue('linkAll');
                    }
                    enqueue.emit({ type: 'settings.updated', settings: event.output });
                    enqueue.assign({ patch: undefined });
                  }),
                },
                onError: {
                  target: 'idle',
                  actions: [emit(({ event }) => ({ type: 'settings.failed' as const, error: asError(event.error) })), assign({ patch: undefined })],
                },
              },
            },
          },
        },
      },
    },
    closing: {
      invoke: { src: 'closeStorage', input: ({ context }) => context.input, onDone: 'closed', onError: 'closed' },
    },
    closed: { type: 'final' },
    failed: { type: 'final' },
  },
});

/** The pairing machine's input: our relay from Settings, the injected effects, the code when accepting. */
function pairingInput(context: AppContext, code?: string): WormholeInput {
  const { input } = context;
  return {
    appid: BACKCHANNEL_APPID,
    url: context.settings!.relay_server,
    connector: input.connector,
    randomBytes: input.randomBytes,
    timeouts: input.pairingTimeouts,
    code,
  };
}
