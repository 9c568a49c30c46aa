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
import { createActor, type Actor } from 'xstate';
import { fromHex } from '../crypto/bytes.js';
import type { Clock } from '../effects/clock.js';
import { cryptoRandomBytes, type RandomBytes } from '../effects/random.js';
import type { SocketConnector } from '../effects/socket.js';
import type { StorageAdapter } from '../effects/storage.js';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { Database, documentId, type Contact } from '../db/database.js';
import type { DocId } from '../db/documentStore.js';
import { isRelayUrl, type FileRef, type IceServer, type Message, type SettingsDoc } from '../db/schema.js';
import type { RtcImplementation } from '../discover/session.js';
import { redactingInspector, type InspectOption } from '../inspect.js';
import { appMachine } from '../machines/appMachine.js';
import type { DiscoverTimeouts } from '../machines/discoverMachine.js';
import type { WormholeTimeouts } from '../machines/wormholeMachine.js';
import { createPairing, type CallOptions } from '../pair.js';

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
}

/** A contact just made, with the verifier both people can compare (equal on both sides). */
export type PairedContact = Contact & { verifier: string };

export type BackchannelEvent =
  | { type: 'message'; contactId: DocId; message: Message; incoming: boolean }
  | { type: 'contact'; contact: Contact };

/** The relay's DISCOVER endpoint beside its mailbox one: `…/v1` → `…/backchannel/v1`. */
export function discoveryUrlOf(relay: string): string {
  const url = new URL(relay);
  url.pathname = '/backchannel/v1';
  return url.toString();
}

export class Backchannel {
  readonly db: Database;
  readonly actor: Actor<typeof appMachine>;
  readonly #options: BackchannelOptions;
  readonly #listeners = new Set<(e: BackchannelEvent) => void>();
  /** Message ids already reported, per channel document. */
  readonly #seen = new Map<DocId, Set<string>>();
  #closed = false;

  private constructor(db: Database, options: BackchannelOptions) {
    this.db = db;
    this.#options = options;
    const relay = db.settings().relay_server;
    const ice = db.settings().ice_servers;
    this.actor = createActor(appMachine, {
      input: {
        db,
        discover: {
          url: discoveryUrlOf(relay),
          connector: options.connector,
          randomBytes: options.randomBytes ?? cryptoRandomBytes,
          rtc: options.rtc ? { RTCPeerConnection: options.rtc.RTCPeerConnection, config: { iceServers: ice as RTCIceServer[] } } : undefined,
          timeouts: options.discoverTimeouts,
        },
      },
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.inspect ? { inspect: redactingInspector(options.inspect) } : {}),
    });
    this.actor.start();
    for (const contact of db.contacts()) {
      this.#remember(db.channelOf(contact));
      this.#link(contact);
    }
    db.docs.onChange((id) => this.#onDocChange(id));
  }

  /** Open Backchannel: the database (created on first start), then a background link per contact. */
  static async open(options: BackchannelOptions): Promise<Backchannel> {
    if (!options?.storage || !options.connector) throw new InvalidArgumentError('createBackchannel needs { storage, connector }');
    const db = await Database.open({ storage: options.storage, randomBytes: options.randomBytes });
    if (options.relay !== undefined) {
      if (!isRelayUrl(options.relay)) throw new InvalidArgumentError(`"relay" must be a ws:// or wss:// URL, got ${JSON.stringify(options.relay)}`);
      if (db.settings().relay_server !== options.relay) await db.updateSettings({ relay_server: options.relay });
    }
    return new Backchannel(db, options);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('This Backchannel was closed.');
  }

  #pairing() {
    return createPairing({
      relay: this.db.settings().relay_server,
      connector: this.#options.connector,
      randomBytes: this.#options.randomBytes,
      clock: this.#options.clock,
      timeouts: this.#options.pairingTimeouts,
      inspect: this.#options.inspect,
    });
  }

  #link(contact: Contact): void {
    const key = fromHex(contact.channels[0]!);
    this.actor.send({ type: 'contact.added', contactId: contact.id, contactKey: key, channelId: documentId(key) });
  }

  #remember(channel: DocId): void {
    this.#seen.set(channel, new Set(this.db.messages(channel).map((m) => m.id)));
  }

  async #addContact(moniker: string, pairing: { contactKey: Uint8Array; verifier: string }): Promise<PairedContact> {
    const contact = await this.db.addContact({ moniker, contactKey: pairing.contactKey });
    this.#remember(this.db.channelOf(contact));
    this.#link(contact);
    this.#emit({ type: 'contact', contact });
    return { ...contact, verifier: pairing.verifier };
  }

  /** Show a code; `done` resolves with the new contact once the other person accepted it. */
  async invite(options: CallOptions & { moniker?: string } = {}): Promise<{ code: string; done: Promise<PairedContact>; cancel(): void }> {
    this.#assertOpen();
    this.actor.send({ type: 'pairing.invite' });
    try {
      const invitation = await this.#pairing().invite(options);
      const done = invitation.done
        .then((r) => this.#addContact(options.moniker ?? 'New contact', r))
        .finally(() => this.actor.send({ type: 'pairing.done' }));
      done.catch(() => {});
      return { code: invitation.code, done, cancel: invitation.cancel };
    } catch (err) {
      this.actor.send({ type: 'pairing.done' });
      throw err;
    }
  }

  /** Enter the code someone showed you; resolves with the new contact. */
  async accept(code: string, options: CallOptions & { moniker?: string } = {}): Promise<PairedContact> {
    this.#assertOpen();
    this.actor.send({ type: 'pairing.accept' });
    try {
      const result = await this.#pairing().accept(code, options);
      return await this.#addContact(options.moniker ?? 'New contact', result);
    } finally {
      this.actor.send({ type: 'pairing.done' });
    }
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
    const sent = await this.db.sendMessage(channel, message);
    return sent;
  }

  messages(contactId: DocId): Message[] {
    return this.db.messages(this.db.channelOf(this.db.contact(contactId)));
  }

  settings(): SettingsDoc {
    return this.db.settings();
  }

  async updateSettings(patch: { relay_server?: string; ice_servers?: IceServer[] }): Promise<SettingsDoc> {
    this.#assertOpen();
    return this.db.updateSettings(patch);
  }

  /** Listen to new messages (both directions) and new contacts. Returns the unsubscribe function. */
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
        while (queue.length === 0 && !self.#closed) await new Promise<void>((r) => (wake = r));
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
    this.actor.send({ type: 'CLOSE' });
    this.#listeners.clear();
    await this.#options.storage.close?.();
  }
}

/** Open Backchannel. See {@link Backchannel}. */
export function createBackchannel(options: BackchannelOptions): Promise<Backchannel> {
  return Backchannel.open(options);
}
