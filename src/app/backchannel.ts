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
import { createActor, waitFor, type Actor } from 'xstate';
import { openWebRtcChannel } from '../adapters/webrtcChannel.js';
import { parseCode } from '../code/code.js';
import type { Clock } from '../effects/clock.js';
import { cryptoRandomBytes, type RandomBytes } from '../effects/random.js';
import type { SocketConnector } from '../effects/socket.js';
import type { StorageAdapter } from '../effects/storage.js';
import { AbortedError, BackchannelError, BusyError, ClosedError, InvalidArgumentError } from '../errors.js';
import type { Contact, Database } from '../db/database.js';
import type { DocId } from '../db/documentStore.js';
import { isRelayUrl, type FileRef, type IceServer, type Message, type SettingsDoc } from '../db/schema.js';
import type { RtcImplementation } from '../discover/session.js';
import { observers, type InspectOption } from '../inspect.js';
import { Journal, type JournalOptions } from '../journal/journal.js';
import { appMachine, relayStatus, type AppEmitted, type RelayStatus, type Via } from '../machines/appMachine.js';
import type { DiscoverTimeouts } from '../machines/discoverMachine.js';
import type { WormholeTimeouts } from '../machines/wormholeMachine.js';
import type { CallOptions, PairingStep } from '../pair.js';

export { discoveryUrlOf } from '../machines/appMachine.js';

export interface BackchannelOptions {
  storage: StorageAdapter;
  connector: SocketConnector;
  /** Mailbox relay (`ws://host:port/v1`); stored in Settings. Default: what Settings say. */
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
}

/** Options of `invite` and `accept`. */
export interface PairOptions extends CallOptions {
  /** The new contact's name (default "New contact"; rename later with `renameContact`). */
  moniker?: string;
  /** Progress for a display: connecting → waiting → verifying → confirming → naming (saving the card). */
  onProgress?: (step: PairingStep | 'naming') => void;
}

/** A contact just made, with the verifier both people can compare (equal on both sides). */
export type PairedContact = Contact & { verifier: string };

export type BackchannelEvent =
  | { type: 'message'; contactId: DocId; message: Message; incoming: boolean }
  | { type: 'contact'; contact: Contact }
  /** The contact's device connected (`via` says how) or went away (`via` undefined). */
  | { type: 'presence'; contactId: DocId; via: Via | undefined }
  /**
   * The contact was away, and the relay now holds (sealed) everything up to and including message
   * `upTo`: it reaches the contact when they come back, even if this device is gone by then.
   */
  | { type: 'deposited'; contactId: DocId; upTo: Message | undefined }
  /**
   * The relay refused to keep our changes for the absent contact (`reason`: its quota for the contact,
   * or the size bound). Nothing is lost: they stay here and sync when the contact is reachable.
   */
  | { type: 'refused'; contactId: DocId; reason: string }
  /** The relay became reachable or unreachable (links retry by themselves), or `unknown` (no links). */
  | { type: 'relay'; status: RelayStatus };

type Emitted<T extends AppEmitted['type']> = Extract<AppEmitted, { type: T }>;

export class Backchannel {
  readonly actor: Actor<typeof appMachine>;
  readonly #listeners = new Set<(e: BackchannelEvent) => void>();
  /** Wakes every `events()` iterator waiting for the next event, so close ends them. */
  readonly #wakers = new Set<() => void>();
  /** Message ids already reported, per channel document. */
  readonly #seen = new Map<DocId, Set<string>>();
  /** Rejects the running invite/accept's promises (cancel, close). */
  #abortPairing: ((error: BackchannelError) => void) | undefined;
  #settingsQueue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(actor: Actor<typeof appMachine>) {
    this.actor = actor;
    const db = this.db;
    for (const contact of db.contacts()) this.#remember(db.channelOf(contact));
    db.docs.onChange((id) => this.#onDocChange(id));
    actor.on('presence', ({ contactId, via }) => this.#emit({ type: 'presence', contactId, via }));
    actor.on('refused', ({ contactId, reason }) => this.#emit({ type: 'refused', contactId, reason }));
    actor.on('relay', ({ status }) => this.#emit({ type: 'relay', status }));
    actor.on('deposited', ({ contactId, heads }) => {
      const contact = this.db.contacts().find((c) => c.id === contactId);
      if (contact) this.#emit({ type: 'deposited', contactId, upTo: this.db.messagesAt(this.db.channelOf(contact), heads).at(-1) });
    });
  }

  /** Open Backchannel: the database (created on first start), then a background link per contact. */
  static async open(options: BackchannelOptions): Promise<Backchannel> {
    if (!options?.storage || !options.connector) throw new InvalidArgumentError('createBackchannel needs { storage, connector }');
    if (options.relay !== undefined && !isRelayUrl(options.relay)) {
      throw new InvalidArgumentError(`"relay" must be a ws:// or wss:// URL, got ${JSON.stringify(options.relay)}`);
    }
    const journal =
      options.journal === false
        ? undefined
        : await Journal.open({ storage: options.storage, randomBytes: options.randomBytes, clock: options.clock, ...(options.journal === true ? {} : options.journal) });
    const inspect = observers({ inspect: options.inspect, journal: journal?.observe });
    const actor = createActor(appMachine, {
      input: {
        storage: options.storage,
        connector: options.connector,
        randomBytes: options.randomBytes ?? cryptoRandomBytes,
        relay: options.relay,
        rtc: options.rtc,
        openDirectChannel: openWebRtcChannel,
        clock: options.clock,
        pairingTimeouts: options.pairingTimeouts,
        discoverTimeouts: options.discoverTimeouts,
        journal,
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

  /** The database: documents, contacts, settings. */
  get db(): Database {
    return this.actor.getSnapshot().context.db!;
  }

  /** The event journal, unless turned off: `replay(bc.journal)` rebuilds every machine's state. */
  get journal(): Journal | undefined {
    return this.actor.getSnapshot().context.input.journal;
  }

  /** True when this device was created by this open (first start). */
  get firstStart(): boolean {
    return this.actor.getSnapshot().context.firstStart;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('This Backchannel was closed.');
  }

  #remember(channel: DocId): void {
    this.#seen.set(channel, new Set(this.db.messages(channel).map((m) => m.id)));
  }

  /** Resolves with the app's next emitted event of one of `types` (the first that comes). */
  #next<T extends AppEmitted['type']>(...types: T[]): { promise: Promise<Emitted<T>>; off(): void } {
    const subs: { unsubscribe(): void }[] = [];
    const off = () => subs.forEach((sub) => sub.unsubscribe());
    const promise = new Promise<Emitted<T>>((resolve) => {
      for (const type of types) subs.push(this.actor.on(type, (e) => (off(), resolve(e as Emitted<T>))));
    });
    return { promise, off };
  }

  /**
   * Run one pairing through the app machine. `started` resolves with the code (invite) or at once
   * (accept); `done` with the saved contact. Cancel, an aborted signal and close reject both.
   */
  #pair(start: () => void, call: PairOptions, withCode: boolean): { code: Promise<string>; done: Promise<PairedContact>; cancel(): void } {
    const { signal, onProgress } = call;
    this.#assertOpen();
    if (signal?.aborted) throw new AbortedError('The pairing was aborted before it started.');
    if (!this.actor.getSnapshot().matches({ ready: { pairing: 'idle' } })) throw new BusyError('Another invite or accept is still running: finish or cancel it first.');
    const code = withCode ? this.#next('pairing.code', 'pairing.failed') : undefined;
    const outcome = this.#next('contact.paired', 'pairing.failed');
    const progress = onProgress ? this.actor.on('pairing.progress', (e) => onProgress(e.step)) : undefined;
    let abort!: (error: BackchannelError) => void;
    const aborted = new Promise<never>((_, reject) => (abort = reject));
    // The machine closes the mailbox "lonely" and then fails the pairing with AbortedError: that
    // rejection comes through `outcome`, once the pairing slot is free again.
    const cancel = () => {
      if (this.#abortPairing === abort) this.actor.send({ type: 'pairing.cancel' });
    };
    signal?.addEventListener('abort', cancel, { once: true });
    this.#abortPairing = abort;
    const finish = () => {
      signal?.removeEventListener('abort', cancel);
      code?.off();
      outcome.off();
      progress?.unsubscribe();
      if (this.#abortPairing === abort) this.#abortPairing = undefined;
    };
    const done = Promise.race([outcome.promise, aborted]).then((e) => {
      if (e.type === 'pairing.failed') throw e.error;
      this.#remember(this.db.channelOf(e.contact));
      this.#emit({ type: 'contact', contact: e.contact });
      return { ...e.contact, verifier: e.verifier };
    });
    done.then(finish, finish);
    done.catch(() => {});
    const codePromise = code
      ? Promise.race([code.promise, aborted]).then((e) => {
          if (e.type === 'pairing.failed') throw e.error;
          return e.code;
        })
      : Promise.resolve('');
    codePromise.catch(() => {});
    start();
    return { code: codePromise, done, cancel };
  }

  /** Show a code; `done` resolves with the new contact once the other person accepted it. */
  async invite(options: PairOptions = {}): Promise<{ code: string; done: Promise<PairedContact>; cancel(): void }> {
    const run = this.#pair(() => this.actor.send({ type: 'pairing.invite', moniker: options.moniker }), options, true);
    return { code: await run.code, done: run.done, cancel: run.cancel };
  }

  /** Enter the code someone showed you; resolves with the new contact. */
  async accept(code: string, options: PairOptions = {}): Promise<PairedContact> {
    this.#assertOpen();
    const text = parseCode(code, { words: 2 }).text; // a typed BadCodeError before anything goes out
    return this.#pair(() => this.actor.send({ type: 'pairing.accept', code: text, moniker: options.moniker }), options, false).done;
  }

  contacts(): Contact[] {
    return this.db.contacts();
  }

  async renameContact(contactId: DocId, moniker: string): Promise<Contact> {
    this.#assertOpen();
    return this.db.renameContact(contactId, moniker);
  }

  async removeContact(contactId: DocId): Promise<void> {
    this.#assertOpen();
    this.actor.send({ type: 'contact.removed', contactId });
    await this.db.removeContact(contactId);
  }

  /** Send a message to a contact; resolves once it is saved (it syncs when the contact is reachable). */
  async send(contactId: DocId, message: { text?: string; file?: FileRef }): Promise<Message> {
    this.#assertOpen();
    const channel = this.db.channelOf(this.db.contact(contactId));
    return this.db.sendMessage(channel, message);
  }

  messages(contactId: DocId): Message[] {
    return this.db.messages(this.db.channelOf(this.db.contact(contactId)));
  }

  /** How the contact's device is connected right now, or undefined when it is not. */
  presence(contactId: DocId): Via | undefined {
    return this.actor.getSnapshot().context.presence[contactId];
  }

  /** Whether the contact links reach the relay: for a "relay unreachable, retrying" notice. */
  get relayStatus(): RelayStatus {
    return relayStatus(this.actor.getSnapshot().context.relayUp);
  }

  /** False after {@link goOffline}: no links run, messages wait in storage. */
  get online(): boolean {
    return this.actor.getSnapshot().matches({ ready: { network: 'online' } });
  }

  /** Stop every contact link (e.g. the host lost its network, or the user asked). Nothing is lost. */
  goOffline(): void {
    this.#assertOpen();
    this.actor.send({ type: 'network.offline' });
  }

  /** Start the links again; what was written meanwhile syncs (or goes to the relay's mailbox). */
  goOnline(): void {
    this.#assertOpen();
    this.actor.send({ type: 'network.online' });
  }

  settings(): SettingsDoc {
    return this.db.settings();
  }

  /** Save settings; a new relay or ICE servers restart every contact link with them. */
  updateSettings(patch: { relay_server?: string; ice_servers?: IceServer[] }): Promise<SettingsDoc> {
    this.#assertOpen();
    if (patch.relay_server !== undefined && !isRelayUrl(patch.relay_server)) {
      return Promise.reject(new InvalidArgumentError(`relay_server must be a ws:// or wss:// URL, got ${JSON.stringify(patch.relay_server)}`));
    }
    // One save at a time: the machine's settings region takes the next patch once it is idle again.
    const run = this.#settingsQueue.then(async () => {
      this.#assertOpen();
      const outcome = this.#next('settings.updated', 'settings.failed');
      this.actor.send({ type: 'settings.update', patch });
      const e = await outcome.promise;
      if (e.type === 'settings.failed') throw e.error;
      return e.settings;
    });
    this.#settingsQueue = run.catch(() => {});
    return run;
  }

  /** Listen to new messages (both directions), new contacts and presence. Returns the unsubscribe function. */
  subscribe(listener: (event: BackchannelEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The same events as an async iterator; ends when the Backchannel closes or the loop breaks. */
  events(): AsyncIterableIterator<BackchannelEvent> {
    const queue: BackchannelEvent[] = [];
    let wake: (() => void) | undefined;
    const off = this.subscribe((e) => {
      queue.push(e);
      wake?.();
    });
    const self = this;
    const iterator: AsyncIterableIterator<BackchannelEvent> = {
      async next() {
        while (queue.length === 0 && !self.#closed) {
          await new Promise<void>((r) => {
            wake = r;
            self.#wakers.add(r);
          });
          self.#wakers.delete(wake!);
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

  #onDocChange(id: DocId): void {
    const seen = this.#seen.get(id);
    if (!seen) return;
    const contact = this.db.contacts().find((c) => this.db.channelOf(c) === id);
    if (!contact) return;
    for (const message of this.db.messages(id)) {
      if (seen.has(message.id)) continue;
      seen.add(message.id);
      this.#emit({ type: 'message', contactId: contact.id, message, incoming: message.sender !== this.db.deviceId });
    }
  }

  /** Stop every background link and release the storage. Pending saves finish first. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abortPairing?.(new ClosedError('Backchannel was closed during the pairing.'));
    this.actor.send({ type: 'CLOSE' });
    await waitFor(this.actor, (s) => s.status === 'done');
    this.#listeners.clear();
    for (const wake of this.#wakers) wake();
  }
}

/** Open Backchannel. See {@link Backchannel}. */
export function createBackchannel(options: BackchannelOptions): Promise<Backchannel> {
  return Backchannel.open(options);
}
