/**
 * The SDK façade host apps embed: one call to open Backchannel on injected storage and network, then
 * pair with a code, list contacts, send and receive messages. Contacts sync in the background (DISCOVER
 * finds the other device, SYNC runs over whatever channel it yields); all of it is driven by
 * `appMachine`, which this class owns.
 *
 * @example
 * const bc = await createBackchannel({ storage, connector: nodeSocketConnector(), relay: 'ws://127.0.0.1:4000/v1' });
 * const { code, done } = await bc.invite({ moniker: 'Bob' });   // show the code
 * const bob = await done;
 * await bc.send(bob.id, { text: 'hi' });
 * for await (const e of bc.events()) if (e.type === 'message') console.log(e.message.text);
 */
import { createActor, waitFor, type Actor, type StateValue } from 'xstate';
import { openWebRtcTransport } from '../adapters/webrtcTransport.js';
import { parseCode } from '../code/code.js';
import { systemClock, type Clock } from '../effects/clock.js';
import { cryptoRandomBytes, type RandomBytes } from '../effects/random.js';
import type { SocketConnector } from '../effects/socket.js';
import type { StorageAdapter } from '../effects/storage.js';
import {
  AbortedError,
  BackchannelError,
  BusyError,
  ClosedError,
  CodeExpiredError,
  InvalidArgumentError,
  type RelayOutdatedError,
  type RelayUnsupportedError,
  type TopicUnprovenError,
} from '../errors.js';
import { documentId, type Contact, type Database } from '../db/database.js';
import type { OwnDevice } from '../devices/linkBundle.js';
import { announcedDevices, forgottenIn, isRemoval, leftIn, removalIn } from '../devices/notices.js';
import { verifyMessage } from '../db/messageSignature.js';
import { ownStanding, rekeyWaiting, unlinkedThisBy } from '../devices/rotate.js';
import type { DocId } from '../db/documentStore.js';
import { isRelayUrl, type FileRef, type IceServer, type Message, type SettingsDoc } from '../db/schema.js';
import type { RtcImplementation } from '../discover/session.js';
import { observers, type InspectOption } from '../inspect.js';
import { Journal, type JournalOptions } from '../journal/journal.js';
import { relayOutdatedOf, relayStatus, type AppEmitted, type AppEvent, type RelayStatus, type Via } from '../machines/appMachine.js';
import { backchannelApp } from './actors.js';
import type { DiscoverTimeouts } from '../machines/discoverMachine.js';
import type { WormholeTimeouts } from '../machines/wormholeMachine.js';
import { BACKCHANNEL_APPID, MIN_INVITE_REFRESH_MS, type CallOptions, type PairingStep } from '../pair.js';
import type { OutgoingFile, TransferStatus } from '../machines/appTypes.js';
import { HASH_HEX, chunkStoreOf } from '../files/chunkStore.js';
import { isFileSource } from '../files/source.js';
import { fileStatusOf, type FileStatus } from '../files/status.js';
import { refusalError, refusalsIn } from '../files/refusal.js';

export { discoveryUrlOf } from '../machines/appMachine.js';

/** What `createBackchannel` takes: the injected storage, connector and relay, and the optional rest. */
export interface BackchannelOptions {
  storage: StorageAdapter;
  connector: SocketConnector;
  /**
   * A Backchannel relay (`ws://host:port/v1`: `backchannel relay`, or startRelay from
   * @backchannel/sdk/server); stored in Settings. Required on first open; afterwards what Settings say is
   * the default. A plain magic-wormhole mailbox can pair but not sync: `relayStatus` says `unsupported`.
   */
  relay?: string;
  /** The W3C WebRTC API (the browser's, or `@roamhq/wrtc`); without it contacts connect relayed. */
  rtc?: Pick<RtcImplementation, 'RTCPeerConnection'>;
  randomBytes?: RandomBytes;
  clock?: Clock;
  pairingTimeouts?: Partial<WormholeTimeouts>;
  discoverTimeouts?: Partial<DiscoverTimeouts>;
  /**
   * Watch every actor (the app, each contact's link, DISCOVER, SYNC, pairing) in a Stately inspector:
   * e.g. `createBrowserInspector().inspect`. Events are redacted first (no keys, codes or plaintext).
   */
  inspect?: InspectOption;
  /**
   * The event journal (on by default): every event every machine processes, appended through
   * `storage` with secrets sealed, bounded by compaction. `false` turns it off. See docs/journal.md.
   */
  journal?: boolean | Pick<JournalOptions, 'maxRecords' | 'flushMs'>;
  /**
   * Files up to this many bytes wait for a contact who is away sealed in the relay's depot (they reach
   * the contact even if this device is gone by then); larger ones wait on this device and go when the
   * contact's device is back. A whole number of bytes, at least 0 (0: every file but an empty one waits
   * on the device); default 2 MiB (2 097 152, an eighth of a relay's default per-contact quota). A
   * relay that will not keep a file leaves it waiting on the device. Bad values: InvalidArgumentError.
   */
  relayFileBytes?: number;
}

/** Options of `invite` and `accept`. */
export interface PairOptions extends CallOptions {
  /** The new contact's name (default "New contact"; rename later with `renameContact`). */
  moniker?: string;
  /** Progress for a display: connecting → waiting → verifying → confirming → naming (saving the card). */
  onProgress?: (step: PairingStep | 'naming') => void;
}

export { MIN_INVITE_REFRESH_MS };

/** Options of `invite`. */
export interface InviteOptions extends PairOptions {
  /**
   * Replace the code with a new one every `refreshMs` until someone answers it (the original app did
   * every 60 000 ms); the old code's nameplate is released, and whoever types it then fails with
   * CodeExpiredError. Default: one code, valid until answered, cancelled or timed out.
   */
  refreshMs?: number;
  /** Every code this invite shows, the first and each renewal, with when it expires (`clock.now()` ms). */
  onCode?: (code: string, expiresAt: number | undefined) => void;
}

/** The code an invite is showing, for a countdown: `remainingMs` is `expiresAt - clock.now()` when read. */
export interface InviteShown {
  code: string;
  expiresAt?: number;
  remainingMs?: number;
}

/** A contact just made, with the verifier both people can compare (equal on both sides). */
export type PairedContact = Contact & { verifier: string };

/** What {@link Backchannel.subscribe} and `events()` deliver: messages, new contacts, presence, the depot and the relay. */
export type BackchannelEvent =
  | { type: 'message'; contactId: DocId; message: Message; incoming: boolean }
  /** A contact card is new (paired) or changed (e.g. its `last_seen` after the contact's device sent something). */
  | { type: 'contact'; contact: Contact }
  /**
   * The contact's device connected (`via` says how) or went away (`via` undefined); `lastSeen`: when
   * this device last saw it (ms on our clock, saved in its card as `last_seen`, kept across restarts).
   */
  | { type: 'presence'; contactId: DocId; via: Via | undefined; lastSeen?: number }
  /**
   * The contact was away, and the relay now holds (sealed) everything up to and including message
   * `upTo`: it reaches the contact when they come back, even if this device is gone by then.
   */
  | { type: 'deposited'; contactId: DocId; upTo: Message | undefined }
  /**
   * The relay refused to keep our changes for the absent contact (`reason`: its quota for the contact,
   * or the size bound). Nothing is lost: they stay here and sync when the contact is reachable.
   * `error`: a TopicUnprovenError when the relay refused because the topic was not proven.
   */
  | { type: 'refused'; contactId: DocId; reason: string; error?: TopicUnprovenError }
  /**
   * The relay became reachable or unreachable (links retry by themselves), `unknown` (no links), or
   * `unsupported`: it does not serve DISCOVER, and `error` says what to run instead.
   */
  | { type: 'relay'; status: RelayStatus; error?: RelayUnsupportedError }
  /**
   * A warning, once per relay: the relay is a version from before reader tokens. Messages still
   * sync, but what this device leaves there for a contact's devices can be deleted unread by anyone
   * holding that contact's key (a device you unlinked). Tell the relay's operator to update it. The
   * relay shows it only when a deposit lists readers: for a contact with two or more devices, or my
   * own, while they are away; no event does not mean the relay is current. Also
   * {@link Backchannel.relayOutdated}.
   */
  | { type: 'relayOutdated'; error: RelayOutdatedError }
  /**
   * A contact is gone without this device asking. `by: 'peer'`: the contact removed me — its card stays
   * (`contact`, with `removed_by: 'peer'`) and its history readable, its link is stopped, sending to it
   * fails. `by: 'device'`: another device of mine removed it — this device forgot it too.
   */
  | { type: 'contactRemoved'; contactId: DocId; by: 'peer' | 'device'; contact?: Contact }
  /** My list of devices changed without this device asking: another device of mine linked one (`devices`: the whole list). */
  | { type: 'devices'; devices: OwnDevice[] }
  /**
   * A device of mine (`by`, its device id) unlinked this one: its app data (contacts, channels,
   * settings, devices) is wiped now and this Backchannel closes; the device identity stays.
   */
  | { type: 'unlinked'; by: string }
  /**
   * A file's bytes moving, `in` (from the contact) or `out`: `waiting` (the contact is away: a file up
   * to 2 MiB, or `relayFileBytes`, waits sealed in the relay's depot, `route: 'relay'`, and `done`
   * follows once the relay holds all of it; a larger one waits on this device, `route: 'device'`, and
   * goes when they are back), `progress` (`done` of `total` bytes), `done` (stored at the receiver, its
   * hash checked: read it with {@link Backchannel.openFile}; out through the relay: the relay holds it
   * for the contact), `failed` (`error`: FileTooLargeError, FileCorruptError, AbortedError when
   * cancelled, …). Out, `failed` also follows `done` when the contact's device refuses a file that
   * came by the relay (over its limit, damaged): its refusal comes back as a notice in the channel.
   */
  | {
      type: 'transfer';
      contactId: DocId;
      hash: string;
      direction: 'in' | 'out';
      status: TransferStatus;
      done: number;
      total: number;
      route?: 'device' | 'relay';
      /** Why a `waiting` file waits while the contact is there (their device takes no files yet), or on the device (the relay would not keep it). */
      reason?: string;
      error?: BackchannelError;
    };

/** What `send` takes as a file: its bytes (Blob/File, ReadableStream, Node stream, bytes) and its name and type. */
export type { OutgoingFile };

/** A running `linkDevice`: the code to enter on the new device, how it ends, and how to stop it. */
export interface DeviceLinkOffer {
  /** The link code: enter it on the new device with `acceptLink`. */
  code: string;
  /** Resolves with the new device once it holds its record and my contacts and settings. */
  done: Promise<LinkedDevice>;
  /** Stop offering: `done` rejects with `AbortedError`. */
  cancel(): void;
}

/** One running invite or accept: its code (invite), its outcome, and how to cancel it. */
type PairRun<R = PairedContact> = { code: Promise<string>; done: Promise<R>; cancel(): void };

/** A device of mine that redeemed my link code (`linkDevice`): its id and key, and the verifier both screens can show. */
export interface LinkedDevice extends OwnDevice {
  verifier: string;
}

/** What `acceptLink` gives the new device: the set it joined and the contacts it now has. */
export interface JoinedDevices {
  devices: OwnDevice[];
  contacts: Contact[];
  verifier: string;
}

/** Nobody waits on a code of the other kind (invites and links pair under different appids): say so beside "expired". */
const hintOtherKind =
  (hint: string) =>
  (err: unknown): never => {
    if (err instanceof CodeExpiredError) throw new CodeExpiredError(`${err.message} Or it is the other kind of code: ${hint}.`);
    throw err;
  };

type Emitted<T extends AppEmitted['type']> = Extract<AppEmitted, { type: T }>;
/** The emitted events that answer one request, by its `req`. */
type Answer = Extract<AppEmitted, { req: number }>;

/**
 * What a host may read of the app's state (XState-style, without the machine's context and database):
 * `snapshot.matches({ ready: { pairing: 'idle' } })`. State changes themselves reach an `inspect`
 * observer (see docs/inspector.md); the events a host acts on come through {@link Backchannel.subscribe}.
 */
export interface BackchannelSnapshot {
  /** The app machine's state value, e.g. `{ ready: { network: 'online', pairing: 'idle', … } }`. */
  value: StateValue;
  status: 'active' | 'done' | 'error' | 'stopped';
  /** Whether the app is in the given state (or a substate of it), like XState's `snapshot.matches`. */
  matches(value: StateValue): boolean;
  firstStart: boolean;
  /** Contacts connected right now, and how. */
  presence: Readonly<Record<DocId, Via>>;
  relay: RelayStatus;
  /** The code the running invite shows, and (refreshing) how long it has left; undefined otherwise. */
  invite?: InviteShown;
}

/** One device: pair with contacts, send and receive, read state and events. Made by {@link createBackchannel}; one per storage. */
export class Backchannel {
  /** The app machine: private, so that everything the app does goes through it as a journaled event. */
  readonly #actor: Actor<typeof backchannelApp>;
  readonly #listeners = new Set<(e: BackchannelEvent) => void>();
  /** Wakes every `events()` iterator waiting for the next event, so close ends them. */
  readonly #wakers = new Set<() => void>();
  /** Message ids already reported, per channel document. */
  readonly #seen = new Map<DocId, Set<string>>();
  /** Rejects the running invite/accept's promises (cancel, close). */
  #abortPairing: ((error: BackchannelError) => void) | undefined;
  /** The code the running invite shows (see {@link BackchannelSnapshot.invite}). */
  #invite: { req: number; code: string; expiresAt?: number } | undefined;
  /** Numbers requests, so each waits for its own answer. */
  #req = 0;
  #closed = false;

  private constructor(actor: Actor<typeof backchannelApp>) {
    this.#actor = actor;
    const db = this.#db;
    for (const contact of db.contacts()) for (const channel of db.channelsOf(contact)) if (db.docs.has(channel)) this.#remember(channel);
    db.docs.onChange((id) => this.#onDocChange(id));
    // A notice that came before a restart (the wipe did not finish): act on it now.
    void Promise.resolve().then(() => {
      this.#checkUnlinked();
      this.#checkSelfNotices();
      for (const contact of db.contacts())
        db.channelsOf(contact).some((channel) => db.docs.has(channel) && this.#checkRemoved(contact, channel, db.messages(channel)));
      this.#checkRekey();
    });
    actor.on('contact.left', ({ contactId, by, contact }) => this.#emit({ type: 'contactRemoved', contactId, by, ...(contact ? { contact } : {}) }));
    actor.on('devices.changed', ({ devices }) => {
      this.#emit({ type: 'devices', devices });
      this.#checkSelfNotices(); // one announced while the app was busy with another
    });
    actor.on('device.unlinked', () => this.#checkSelfNotices());
    actor.on('presence', ({ contactId, via, lastSeen }) => this.#emit({ type: 'presence', contactId, via, ...(lastSeen === undefined ? {} : { lastSeen }) }));
    actor.on('contact.seen', ({ contact }) => this.#emit({ type: 'contact', contact }));
    actor.on('refused', ({ contactId, reason, error }) => this.#emit({ type: 'refused', contactId, reason, ...(error ? { error } : {}) }));
    actor.on('relay', ({ status, error }) => this.#emit({ type: 'relay', status, ...(error ? { error } : {}) }));
    actor.on('relayOutdated', ({ error }) => this.#emit({ type: 'relayOutdated', error }));
    actor.on('transfer', ({ type: _, ...transfer }) => this.#emit({ type: 'transfer', ...transfer }));
    actor.on('deposited', ({ contactId, heads }) => {
      const contact = this.#db.contacts().find((c) => c.id === contactId);
      if (contact) this.#emit({ type: 'deposited', contactId, upTo: this.#db.messagesAt(this.#db.channelOf(contact), heads).at(-1) });
    });
  }

  /**
   * Open Backchannel: the database (created on first start), then a background link per contact.
   * Needs `relay` unless Settings already hold one (an {@link InvalidArgumentError} otherwise).
   */
  static async open(options: BackchannelOptions): Promise<Backchannel> {
    if (!options?.storage || !options.connector) throw new InvalidArgumentError('createBackchannel needs { storage, connector, relay }');
    if (options.relay !== undefined && !isRelayUrl(options.relay)) {
      throw new InvalidArgumentError(`"relay" must be a ws:// or wss:// URL, got ${JSON.stringify(options.relay)}`);
    }
    const { relayFileBytes } = options;
    if (relayFileBytes !== undefined && !(Number.isSafeInteger(relayFileBytes) && relayFileBytes >= 0)) {
      throw new InvalidArgumentError(
        `"relayFileBytes" must be a whole number of bytes, at least 0; got ${JSON.stringify(relayFileBytes) ?? String(relayFileBytes)}`,
      );
    }
    const journal =
      options.journal === false
        ? undefined
        : await Journal.open({
            storage: options.storage,
            randomBytes: options.randomBytes,
            clock: options.clock,
            ...(options.journal === true ? {} : options.journal),
          });
    const inspect = observers({ inspect: options.inspect, journal: journal?.observe });
    const actor = createActor(backchannelApp, {
      input: {
        storage: options.storage,
        connector: options.connector,
        randomBytes: options.randomBytes ?? cryptoRandomBytes,
        appid: BACKCHANNEL_APPID,
        relay: options.relay,
        rtc: options.rtc,
        openDirectTransport: openWebRtcTransport,
        clock: options.clock,
        pairingTimeouts: options.pairingTimeouts,
        discoverTimeouts: options.discoverTimeouts,
        journal,
        ...(relayFileBytes === undefined ? {} : { relayFileBytes }),
      },
      ...(options.clock ? { clock: options.clock } : {}),
      ...(inspect ? { inspect } : {}),
    });
    actor.start();
    const snapshot = await waitFor(actor, (s) => !s.matches('starting'));
    if (!snapshot.matches('ready')) {
      actor.stop();
      await journal?.close().catch(() => {});
      throw snapshot.context.error ?? new ClosedError('Backchannel closed while opening.');
    }
    return new Backchannel(actor);
  }

  /** The database, for reading: every write goes through the app machine. */
  get #db(): Database {
    return this.#actor.getSnapshot().context.db!;
  }

  /** The event journal, unless turned off: `replay(bc.journal)` rebuilds every machine's state. */
  get journal(): Journal | undefined {
    return this.#actor.getSnapshot().context.input.journal;
  }

  /** This device's public key (hex): what its contacts' cards record as `public_key` once paired. */
  get publicKey(): string {
    return this.#db.publicKey;
  }

  /** This device's id: the `sender` of the messages it wrote (a chat view tells its own from the contact's). */
  get deviceId(): string {
    return this.#db.deviceId;
  }

  /** True when this device was created by this open (first start). */
  get firstStart(): boolean {
    return this.#actor.getSnapshot().context.firstStart;
  }

  /** The app's state now: its state value and the public data (no context, no database). */
  getSnapshot(): BackchannelSnapshot {
    const s = this.#actor.getSnapshot();
    return {
      value: s.value,
      status: s.status,
      matches: (value) => s.matches(value as Parameters<typeof s.matches>[0]),
      firstStart: s.context.firstStart,
      presence: { ...s.context.presence },
      relay: relayStatus(s.context),
      ...(this.#invite ? { invite: this.#shown(this.#invite) } : {}),
    };
  }

  get #clock(): Clock {
    return this.#actor.getSnapshot().context.input.clock ?? systemClock;
  }

  #shown({ code, expiresAt }: { code: string; expiresAt?: number }): InviteShown {
    return expiresAt === undefined ? { code } : { code, expiresAt, remainingMs: Math.max(0, expiresAt - this.#clock.now()) };
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('This Backchannel was closed.');
  }

  #remember(channel: DocId): void {
    this.#seen.set(channel, new Set(this.#db.messages(channel).map((m) => m.id)));
  }

  /** Listen for the app's answers to request `req` (the first of `types` with that number). */
  #answer<T extends Answer['type']>(req: number, ...types: T[]): { promise: Promise<Emitted<T>>; off(): void } {
    const subs: { unsubscribe(): void }[] = [];
    const off = () => subs.forEach((sub) => sub.unsubscribe());
    const promise = new Promise<Emitted<T>>((resolve) => {
      for (const type of types) {
        subs.push(this.#actor.on(type, (e) => (e as Answer).req === req && (off(), resolve(e as Emitted<T>))));
      }
    });
    return { promise, off };
  }

  /** Send one request and wait for its answer; a `…failed` answer rejects with its typed error. */
  async #request<T extends Answer['type']>(
    event: (req: number) => AppEvent,
    ok: T,
    failed: 'contact.failed' | 'message.failed' | 'settings.failed' | 'device.failed',
  ): Promise<Emitted<T>> {
    this.#assertOpen();
    const req = ++this.#req;
    const answer = this.#answer<Answer['type']>(req, ok, failed);
    this.#actor.send(event(req));
    const e = await answer.promise;
    if (e.type === failed) throw (e as Extract<AppEmitted, { type: typeof failed }>).error;
    return e as Emitted<T>;
  }

  /**
   * Run one pairing through the app machine. `started` resolves with the code (invite) or at once
   * (accept); `done` with the saved contact. The machine refuses a second one (`pairing.busy` →
   * BusyError); cancel, an aborted signal and close reject both.
   */
  #pair(start: (req: number) => AppEvent, call: PairOptions, withCode: boolean): PairRun {
    return this.#pairing(start, call, withCode, 'contact.paired', (e) => {
      const paired = e as Emitted<'contact.paired'>;
      this.#remember(this.#db.channelOf(paired.contact));
      this.#emit({ type: 'contact', contact: paired.contact });
      return { ...paired.contact, verifier: paired.verifier };
    });
  }

  /** A pairing-region request (contact pairing or device link): answered by `ok`, turned into `R` by `done`. */
  #pairing<R>(
    start: (req: number) => AppEvent,
    call: PairOptions,
    withCode: boolean,
    ok: 'contact.paired' | 'device.linked' | 'device.joined',
    finished: (e: Answer) => R,
  ): PairRun<R> {
    const { signal, onProgress } = call;
    this.#assertOpen();
    if (signal?.aborted) throw new AbortedError('The pairing was aborted before it started.');
    const req = ++this.#req;
    const code = withCode ? this.#answer(req, 'pairing.code', 'pairing.failed', 'pairing.busy') : undefined;
    const outcome = this.#answer(req, ok, 'pairing.failed', 'pairing.busy');
    let progress: { unsubscribe(): void } | undefined;
    let abort!: (error: BackchannelError) => void;
    const aborted = new Promise<never>((_, reject) => (abort = reject));
    // The machine closes the mailbox "lonely" and then fails the pairing with AbortedError: that
    // rejection comes through `outcome`, once the pairing slot is free again.
    const cancel = () => {
      if (this.#abortPairing === abort) this.#actor.send({ type: 'pairing.cancel' });
    };
    const finish = () => {
      signal?.removeEventListener('abort', cancel);
      code?.off();
      outcome.off();
      progress?.unsubscribe();
      if (this.#abortPairing === abort) this.#abortPairing = undefined;
    };
    const refused = (e: { type: string }) => {
      if (e.type === 'pairing.busy') throw new BusyError('Another invite or accept is still running: finish or cancel it first.');
    };
    const done = Promise.race([outcome.promise, aborted]).then((e) => {
      refused(e);
      if (e.type === 'pairing.failed') throw e.error;
      return finished(e as Answer);
    });
    done.then(finish, finish);
    done.catch(() => {});
    const codePromise = code
      ? Promise.race([code.promise, aborted]).then((e) => {
          refused(e);
          if (e.type === 'pairing.failed') throw e.error;
          return (e as Emitted<'pairing.code'>).code;
        })
      : Promise.resolve('');
    codePromise.catch(() => {});
    // A refusal comes back during this send (and reaches `outcome` by its `req`): then this call
    // never owns the pairing slot, its progress or the signal.
    let busy = false;
    const busySub = this.#actor.on('pairing.busy', (e) => (busy ||= e.req === req));
    progress = onProgress ? this.#actor.on('pairing.progress', (e) => !busy && onProgress(e.step)) : undefined;
    this.#actor.send(start(req));
    busySub.unsubscribe();
    if (busy) progress?.unsubscribe();
    else {
      this.#abortPairing = abort;
      signal?.addEventListener('abort', cancel, { once: true });
    }
    return { code: codePromise, done, cancel };
  }

  /**
   * Show a code; `done` resolves with the new contact once the other person accepted it. With
   * `refreshMs` the code is renewed every period (`onCode` and `getSnapshot().invite` have the current
   * one and its remaining time); `code` is the first.
   */
  async invite(options: InviteOptions = {}): Promise<{
    code: string;
    expiresAt?: number;
    done: Promise<PairedContact>;
    /** Stop inviting: the code stops working and `done` rejects with `AbortedError`. */
    cancel(): void;
  }> {
    const { refreshMs, onCode } = options;
    if (refreshMs !== undefined && !(Number.isSafeInteger(refreshMs) && refreshMs >= MIN_INVITE_REFRESH_MS)) {
      throw new InvalidArgumentError(`refreshMs must be a whole number of milliseconds, at least ${MIN_INVITE_REFRESH_MS}; got ${String(refreshMs)}`);
    }
    const req = this.#req + 1; // the number #pair gives this request
    const codes = this.#actor.on('pairing.code', (e) => {
      if (e.req !== req) return;
      this.#invite = { req, code: e.code, ...(e.lifetimeMs === undefined ? {} : { expiresAt: this.#clock.now() + e.lifetimeMs }) };
      onCode?.(e.code, this.#invite.expiresAt);
    });
    let run: PairRun;
    try {
      run = this.#pair((r) => ({ type: 'pairing.invite', req: r, moniker: options.moniker, ...(refreshMs === undefined ? {} : { refreshMs }) }), options, true);
    } catch (err) {
      codes.unsubscribe();
      throw err;
    }
    const forget = () => {
      codes.unsubscribe();
      if (this.#invite?.req === req) this.#invite = undefined;
    };
    run.done.then(forget, forget);
    const code = await run.code;
    return {
      code,
      ...(this.#invite?.req === req && this.#invite.expiresAt !== undefined ? { expiresAt: this.#invite.expiresAt } : {}),
      done: run.done,
      cancel: run.cancel,
    };
  }

  /** Enter the code someone showed you; resolves with the new contact. */
  async accept(code: string, options: PairOptions = {}): Promise<PairedContact> {
    this.#assertOpen();
    const text = parseCode(code, { words: 2 }).text; // a typed BadCodeError before anything goes out
    return this.#pair((req) => ({ type: 'pairing.accept', req, code: text, moniker: options.moniker }), options, false).done.catch(
      hintOtherKind('a link code (from linkDevice) is entered with acceptLink'),
    );
  }

  /**
   * Link another device of mine: show the code on this device and enter it on the new one
   * (`acceptLink`). Link codes pair under their own appid: one never redeems as a contact invite, nor
   * an invite as a link. `done` resolves once the new device holds its signed record and a copy of my
   * contacts and settings.
   */
  async linkDevice(options: PairOptions = {}): Promise<DeviceLinkOffer> {
    const run = this.#pairing(
      (req) => ({ type: 'device.link', req }),
      options,
      true,
      'device.linked',
      (e) => {
        const linked = e as Emitted<'device.linked'>;
        return { ...linked.device, verifier: linked.verifier };
      },
    );
    return { code: await run.code, done: run.done, cancel: run.cancel };
  }

  /**
   * On a new device: enter the code `linkDevice` showed on one of mine. Resolves once this device
   * joined the set and holds its contacts (same contact keys and channels: their links start at
   * once); LinkRefusedError if what came back is not a record signed by that device for this one.
   */
  async acceptLink(code: string, options: PairOptions = {}): Promise<JoinedDevices> {
    this.#assertOpen();
    const text = parseCode(code, { words: 2 }).text;
    return this.#pairing(
      (req) => ({ type: 'device.join', req, code: text }),
      options,
      false,
      'device.joined',
      (e) => {
        const joined = e as Emitted<'device.joined'>;
        for (const contact of joined.contacts) {
          const channel = this.#db.channelOf(contact);
          if (!this.#seen.has(channel)) {
            this.#remember(channel);
            this.#emit({ type: 'contact', contact });
          }
        }
        return { devices: joined.devices, contacts: joined.contacts, verifier: joined.verifier };
      },
    ).done.catch(hintOtherKind('an invite code (from invite) is entered with accept'));
  }

  /**
   * Unlink a device of mine: it is told through our own channel (kept on the relay for it if it is
   * away), wipes its app data and closes; this device forgets it. Resolves with the devices left.
   * Then the keys it held are rotated: a new key for our own channel and for each contact's, sealed
   * to my other devices and the contact's (a device that ignores its notice reads nothing written
   * after; what it synced before stays with it). See docs/threat-model.md.
   */
  async unlinkDevice(deviceId: string): Promise<OwnDevice[]> {
    return (await this.#request((req) => ({ type: 'device.unlink', req, deviceId }), 'device.unlinked', 'device.failed')).devices;
  }

  /** The other devices of mine this device knows (linked by code, either way). */
  devices(): OwnDevice[] {
    return this.#db.ownDevices();
  }

  /** Everyone paired with this device, with the names shown for them. */
  contacts(): Contact[] {
    return this.#db.contacts();
  }

  /** Change the name shown for a contact. */
  async renameContact(contactId: DocId, moniker: string): Promise<Contact> {
    return (await this.#request((req) => ({ type: 'contact.rename', req, contactId, moniker }), 'contact.renamed', 'contact.failed')).contact;
  }

  /**
   * Remove a contact: it is no longer listed, and my other devices forget it too. The contact is told
   * (a notice in our channel: at once if its device is connected, else kept for it on the relay's
   * depot); it hears `contactRemoved` with `by: 'peer'`. Here the card and channel go once the notice
   * is out (synced, or stored by the relay), the link running until then.
   */
  async removeContact(contactId: DocId): Promise<void> {
    await this.#request((req) => ({ type: 'contact.remove', req, contactId }), 'contact.removed', 'contact.failed');
  }

  /**
   * Send a message to a contact; resolves once it is saved (it syncs when the contact is reachable).
   * With `file: { data, filename, mimetype }` the bytes are first stored here, chunked and hashed
   * (never whole in memory), then the message carries `file { filename, mimetype, size, hash }` and the
   * bytes follow whenever the contact's device is connected (`transfer` events; an interrupted
   * transfer resumes). `signal` cancels: while storing (AbortedError), or the transfer afterwards.
   */
  async send(contactId: DocId, message: { text?: string; file?: FileRef | OutgoingFile }, options: { signal?: AbortSignal } = {}): Promise<Message> {
    const file = message.file;
    if (!file || !('data' in file)) {
      return (
        await this.#request(
          (req) => ({ type: 'message.send', req, contactId, message: message as { text?: string; file?: FileRef } }),
          'message.sent',
          'message.failed',
        )
      ).message;
    }
    if (!isFileSource(file.data)) throw new InvalidArgumentError('file.data must be a Blob, a ReadableStream, an async iterable of bytes or a Uint8Array');
    if (typeof file.filename !== 'string' || typeof file.mimetype !== 'string') throw new InvalidArgumentError('a file needs a filename and a mimetype');
    const { signal } = options;
    const size =
      file.size ?? (typeof Blob !== 'undefined' && file.data instanceof Blob ? file.data.size : file.data instanceof Uint8Array ? file.data.length : undefined);
    const sent = await this.#request(
      (req) => ({ type: 'file.send', req, contactId, file: { ...file, size }, text: message.text, signal }),
      'message.sent',
      'message.failed',
    );
    const hash = sent.message.file!.hash;
    if (signal) {
      // Cancelling later stops the transfer (both sides hear it) until it is done or failed.
      const cancel = () => void this.cancelFile(contactId, hash).catch(() => {});
      signal.addEventListener('abort', cancel, { once: true });
      const off = this.subscribe((e) => {
        if (e.type === 'transfer' && e.hash === hash && (e.status === 'done' || e.status === 'failed')) (off(), signal.removeEventListener('abort', cancel));
      });
    }
    return sent.message;
  }

  /**
   * Stop a file transfer, either way, for good: its stored bytes here go, and a running transfer ends on
   * the contact's side too (`transfer` failed with AbortedError on both).
   */
  async cancelFile(contactId: DocId, hash: string): Promise<void> {
    if (typeof hash !== 'string' || !HASH_HEX.test(hash)) throw new InvalidArgumentError(`not a file hash: ${JSON.stringify(hash)}`);
    await this.#request((req) => ({ type: 'file.cancel', req, contactId, hash }), 'file.cancelled', 'message.failed');
  }

  /** A file that arrived (or that this device sent), as a stream read chunk by chunk; NotFoundError until it is complete. */
  async openFile(hash: string): Promise<ReadableStream<Uint8Array>> {
    this.#assertOpen();
    return chunkStoreOf(this.#db.storage).stream(hash);
  }

  /**
   * How a file stands on this device, from what it stores (so also after a reload, before any
   * `transfer` event): `waiting`, `progress` (`done` of `total` bytes here), `done`, `failed` (`error`)
   * or `unknown`, with its `direction` and the contact whose messages name it (a file sent to several
   * contacts: the first one it has not reached yet; `done` once every one has it).
   */
  async fileStatus(hash: string): Promise<FileStatus & { contactId?: DocId }> {
    this.#assertOpen();
    if (typeof hash !== 'string' || !HASH_HEX.test(hash)) throw new InvalidArgumentError(`not a file hash: ${JSON.stringify(hash)}`);
    const db = this.#db;
    let first: (FileStatus & { contactId?: DocId }) | undefined;
    for (const contact of db.contacts()) {
      const channelId = db.channelsOf(contact).find((id) => db.docs.has(id) && db.messages(id).some((m) => m.file?.hash === hash));
      if (channelId === undefined) continue;
      const named = db.messages(channelId).find((m) => m.file?.hash === hash)!;
      const mine = named.sender === db.deviceId;
      // A file I sent that the contact's device refused (its notice, in whichever of its channels): failed for that contact.
      const refusal = mine ? refusalsIn(db.messagesOf(contact), (sender) => this.#mine().has(sender)).get(hash) : undefined;
      const status = {
        ...(await fileStatusOf(chunkStoreOf(db.storage), hash, mine ? undefined : named.file, channelId, refusal && refusalError(refusal, named.file!.size))),
        contactId: contact.id,
      };
      if (status.direction !== 'out' || status.status !== 'done') return status;
      first ??= status;
    }
    if (first) return first;
    return fileStatusOf(chunkStoreOf(db.storage), hash);
  }

  /** A browser convenience: the file as a Blob (built from its chunks; large Blobs are the browser's to page out). */
  async fileBlob(hash: string, mimetype = ''): Promise<Blob> {
    const parts: Uint8Array[] = [];
    const reader = (await this.openFile(hash)).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    return new Blob(parts as BlobPart[], { type: mimetype });
  }

  /** The conversation with a contact, as synced so far (notices between devices left out). */
  messages(contactId: DocId): Message[] {
    // Every key the contact's channel had (rotated after an unlink: devices/rotate.ts), the earliest first.
    return this.#db.messagesOf(this.#db.contact(contactId)).filter((m) => m.notice === undefined);
  }

  /** How the contact's device is connected right now, or undefined when it is not. */
  presence(contactId: DocId): Via | undefined {
    return this.#actor.getSnapshot().context.presence[contactId];
  }

  /**
   * Whether the contact links reach the relay: for a "relay unreachable, retrying" notice; and
   * `unsupported` when the relay cannot sync at all (see {@link relayError}).
   */
  get relayStatus(): RelayStatus {
    return relayStatus(this.#actor.getSnapshot().context);
  }

  /** Why the relay is `unsupported`: a {@link RelayUnsupportedError} saying what to run instead. */
  get relayError(): RelayUnsupportedError | undefined {
    return this.#actor.getSnapshot().context.relayUnsupported;
  }

  /**
   * Set once the relay turned out to be from before reader tokens (the `relayOutdated` event's
   * warning), for as long as the settings name that relay. Undefined does not mean the relay is
   * current: the relay shows it only when a deposit lists readers (see the event).
   */
  get relayOutdated(): RelayOutdatedError | undefined {
    return relayOutdatedOf(this.#actor.getSnapshot().context);
  }

  /** False after {@link goOffline}: no links run, messages wait in storage. */
  get online(): boolean {
    return this.#actor.getSnapshot().matches({ ready: { network: 'online' } });
  }

  /** Stop every contact link (e.g. the host lost its network, or the user asked). Nothing is lost. */
  goOffline(): void {
    this.#assertOpen();
    this.#actor.send({ type: 'network.offline' });
  }

  /** Start the links again; what was written meanwhile syncs (or goes to the relay's mailbox). */
  goOnline(): void {
    this.#assertOpen();
    this.#actor.send({ type: 'network.online' });
  }

  /** This device's settings: relay server, ICE servers, file size limit. */
  settings(): SettingsDoc {
    return this.#db.settings();
  }

  /** Save settings; a new relay or ICE servers restart every contact link with them. Saves run in order. */
  async updateSettings(patch: { relay_server?: string; ice_servers?: IceServer[]; file_size_limit?: number }): Promise<SettingsDoc> {
    if (patch.relay_server !== undefined && !isRelayUrl(patch.relay_server)) {
      throw new InvalidArgumentError(`relay_server must be a ws:// or wss:// URL, got ${JSON.stringify(patch.relay_server)}`);
    }
    if (patch.file_size_limit !== undefined && !(Number.isSafeInteger(patch.file_size_limit) && patch.file_size_limit >= 0)) {
      throw new InvalidArgumentError(`file_size_limit must be a whole number of bytes, got ${JSON.stringify(patch.file_size_limit)}`);
    }
    return (await this.#request((req) => ({ type: 'settings.update', req, patch }), 'settings.updated', 'settings.failed')).settings;
  }

  /**
   * Listen to every {@link BackchannelEvent}: messages (both directions), new contacts, presence,
   * deposited / refused (the relay's depot) and relay status. Returns the unsubscribe function.
   */
  subscribe(listener: (event: BackchannelEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The same events as an async iterator; ends when the Backchannel closes or the loop breaks. */
  events(): AsyncIterableIterator<BackchannelEvent> {
    const queue: BackchannelEvent[] = [];
    // Every waiting next() (a caller may ask for several at once): each event wakes them all.
    const waiting = new Set<() => void>();
    const off = this.subscribe((e) => {
      queue.push(e);
      for (const wake of waiting) wake();
    });
    const self = this;
    const iterator: AsyncIterableIterator<BackchannelEvent> = {
      async next() {
        while (queue.length === 0 && !self.#closed) {
          let wake!: () => void;
          await new Promise<void>((r) => {
            wake = r;
            waiting.add(r);
            self.#wakers.add(r);
          });
          waiting.delete(wake);
          self.#wakers.delete(wake);
        }
        const value = queue.shift();
        return value ? { value, done: false } : { value: undefined, done: true };
      },
      async return() {
        off();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  #emit(event: BackchannelEvent): void {
    for (const l of this.#listeners) l(event);
  }

  /** Was this device unlinked (a notice in our own channel, from a device of mine)? Then wipe and close. */
  #checkUnlinked(): void {
    const self = this.#db.selfChannel();
    if (this.#closed || self === undefined) return;
    // Signatures checked as read, in our previous own channel too, and only an unlink whose signer stands counts (devices/unlinks.ts).
    const by = unlinkedThisBy(this.#db);
    if (by === undefined) return;
    this.#emit({ type: 'unlinked', by });
    this.clearAllData().catch(() => {}); // the error (if any) stays on the app's snapshot
  }

  /** My device ids, this one included. */
  #mine(): Set<string> {
    return new Set([this.#db.deviceId, ...this.#db.ownDevices().map((d) => d.device_id)]);
  }

  /** Our own channel's other notices: contacts a device of mine removed, devices one linked (the app stores what follows). */
  #checkSelfNotices(): void {
    const db = this.#db;
    const self = db.selfChannel();
    if (this.#closed || self === undefined) return;
    const messages = db.messages(self);
    const mine = this.#mine();
    // Only my devices that stand (devices/unlinks.ts): one unlinked in the batch this device reads on its
    // return, or contested, is still in `mine` until the app forgets it, and still holds the old set key.
    const { out, contested } = ownStanding(db);
    const standing = new Set([...mine].filter((id) => id === db.deviceId || (!out.has(id) && !contested.has(id))));
    // A notice names the channel the card had then: any of its channels (it may have rotated since).
    const byChannel = (channel: string) => db.contacts().find((c) => c.removed_by !== 'me' && db.channelsOf(c).includes(channel));
    // Another device of mine removed it: this one's own notice is its own removal, under way (forgetting
    // now would stop the link before the removal notice is out to the contact).
    const others = new Set([...standing].filter((id) => id !== db.deviceId));
    for (const channel of forgottenIn(messages, others)) {
      const contact = byChannel(channel);
      if (contact) this.#actor.send({ type: 'contact.left', contactId: contact.id, by: 'device' });
    }
    // A contact removed me, as another device of mine read it (the notice may never reach this one).
    for (const channel of leftIn(messages, standing)) {
      const contact = byChannel(channel);
      if (contact?.removed_by === undefined && contact) this.#actor.send({ type: 'contact.left', contactId: contact.id, by: 'peer' });
    }
    const keys = new Map([[db.deviceId, db.publicKey], ...db.ownDevices().map((d) => [d.device_id, d.public_key] as const)]);
    const known = new Set([...mine]);
    const added = announcedDevices(messages, mine, keys).filter((d) => !known.has(d.device_id));
    if (added.length > 0) this.#actor.send({ type: 'device.announced', devices: added });
    this.#checkRekey();
  }

  /** A rotation sealed to this device (our own channel's, or a contact's: devices/rotate.ts): the app takes it in. */
  #checkRekey(): void {
    if (!this.#closed && rekeyWaiting(this.#db)) this.#actor.send({ type: 'device.rekey' });
  }

  /**
   * A removal notice in one of the contact's channels (`channel`): tell the app (once: it ignores a
   * contact already gone or marked). Whether it told it.
   */
  #checkRemoved(contact: Contact, channel: DocId, messages: readonly Message[]): boolean {
    if (this.#closed || contact.removed_by !== undefined) return false;
    const removal = removalIn(
      messages.filter((m) => !isRemoval(m) || this.#byTheirSet(contact, channel, m)),
      this.#mine(),
    );
    if (removal === undefined || removal.sender === this.#db.deviceId) return false;
    this.#actor.send({ type: 'contact.left', contactId: contact.id, by: removal.by });
    return true;
  }

  /**
   * Whether the contact's set as it stands wrote `m` (in `channel`), by its signature: the device the card
   * trusts, or one the contact's newest set statements prove. A device the contact unlinked still holds
   * the key it rotated away from and can write into that channel: what it writes is not the contact's.
   * A removal honestly written there before the rotation still counts (its writer is still in the set).
   */
  #byTheirSet(contact: Contact, channel: DocId, m: Message): boolean {
    if (contact.public_key === undefined) return true; // a card from before device keys: never rotated (rotate.ts)
    const keys = [contact.public_key, this.#db.provenSet(contact).devices.get(m.sender)];
    return keys.some((key) => key !== undefined && verifyMessage(channel, m, m.sig, key));
  }

  #onDocChange(id: DocId): void {
    if (id === this.#db.selfChannel()) {
      this.#checkUnlinked();
      return this.#checkSelfNotices();
    }
    // Our own channel before a rotation: another device's rotation of it may race mine (devices/rotate.ts).
    const previous = this.#db.previousSetKey();
    if (previous !== undefined && id === documentId(previous)) return this.#checkRekey();
    const contact = this.#db.contacts().find((c) => this.#db.channelsOf(c).includes(id));
    if (!contact) return;
    let seen = this.#seen.get(id);
    // The channel of a key rotated in (devices/rotate.ts): new here, everything in it is news.
    const rotated = this.#db.channelsOf(contact).indexOf(id) < contact.channels.length - 1;
    if (!seen && rotated) this.#seen.set(id, (seen = new Set()));
    if (!seen) return;
    let heard = false;
    // Mine: written here or on another device of mine (linked by code).
    const mine = this.#mine();
    const fresh: Message[] = [];
    for (const message of this.#db.messages(id)) {
      if (seen.has(message.id)) continue;
      seen.add(message.id);
      fresh.push(message);
      if (message.notice !== undefined) continue; // between devices, not chat
      const incoming = !mine.has(message.sender);
      heard ||= incoming;
      this.#emit({ type: 'message', contactId: contact.id, message, incoming });
    }
    // The contact's device sent something: the app writes its last_seen.
    if (heard && !this.#closed) this.#actor.send({ type: 'contact.heard', contactId: contact.id });
    this.#checkRefusals(contact, fresh, mine);
    this.#checkRemoved(contact, id, fresh);
    if (fresh.some((m) => m.notice?.startsWith('{"rekey"'))) this.#checkRekey();
  }

  /**
   * The contact's device refused a file I sent (a notice in one of its channels: it came by the relay, so no
   * file session told me): the app hears it as that transfer failing, with the typed error.
   */
  #checkRefusals(contact: Contact, fresh: readonly Message[], mine: ReadonlySet<string>): void {
    if (this.#closed) return;
    const refusals = refusalsIn(fresh, (sender) => mine.has(sender));
    if (refusals.size === 0) return;
    // The file may have gone in any of the card's channels: a refusal comes in the newest, after a rotation too.
    const messages = this.#db.messagesOf(contact);
    for (const [hash, refusal] of refusals) {
      const sent = messages.find((m) => m.file?.hash === hash && mine.has(m.sender));
      if (!sent) continue; // only what this person sent the contact is theirs to refuse
      const error = refusalError(refusal, sent.file!.size);
      this.#actor.send({ type: 'contact.file', contactId: contact.id, file: { type: 'file.failed', hash, direction: 'out', error } });
    }
  }

  /** Stop every background link and release the storage. Pending saves finish first. */
  async close(): Promise<void> {
    await this.#close('CLOSE');
  }

  /**
   * "Clear all data on this device": close (pending saves finish first), then remove every contact,
   * channel, message, setting, sync state and the journal from storage. The device's identity (device
   * id and keypair) stays. Open it again to start afresh; contacts are not told.
   */
  async clearAllData(): Promise<void> {
    this.#assertOpen();
    await this.#close('CLEAR');
    const error = this.#actor.getSnapshot().context.error;
    if (error) throw error;
  }

  async #close(type: 'CLOSE' | 'CLEAR'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abortPairing?.(new ClosedError('Backchannel was closed during the pairing.'));
    this.#actor.send({ type });
    await waitFor(this.#actor, (s) => s.status === 'done');
    this.#listeners.clear();
    for (const wake of this.#wakers) wake();
  }
}

/** Open Backchannel. See {@link Backchannel}. */
export function createBackchannel(options: BackchannelOptions): Promise<Backchannel> {
  return Backchannel.open(options);
}
