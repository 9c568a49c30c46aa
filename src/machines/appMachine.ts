/**
 * The app's states, those of the original Backchannel made explicit. The app machine is the only
 * owner of the database and the only writer: every rule and every write is here, so the journal sees
 * all the app does and `replay()` covers it.
 *
 *   starting (open the database; on first start it creates device_id and default settings)
 *   → ready, regions at once:
 *       network:  online (a background link per contact: DISCOVER + SYNC, and the relay check)
 *                 ⇄ offline (links stopped)
 *       pairing:  idle → inviting (opening → showing the code ⇄ refreshing it every `refreshMs` · answered)
 *                 | accepting (code entered) — VERIFY runs as
 *                 the `pairing` child machine (its wormhole a child of it) — → naming (save the new
 *                 contact under its name, start its link) → idle. One at a time: another invite or
 *                 accept meanwhile is answered `pairing.busy`.
 *       devices:  idle → unlinking → idle (a notice in my devices' own channel, then forget the device)
 *                 | adding → idle (devices another of mine linked, announced in our own channel)
 *       contacts: idle → renaming | removing → idle       (requests queue in `contactOps`)
 *                 | checkingRemoval (a deposit or the contact's device by live SYNC holds heads: is my
 *                 notice in them?) → forgetting (a contact I removed, once my notice is out; or one a
 *                 device of mine removed) | markingRemoved (the contact removed me: card kept, link stopped)
 *       messages: idle → sending → idle                   (requests queue in `outbox`)
 *       seen:     idle → saving → idle (last_seen of a contact whose device came, went or sent; `sightings`
 *                 queue; `presence` is emitted once it is saved)
 *       settings: idle → saving → idle (a new relay or ICE servers restart every link; `patches` queue)
 *       files:    idle → storing → idle (read a file into the chunk store, then its message; `fileOuts`)
 *       fileCancels: idle → cancelling → idle (mark it cancelled in storage; the link stops it on the wire)
 *   → closing (once the queues are empty: links stopped, journal written, storage closed; after CLEAR
 *     every app record is wiped first, the device's identity kept) → closed
 *   failed (the database did not open, or no relay to use)
 *
 * Each request carries the caller's `req` number and is answered by an emitted event with the same
 * `req` (`contact.renamed`, `message.sent`, `settings.failed`, …). Every effect is an actor named in
 * `setup` and provided from outside (`app/actors.ts`); its vocabulary is in `appTypes.ts`, what it hands its
 * children in `appInputs.ts`. The machine is a pure definition, and the façade
 * (`app/backchannel.ts`) only sends events and listens to what this machine emits.
 * @module
 */
import { and, assign, emit, enqueueActions, fromCallback, fromPromise, not, or, sendTo, setup, stateIn } from 'xstate';
import type { Contact, Database } from '../db/database.js';
import type { RandomBytes } from '../effects/random.js';
import type { DocId } from '../db/documentStore.js';
import { DEFAULT_FILE_SIZE_LIMIT, DEFAULT_RELAY_SERVER, type Message, type SettingsDoc } from '../db/schema.js';
import { AbortedError, BusyError, InternalError, InvalidArgumentError, RelayOutdatedError, toBackchannelError } from '../errors.js';
import type { contactLinkMachine } from './contactLinkMachine.js';
import type { PairingOutput, pairingMachine } from './pairingMachine.js';
import { RelayMux } from '../discover/relayMux.js';
import { fileRoute } from '../depot/fileRoute.js';
import { fileRefusalNotice } from '../files/refusal.js';
import { linkInput, linkInputs, linkOf, pairingInput, previousLinkOf, relayCheckInput } from './appInputs.js';
import type { Adopted } from '../devices/adopt.js';
import type { OwnDevice } from '../devices/linkBundle.js';
import type { DeviceLinkRecord } from '../devices/linkRecord.js';
import {
  relayOutdatedOf,
  relayStatus,
  type AppContext,
  type AppEmitted,
  type AppEvent,
  type AppInput,
  type ContactOp,
  type MessageInput,
  type Opened,
  type RelayCheckInput,
  type RelayChecked,
  type SettingsPatch,
  type FileOut,
  type CancelledFile,
  type OwnDevicesSaved,
} from './appTypes.js';

export { discoveryUrlOf } from './appInputs.js';
export * from './appTypes.js';

const DEFAULT_MONIKER = 'New contact';
/** The queues of waiting requests, one per region that writes. */
type Queue = 'contactOps' | 'outbox' | 'patches';

export const linkId = (contactId: DocId) => `link-${contactId}`;
export const RELAY_CHECK_ID = 'relayCheck';

/** An effect this definition names and the façade provides (`app/actors.ts`); unprovided, it fails. */
function provided<TOutput, TInput>(name: string) {
  return fromPromise<TOutput, TInput>(() => Promise.reject(new InternalError(`The app's "${name}" actor was not provided.`)));
}

/** What `inviting` and `accepting` do while VERIFY runs: pass progress on; a cancel goes to the child,
 * which closes the mailbox "lonely" and then ends (with AbortedError) like any failure. */
const whilePairing = {
  'pairing.progress': { actions: 'emitProgress' },
  'pairing.cancel': { actions: 'cancelPairing' },
  'pairing.invite': { actions: 'refuseBusy' },
  'pairing.accept': { actions: 'refuseBusy' },
  'device.link': { actions: 'refuseBusy' },
  'device.join': { actions: 'refuseBusy' },
} as const;

/** While a pairing's result is being stored: another pairing or link waits its turn (`pairing.busy`). */
const refuseWhileSaving = {
  'pairing.invite': { actions: 'refuseBusy' },
  'pairing.accept': { actions: 'refuseBusy' },
  'device.link': { actions: 'refuseBusy' },
  'device.join': { actions: 'refuseBusy' },
} as const;

/** VERIFY's end: a contact key to name, or a typed failure. */
const pairingDone = [
  { guard: ({ event }: { event: { output: PairingOutput } }) => !!event.output.error, target: 'idle', actions: 'emitPairingError' },
  { target: 'naming', actions: 'rememberPaired' },
] as const;

const asError = (error: unknown) => toBackchannelError(error);
const isOnline = stateIn({ ready: { network: 'online' } });
const lastSeenOf = (context: AppContext, contactId: DocId) => context.contacts.find((c) => c.id === contactId)?.last_seen;
const without = <T>(record: Record<string, T>, id: string) => Object.fromEntries(Object.entries(record).filter(([k]) => k !== id));

/** What the links said of the relay, less a card's links (its own and the one on its previous key), now stopped. */
function withoutLinksOf(relayUp: Record<DocId, boolean>, cardId: DocId | undefined): Record<DocId, boolean> {
  if (cardId === undefined) return relayUp;
  const gone = new Set([cardId, previousLinkOf(cardId)]);
  return Object.fromEntries(Object.entries(relayUp).filter(([id]) => !gone.has(id)));
}

/** The whole app as one machine: opening storage, pairing, one link per contact, files, settings; its effects are named, not provided (see `backchannelApp`). */
export const appMachine = setup({
  types: { input: {} as AppInput, context: {} as AppContext, events: {} as AppEvent, emitted: {} as AppEmitted },
  actors: {
    // Typed as what the façade provides (machines and a callback); only their types are imported here.
    contactLink: provided('contactLink') as unknown as typeof contactLinkMachine,
    /** VERIFY as a child machine (its wormhole a child of it) that reports progress and its code to us. */
    pairing: provided('pairing') as unknown as typeof pairingMachine,
    relayCheck: fromCallback<{ type: 'noop' }, RelayCheckInput, RelayChecked>(() => {
      throw new InternalError('The app\'s "relayCheck" actor was not provided.');
    }),
    openDatabase: provided<Opened, Pick<AppInput, 'storage' | 'randomBytes' | 'relay' | 'clock'>>('openDatabase'),
    saveContact: provided<Contact, { db: Database; moniker: string; contactKey: Uint8Array; publicKey?: string }>('saveContact'),
    renameContact: provided<Contact, { db: Database; contactId: DocId; moniker: string }>('renameContact'),
    /** Tell the contact and my devices (notices), then mark the card leaving; `leaving` undefined: forgotten outright. */
    removeContact: provided<{ leaving?: Contact }, { db: Database; contactId: DocId }>('removeContact'),
    /** Forget a contact's card and channel; with `heads`, only if my removal notice is in them (false: not yet). */
    forgetContact: provided<boolean, { db: Database; contactId: DocId; heads?: string[] }>('forgetContact'),
    /** Whether my removal notice to the contact is in `heads` (what a deposit or the contact's device holds). */
    holdsRemoval: provided<boolean, { db: Database; contactId: DocId; heads: string[] }>('holdsRemoval'),
    /** The contact removed me: mark its card (kept, history readable). */
    markRemovedByPeer: provided<Contact, { db: Database; contactId: DocId }>('markRemovedByPeer'),
    sendMessage: provided<Message, { db: Database; contactId: DocId; message: MessageInput }>('sendMessage'),
    saveSettings: provided<SettingsDoc, { db: Database; patch: SettingsPatch }>('saveSettings'),
    closeStorage: provided<void, Pick<AppInput, 'storage' | 'journal'> & { clear?: boolean }>('closeStorage'),
    touchContact: provided<Contact, { db: Database; contactId: DocId }>('touchContact'),
    /** Store a file's bytes (chunked, hashed) and then send its message. */
    sendFile: provided<Message, FileOut & { db: Database; maxBytes: number; randomBytes: AppInput['randomBytes'] }>('sendFile'),
    /** Remember a device of mine that redeemed my link code. */
    saveOwnDevice: provided<OwnDevicesSaved, { db: Database; device: OwnDevice; record?: DeviceLinkRecord }>('saveOwnDevice'),
    /** Remember devices another device of mine linked. */
    addOwnDevices: provided<OwnDevicesSaved, { db: Database; devices: OwnDevice[] }>('addOwnDevices'),
    /** Tell a device of mine it is unlinked (our own channel), then forget it. */
    unlinkDevice: provided<OwnDevicesSaved, { db: Database; deviceId: string; randomBytes: RandomBytes }>('unlinkDevice'),
    /** Take in keys my devices or contacts rotated, sealed to this device (devices/rotate.ts). */
    adoptRekeys: provided<OwnDevicesSaved, { db: Database; randomBytes: RandomBytes }>('adoptRekeys'),
    /** Check and take in what the approving device sent (devices, settings, contacts). */
    adoptLink: provided<Adopted, { db: Database; link: unknown; approver?: string }>('adoptLink'),
    /** Mark a transfer cancelled in storage (its bytes go); the link's session stops it on the wire. */
    cancelFile: provided<CancelledFile, { db: Database; hash: string }>('cancelFile'),
  },
  actions: {
    /** The contact's device went (maybe noticed only after a file was sent): what it has not confirmed waits here again. */
    filesWait: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'contact.offline') return;
      for (const [hash, { contactId, total }] of Object.entries(context.undelivered)) {
        if (contactId !== event.contactId) continue;
        enqueue.emit({
          type: 'transfer',
          contactId,
          hash,
          direction: 'out',
          status: 'waiting',
          done: 0,
          total,
          route: fileRoute(total, context.input.relayFileBytes),
        });
      }
    }),
    linkAll: enqueueActions(({ context, enqueue }) => {
      // A contact that removed me stays unlinked; one I removed is linked until my notice is out.
      for (const contact of [...context.contacts.filter((c) => c.removed_by !== 'peer'), ...context.leaving])
        for (const l of linkInputs(context, contact)) enqueue.spawnChild('contactLink', { id: linkId(l.id), input: l.input });
      // My devices' own channel is linked like a contact's (devices/selfLink.ts).
      if (context.self) for (const l of linkInputs(context, context.self, true)) enqueue.spawnChild('contactLink', { id: linkId(l.id), input: l.input });
      enqueue.spawnChild('relayCheck', { id: RELAY_CHECK_ID, input: relayCheckInput(context) });
    }),
    unlinkAll: enqueueActions(({ context, enqueue }) => {
      for (const contact of [...context.contacts, ...context.leaving]) for (const id of [contact.id, previousLinkOf(contact.id)]) enqueue.stopChild(linkId(id));
      if (context.self) for (const id of [context.self.id, previousLinkOf(context.self.id)]) enqueue.stopChild(linkId(id));
      enqueue.stopChild(RELAY_CHECK_ID);
      for (const contactId of Object.keys(context.presence))
        enqueue.emit({ type: 'presence', contactId, via: undefined, lastSeen: lastSeenOf(context, contactId) });
      if (relayStatus(context) !== 'unknown') enqueue.emit({ type: 'relay', status: 'unknown' });
      enqueue.assign({ presence: {}, relayUp: {}, relayUnsupported: undefined });
    }),
    /**
     * Keys rotated (devices/rotate.ts): our own channel's link and those of the contacts now on a new
     * key start again on it (beside a link on the key before).
     */
    relinkRotated: enqueueActions(({ context, enqueue, check }, params: { output: OwnDevicesSaved }) => {
      const { self, contacts } = params.output;
      const online = check(isOnline as never);
      if (self?.channels[0] !== context.self?.channels[0] || self?.channels[1] !== context.self?.channels[1]) {
        if (online && context.self) for (const id of [context.self.id, previousLinkOf(context.self.id)]) enqueue.stopChild(linkId(id));
        // The new key names a new link: what the stopped ones last said of the relay holds no more.
        const relayUp = withoutLinksOf(context.relayUp, context.self?.id);
        const status = relayStatus({ relayUp, relayUnsupported: context.relayUnsupported });
        if (status !== relayStatus(context)) enqueue.emit({ type: 'relay', status });
        enqueue.assign({ self, relayUp });
        if (online && self) for (const l of linkInputs(context, self, true)) enqueue.spawnChild('contactLink', { id: linkId(l.id), input: l.input });
      }
      if (!contacts) return;
      // By the rotation's own report, not by the cards here: a last_seen or a rename saved meanwhile
      // read a moved card back already, while its link still ran on the old key (and never met the contact on the new).
      const ids = new Set(
        params.output.moved ?? contacts.filter((c) => context.contacts.some((old) => old.id === c.id && old.channels[0] !== c.channels[0])).map((c) => c.id),
      );
      const moved = contacts.filter((c) => ids.has(c.id) && context.contacts.some((old) => old.id === c.id));
      if (moved.length === 0) return;
      enqueue.assign({ contacts: context.contacts.map((c) => moved.find((m) => m.id === c.id) ?? c) });
      for (const card of moved) {
        if (!online || card.removed_by === 'peer') continue;
        for (const id of [card.id, previousLinkOf(card.id)]) enqueue.stopChild(linkId(id));
        for (const l of linkInputs(context, card)) enqueue.spawnChild('contactLink', { id: linkId(l.id), input: l.input });
      }
    }),
    /** Record one link's relay connection; tell the host when the overall status changes. */
    noteRelay: enqueueActions(({ context, event, enqueue }) => {
      const next = { relayUp: context.relayUp, relayUnsupported: context.relayUnsupported };
      // By link: a card's link on its previous key counts apart from its own (withoutLinksOf drops both).
      if (event.type === 'contact.relay') next.relayUp = { ...context.relayUp, [event.previous ? previousLinkOf(event.contactId) : event.contactId]: event.up };
      else if (event.type === 'relay.checked') next.relayUnsupported = event.unsupported;
      else return;
      enqueue.assign(next);
      const status = relayStatus(next);
      if (status !== relayStatus(context)) enqueue.emit({ type: 'relay', status, ...(next.relayUnsupported ? { error: next.relayUnsupported } : {}) });
    }),
    /** Stop a contact's link and forget its presence and relay connection (it is being removed). */
    unlink: enqueueActions(({ context, enqueue, self }, params: { contactId: DocId }) => {
      const { contactId } = params;
      // STOP first: the link's SYNC children end before its DISCOVER child closes their channels, so
      // an answer SYNC still owes the peer goes out (stopping the link outright closes the channels first).
      if (self.getSnapshot().children[linkId(contactId)]) enqueue.sendTo(linkId(contactId), { type: 'STOP' });
      enqueue.stopChild(linkId(contactId));
      enqueue.stopChild(linkId(previousLinkOf(contactId)));
      enqueue.assign({
        contacts: context.contacts.filter((c) => c.id !== contactId),
        leaving: context.leaving.filter((c) => c.id !== contactId),
        unlinked: [...context.contacts, ...context.leaving].find((c) => c.id === contactId),
        relayUp: withoutLinksOf(context.relayUp, contactId),
      });
      const status = relayStatus({ relayUp: withoutLinksOf(context.relayUp, contactId), relayUnsupported: context.relayUnsupported });
      if (status !== relayStatus(context)) enqueue.emit({ type: 'relay', status });
      if (!(contactId in context.presence)) return;
      enqueue.assign({ presence: without(context.presence, contactId) });
      enqueue.emit({ type: 'presence', contactId, via: undefined, lastSeen: lastSeenOf(context, contactId) });
    }),
    /**
     * Forgetting a contact failed, or must wait (the depot's deposit did not hold my notice yet): it is
     * back in its list and, while links run, gets its link back; the op that tried is done.
     */
    backAndNext: enqueueActions(({ context, enqueue, check }) => {
      enqueue.assign({ contactOps: context.contactOps.slice(1), unlinked: undefined });
      const contact = context.unlinked;
      if (!contact) return;
      // (A guard by reference is untyped inside setup: `as never`.)
      if (check(isOnline as never) && contact.removed_by !== 'peer')
        enqueue.spawnChild('contactLink', { id: linkId(contact.id), input: linkInput(context, contact) });
      if (contact.removed_by === 'me') enqueue.assign({ leaving: [...context.leaving, contact] });
      else enqueue.assign({ contacts: [...context.contacts, contact] });
    }),
    /**
     * A contact I removed now has, or the depot holds, my channel up to `heads`: check them for my
     * notice (a newer report replaces one still waiting; the first op is already under way).
     */
    queueRemovalCheck: assign(({ context }, params: { contactId: DocId; heads: string[] }) => {
      const waiting = context.contactOps.findIndex((o, i) => i > 0 && o.op === 'forget' && o.heads !== undefined && o.contactId === params.contactId);
      const op = { op: 'forget' as const, contactId: params.contactId, heads: params.heads };
      if (waiting < 0) return { contactOps: [...context.contactOps, op] };
      return { contactOps: context.contactOps.map((o, i) => (i === waiting ? op : o)) };
    }),
    /** Queue an op of our own for a contact, unless one for it waits already. */
    queueOwnOp: assign(({ context }, op: ContactOp) =>
      context.contactOps.some((o) => o.req === undefined && o.contactId === op.contactId) ? {} : { contactOps: [...context.contactOps, op] },
    ),
    rememberPaired: assign({
      paired: ({ event }) => {
        const output = (event as unknown as { output: PairingOutput }).output;
        return { contactKey: output.contactKey!, verifier: output.verifier!, publicKey: output.publicKey };
      },
    }),
    cancelPairing: sendTo('pairing', { type: 'CANCEL' }),
    refuseBusy: emit(({ event }) => ({ type: 'pairing.busy' as const, req: (event as { req: number }).req })),
    emitPairingError: emit(({ context, event }) => ({
      type: 'pairing.failed' as const,
      req: context.pairingReq,
      error: asError((event as unknown as { output: PairingOutput }).output.error),
    })),
    emitProgress: emit(({ event }) => ({ type: 'pairing.progress' as const, step: event.type === 'pairing.progress' ? event.step : 'connecting' })),
    emitFailed: emit(({ context, event }) => ({
      type: 'pairing.failed' as const,
      req: context.pairingReq,
      error: asError((event as unknown as { error: unknown }).error),
    })),
    /** The request at the head of `queue` failed: answer it, and drop it (`idle` starts the next). */
    fail: enqueueActions(({ context, event, enqueue }, params: { queue: Queue; answer: 'contact.failed' | 'message.failed' | 'settings.failed' }) => {
      const queue = context[params.queue];
      enqueue.emit({ type: params.answer, req: queue[0]!.req!, error: asError((event as { error?: unknown }).error) });
      enqueue.assign({ [params.queue]: queue.slice(1) });
    }),
    /** Queue a last_seen write for the contact (one waiting per contact; `announce`: then tell presence). */
    sighted: assign(({ context }, params: { contactId: DocId; announce: boolean }) => {
      if (!context.contacts.some((c) => c.id === params.contactId)) return {};
      const waiting = context.sightings.findIndex((x, i) => i > 0 && x.contactId === params.contactId);
      if (waiting < 0) return { sightings: [...context.sightings, params] };
      return { sightings: context.sightings.map((x, i) => (i === waiting ? { ...x, announce: x.announce || params.announce } : x)) };
    }),
    /** The head sighting is saved (or failed): tell the host where the contact is now, and when it was last seen. */
    sightingDone: enqueueActions(({ context, event, enqueue }) => {
      const head = context.sightings[0]!;
      const saved = (event as { output?: Contact }).output;
      const contacts = saved ? context.contacts.map((c) => (c.id === saved.id ? saved : c)) : context.contacts;
      enqueue.assign({ contacts, sightings: context.sightings.slice(1) });
      const contact = contacts.find((c) => c.id === head.contactId);
      if (!contact) return;
      if (saved) enqueue.emit({ type: 'contact.seen', contact: saved });
      if (head.announce) enqueue.emit({ type: 'presence', contactId: head.contactId, via: context.presence[head.contactId], lastSeen: contact.last_seen });
    }),
    startPairing: assign(({ event }) => {
      const e = event as { req: number; moniker?: string; refreshMs?: number };
      return { pairingReq: e.req, moniker: e.moniker ?? DEFAULT_MONIKER, inviteRefreshMs: e.refreshMs };
    }),
  },
  guards: {
    online: stateIn({ ready: { network: 'online' } }),
    // A paired contact's card being saved: a write like the others, finished before closing.
    savingContact: or([
      stateIn({ ready: { pairing: 'naming' } }),
      stateIn({ ready: { pairing: 'recordingDevice' } }),
      stateIn({ ready: { pairing: 'adopting' } }),
      stateIn({ ready: { devices: 'unlinking' } }),
      stateIn({ ready: { devices: 'adding' } }),
    ]),
    /** A contact I removed, linked until my notice is out. */
    isLeaving: ({ context, event }) => context.leaving.some((c) => c.id === (event as { contactId?: string }).contactId),
    /** A contact's link, not our own channel's (whose presence is no contact's), nor one that removed me (its last word as it stops). */
    isContact: ({ context, event }) => context.contacts.some((c) => c.id === (event as { contactId?: string }).contactId && c.removed_by !== 'peer'),
    /**
     * The report is from the link on the card's previous key (appInputs.linkInputs), not its own.
     * Journals from before the mark name that link `<card>-previous` instead, an id no card has: they
     * replay as they ran (no presence, no removal check; `relayUp` keyed by that same id).
     */
    fromPrevious: ({ event }) => (event as { previous?: true }).previous === true,
    closeRequested: ({ context }) => context.closeRequested,
    drained: ({ context }) => context.contactOps.length === 0 && context.outbox.length === 0 && context.patches.length === 0 && context.sightings.length === 0,
    /** A relay of our own to use: given now, or saved before (the public mailbox cannot sync). */
    hasRelay: ({ context }) => context.input.relay !== undefined || context.settings?.relay_server !== DEFAULT_RELAY_SERVER,
    nextRename: ({ context }) => context.contactOps[0]?.op === 'rename',
    nextRemove: ({ context }) => context.contactOps[0]?.op === 'remove',
    nextForget: ({ context }) => context.contactOps[0]?.op === 'forget',
    /** A forget that waits for my notice to be out: checked first, the link left running. */
    nextRemovalCheck: ({ context }) => context.contactOps[0]?.op === 'forget' && context.contactOps[0].heads !== undefined,
    nextPeerRemoved: ({ context }) => context.contactOps[0]?.op === 'peerRemoved',
    outboxWaiting: ({ context }) => context.outbox.length > 0,
    fileWaiting: ({ context }) => context.fileOuts.length > 0,
    cancelWaiting: ({ context }) => context.fileCancels.length > 0,
    filesDrained: ({ context }) => context.fileOuts.length === 0 && context.fileCancels.length === 0,
    patchWaiting: ({ context }) => context.patches.length > 0,
    sightingWaiting: ({ context }) => context.sightings.length > 0,
    /** The invite renews its code every `refreshMs`. */
    refreshes: ({ context }) => context.inviteRefreshMs !== undefined,
    /** A peer answered the code: the key exchange is under way. */
    answered: ({ event }) => event.type === 'pairing.progress' && event.step !== 'connecting' && event.step !== 'waiting',
    /** The pairing child ended because we renewed its code (not paired, not cancelled by the host). */
    refreshed: and([
      stateIn({ ready: { pairing: { inviting: 'refreshing' } } }),
      ({ event }) => !!(event as unknown as { output: PairingOutput }).output.error,
    ]),
  },
  delays: {
    inviteRefresh: ({ context }) => context.inviteRefreshMs ?? 0,
  },
}).createMachine({
  id: 'app',
  context: ({ input }) => ({
    input,
    relays: input.relayConnections === 'per-contact' ? undefined : new RelayMux(input.connector, { clock: input.clock }),
    contacts: [],
    leaving: [],
    firstStart: false,
    presence: {},
    relayUp: {},
    pairingReq: 0,
    moniker: DEFAULT_MONIKER,
    contactOps: [],
    outbox: [],
    patches: [],
    sightings: [],
    fileOuts: [],
    fileCancels: [],
    undelivered: {},
    closeRequested: false,
    clearRequested: false,
  }),
  initial: 'starting',
  states: {
    starting: {
      on: { CLOSE: 'closing' },
      invoke: {
        src: 'openDatabase',
        input: ({ context }) => context.input,
        onDone: { target: 'checkingRelay', actions: assign(({ event }) => event.output) },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => asError(event.error) }) },
      },
    },
    /** A device needs a Backchannel relay: without one given or saved, it could pair but never sync. */
    checkingRelay: {
      always: [
        { guard: 'hasRelay', target: 'ready', actions: emit(({ context }) => ({ type: 'started' as const, firstStart: context.firstStart })) },
        {
          target: 'failed',
          actions: assign({
            error: () =>
              new InvalidArgumentError(
                'createBackchannel needs `relay`: the URL of a Backchannel relay (`backchannel relay`, or startRelay from @backchannel/sdk/server), ' +
                  'e.g. ws://127.0.0.1:4000/v1. Settings hold none of our own yet, and the public magic-wormhole mailbox can pair but cannot find or sync contacts.',
              ),
          }),
        },
      ],
    },
    ready: {
      type: 'parallel',
      // Close once every queued write is done ("pending saves finish first").
      always: { guard: and(['closeRequested', 'drained', 'filesDrained', not('savingContact')]), target: 'closing' },
      on: {
        CLOSE: { actions: assign({ closeRequested: true }) },
        // "Clear all data on this device": close as above, then wipe everything but the device's identity.
        CLEAR: { actions: assign({ closeRequested: true, clearRequested: true }) },
        // The contact's device came or went: `presence` follows once its last_seen is saved (region `seen`).
        // Only a card's own link: the one on its previous key has no presence of its own.
        'contact.online': {
          guard: and(['isContact', not('fromPrevious')]),
          actions: [
            assign({ presence: ({ context, event }) => ({ ...context.presence, [event.contactId]: event.via }) }),
            { type: 'sighted', params: ({ event }) => ({ contactId: event.contactId, announce: true }) },
          ],
        },
        'contact.offline': {
          guard: and(['isContact', not('fromPrevious')]),
          actions: [
            assign({ presence: ({ context, event }) => without(context.presence, event.contactId) }),
            { type: 'sighted', params: ({ event }) => ({ contactId: event.contactId, announce: true }) },
            'filesWait',
          ],
        },
        // Something the contact sent arrived (the façade saw a new message of theirs).
        'contact.heard': { actions: { type: 'sighted', params: ({ event }) => ({ contactId: event.contactId, announce: false }) } },
        'contact.deposited': [
          // The previous key's channel: its heads are another document's than the card's written one,
          // which holds my removal notice (holdsRemoval) and which the host's `deposited` reads.
          { guard: 'fromPrevious' },
          // A contact I removed: once the depot holds my notice, it can go.
          {
            guard: 'isLeaving',
            actions: { type: 'queueRemovalCheck', params: ({ event }) => ({ contactId: event.contactId, heads: event.heads }) },
          },
          { actions: emit(({ event }) => ({ type: 'deposited' as const, contactId: event.contactId, heads: event.heads })) },
        ],
        // Or once a device of the contact has it by live SYNC: no deposit will come while it is connected.
        // (Not from the previous key's link: its heads are that channel's, not the one with my notice.)
        'contact.synced': {
          guard: and(['isLeaving', not('fromPrevious')]),
          actions: { type: 'queueRemovalCheck', params: ({ event }) => ({ contactId: event.contactId, heads: event.heads }) },
        },
        // A removal notice: the contact removed me (keep the card, stop the link), or a device of mine removed it (forget it).
        'contact.left': {
          guard: ({ context, event }) =>
            context.contacts.some((c) => c.id === event.contactId && (event.by === 'device' ? c.removed_by !== 'me' : c.removed_by === undefined)),
          actions: {
            type: 'queueOwnOp',
            params: ({ event }) =>
              event.by === 'peer'
                ? { op: 'peerRemoved' as const, contactId: event.contactId }
                : { op: 'forget' as const, contactId: event.contactId, by: 'device' as const },
          },
        },
        'contact.relay': { actions: 'noteRelay' },
        // The first link to find the relay outdated tells the host; the rest (and reconnects) say the same.
        // Kept while the relay stays the same (links restart on any settings change, and going offline).
        'contact.relayOutdated': {
          guard: ({ context }) => relayOutdatedOf(context) === undefined,
          actions: enqueueActions(({ context, enqueue, event }) => {
            const error = new RelayOutdatedError(context.settings!.relay_server, event.reason);
            enqueue.assign({ relayOutdated: error });
            enqueue.emit({ type: 'relayOutdated', error });
          }),
        },
        'relay.checked': { actions: 'noteRelay' },
        'contact.refused': {
          actions: emit(({ event }) => ({
            type: 'refused' as const,
            contactId: event.contactId,
            reason: event.reason,
            ...(event.error ? { error: event.error } : {}),
          })),
        },
        'contact.file': {
          actions: [
            // Arrived or failed for good: no longer waits when the link drops.
            assign({
              undelivered: ({ context, event }) =>
                event.file.direction === 'out' && (event.file.type === 'file.done' || event.file.type === 'file.failed')
                  ? without(context.undelivered, event.file.hash)
                  : context.undelivered,
            }),
            // A refusal the contact's device could not hear (the file came by the depot): a notice in the channel tells it.
            assign({
              outbox: ({ context, event }) =>
                event.file.type === 'file.failed' && event.file.notify
                  ? [...context.outbox, { req: 0, contactId: event.contactId, message: { notice: fileRefusalNotice(event.file.notify) } }]
                  : context.outbox,
            }),
            emit(({ event }) => {
              const { file } = event;
              return {
                type: 'transfer' as const,
                contactId: event.contactId,
                hash: file.hash,
                direction: file.direction,
                status:
                  file.type === 'file.progress'
                    ? ('progress' as const)
                    : file.type === 'file.done'
                      ? ('done' as const)
                      : file.type === 'file.waiting'
                        ? ('waiting' as const)
                        : ('failed' as const),
                done: file.type === 'file.progress' ? file.done : file.type === 'file.done' ? file.total : 0,
                total: file.type === 'file.failed' ? 0 : file.total,
                ...(file.type === 'file.failed' ? { error: file.error } : {}),
                // The contact's device is there but takes no files yet (an older version): the file waits here.
                ...(file.type === 'file.waiting' ? { route: file.route ?? 'device', reason: file.reason } : {}),
              };
            }),
          ],
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
                'pairing.invite': { target: 'inviting', actions: 'startPairing' },
                'pairing.accept': { target: 'accepting', actions: 'startPairing' },
                'device.link': { target: 'offeringLink', actions: 'startPairing' },
                'device.join': { target: 'joining', actions: 'startPairing' },
              },
            },
            // Linking a device of mine (issue 12 §4): VERIFY under the link appid; the new device names
            // itself and gets its signed record with my contacts and settings (devices/offer.ts).
            offeringLink: {
              invoke: {
                id: 'pairing',
                src: 'pairing',
                input: ({ context }) => pairingInput(context, undefined, linkOf(context, 'offer')),
                onDone: [
                  { guard: ({ event }) => !!event.output.error || !event.output.link, target: 'idle', actions: 'emitPairingError' },
                  { target: 'recordingDevice', actions: assign({ linked: ({ event }) => ({ output: event.output }) }) },
                ],
              },
              on: {
                ...whilePairing,
                'pairing.code': { actions: emit(({ context, event }) => ({ type: 'pairing.code' as const, req: context.pairingReq, code: event.code })) },
              },
            },
            recordingDevice: {
              on: refuseWhileSaving,
              invoke: {
                src: 'saveOwnDevice',
                input: ({ context }) => {
                  const { record } = context.linked!.output.link!;
                  return { db: context.db!, device: { device_id: record.device_id, public_key: record.public_key }, record };
                },
                onDone: {
                  target: 'idle',
                  actions: [
                    // Our own channel's link, when new: start it (one running already goes on: the set key
                    // never changes, and a restart would drop my devices connected on it).
                    enqueueActions(({ context, event, enqueue, check }) => {
                      if (context.self && context.self.id === event.output.self?.id) return;
                      const online = check('online');
                      if (online && context.self) for (const id of [context.self.id, previousLinkOf(context.self.id)]) enqueue.stopChild(linkId(id));
                      const relayUp = withoutLinksOf(context.relayUp, context.self?.id);
                      const status = relayStatus({ relayUp, relayUnsupported: context.relayUnsupported });
                      if (status !== relayStatus(context)) enqueue.emit({ type: 'relay', status });
                      enqueue.assign({ self: event.output.self, relayUp });
                      if (online && event.output.self)
                        for (const l of linkInputs(context, event.output.self, true)) enqueue.spawnChild('contactLink', { id: linkId(l.id), input: l.input });
                    }),
                    emit(({ context }) => {
                      const { link, verifier } = context.linked!.output;
                      return {
                        type: 'device.linked' as const,
                        req: context.pairingReq,
                        device: { device_id: link!.record.device_id, public_key: link!.record.public_key },
                        verifier: verifier!,
                      };
                    }),
                    assign({ linked: undefined }),
                  ],
                },
                onError: { target: 'idle', actions: ['emitFailed', assign({ linked: undefined })] },
              },
            },
            joining: {
              invoke: {
                id: 'pairing',
                src: 'pairing',
                input: ({ context, event }) => pairingInput(context, (event as { code: string }).code, linkOf(context, 'receive')),
                onDone: [
                  { guard: ({ event }) => !!event.output.error, target: 'idle', actions: 'emitPairingError' },
                  { target: 'adopting', actions: assign({ linked: ({ event }) => ({ output: event.output }) }) },
                ],
              },
              on: whilePairing,
            },
            adopting: {
              on: refuseWhileSaving,
              invoke: {
                src: 'adoptLink',
                input: ({ context }) => ({ db: context.db!, link: context.linked!.output.link, approver: context.linked!.output.publicKey }),
                onDone: {
                  target: 'idle',
                  actions: enqueueActions(({ context, event, enqueue, check }) => {
                    // The set's settings and contacts: links start again with them (as a new relay does).
                    const online = check('online');
                    if (online) enqueue('unlinkAll');
                    enqueue.assign({ contacts: event.output.contacts, settings: event.output.settings, self: event.output.self });
                    if (online) enqueue('linkAll');
                    enqueue.emit({
                      type: 'device.joined',
                      req: context.pairingReq,
                      devices: event.output.devices,
                      contacts: event.output.contacts,
                      verifier: context.linked!.output.verifier!,
                    });
                    enqueue.assign({ linked: undefined });
                  }),
                },
                onError: { target: 'idle', actions: ['emitFailed', assign({ linked: undefined })] },
              },
            },
            // The code is shown (`showing`) until someone answers it; with `refreshMs` it is replaced
            // every period: the child closes its mailbox and releases the nameplate (CANCEL), and a new
            // child makes a new code (same `req`). Whoever redeems the old one gets CodeExpiredError.
            inviting: {
              invoke: {
                id: 'pairing',
                src: 'pairing',
                input: ({ context }) => pairingInput(context),
                onDone: [{ guard: 'refreshed', target: 'inviting', reenter: true }, ...pairingDone],
              },
              on: {
                ...whilePairing,
                'pairing.code': {
                  target: '.showing',
                  actions: emit(({ context, event }) => ({
                    type: 'pairing.code' as const,
                    req: context.pairingReq,
                    code: event.code,
                    ...(context.inviteRefreshMs === undefined ? {} : { lifetimeMs: context.inviteRefreshMs }),
                  })),
                },
              },
              initial: 'opening',
              states: {
                opening: {},
                showing: {
                  on: { 'pairing.progress': [{ guard: 'answered', target: 'answered', actions: 'emitProgress' }, { actions: 'emitProgress' }] },
                  after: { inviteRefresh: { guard: 'refreshes', target: 'refreshing' } },
                },
                // Someone is verifying the code: it stays until the pairing ends.
                answered: {},
                refreshing: {
                  entry: sendTo('pairing', { type: 'CANCEL', reason: 'refresh' }),
                  // The child is already closing; a cancel now ends the invite instead of renewing it.
                  on: { 'pairing.cancel': 'cancelled', 'pairing.progress': {} },
                },
                cancelled: {},
              },
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
              on: refuseWhileSaving,
              invoke: {
                src: 'saveContact',
                input: ({ context }) => ({
                  db: context.db!,
                  moniker: context.moniker,
                  contactKey: context.paired!.contactKey,
                  publicKey: context.paired!.publicKey,
                }),
                onDone: {
                  target: 'idle',
                  actions: [
                    enqueueActions(({ context, event, enqueue, check }) => {
                      enqueue.assign({ contacts: [...context.contacts.filter((c) => c.id !== event.output.id), event.output] });
                      if (check('online')) enqueue.spawnChild('contactLink', { id: linkId(event.output.id), input: linkInput(context, event.output) });
                    }),
                    emit(({ context, event }) => ({
                      type: 'contact.paired' as const,
                      req: context.pairingReq,
                      contact: event.output,
                      verifier: context.paired!.verifier,
                    })),
                    assign({ paired: undefined }),
                  ],
                },
                onError: { target: 'idle', actions: ['emitFailed', assign({ paired: undefined })] },
              },
            },
          },
        },
        // Unlinking a device of mine: one at a time (another meanwhile is answered BusyError).
        devices: {
          initial: 'idle',
          states: {
            idle: {
              on: {
                'device.unlink': { target: 'unlinking', actions: assign({ unlinking: ({ event }) => ({ req: event.req, deviceId: event.deviceId }) }) },
                'device.announced': { target: 'adding' },
                'device.rekey': { target: 'rekeying' },
              },
            },
            // A device of mine or a contact's rotated keys after an unlink: take in those sealed to me.
            rekeying: {
              invoke: {
                src: 'adoptRekeys',
                // Randomness: a device whose rotation won a race rotates again (devices/rotate.ts).
                input: ({ context }) => ({ db: context.db!, randomBytes: context.input.randomBytes }),
                onDone: {
                  target: 'idle',
                  actions: [
                    { type: 'relinkRotated', params: ({ event }) => ({ output: event.output }) },
                    emit(({ event }) => ({ type: 'devices.changed' as const, devices: event.output.devices })),
                  ],
                },
                onError: 'idle',
              },
            },
            // Devices another of mine linked (its notices in our own channel): now in my list too.
            adding: {
              invoke: {
                src: 'addOwnDevices',
                input: ({ context, event }) => ({ db: context.db!, devices: (event as Extract<AppEvent, { type: 'device.announced' }>).devices }),
                onDone: {
                  target: 'idle',
                  actions: [
                    assign({ self: ({ context, event }) => event.output.self ?? context.self }),
                    emit(({ event }) => ({ type: 'devices.changed' as const, devices: event.output.devices })),
                  ],
                },
                onError: 'idle',
              },
            },
            unlinking: {
              on: {
                'device.unlink': {
                  actions: emit(({ event }) => ({
                    type: 'device.failed' as const,
                    req: event.req,
                    error: new BusyError('Another unlink is still running: wait for it first.'),
                  })),
                },
              },
              invoke: {
                src: 'unlinkDevice',
                input: ({ context }) => ({ db: context.db!, deviceId: context.unlinking!.deviceId, randomBytes: context.input.randomBytes }),
                onDone: {
                  target: 'idle',
                  actions: [
                    emit(({ context, event }) => ({
                      type: 'device.unlinked' as const,
                      req: context.unlinking!.req,
                      deviceId: context.unlinking!.deviceId,
                      devices: event.output.devices,
                    })),
                    assign({ unlinking: undefined }),
                    // The keys it held are rotated: links move to the new ones.
                    { type: 'relinkRotated', params: ({ event }) => ({ output: event.output }) },
                  ],
                },
                onError: {
                  target: 'idle',
                  actions: [
                    emit(({ context, event }) => ({ type: 'device.failed' as const, req: context.unlinking!.req, error: asError(event.error) })),
                    assign({ unlinking: undefined }),
                  ],
                },
              },
            },
          },
        },
        contacts: {
          initial: 'idle',
          on: {
            'contact.rename': {
              actions: assign({
                contactOps: ({ context, event }) => [
                  ...context.contactOps,
                  { req: event.req, op: 'rename', contactId: event.contactId, moniker: event.moniker },
                ],
              }),
            },
            'contact.remove': {
              actions: assign({ contactOps: ({ context, event }) => [...context.contactOps, { req: event.req, op: 'remove', contactId: event.contactId }] }),
            },
          },
          states: {
            idle: {
              always: [
                { guard: 'nextRename', target: 'renaming' },
                { guard: 'nextRemove', target: 'removing' },
                { guard: 'nextRemovalCheck', target: 'checkingRemoval' },
                { guard: 'nextForget', target: 'forgetting' },
                { guard: 'nextPeerRemoved', target: 'markingRemoved' },
              ],
            },
            renaming: {
              invoke: {
                src: 'renameContact',
                input: ({ context }) => {
                  const op = context.contactOps[0] as Extract<ContactOp, { op: 'rename' }>;
                  return { db: context.db!, contactId: op.contactId, moniker: op.moniker };
                },
                onDone: {
                  target: 'idle',
                  actions: [
                    emit(({ context, event }) => ({ type: 'contact.renamed' as const, req: context.contactOps[0]!.req!, contact: event.output })),
                    assign(({ context, event }) => ({
                      contacts: context.contacts.map((c) => (c.id === event.output.id ? event.output : c)),
                      contactOps: context.contactOps.slice(1),
                    })),
                  ],
                },
                onError: { target: 'idle', actions: { type: 'fail', params: { queue: 'contactOps', answer: 'contact.failed' } } },
              },
            },
            // The contact and my other devices are told (notices); the link runs on until the relay's
            // depot holds the notice (`forgetting`), but the contact is no longer listed.
            removing: {
              invoke: {
                src: 'removeContact',
                input: ({ context }) => ({ db: context.db!, contactId: context.contactOps[0]!.contactId }),
                onDone: {
                  target: 'idle',
                  actions: enqueueActions(({ context, event, enqueue }) => {
                    const { req, contactId } = context.contactOps[0]!;
                    const { leaving } = event.output;
                    enqueue.assign({
                      contacts: context.contacts.filter((c) => c.id !== contactId),
                      leaving: leaving ? [...context.leaving, leaving] : context.leaving,
                    });
                    if (contactId in context.presence) {
                      enqueue.assign({ presence: without(context.presence, contactId) });
                      enqueue.emit({ type: 'presence', contactId, via: undefined, lastSeen: lastSeenOf(context, contactId) });
                    }
                    enqueue.emit({ type: 'contact.removed', req: req!, contactId });
                    enqueue.assign({ contactOps: context.contactOps.slice(1) });
                  }),
                },
                onError: { target: 'idle', actions: { type: 'fail', params: { queue: 'contactOps', answer: 'contact.failed' } } },
              },
            },
            // Is my notice in what the depot or the contact's device holds? Only then does the link stop
            // (a report without it leaves the link running: restarting it would cut a live sync).
            checkingRemoval: {
              invoke: {
                src: 'holdsRemoval',
                input: ({ context }) => {
                  const op = context.contactOps[0] as Extract<ContactOp, { op: 'forget' }>;
                  return { db: context.db!, contactId: op.contactId, heads: op.heads! };
                },
                onDone: [
                  { guard: ({ event }) => event.output, target: 'forgetting' },
                  { target: 'idle', actions: assign({ contactOps: ({ context }) => context.contactOps.slice(1) }) },
                ],
                onError: { target: 'idle', actions: assign({ contactOps: ({ context }) => context.contactOps.slice(1) }) },
              },
            },
            forgetting: {
              // The link stops before the card goes: nothing syncs into a contact being forgotten.
              entry: { type: 'unlink', params: ({ context }) => ({ contactId: context.contactOps[0]!.contactId }) },
              invoke: {
                src: 'forgetContact',
                input: ({ context }) => {
                  const op = context.contactOps[0] as Extract<ContactOp, { op: 'forget' }>;
                  return { db: context.db!, contactId: op.contactId, ...(op.heads ? { heads: op.heads } : {}) };
                },
                onDone: [
                  // The depot's deposit did not hold the notice yet: keep waiting, linked.
                  { guard: ({ event }) => !event.output, target: 'idle', actions: 'backAndNext' },
                  {
                    target: 'idle',
                    actions: enqueueActions(({ context, enqueue }) => {
                      const op = context.contactOps[0] as Extract<ContactOp, { op: 'forget' }>;
                      if (op.by === 'device') enqueue.emit({ type: 'contact.left', contactId: op.contactId, by: 'device' });
                      enqueue.assign({ contactOps: context.contactOps.slice(1), unlinked: undefined });
                    }),
                  },
                ],
                onError: { target: 'idle', actions: 'backAndNext' },
              },
            },
            // The link stops once the card is marked, not before: meanwhile SYNC answers the message that
            // brought the notice, and the contact's device, seeing I have it, forgets me without a deposit.
            markingRemoved: {
              invoke: {
                src: 'markRemovedByPeer',
                input: ({ context }) => ({ db: context.db!, contactId: context.contactOps[0]!.contactId }),
                onDone: {
                  target: 'idle',
                  actions: [
                    { type: 'unlink', params: ({ context }) => ({ contactId: context.contactOps[0]!.contactId }) },
                    enqueueActions(({ context, event, enqueue }) => {
                      enqueue.assign({ contacts: [...context.contacts, event.output], contactOps: context.contactOps.slice(1), unlinked: undefined });
                      enqueue.emit({ type: 'contact.left', contactId: event.output.id, by: 'peer', contact: event.output });
                    }),
                  ],
                },
                // Not marked: the contact stays as it was, linked; the op is done.
                onError: { target: 'idle', actions: assign({ contactOps: ({ context }) => context.contactOps.slice(1) }) },
              },
            },
          },
        },
        messages: {
          initial: 'idle',
          on: {
            'message.send': {
              actions: assign({ outbox: ({ context, event }) => [...context.outbox, { req: event.req, contactId: event.contactId, message: event.message }] }),
            },
          },
          states: {
            idle: { always: { guard: 'outboxWaiting', target: 'sending' } },
            sending: {
              invoke: {
                src: 'sendMessage',
                input: ({ context }) => ({ db: context.db!, ...context.outbox[0]! }),
                onDone: {
                  target: 'idle',
                  actions: [
                    emit(({ context, event }) => ({
                      type: 'message.sent' as const,
                      req: context.outbox[0]!.req,
                      contactId: context.outbox[0]!.contactId,
                      message: event.output,
                    })),
                    assign({ outbox: ({ context }) => context.outbox.slice(1) }),
                  ],
                },
                onError: { target: 'idle', actions: { type: 'fail', params: { queue: 'outbox', answer: 'message.failed' } } },
              },
            },
          },
        },
        // last_seen: written (on the injected clock) when a contact's device connects, goes or sends.
        seen: {
          initial: 'idle',
          states: {
            idle: { always: { guard: 'sightingWaiting', target: 'saving' } },
            saving: {
              invoke: {
                src: 'touchContact',
                input: ({ context }) => ({ db: context.db!, contactId: context.sightings[0]!.contactId }),
                onDone: { target: 'idle', actions: 'sightingDone' },
                onError: { target: 'idle', actions: 'sightingDone' },
              },
            },
          },
        },
        settings: {
          initial: 'idle',
          on: { 'settings.update': { actions: assign({ patches: ({ context, event }) => [...context.patches, { req: event.req, patch: event.patch }] }) } },
          states: {
            idle: { always: { guard: 'patchWaiting', target: 'saving' } },
            saving: {
              invoke: {
                src: 'saveSettings',
                input: ({ context }) => ({ db: context.db!, patch: context.patches[0]!.patch }),
                onDone: {
                  target: 'idle',
                  actions: enqueueActions(({ context, event, enqueue, check }) => {
                    enqueue.assign({ settings: event.output });
                    // Links carry the relay URL and ICE servers they started with: start them again.
                    if (check('online')) {
                      enqueue('unlinkAll');
                      enqueue('linkAll');
                    }
                    enqueue.emit({ type: 'settings.updated', req: context.patches[0]!.req, settings: event.output });
                    enqueue.assign({ patches: context.patches.slice(1) });
                  }),
                },
                onError: { target: 'idle', actions: { type: 'fail', params: { queue: 'patches', answer: 'settings.failed' } } },
              },
            },
          },
        },
        files: {
          initial: 'idle',
          on: {
            'file.send': {
              actions: assign({
                fileOuts: ({ context, event }) => [
                  ...context.fileOuts,
                  { req: event.req, contactId: event.contactId, file: event.file, text: event.text, signal: event.signal },
                ],
              }),
            },
          },
          states: {
            idle: { always: { guard: 'fileWaiting', target: 'storing' } },
            storing: {
              invoke: {
                src: 'sendFile',
                input: ({ context }) => ({
                  db: context.db!,
                  ...context.fileOuts[0]!,
                  maxBytes: context.settings?.file_size_limit ?? DEFAULT_FILE_SIZE_LIMIT,
                  randomBytes: context.input.randomBytes,
                }),
                onDone: {
                  target: 'idle',
                  actions: enqueueActions(({ context, event, enqueue }) => {
                    const { req, contactId } = context.fileOuts[0]!;
                    enqueue.emit({ type: 'message.sent', req, contactId, message: event.output });
                    // The contact is away: the bytes wait here and go once its device is back.
                    const file = event.output.file!;
                    enqueue.assign({ undelivered: { ...context.undelivered, [file.hash]: { contactId, total: file.size } } });
                    if (!context.presence[contactId]) {
                      enqueue.emit({
                        type: 'transfer',
                        contactId,
                        hash: file.hash,
                        direction: 'out',
                        status: 'waiting',
                        done: 0,
                        total: file.size,
                        route: fileRoute(file.size, context.input.relayFileBytes), // small enough: sealed in the relay's depot
                      });
                    }
                    enqueue.assign({ fileOuts: context.fileOuts.slice(1) });
                  }),
                },
                onError: {
                  target: 'idle',
                  actions: enqueueActions(({ context, event, enqueue }) => {
                    enqueue.emit({ type: 'message.failed', req: context.fileOuts[0]!.req, error: asError(event.error) });
                    enqueue.assign({ fileOuts: context.fileOuts.slice(1) });
                  }),
                },
              },
            },
          },
        },
        fileCancels: {
          initial: 'idle',
          on: {
            'file.cancel': {
              actions: assign({
                fileCancels: ({ context, event }) => [...context.fileCancels, { req: event.req, contactId: event.contactId, hash: event.hash }],
              }),
            },
          },
          states: {
            idle: { always: { guard: 'cancelWaiting', target: 'cancelling' } },
            cancelling: {
              // A running transfer stops on the wire (the contact hears it); storage says cancelled for good.
              entry: enqueueActions(({ context, enqueue, check }) => {
                const { contactId, hash } = context.fileCancels[0]!;
                if (check('online') && context.contacts.some((c) => c.id === contactId)) enqueue.sendTo(linkId(contactId), { type: 'file.cancel', hash });
              }),
              invoke: {
                src: 'cancelFile',
                input: ({ context }) => ({ db: context.db!, hash: context.fileCancels[0]!.hash }),
                onDone: {
                  target: 'idle',
                  actions: enqueueActions(({ context, event, enqueue }) => {
                    const { req, contactId, hash } = context.fileCancels[0]!;
                    // This side hears it here, whether a transfer ran or the file never started (the contact was away).
                    const { direction, total } = event.output;
                    const error = new AbortedError('The file was cancelled on this device.');
                    enqueue.emit({ type: 'transfer', contactId, hash, direction, status: 'failed', done: 0, total, error });
                    enqueue.assign({ undelivered: without(context.undelivered, hash) });
                    enqueue.emit({ type: 'file.cancelled', req, hash });
                    enqueue.assign({ fileCancels: context.fileCancels.slice(1) });
                  }),
                },
                onError: {
                  target: 'idle',
                  actions: enqueueActions(({ context, event, enqueue }) => {
                    enqueue.emit({ type: 'message.failed', req: context.fileCancels[0]!.req, error: asError(event.error) });
                    enqueue.assign({ fileCancels: context.fileCancels.slice(1) });
                  }),
                },
              },
            },
          },
        },
      },
    },
    closing: {
      invoke: {
        src: 'closeStorage',
        input: ({ context }) => ({ ...context.input, clear: context.clearRequested }),
        onDone: 'closed',
        onError: { target: 'closed', actions: assign({ error: ({ event }) => asError(event.error) }) },
      },
    },
    closed: { type: 'final' },
    failed: { type: 'final' },
  },
});
