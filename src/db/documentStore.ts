/**
 * Automerge documents on an injected {@link StorageAdapter}. Each document lives under
 * `['docs', kind, id, 'snapshot' | 'incremental', <hash of the chunk>]`: changes are appended as incremental
 * chunks (saved before a change is acknowledged) and folded into a snapshot every
 * `compactEvery` changes. Chunk names are content hashes, so "write the snapshot, then delete the
 * chunks it covers" is safe at any crash point: loading merges whatever is there.
 *
 * Loading validates the document against its schema (migrating older versions). Data that does not
 * load or validate is moved under `['quarantine', id, …]` and reported as a QuarantinedError; it is never
 * silently dropped or overwritten.
 *
 * Every change is checked before anything of it is stored: the schema (no unknown fields), the
 * bounds of {@link LIMITS} (messages per channel, bytes per document), unique message ids, and for a
 * change from another device the rules of {@link ChangeSource} (db/peerRules.ts). A refused change
 * leaves the stored and the in-memory document as they were.
 * @module
 */
import * as A from '@automerge/automerge';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, toHex, utf8 } from '../crypto/bytes.js';
import { systemClock, type Clock } from '../effects/clock.js';
import type { StorageAdapter, StorageKey } from '../effects/storage.js';
import { BackchannelError, InvalidArgumentError, NotFoundError, ProtocolError, QuarantinedError, SchemaTooNewError, TooLargeError } from '../errors.js';
import { checkSender, legacyOf, messageSignatureBytes, signatureBytes, signedFieldsOf, vouchedHistory, type SenderKeys } from './messageSignature.js';
import { channelEffect, type ChangeSource } from './peerRules.js';
import { LIMITS, MIGRATIONS, SCHEMA_VERSIONS, textOf, validate, type DocumentKind, type DocumentLimits } from './schema.js';

export type { ChangeSource } from './peerRules.js';

/** The id of an Automerge document in the database. */
export type DocId = string;

/** What the document store takes: storage and optional effects. */
export interface DocumentStoreOptions {
  storage: StorageAdapter;
  /** Fold incremental chunks into a snapshot after this many (default 64). */
  compactEvery?: number;
  /** Milliseconds since the epoch, for quarantine keys; default `systemClock`. */
  clock?: Pick<Clock, 'now'>;
  /** This device's id: no change from another device may add a message in its name. */
  deviceId?: string;
  /** Lower bounds than {@link LIMITS} (tests reach them without gigabytes). */
  limits?: Partial<DocumentLimits>;
}

/** The result of {@link DocumentStore.update}: refused changes carry the typed error to end a sync with. */
export type UpdateResult = { accepted: true; problems: [] } | { accepted: false; problems: string[]; error: BackchannelError };

interface Entry {
  kind: DocumentKind;
  doc: A.Doc<unknown>;
  /** Storage keys whose contents `doc` includes: removable once a snapshot covers them. */
  chunks: StorageKey[];
  /** Bytes of those chunks together. */
  bytes: number;
  /** A channel's message ids and text size, built on the first change that needs them. */
  index?: { ids: Set<string>; textBytes: number };
  incremental: number;
  /** Serialises writes to one document. */
  queue: Promise<unknown>;
}

const DOC_ID = /^[0-9a-f]{32}$/;
const chunkName = (data: Uint8Array) => toHex(sha256(data).subarray(0, 16));

/** What one message weighs as text: the measure {@link LIMITS}.documentBytes bounds besides storage. */
function messageBytes(m: unknown): number {
  const o = (m ?? {}) as Record<string, unknown>;
  const f = (o.file ?? {}) as Record<string, unknown>;
  const sig = o.sig instanceof Uint8Array ? o.sig.length : 0;
  return [o.id, o.sender, o.text, o.sig, f.filename, f.mimetype, f.hash].reduce<number>((n, v) => n + (textOf(v)?.length ?? 0), 32 + sig);
}

/** What a change passed to the checks of {@link DocumentStore}, to commit it without computing it twice. */
interface Checked {
  /** The change's bytes as an incremental chunk, or the whole document's when `whole`. */
  delta: Uint8Array;
  whole?: boolean;
  /** The channel index after it, or undefined to rebuild it. */
  index?: { ids: Set<string>; textBytes: number };
  /** A channel's contact keys as it leaves the channel (cached at commit), or undefined; `stale`: the change may alter them. */
  theirs?: TheirKeys;
  stale?: boolean;
}

/** What a channel proves of the contact's devices: {@link SenderKeys} less my own devices. */
export type TheirKeys = Omit<SenderKeys, 'mine'>;

/** The empty shape of each kind: the content of every document's first change. */
const SKELETONS: Record<DocumentKind, Record<string, unknown>> = {
  system: {},
  settings: { relay_server: '', ice_servers: [] },
  contact: { moniker: '', channels: [] },
  channel: { messages: [] },
};

/**
 * A new document. Its first change is identical on every device that creates the same id: a fixed
 * actor derived from the id, time 0, and only the kind's empty skeleton. Two contacts who each create
 * their channel document independently therefore share one root, instead of two conflicting ones of
 * which Automerge would keep only one (losing the other side's early messages). The initial values
 * follow as an ordinary change under a fresh random actor, touching only fields that differ from the
 * skeleton (re-assigning an equal empty list would itself create a conflicting list).
 */
function genesis(id: DocId, kind: DocumentKind, initial: Record<string, unknown>): A.Doc<unknown> {
  const actor = toHex(sha256(utf8(`backchannel:genesis:${id}`)).subarray(0, 16));
  const skeleton = { ...SKELETONS[kind], kind, schema: SCHEMA_VERSIONS[kind] };
  const first = A.change(A.init<Record<string, unknown>>({ actor }), { time: 0, message: 'genesis' }, (d) => {
    Object.assign(d, skeleton);
  });
  const doc = A.load<Record<string, unknown>>(A.save(first)); // a random actor for whatever comes next
  const changed = Object.entries(initial).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(skeleton[k as keyof typeof skeleton]));
  if (changed.length === 0) return doc;
  return A.change(doc, { message: 'initial values' }, (d) => {
    for (const [k, v] of changed) d[k] = v;
  });
}

const sumBytes = (chunks: { data: Uint8Array }[]) => chunks.reduce((n, c) => n + c.data.length, 0);
const sameHeads = (a: A.Heads, b: A.Heads) => a.length === b.length && a.every((h) => b.includes(h));

/** Migrate a loaded document to the current schema version, as one step of loading. */
function migrate(kind: DocumentKind, id: DocId, doc: A.Doc<unknown>): A.Doc<unknown> {
  const found = (doc as { schema?: unknown }).schema;
  const known = SCHEMA_VERSIONS[kind];
  if (typeof found === 'number' && found > known) throw new SchemaTooNewError(id, found, known);
  if (typeof found !== 'number' || found === known) return doc;
  let next = doc;
  for (let v = found; v < known; v++) {
    const step = MIGRATIONS[kind][v];
    if (!step) break; // validation reports the unknown version
    next = A.change(next, { message: `migrate ${kind} ${v}→${v + 1}` }, (d) => {
      step(d as Record<string, unknown>);
      (d as { schema: number }).schema = v + 1;
    });
  }
  return next;
}

/** Automerge documents on a `StorageAdapter`: load, validate, quarantine, save incrementally, compact. */
export class DocumentStore {
  readonly #storage: StorageAdapter;
  readonly #compactEvery: number;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #deviceId: string | undefined;
  /** The other devices of this user (linked by code): a contact may pass on their messages, and they ours. */
  #ownDevices = new Set<string>();
  /** Their public keys (hex; '' for one given without a key: nothing verifies as it). */
  #ownKeys = new Map<string, string>();
  readonly #limits: DocumentLimits;
  readonly #open = new Map<DocId, Entry>();
  readonly #listeners = new Set<(id: DocId) => void>();

  /**
   * This user's other devices: messages they wrote may reach us through a contact, and theirs through
   * them. A message from a peer naming one must carry that device's signature (db/messageSignature.ts):
   * give each with its `public_key` (one given by id alone has no key, so nothing naming it is taken).
   */
  setOwnDevices(devices: Iterable<string | { device_id: string; public_key: string }>): void {
    const list = [...devices].map((d) => (typeof d === 'string' ? { device_id: d, public_key: '' } : d));
    this.#ownDevices = new Set(list.map((d) => d.device_id));
    this.#ownKeys = new Map(list.map((d) => [d.device_id, d.public_key]));
  }

  /** This user's other devices (see {@link setOwnDevices}): whom the depot keeps a deposit in our own channel for. */
  ownDeviceIds(): ReadonlySet<string> {
    return this.#ownDevices;
  }

  /** This user's other devices with their public keys (hex; '' for one given without a key): whom the depot seals our own channel's ack tokens to. */
  ownDeviceKeys(): ReadonlyMap<string, string> {
    return this.#ownKeys;
  }

  /** Whether `deviceId` is one of this user's other devices (see {@link setOwnDevices}). */
  isOwnDevice(deviceId: string): boolean {
    return this.#ownDevices.has(deviceId);
  }

  /** The contact's devices and keys a channel proves (read from the channel as a change leaves it); none by default. */
  #theirKeys: (channel: DocId, doc: A.Doc<unknown>) => TheirKeys = () => ({ theirs: new Map() });
  /** What #theirKeys said per channel, until a change to any channel adds a notice (or the cards change: {@link forgetSenderKeys}). */
  readonly #theirCache = new Map<DocId, TheirKeys>();
  /** Whether each legacy notice's signature verified, once checked (see {@link vouchedOnce}). */
  readonly #vouchedCache = new Map<string, boolean>();

  /**
   * How to read a contact's verified device set, with keys, from a channel (Database: the set notices
   * signed from the key its card records, and that key): any device of it may pass on the others'
   * messages, and a message naming one must carry its signature. `read` may look at other channels
   * (a card's earlier keys): every channel's is read again when a change to any channel adds a notice,
   * or after {@link forgetSenderKeys}.
   */
  setSenderKeys(read: (channel: DocId, doc: A.Doc<unknown>) => TheirKeys): void {
    this.#theirKeys = read;
    this.#theirCache.clear();
  }

  /** Read the contacts' keys again at the next change (a contact card was added or removed). */
  forgetSenderKeys(): void {
    this.#theirCache.clear();
  }

  /** The contact's devices `channel` proves now (see {@link setSenderKeys}): whom the depot keeps a deposit there for. */
  peerDevicesOf(channel: DocId): ReadonlySet<string> {
    return new Set(this.peerKeysOf(channel).keys());
  }

  /** The contact's devices `channel` proves now, with their public keys (hex): whom the depot seals a deposit's ack tokens to. */
  peerKeysOf(channel: DocId): ReadonlyMap<string, ReadonlySet<string>> {
    return (this.#theirCache.get(channel) ?? this.#theirKeys(channel, this.get(channel))).theirs;
  }

  constructor(options: DocumentStoreOptions) {
    this.#storage = options.storage;
    this.#compactEvery = options.compactEvery ?? 64;
    this.#clock = options.clock ?? systemClock;
    this.#deviceId = options.deviceId;
    this.#limits = { messages: LIMITS.messages, documentBytes: LIMITS.documentBytes, ...options.limits };
  }

  /** Called after every change, local or from a peer, once it is saved. */
  onChange(listener: (id: DocId) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Check that `id` is a document id (32 hex digits) and return it; InvalidArgumentError otherwise. */
  static assertId(id: DocId): DocId {
    if (typeof id !== 'string' || !DOC_ID.test(id)) throw new InvalidArgumentError(`document id must be 32 hex digits, got ${JSON.stringify(id)}`);
    return id;
  }

  /** Ids of every stored document of `kind` (open or not). */
  async list(kind: DocumentKind): Promise<DocId[]> {
    const keys = await this.#storage.listKeys(['docs', kind]); // the names only: the chunks are read when opened
    return [...new Set(keys.map((k) => k[2]!))].filter((id) => DOC_ID.test(id));
  }

  /** Ids of the documents open in memory. */
  openIds(): DocId[] {
    return [...this.#open.keys()];
  }

  /** Whether the document is open in this store (loaded or created since it started). */
  has(id: DocId): boolean {
    return this.#open.has(id);
  }

  /** Create a new document with `initial` content; saved before this resolves. */
  async create<T extends object>(id: DocId, kind: DocumentKind, initial: T): Promise<A.Doc<T>> {
    DocumentStore.assertId(id);
    if (this.#open.has(id) || (await this.#storage.listKeys(['docs', kind, id])).length > 0) {
      throw new InvalidArgumentError(`document ${id} already exists`);
    }
    const doc = genesis(id, kind, initial as Record<string, unknown>);
    const problems = validate(kind, doc);
    if (problems.length > 0) throw new InvalidArgumentError(`invalid ${kind}: ${problems.join('; ')}`, { problems });
    const entry: Entry = { kind, doc, chunks: [], bytes: 0, incremental: 0, queue: Promise.resolve() };
    this.#open.set(id, entry);
    await this.#write(id, entry, A.save(doc), 'snapshot');
    return doc as A.Doc<T>;
  }

  /** Load (once) and return a document; throws NotFoundError, QuarantinedError or SchemaTooNewError. */
  async open<T>(id: DocId, kind: DocumentKind): Promise<A.Doc<T>> {
    DocumentStore.assertId(id);
    const open = this.#open.get(id);
    if (open) return open.doc as A.Doc<T>;
    const chunks = await this.#storage.loadRange(['docs', kind, id]);
    if (chunks.length === 0) throw new NotFoundError(`${kind} document`, id);
    let loaded: A.Doc<unknown>;
    try {
      // One snapshot (the usual case once compacted) loads in about half the time as a document of its own.
      const only = chunks.length === 1 && chunks[0]!.key[3] === 'snapshot' ? chunks[0]!.data : undefined;
      loaded = only ? A.load(only) : A.loadIncremental(A.init(), concatBytes(...chunks.map((c) => c.data)));
    } catch (err) {
      throw await this.#quarantine(kind, id, [`stored data does not load: ${(err as Error).message}`]);
    }
    const doc = migrate(kind, id, loaded);
    const problems = validate(kind, doc);
    if (problems.length > 0) throw await this.#quarantine(kind, id, problems);
    const entry: Entry = { kind, doc, chunks: chunks.map((c) => c.key), bytes: sumBytes(chunks), incremental: chunks.length - 1, queue: Promise.resolve() };
    this.#open.set(id, entry);
    // A migration made changes: persist them like any other change.
    if (doc !== loaded) await this.#write(id, entry, A.saveSince(doc, A.getHeads(loaded)), 'incremental');
    return doc as A.Doc<T>;
  }

  /** The open document (throws if it was not opened or created). */
  get<T>(id: DocId): A.Doc<T> {
    const entry = this.#open.get(id);
    if (!entry) throw new NotFoundError('open document', id);
    return entry.doc as A.Doc<T>;
  }

  /** The kind of an open document; NotFoundError when it is not open. */
  kindOf(id: DocId): DocumentKind {
    const entry = this.#open.get(id);
    if (!entry) throw new NotFoundError('open document', id);
    return entry.kind;
  }

  /**
   * Apply `fn` as one Automerge change, validate the result, save it, and only then resolve. An edit
   * that would make the document invalid is refused (InvalidArgumentError) and nothing is written.
   */
  async change<T>(id: DocId, fn: (doc: T) => void, message?: string): Promise<A.Doc<T>> {
    return this.#serialise(id, async (entry) => {
      const next = A.change(entry.doc as A.Doc<T>, message ? { message } : {}, fn as A.ChangeFn<T>);
      if (next === entry.doc) return next;
      const checked = this.#check(id, entry, next as A.Doc<unknown>);
      if (!('delta' in checked)) {
        await this.#rollback(id, entry);
        if (checked.error instanceof TooLargeError) throw checked.error;
        throw new InvalidArgumentError(`that edit would make the ${entry.kind} invalid: ${checked.problems.join('; ')}`, { problems: checked.problems });
      }
      await this.#commit(id, entry, next as A.Doc<unknown>, checked);
      return next;
    });
  }

  /**
   * Replace the document with `next`, a descendant of it produced elsewhere (the sync protocol, a
   * deposit) by the device `source` names; a contact unless said otherwise. Saved before it resolves.
   * Refused (accepted: false, the old document kept, nothing stored) if `next` would not validate,
   * would cross a limit, or does what `source` may not: a peer cannot make us store an invalid
   * document, nor edit ours. `saved`, asked after `produce`: the bytes `next` was loaded from when it
   * is exactly that document (a sync snapshot), stored as its snapshot instead of a delta.
   */
  async update(
    id: DocId,
    produce: (doc: A.Doc<unknown>) => A.Doc<unknown>,
    source: ChangeSource = { trust: 'contact' },
    saved?: () => Uint8Array | undefined,
  ): Promise<UpdateResult> {
    return this.#serialise(id, async (entry) => {
      const next = produce(entry.doc);
      if (next === entry.doc) return { accepted: true, problems: [] };
      if (sameHeads(A.getHeads(next), A.getHeads(entry.doc))) {
        // Nothing applied (maybe changes held back for missing dependencies): nothing to store, but
        // keep the new handle (the old one may be outdated) and wake the sync engines all the same.
        entry.doc = next;
        for (const l of this.#listeners) l(id);
        return { accepted: true, problems: [] };
      }
      const checked = this.#check(id, entry, next, source, saved?.());
      if (!('delta' in checked)) {
        await this.#rollback(id, entry);
        return { accepted: false, ...checked };
      }
      await this.#commit(id, entry, next, checked);
      return { accepted: true, problems: [] };
    });
  }

  /**
   * Everything a change must pass before any of it is stored (see the module comment). `source` is
   * undefined for a local change: this device may edit its documents as the schema allows.
   */
  #check(id: DocId, entry: Entry, next: A.Doc<unknown>, source?: ChangeSource, saved?: Uint8Array): Checked | { problems: string[]; error: BackchannelError } {
    const fromContact = source?.trust === 'contact';
    const refuse = (problems: string[]) => ({
      problems,
      error: source
        ? new ProtocolError(
            `Refused a change to ${entry.kind} ${id} from ${source.peer ? `device ${source.peer}` : 'another device'}: ${problems.slice(0, 3).join('; ')}`,
            { docId: id, problems },
          )
        : new InvalidArgumentError(`that edit would make the ${entry.kind} invalid: ${problems.join('; ')}`, { problems }),
    });
    const problems: string[] = [];
    let index: Checked['index'];
    let theirs: TheirKeys | undefined;
    let stale = false;
    if (entry.kind !== 'channel') {
      if (fromContact) return refuse([`a contact may not change a ${entry.kind} document`]);
      problems.push(...validate(entry.kind, next));
    } else {
      const effect = channelEffect(entry.doc, next);
      if (fromContact) problems.push(...effect.other.map((o) => `a contact may only add its own messages, but this change ${o}`));
      problems.push(...validate('channel', next, effect.edited && [...effect.inserted, ...effect.edited]));
      const messages = (next as { messages?: unknown[] }).messages ?? [];
      // A count, not bytes (TooLargeError speaks of bytes): an ordinary problem.
      if (messages.length > this.#limits.messages) problems.push(`${messages.length} messages, more than the limit of ${this.#limits.messages}`);
      const before = this.#index(entry);
      const ids = new Set<string>();
      let textBytes = before.textBytes;
      // A change that adds a notice (a set) or rewrites the list may change what the channel proves.
      stale = effect.edited?.length !== 0 || effect.inserted.some((i) => (messages[i] as { notice?: unknown } | undefined)?.notice !== undefined);
      // Read only when a message names another device than mine (one pass over the channel, as the change leaves it).
      const keys = () => (theirs ??= (!stale && this.#theirCache.get(id)) || this.#theirKeys(id, next));
      const inPeerSet = (peer: string, sender: string | undefined) => keys().theirs.has(peer) && sender !== undefined && keys().theirs.has(sender);
      // History from before signatures its writers vouched for (legacy notices): read only for an unsigned message that needs it.
      let history: Set<string> | undefined;
      const vouched = () =>
        (history ??= vouchedOnce(this.#vouchedCache, id, messages, (sender) => {
          const own = this.#ownKeys.get(sender);
          return own ? [own] : keys().theirs.get(sender);
        }));
      for (const i of effect.inserted) {
        const m = messages[i] as Record<string, unknown> | undefined;
        const mid = textOf(m?.id) ?? '';
        if (before.ids.has(mid) || ids.has(mid)) problems.push(`messages[${i}] reuses the id ${JSON.stringify(mid)}`);
        ids.add(mid);
        const sender = textOf(m?.sender);
        if (source && sender === this.#deviceId) problems.push(`messages[${i}] claims to be from this device`);
        else if (
          fromContact &&
          source.peer !== undefined &&
          sender !== source.peer &&
          !this.#ownDevices.has(source.peer) &&
          !this.#ownDevices.has(sender ?? '') &&
          !inPeerSet(source.peer, sender)
        )
          problems.push(`messages[${i}] was not written by the peer (sender ${JSON.stringify(sender)})`);
        else if (fromContact && m !== undefined && sender !== undefined && problems.length === 0) {
          // Who wrote it, by its signature (verified for new messages only: the old ones were, when they came).
          const mine = this.#ownKeys.get(sender);
          const verdict = checkSender(id, signedFieldsOf(m), {
            ...(mine === undefined ? { mine: new Map(), ...keys() } : { mine: new Map([[sender, mine]]), theirs: new Map() }),
            vouched,
          });
          if (verdict.verdict === 'refused') problems.push(`messages[${i}] ${verdict.problem}`);
        }
        textBytes += messageBytes(m);
      }
      if (problems.length === 0 && textBytes > this.#limits.documentBytes) {
        return { problems: ['its messages hold too much text'], error: new TooLargeError(`the text of channel ${id}`, textBytes, this.#limits.documentBytes) };
      }
      // Deletions and edits (local, or another own device) change what the index holds: rebuild it.
      if (effect.edited !== undefined && effect.edited.length === 0) index = { ids: new Set([...before.ids, ...ids]), textBytes };
    }
    if (problems.length > 0) return refuse(problems);
    if (saved) {
      if (saved.length > this.#limits.documentBytes)
        return { problems: ['the document is too large'], error: new TooLargeError(`${entry.kind} ${id}`, saved.length, this.#limits.documentBytes) };
      return { delta: saved, whole: true, index, theirs, stale };
    }
    const delta = A.saveSince(next, A.getHeads(entry.doc));
    if (entry.bytes + delta.length > this.#limits.documentBytes) {
      // The chunks overstate (they are compacted later): only the whole document, saved, counts.
      const size = A.save(next).length;
      if (size > this.#limits.documentBytes)
        return { problems: ['the document is too large'], error: new TooLargeError(`${entry.kind} ${id}`, size, this.#limits.documentBytes) };
    }
    return { delta, index, theirs, stale };
  }

  /** The ids and text size of a channel's messages, from one pass the first time they are needed. */
  #index(entry: Entry): { ids: Set<string>; textBytes: number } {
    if (!entry.index) {
      const messages = (entry.doc as { messages?: unknown[] }).messages ?? [];
      const ids = new Set<string>();
      let textBytes = 0;
      for (const m of messages) {
        const mid = textOf((m as { id?: unknown } | null)?.id);
        if (mid !== undefined) ids.add(mid);
        textBytes += messageBytes(m);
      }
      entry.index = { ids, textBytes };
    }
    return entry.index;
  }

  async #serialise<R>(id: DocId, fn: (entry: Entry) => Promise<R>): Promise<R> {
    const entry = this.#open.get(id);
    if (!entry) throw new NotFoundError('open document', id);
    const run = entry.queue.then(() => fn(entry));
    entry.queue = run.catch(() => {});
    return run;
  }

  async #commit(id: DocId, entry: Entry, next: A.Doc<unknown>, checked: Checked): Promise<void> {
    // Stored first, then seen. A failed write reloads what is stored: Automerge's old handle shares the
    // new change, and sync or the depot must never send what this device would lose on restart.
    try {
      if (checked.whole || entry.incremental + 1 >= this.#compactEvery) await this.#compact(id, entry, checked.whole ? checked.delta : A.save(next));
      else await this.#write(id, entry, checked.delta, 'incremental');
    } catch (err) {
      await this.#rollback(id, entry);
      throw err;
    }
    entry.doc = next;
    entry.index = checked.index;
    // What a channel proves is read over every channel of its card (a rotated card has several): a
    // notice in one changes the keys the others trust, so none of their cached keys stands.
    if (checked.stale) this.#theirCache.clear();
    if (checked.theirs) this.#theirCache.set(id, checked.theirs);
    for (const l of this.#listeners) l(id);
  }

  async #write(id: DocId, entry: Entry, data: Uint8Array, type: 'snapshot' | 'incremental'): Promise<void> {
    const key = ['docs', entry.kind, id, type, chunkName(data)];
    await this.#storage.save(key, data);
    entry.chunks.push(key);
    entry.bytes += data.length;
    if (type === 'incremental') entry.incremental++;
  }

  /**
   * Automerge documents move forward only (the old handle is outdated once changed), so refusing a
   * change means going back to what storage holds: nothing of the refused change was written.
   */
  async #rollback(id: DocId, entry: Entry): Promise<void> {
    const chunks = await this.#storage.loadRange(['docs', entry.kind, id]);
    entry.doc = A.loadIncremental(A.init(), concatBytes(...chunks.map((c) => c.data)));
    entry.chunks = chunks.map((c) => c.key);
    entry.bytes = sumBytes(chunks);
  }

  /** Write one snapshot of everything (`snapshot`: the whole document, saved), then delete the chunks it covers. */
  async #compact(id: DocId, entry: Entry, snapshot: Uint8Array): Promise<void> {
    const old = entry.chunks;
    const key = ['docs', entry.kind, id, 'snapshot', chunkName(snapshot)];
    await this.#storage.save(key, snapshot);
    // Stored: from here nothing fails the change. A chunk that will not go is covered by the snapshot
    // (loading both is the same document) and is tried again at the next compaction.
    const kept: string[][] = [];
    for (const k of old) {
      if (k.join('/') === key.join('/')) continue;
      await this.#storage.remove(k).catch(() => kept.push(k));
    }
    entry.chunks = [key, ...kept];
    entry.bytes = snapshot.length;
    entry.incremental = 0;
  }

  /** Move every chunk of `id` aside, untouched, and return the error to throw. */
  async #quarantine(kind: DocumentKind, id: DocId, problems: string[]): Promise<QuarantinedError> {
    const chunks = await this.#storage.loadRange(['docs', kind, id]);
    const base = ['quarantine', kind, id, String(this.#clock.now())];
    for (const c of chunks) await this.#storage.save([...base, ...c.key.slice(3)], c.data);
    for (const c of chunks) await this.#storage.remove(c.key);
    this.#open.delete(id);
    return new QuarantinedError(id, problems, base);
  }

  /** Delete a document and everything stored for it (its chunks; sync states are the caller's). */
  async remove(kind: DocumentKind, id: DocId): Promise<void> {
    DocumentStore.assertId(id);
    const entry = this.#open.get(id);
    if (entry) await entry.queue;
    // Storage first: if it fails, the document is still here, in memory as on disk.
    await this.#storage.removeRange(['docs', kind, id]);
    this.#open.delete(id);
    this.#theirCache.delete(id);
  }

  /** Forget in-memory state (tests simulate a crash with a fresh store on the same storage). */
  close(): void {
    this.#open.clear();
    this.#listeners.clear();
  }
}

/** Legacy notices whose verdicts {@link vouchedOnce} keeps; past this the oldest is forgotten first. */
const VOUCHED_CACHE_LIMIT = 4096;

/**
 * `vouchedHistory`, each legacy notice's signature checked once: a channel's notices are read again
 * for every change that brings an unsigned message, and each costs an Ed25519 check. The verdict (a
 * boolean: the digests are parsed again from the notice, cheaper than keeping up to a thousand of
 * them per notice) is kept by all it depends on — the channel, a digest of the notice's signed bytes,
 * its signature and the keys it was tried with — so an altered notice, or a sender's keys changed, is
 * checked anew.
 */
function vouchedOnce(
  cache: Map<string, boolean>,
  channel: DocId,
  messages: readonly unknown[],
  keysOf: (sender: string) => Iterable<string> | undefined,
): Set<string> {
  const out = new Set<string>();
  for (const value of messages) {
    const digests = legacyOf(textOf((value as { notice?: unknown } | null)?.notice));
    if (!digests?.length) continue;
    const m = signedFieldsOf(value);
    const keys = [...(keysOf(m.sender) ?? [])];
    const sig = signatureBytes(m.sig);
    if (keys.length === 0 || sig === undefined) continue;
    const key = [channel, toHex(sha256(messageSignatureBytes(channel, m))), toHex(sig), ...keys].join(':');
    let vouched = cache.get(key);
    if (vouched === undefined) {
      vouched = vouchedHistory(channel, [value], () => keys).size > 0;
      if (cache.size >= VOUCHED_CACHE_LIMIT) cache.delete(cache.keys().next().value!);
      cache.set(key, vouched);
    }
    if (vouched) for (const d of digests) out.add(`${m.sender}:${d}`);
  }
  return out;
}
