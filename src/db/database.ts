/**
 * Backchannel's database: typed accessors over the Automerge documents of the seed's "Database" —
 * System (device_id, in its own storage key), Settings, Contact cards and Channels — on injected
 * storage. Every write resolves only after it is saved.
 * @module
 */
import * as A from '@automerge/automerge';
import { sha256 } from '@noble/hashes/sha2.js';
import { assertBytes, fromHex, toHex, utf8 } from '../crypto/bytes.js';
import { deriveKey } from '../crypto/keys.js';
import { isPublicKeyHex, sign, signingKeypair } from '../crypto/signing.js';
import { openSealed } from '../crypto/sealedBox.js';
import { cryptoRandomBytes, type RandomBytes } from '../effects/random.js';
import { systemClock, type Clock } from '../effects/clock.js';
import type { StorageAdapter } from '../effects/storage.js';
import { IdentityDamagedError, InvalidArgumentError, NotFoundError, QuarantinedError } from '../errors.js';
import { DocumentStore, type DocId, type TheirKeys } from './documentStore.js';
import { legacyDigest, legacyNotices, legacyOf, signedFieldsOf, signMessage } from './messageSignature.js';
import type { OwnDevice } from '../devices/linkBundle.js';
import { cachedDeviceSetVerifier, provenSetOf, signDeviceSet, type DeviceSetStatement } from '../devices/notices.js';
import {
  DEFAULT_RELAY_SERVER,
  LIMITS,
  textOf,
  validate,
  validateMessage,
  type ChannelDoc,
  type ContactDoc,
  type FileRef,
  type IceServer,
  type DocumentLimits,
  type Message,
  type SettingsDoc,
  type SystemDoc,
} from './schema.js';

/** Storage key of the System document: apart from app data, written whole and atomically. */
export const SYSTEM_KEY = ['system', 'device'];
/** The device's secret signing key (32 bytes), apart from every document. */
export const SYSTEM_SECRET_KEY = ['system', 'secret'];
/**
 * Every record of this device's app data: documents, sync states, deposit ledgers, quarantined
 * documents and the event journal. The device's identity (`system/…`) is not among them.
 */
export const APP_DATA_PREFIXES: readonly string[][] = [
  ['docs'],
  ['sync'],
  ['offline'],
  ['quarantine'],
  ['journal'],
  ['devices'],
  // Files (files/chunkStore.ts, depot/depotFiles.ts): their bytes are app data too.
  ['files'],
  ['fileIndex'],
  ['fileIns'],
  ['fileImports'],
  ['fileRefusals'],
  ['depotFiles'],
];
/** This user's other devices (linked by code), as JSON: `[{device_id, public_key}]`. */
export const OWN_DEVICES_KEY = ['devices', 'own'];
/** The key my devices share (32 bytes): their own channel and DISCOVER topic, apart from any contact's. */
export const DEVICE_SET_KEY = ['devices', 'set'];
/** The set key before the last rotation (devices/rekey.ts): its channel is still linked for devices that were away. */
export const DEVICE_SET_PREVIOUS_KEY = ['devices', 'set-previous'];

/**
 * A rotation under way (devices/rotate.ts), as JSON `{at, unlink?}`: the `at` it signs with and the
 * device whose unlink began it; set before the unlink notice, removed once every key moved. (An older
 * version stored the `at` alone, as a number: still read.)
 */
export const ROTATION_PENDING_KEY = ['devices', 'rotating'];

/** A rotation this device began and has not finished: the `at` its notices sign with, and the device of mine whose unlink began it, if one did. */
export interface PendingRotation {
  at: number;
  unlink?: string;
}

/** The stored marker read back: JSON `{at, unlink?}`, or a plain number from an older version; undefined if it is neither. */
function parsePendingRotation(bytes: Uint8Array | undefined): PendingRotation | undefined {
  if (bytes === undefined || bytes.length === 0 || bytes.length > 256) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  const at = typeof v === 'number' ? v : (v as { at?: unknown } | null)?.at;
  if (typeof at !== 'number' || !Number.isSafeInteger(at) || at <= 0) return undefined;
  const unlink = typeof v === 'object' ? (v as { unlink?: unknown } | null)?.unlink : undefined;
  return typeof unlink === 'string' && /^[0-9a-f]{32}$/.test(unlink) ? { at, unlink } : { at };
}

/**
 * How many keys a contact card keeps, newest first: the one written, and the earlier ones read (and the
 * previous one linked, for devices away). A rotation past it drops the oldest from the card — its
 * document stays stored, no longer read — so a contact rotating again and again cannot grow the card.
 */
export const CONTACT_KEYS = 3;
/** The channel ids `#channelId` remembers before it starts afresh (far more than the keys of a large address book). */
const MAX_REMEMBERED_CHANNEL_IDS = 65_536;

/** "Clear all data on this device": remove every app record, keep the identity (device_id, keypair). */
export async function clearAppData(storage: StorageAdapter): Promise<void> {
  for (const prefix of APP_DATA_PREFIXES) await storage.removeRange(prefix);
}

/** The one local Settings document. */
export const SETTINGS_ID: DocId = toHex(sha256(utf8('backchannel:settings')).subarray(0, 16));

/** A document's id from its key: named by a hash on disk and on the wire, never by the key itself. */
export function documentId(key: Uint8Array, purpose: 'channel' | 'contact' = 'channel'): DocId {
  assertBytes(key, 'key', 32);
  return toHex(deriveKey(key, `backchannel:document-id:${purpose}`, 16));
}

/** A contact as the host sees it: its card (moniker, channels, last seen) and its document id. */
export interface Contact extends ContactDoc {
  id: DocId;
}

/** What `Database.open` takes: storage and optional effects and limits. */
export interface DatabaseOptions {
  storage: StorageAdapter;
  randomBytes?: RandomBytes;
  /** Timestamps (`created_at`, messages, last seen); default `systemClock`. */
  clock?: Pick<Clock, 'now'>;
  compactEvery?: number;
  /** Lower document bounds than the defaults in LIMITS (tests). */
  limits?: Partial<DocumentLimits>;
}

/** A device's documents (system, settings, contacts, channels) on injected storage, with typed accessors. */
export class Database {
  readonly docs: DocumentStore;
  readonly system: SystemDoc;
  /** True when this open created the device (no System document was there before). */
  readonly firstStart: boolean;
  /** Documents that failed to load at open, set aside with their reasons. The rest loaded fine. */
  readonly quarantined: QuarantinedError[];
  readonly #randomBytes: RandomBytes;
  readonly #now: () => number;
  readonly #storage: StorageAdapter;
  readonly #secretKey: Uint8Array;
  #ownDevices: OwnDevice[] = [];
  #setKey: Uint8Array | undefined;
  #previousSetKey: Uint8Array | undefined;
  #rotating: PendingRotation | undefined;
  // Set notices are read again on every change a contact's device passes on: each is verified once.
  readonly #verifySet = cachedDeviceSetVerifier();
  /** Contact keys (hex) → their channel document ids (see `#channelId`). */
  readonly #channelIds = new Map<string, DocId>();

  private constructor(
    storage: StorageAdapter,
    docs: DocumentStore,
    system: SystemDoc,
    firstStart: boolean,
    quarantined: QuarantinedError[],
    randomBytes: RandomBytes,
    now: () => number,
    secretKey: Uint8Array,
  ) {
    this.#secretKey = secretKey;
    this.#storage = storage;
    this.docs = docs;
    this.system = system;
    this.firstStart = firstStart;
    this.quarantined = quarantined;
    this.#randomBytes = randomBytes;
    this.#now = now;
  }

  /** Open (and on first start, create) the database on `storage`. */
  static async open(options: DatabaseOptions): Promise<Database> {
    const randomBytes = options.randomBytes ?? cryptoRandomBytes;
    const clock = options.clock ?? systemClock;
    const now = () => clock.now();
    const storage = options.storage;
    const { system, created, secretKey } = await loadOrCreateSystem(storage, randomBytes, now);
    const docs = new DocumentStore({ storage, clock, compactEvery: options.compactEvery, deviceId: system.device_id, limits: options.limits });
    const quarantined: QuarantinedError[] = [];
    const tryOpen = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        if (err instanceof QuarantinedError) quarantined.push(err);
        else throw err;
      }
    };
    await tryOpen(async () => {
      try {
        await docs.open(SETTINGS_ID, 'settings');
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        await docs.create(SETTINGS_ID, 'settings', { relay_server: atom(DEFAULT_RELAY_SERVER), ice_servers: [] });
      }
    });
    if (!docs.has(SETTINGS_ID)) {
      // The damaged settings were set aside; start again from defaults so the app still runs.
      await docs.create(SETTINGS_ID, 'settings', { relay_server: atom(DEFAULT_RELAY_SERVER), ice_servers: [] });
    }
    for (const id of await docs.list('contact')) await tryOpen(() => docs.open(id, 'contact'));
    for (const id of await docs.list('channel')) await tryOpen(() => docs.open(id, 'channel'));
    const db = new Database(storage, docs, system, created, quarantined, randomBytes, now, secretKey);
    docs.setSenderKeys((channel, doc) => db.senderKeys(channel, doc));
    db.#setOwn(parseOwnDevices(await storage.load(OWN_DEVICES_KEY)));
    const setKey = await storage.load(DEVICE_SET_KEY);
    if (setKey?.length === 32) db.#setKey = setKey;
    const previous = await storage.load(DEVICE_SET_PREVIOUS_KEY);
    if (previous?.length === 32) db.#previousSetKey = previous;
    db.#rotating = parsePendingRotation(await storage.load(ROTATION_PENDING_KEY));
    if (db.#ownDevices.length > 0) await tryOpen(() => db.#ensureChannel(documentId(db.setKey())));
    await db.vouchForHistory();
    return db;
  }

  /**
   * Vouch, signed, for what this device wrote before it signed its messages: a legacy notice per
   * channel listing its unsigned messages there not yet listed (db/messageSignature.ts), so a device
   * linked later, or a contact whose set says this device signs, takes them. Once per channel: an
   * opened database already did it. Returns how many notices it wrote.
   */
  async vouchForHistory(): Promise<number> {
    let written = 0;
    for (const channel of this.#ids('channel')) {
      const listed = new Set<string>();
      const unsigned: Message[] = [];
      for (const value of this.docs.get<{ messages?: unknown[] }>(channel).messages ?? []) {
        const v = value as { sender?: unknown; sig?: unknown; notice?: unknown } | null;
        if (textOf(v?.sender) !== this.deviceId) continue;
        if (v!.sig === undefined) unsigned.push(signedFieldsOf(value));
        else for (const d of legacyOf(textOf(v!.notice)) ?? []) listed.add(d);
      }
      const todo = unsigned.filter((m) => !listed.has(legacyDigest(channel, m)));
      try {
        for (const notice of legacyNotices(channel, todo)) {
          await this.sendMessage(channel, { notice });
          written++;
        }
      } catch {
        // A channel that takes no more (at its limits): its history stays as it was; tried again at the next open.
      }
    }
    return written;
  }

  #setOwn(devices: OwnDevice[]): void {
    this.#ownDevices = devices.filter((d) => d.device_id !== this.deviceId);
    this.docs.setOwnDevices(this.#ownDevices);
  }

  // Linked devices

  /** This user's other devices, linked by code (issue 12 §4): their messages are ours. */
  ownDevices(): OwnDevice[] {
    return this.#ownDevices.map((d) => ({ ...d }));
  }

  /**
   * The key my devices share: the one the set handed this device when it joined, else derived from this
   * device's secret (the first device of a set hands it on). Names their own channel and topic.
   */
  setKey(): Uint8Array {
    return this.#setKey ?? deriveKey(this.#secretKey, 'backchannel:device-set');
  }

  /** The set key before the last rotation, if there was one: its channel stays linked, unwritten. */
  previousSetKey(): Uint8Array | undefined {
    return this.#previousSetKey;
  }

  /** Move my devices' own channel and topic to `key` (a rotation: devices/rotate.ts); the old key is kept as the previous one. */
  async rekeySet(key: Uint8Array): Promise<void> {
    assertBytes(key, 'key', 32);
    const old = this.setKey();
    await this.#storage.save(DEVICE_SET_PREVIOUS_KEY, old);
    await this.#storage.save(DEVICE_SET_KEY, key);
    this.#previousSetKey = old;
    this.#setKey = key;
    await this.#ensureChannel(documentId(key));
  }

  /** Our own channel's key, replaced (another device's rotation of the same channel won a race): the previous key stays. */
  async moveSetKey(key: Uint8Array): Promise<void> {
    assertBytes(key, 'key', 32);
    await this.#storage.save(DEVICE_SET_KEY, key);
    this.#setKey = key;
    await this.#ensureChannel(documentId(key));
  }

  /** The rotation this device began and has not finished (a crash or a close came between), if any: its `at`, and the device it unlinks. */
  rotationPending(): PendingRotation | undefined {
    return this.#rotating && { ...this.#rotating };
  }

  /**
   * Remember that a rotation signed at `at` is under way (saved before it resolves), begun by unlinking
   * the device `unlink` names, if one; `at` undefined: it is done.
   */
  async setRotationPending(at: number | undefined, unlink?: string): Promise<void> {
    const pending = at === undefined ? undefined : unlink === undefined ? { at } : { at, unlink };
    if (pending === undefined) await this.#storage.remove(ROTATION_PENDING_KEY);
    else await this.#storage.save(ROTATION_PENDING_KEY, utf8(JSON.stringify(pending)));
    this.#rotating = pending;
  }

  /** Open a box sealed to this device's key (crypto/sealedBox.ts); CryptoError if it is not for it. */
  openSealed(box: Uint8Array): Uint8Array {
    return openSealed(this.#secretKey, box);
  }

  /**
   * The channel my devices share (unlink notices), once a device was linked (kept after the last one
   * is unlinked: a device away still hears the notice there); else undefined.
   */
  selfChannel(): DocId | undefined {
    const id = documentId(this.setKey());
    return this.docs.has(id) ? id : undefined;
  }

  /** Forget one of my devices (it was unlinked). */
  async removeOwnDevice(deviceId: string): Promise<OwnDevice[]> {
    const next = this.#ownDevices.filter((d) => d.device_id !== deviceId);
    if (next.length === this.#ownDevices.length) throw new NotFoundError('linked device', deviceId);
    await this.#storage.save(OWN_DEVICES_KEY, utf8(JSON.stringify(next)));
    this.#setOwn(next);
    return this.ownDevices();
  }

  /** The channel document `channel` is open here: loaded, or created from its deterministic genesis. */
  async #ensureChannel(channel: DocId): Promise<void> {
    if (this.docs.has(channel)) return;
    try {
      await this.docs.open(channel, 'channel');
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      await this.docs.create(channel, 'channel', { messages: [] });
    }
  }

  /**
   * Remember more of this user's devices (saved before it resolves); this device and repeats are
   * skipped. `setKey`: the set's shared key, when this device joins a set.
   */
  async addOwnDevices(devices: readonly OwnDevice[], setKey?: Uint8Array): Promise<OwnDevice[]> {
    if (setKey !== undefined) {
      assertBytes(setKey, 'setKey', 32);
      await this.#storage.save(DEVICE_SET_KEY, setKey);
      this.#setKey = setKey;
    }
    const next = [...this.#ownDevices];
    for (const d of devices) {
      if (!isPublicKeyHex(d.public_key) || !/^[0-9a-f]{32}$/.test(d.device_id))
        throw new InvalidArgumentError('a device needs device_id (32 hex) and public_key (64 hex)');
      if (d.device_id !== this.deviceId && !next.some((x) => x.device_id === d.device_id)) next.push({ device_id: d.device_id, public_key: d.public_key });
    }
    await this.#storage.save(OWN_DEVICES_KEY, utf8(JSON.stringify(next)));
    this.#setOwn(next);
    if (next.length > 0) await this.#ensureChannel(documentId(this.setKey()));
    return this.ownDevices();
  }

  /** The time now (ms), by the clock the database was given: what the notices it signs say. */
  now(): number {
    return this.#now();
  }

  /** The storage the database lives on (sync states are kept there too). */
  get storage(): StorageAdapter {
    return this.#storage;
  }

  get deviceId(): string {
    return this.system.device_id;
  }

  /** This device's public signing key, hex (what a contact's card records as `public_key`). */
  get publicKey(): string {
    return this.system.public_key!;
  }

  /** Sign `message` with this device's secret key (device-link records, set notices, messages). */
  sign(message: Uint8Array): Uint8Array {
    return sign(this.#secretKey, message);
  }

  // Settings

  /** This device's settings document (relay server, ICE servers, file size limit). */
  settings(): SettingsDoc {
    return plain(this.docs.get<SettingsDoc>(SETTINGS_ID));
  }

  /** Change settings; invalid values are refused with InvalidArgumentError naming the field. */
  async updateSettings(patch: { relay_server?: string; ice_servers?: IceServer[]; file_size_limit?: number }): Promise<SettingsDoc> {
    await this.docs.change<Record<string, unknown>>(SETTINGS_ID, (s) => {
      if (patch.relay_server !== undefined) s.relay_server = atom(patch.relay_server);
      if (patch.ice_servers !== undefined) s.ice_servers = patch.ice_servers.map(copyIce);
      if (patch.file_size_limit !== undefined) s.file_size_limit = patch.file_size_limit;
    });
    return this.settings();
  }

  // Contacts

  /** Every contact card, each with its document id; not those I removed whose notice is still on its way ({@link leavingContacts}). */
  contacts(): Contact[] {
    return this.#cards().filter((c) => c.removed_by !== 'me');
  }

  /** Contacts I removed whose removal notice has not reached the relay yet: linked until it has, never listed. */
  leavingContacts(): Contact[] {
    return this.#cards().filter((c) => c.removed_by === 'me');
  }

  #cards(): Contact[] {
    return this.#ids('contact').map((id) => this.contact(id));
  }

  /** Mark a contact removed (`peer`: by the contact; `me`: by me, its card kept until my notice is out). */
  async markRemoved(id: DocId, by: 'peer' | 'me'): Promise<Contact> {
    await this.docs.change<Record<string, unknown>>(DocumentStore.assertId(id), (c) => {
      c.removed_by = by;
    });
    return this.contact(id);
  }

  /** My set (this device first), signed with this device's key at `now`: what contacts verify my devices by. */
  deviceSetStatement(now = this.#now()): DeviceSetStatement {
    return signDeviceSet([{ device_id: this.deviceId, public_key: this.publicKey }, ...this.#ownDevices], now, this.publicKey, (m) => this.sign(m));
  }

  /**
   * The device ids of the contact set whose channel is `channel`, as that channel's set notices
   * prove it from the key the contact's card records (devices/notices.ts): the peer rule lets any of
   * them pass on the others' messages.
   */
  peerDevices(channel: DocId, doc: A.Doc<unknown>): Set<string> {
    return new Set(this.senderKeys(channel, doc).theirs.keys());
  }

  /**
   * The contact's devices with their keys, as `channel` proves them ({@link peerDevices}), and the key
   * its card records: what a message naming one of them must be signed with (db/messageSignature.ts).
   */
  senderKeys(channel: DocId, doc: A.Doc<unknown>): TheirKeys {
    const card = this.#cards().find((c) => c.channels.some((k) => this.#channelId(k) === channel));
    const root = card?.public_key;
    if (root === undefined) return { theirs: new Map() };
    // The keys are taken from the card's key outward (provenSetOf): a statement by anyone else binds none.
    const { devices, signing } = provenSetOf(root, this.#setNotices(card, channel, doc), this.#verifySet);
    return { theirs: new Map([...devices].map(([id, key]) => [id, new Set([key])])), paired: root, signing };
  }

  /** The contact's set as its channels' set notices prove it from its card's key: device ids and trusted keys. */
  provenSet(contact: Contact): { devices: Map<string, string>; keys: Set<string> } {
    return provenSetOf(contact.public_key, this.#setNotices(contact), this.#verifySet);
  }

  /**
   * The statements that prove the contact's set ({@link provenSet}: the same notices, read in the same
   * order, through the same cached verifier), each trusted signer's newest: copied into another
   * channel, they prove the same set there.
   */
  provenStatements(contact: Contact): DeviceSetStatement[] {
    return provenSetOf(contact.public_key, this.#setNotices(contact), this.#verifySet).statements;
  }

  /** The notices of every channel of `card` (a rotated card has several), `doc` standing for `channel`'s. */
  #setNotices(card: Contact | undefined, channel?: DocId, doc?: A.Doc<unknown>): { notice?: string }[] {
    const ids = card ? this.channelsOf(card) : [];
    if (channel !== undefined && !ids.includes(channel)) ids.push(channel);
    const out: { notice?: string }[] = [];
    for (const id of ids) {
      const d = id === channel && doc !== undefined ? doc : this.docs.has(id) ? this.docs.get<unknown>(id) : undefined;
      for (const m of (d as { messages?: unknown[] } | undefined)?.messages ?? []) out.push({ notice: textOf((m as { notice?: unknown } | null)?.notice) });
    }
    return out;
  }

  /** One contact card; NotFoundError when no such contact is open. */
  contact(id: DocId): Contact {
    return { ...plain(this.docs.get<ContactDoc>(DocumentStore.assertId(id))), id };
  }

  /**
   * Add a contact after VERIFY: its card and the channel document its key names. `previousKeys`: its
   * earlier keys, newest first (a linked device takes a rotated contact: devices/rotate.ts).
   */
  async addContact(input: { moniker: string; contactKey: Uint8Array; publicKey?: string; previousKeys?: Uint8Array[] }): Promise<Contact> {
    assertBytes(input.contactKey, 'contactKey', 32);
    for (const k of input.previousKeys ?? []) assertBytes(k, 'previousKeys', 32);
    if (input.publicKey !== undefined && !isPublicKeyHex(input.publicKey)) throw new InvalidArgumentError('publicKey must be 64 hex digits');
    const id = toHex(this.#randomBytes(16));
    const channel = documentId(input.contactKey);
    await this.docs.create(id, 'contact', {
      moniker: atom(checkMoniker(input.moniker)),
      channels: [input.contactKey, ...(input.previousKeys ?? [])].slice(0, CONTACT_KEYS).map((k) => atom(toHex(k))),
      ...(input.publicKey === undefined ? {} : { public_key: atom(input.publicKey) }),
    });
    await this.#ensureChannel(channel);
    for (const k of (input.previousKeys ?? []).slice(0, CONTACT_KEYS - 1)) await this.#ensureChannel(documentId(k));
    this.docs.forgetSenderKeys();
    return this.contact(id);
  }

  /**
   * Move a contact to its next key (a rotation: devices/rekey.ts): the card's `channels` becomes
   * [key, …the earlier ones], at most `CONTACT_KEYS` (3); the first is written, all are read. `publicKey`: the device the card now
   * trusts the contact's set from (when the one it paired with left the set).
   */
  async rekeyContact(id: DocId, key: Uint8Array, publicKey?: string): Promise<Contact> {
    assertBytes(key, 'key', 32);
    if (publicKey !== undefined && !isPublicKeyHex(publicKey)) throw new InvalidArgumentError('publicKey must be 64 hex digits');
    await this.#ensureChannel(documentId(key));
    await this.docs.change<Record<string, unknown>>(DocumentStore.assertId(id), (c) => {
      const channels = c.channels as unknown[];
      channels.unshift(atom(toHex(key)));
      if (channels.length > CONTACT_KEYS) channels.splice(CONTACT_KEYS, channels.length - CONTACT_KEYS);
      if (publicKey !== undefined) c.public_key = atom(publicKey);
    });
    this.docs.forgetSenderKeys();
    return this.contact(id);
  }

  /** A contact's first key, replaced (another rotation of the same channel won a race): the earlier ones stay. */
  async replaceContactKey(id: DocId, key: Uint8Array): Promise<Contact> {
    assertBytes(key, 'key', 32);
    await this.#ensureChannel(documentId(key));
    await this.docs.change<Record<string, unknown>>(DocumentStore.assertId(id), (c) => {
      (c.channels as unknown[])[0] = atom(toHex(key));
    });
    this.docs.forgetSenderKeys();
    return this.contact(id);
  }

  /**
   * Carry this device's own messages (not notices) from `from` into `to`, as they were (text, file,
   * time), each under an id derived from its own — carried again, it is not repeated — and signed for
   * `to`: the channel of a key that lost a race (devices/rotate.ts) is no longer read, but what this
   * device wrote there before it moved is.
   */
  async carryMessages(from: DocId, to: DocId): Promise<number> {
    if (!this.docs.has(from)) return 0;
    await this.#ensureChannel(to);
    const have = new Set(this.messages(to).map((m) => m.id));
    let carried = 0;
    for (const m of this.messages(from)) {
      if (m.sender !== this.deviceId || m.notice !== undefined) continue;
      const id = toHex(deriveKey(utf8(m.id), 'backchannel:carried-message', 16));
      if (have.has(id)) continue;
      const message: Message = { id, timestamp: m.timestamp, sender: this.deviceId, text: m.text, ...(m.file ? { file: { ...m.file } } : {}) };
      message.sig = signMessage(to, message, (b) => this.sign(b));
      await this.docs.change<{ messages: unknown[] }>(to, (c) => {
        c.messages.push(atoms(message));
      });
      carried++;
    }
    return carried;
  }

  /** Change the local name of a contact; a bad moniker is refused with InvalidArgumentError. */
  async renameContact(id: DocId, moniker: string): Promise<Contact> {
    await this.docs.change<Record<string, unknown>>(DocumentStore.assertId(id), (c) => {
      c.moniker = atom(checkMoniker(moniker));
    });
    return this.contact(id);
  }

  /** Remove a contact: its card, the channel shared with it, and what we remember of syncing it. */
  async removeContact(id: DocId): Promise<void> {
    const contact = this.contact(id);
    await this.docs.remove('contact', id);
    this.docs.forgetSenderKeys();
    for (const channel of this.channelsOf(contact)) {
      if (this.contacts().some((c) => c.channels.some((k) => this.#channelId(k) === channel))) continue;
      if (this.docs.has(channel)) await this.docs.remove('channel', channel);
      await this.#storage.removeRange(['sync', channel]);
    }
  }

  /** Record that the contact's device was seen now (connected, went, or sent something). */
  async touchContact(id: DocId, lastSeen = this.#now()): Promise<Contact> {
    await this.docs.change<ContactDoc>(DocumentStore.assertId(id), (c) => {
      c.last_seen = lastSeen;
    });
    return this.contact(id);
  }

  // Channels

  /** The channel document id shared with a contact (from its key). */
  channelOf(contact: Contact): DocId {
    const key = contact.channels[0];
    if (!key) throw new NotFoundError('channel of contact', contact.id);
    return this.#channelId(key);
  }

  /**
   * The channel document id of a contact key (hex), remembered: finding a channel's card reads every
   * card's keys, once per message checked and per deposit prepared, and HKDF for each made opening a
   * device with 1,000 contacts quadratic. Bounded by the keys the cards hold (at most three each).
   */
  #channelId(key: string): DocId {
    let id = this.#channelIds.get(key);
    if (id === undefined) {
      id = documentId(fromHex(key));
      if (this.#channelIds.size >= MAX_REMEMBERED_CHANNEL_IDS) this.#channelIds.clear();
      this.#channelIds.set(key, id);
    }
    return id;
  }

  /** Every channel document of a contact: the one written first, then those of earlier keys (read, never written). */
  channelsOf(contact: Pick<Contact, 'channels'>): DocId[] {
    return contact.channels.map((k) => this.#channelId(k));
  }

  /** A contact's messages from all its channels, the earliest keys' first. */
  messagesOf(contact: Pick<Contact, 'channels'>): Message[] {
    return this.channelsOf(contact)
      .reverse()
      .filter((id) => this.docs.has(id))
      .flatMap((id) => this.messages(id));
  }

  /**
   * The rekey notices of a channel (devices/rekey.ts), in its messages' `text` or `notice`, read
   * without copying the channel: a rotation is looked for on every change of our own channel.
   */
  rekeyTexts(channel: DocId, field: 'text' | 'notice'): string[] {
    if (!this.docs.has(channel)) return [];
    const out: string[] = [];
    for (const m of this.docs.get<{ messages?: unknown[] }>(channel).messages ?? []) {
      const t = textOf((m as Record<string, unknown> | null)?.[field]);
      if (t !== undefined && t.startsWith('{"rekey"')) out.push(t);
    }
    return out;
  }

  /** The messages of a channel document. */
  messages(channel: DocId): Message[] {
    return plain(this.docs.get<ChannelDoc>(channel).messages);
  }

  /** The channel's messages as they were at `heads` (e.g. what a deposit carried); [] for unknown heads. */
  messagesAt(channel: DocId, heads: string[]): Message[] {
    const doc = this.docs.get<ChannelDoc>(channel);
    if (!A.hasHeads(doc, heads)) return [];
    return plain(A.view(doc, heads).messages);
  }

  /** Append a message; resolves once it is saved (never before). */
  async sendMessage(channel: DocId, input: { text?: string; file?: FileRef; notice?: string }): Promise<Message> {
    const message: Message = {
      id: toHex(this.#randomBytes(16)),
      timestamp: this.#now(),
      sender: this.deviceId,
      text: input.text ?? '',
      ...(input.file ? { file: { ...input.file } } : {}),
      ...(input.notice === undefined ? {} : { notice: input.notice }),
    };
    DocumentStore.assertId(channel);
    // Signed for its channel: a contact's device checks it against this device's key.
    message.sig = signMessage(channel, message, (m) => this.sign(m));
    const problems: string[] = [];
    validateMessage(problems, message);
    if (problems.length > 0) throw new InvalidArgumentError(`bad message: ${problems.join('; ')}`, { problems });
    await this.docs.change<{ messages: unknown[] }>(DocumentStore.assertId(channel), (c) => {
      c.messages.push(atoms(message));
    });
    return message;
  }

  #ids(kind: 'contact' | 'channel'): DocId[] {
    return this.docs.openIds().filter((id) => this.docs.kindOf(id) === kind);
  }
}

function copyIce(s: IceServer): unknown {
  return atoms({
    urls: [...s.urls],
    ...(s.username !== undefined ? { username: s.username } : {}),
    ...(s.credential !== undefined ? { credential: s.credential } : {}),
  });
}

/**
 * Strings Backchannel writes are immutable values, not collaborative text: nobody edits a message or a
 * URL character by character, and a 10,000-message channel is then ten times smaller and faster to
 * load (see docs/protocol.md).
 */
function atom(s: string): A.ImmutableString {
  return new A.ImmutableString(s);
}

/** A copy of `value` with every string made immutable. */
function atoms(value: unknown): any {
  if (typeof value === 'string') return atom(value);
  if (Array.isArray(value)) return value.map(atoms);
  if (value instanceof Uint8Array) return value; // bytes (a message's sig) stay bytes
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, atoms(v)]));
  return value;
}

/** A plain JS copy of a document value: immutable strings back to strings, no Automerge proxies. */
function plain<T>(value: T): T {
  return fromAutomerge(value) as T;
}
function fromAutomerge(value: unknown): unknown {
  const text = textOf(value);
  if (text !== undefined) return text;
  if (Array.isArray(value)) return value.map(fromAutomerge);
  if (value instanceof Uint8Array) return value.slice();
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromAutomerge(v)]));
  return value;
}

function checkMoniker(moniker: string): string {
  if (typeof moniker !== 'string' || moniker.trim() === '' || moniker.length > LIMITS.moniker) {
    throw new InvalidArgumentError(`moniker must be 1–${LIMITS.moniker} characters`);
  }
  return moniker.trim();
}

/** The saved device list; anything unreadable counts as none (the devices link again). */
function parseOwnDevices(bytes: Uint8Array | undefined): OwnDevice[] {
  if (!bytes) return [];
  try {
    const list = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    return Array.isArray(list)
      ? list.filter((d: OwnDevice) => typeof d === 'object' && d !== null && isPublicKeyHex(d.public_key) && /^[0-9a-f]{32}$/.test(d.device_id))
      : [];
  } catch {
    return [];
  }
}

/**
 * The device's signing keypair (the design's System `keypair`): its public half is in the System
 * document, its secret half under its own key here, never in a document. Made at first start (and at
 * the first open of a device made before keypairs existed).
 */
async function ensureKeypair(
  storage: StorageAdapter,
  randomBytes: RandomBytes,
  found: { system: SystemDoc; created: boolean; doc: A.Doc<SystemDoc> },
): Promise<{ system: SystemDoc; created: boolean; secretKey: Uint8Array }> {
  const secret = await storage.load(SYSTEM_SECRET_KEY);
  if (secret && secret.length === 32 && found.system.public_key === toHex(signingKeypair(secret).publicKey)) {
    return { system: found.system, created: found.created, secretKey: secret };
  }
  const pair = signingKeypair(randomBytes(32));
  await storage.save(SYSTEM_SECRET_KEY, pair.secretKey);
  const doc = A.change(found.doc, (d) => {
    (d as SystemDoc).public_key = toHex(pair.publicKey);
  });
  await storage.save(SYSTEM_KEY, A.save(doc));
  return { system: { ...doc }, created: found.created, secretKey: pair.secretKey };
}

/** System: created once, saved whole under its own key with the adapter's atomic save. */
async function loadOrCreateSystem(
  storage: StorageAdapter,
  randomBytes: RandomBytes,
  now: () => number,
): Promise<{ system: SystemDoc; created: boolean; secretKey: Uint8Array }> {
  return ensureKeypair(storage, randomBytes, await loadOrCreateSystemDoc(storage, randomBytes, now));
}

async function loadOrCreateSystemDoc(
  storage: StorageAdapter,
  randomBytes: RandomBytes,
  now: () => number,
): Promise<{ system: SystemDoc; created: boolean; doc: A.Doc<SystemDoc> }> {
  const bytes = await storage.load(SYSTEM_KEY);
  if (bytes) {
    let doc: A.Doc<SystemDoc>;
    try {
      doc = A.load<SystemDoc>(bytes);
    } catch (err) {
      const problem = err instanceof Error ? err.message : String(err);
      throw new IdentityDamagedError(`The device identity at ${SYSTEM_KEY.join('/')} is damaged: ${problem}. It was left in place.`, {
        key: SYSTEM_KEY,
        problems: [problem],
      });
    }
    const problems = validate('system', doc);
    if (problems.length > 0) {
      throw new IdentityDamagedError(`The device identity is invalid (${problems.join('; ')}). It was left in place.`, { key: SYSTEM_KEY, problems });
    }
    return { system: { ...doc }, created: false, doc };
  }
  const doc = A.from<SystemDoc & Record<string, unknown>>({ kind: 'system', schema: 1, device_id: toHex(randomBytes(16)), created_at: now() });
  // Saved with its public key by ensureKeypair, which comes next.
  return { system: { ...doc }, created: true, doc };
}
