/**
 * The Automerge sync protocol (generateSyncMessage / receiveSyncMessage) for a set of documents over
 * one {@link Transport} to one peer. Work runs strictly one task at a time. What a peer sends is saved
 * (through the DocumentStore, validated) before the per-peer sync state is saved, and the sync state is
 * persisted under `['sync', docId, peerDeviceId]`, so a reconnect resumes where it stopped.
 *
 * What the peer may change is the document store's to decide, told who the peer is (a contact, by
 * default: it may only add its own messages to a channel). A refused change, a message over
 * {@link LIMITS}.syncMessageBytes, a message whose deflated changes unpack to more than
 * `maxUnpackedBytes` (measured before Automerge unpacks anything: sync/unpackBound.ts), or a backlog of
 * unapplied messages over {@link LIMITS}.syncQueueBytes (a peer that floods faster than we apply) ends
 * the sync with a typed error and closes the channel.
 *
 * With a peer that accepts bundles (frame type 5, announced in its features: sync/frame.ts,
 * sync/bundle.ts), the messages of several documents go together in one deflated bundle, and a first
 * sync of a document the peer has (almost) none of sends the document as one snapshot
 * (`Automerge.save`) instead of its changes one by one. The snapshot is measured before it is
 * unpacked and goes through the document store's checks like any change from the peer; with an older
 * peer everything stays as it was.
 * @module
 */
import * as A from '@automerge/automerge';
import type { Transport } from '../effects/transport.js';
import type { StorageAdapter } from '../effects/storage.js';
import { BackchannelError, TransportClosedError, ProtocolError, TooLargeError, toBackchannelError } from '../errors.js';
import type { DocId, DocumentStore } from '../db/documentStore.js';
import type { Trust } from '../db/peerRules.js';
import { LIMITS } from '../db/schema.js';
import { MAX_UNPACKED_BYTES, checkChangesUnpackedSize, checkUnpackedSize, syncMessageHeads } from './unpackBound.js';
import { type BundleEntry, decodeBundleBody, encodeBundleBody } from './bundle.js';
import {
  BUNDLE_FRAME,
  OPTIONAL_FRAME_TYPES,
  Reassembler,
  SYNC_SEQ_MODULUS,
  decodeFrame,
  encodeBundle,
  encodeError,
  encodeFeatures,
  encodeHello,
  encodeSync,
} from './frame.js';

/**
 * A first sync sends a snapshot instead of changes when the peer lacks at least this many of ours and
 * has at most an eighth of them (what it has is sent again: the snapshot holds everything).
 */
export const SNAPSHOT_MIN_CHANGES = 64;
/** Entries of one bundle together, at most (a larger one goes alone). */
const BUNDLE_BYTES = 1024 * 1024;

/** The number of entries in an Automerge bloom filter (its first uLEB field; empty: none). */
function bloomEntries(bloom: Uint8Array): number {
  let value = 0;
  for (let i = 0, shift = 1; i < bloom.length && i < 5; i++, shift *= 128) {
    value += (bloom[i]! & 0x7f) * shift;
    if (bloom[i]! < 0x80) return value;
  }
  return value;
}

/** What the document store says of a change from the peer: accepted, or refused with why. */
type Verdict = Awaited<ReturnType<DocumentStore['update']>>;

/** What the sync engine reports to its machine. */
export type EngineEvent =
  | { type: 'engine.hello'; peer: string }
  | { type: 'engine.busy' }
  | { type: 'engine.idle' }
  /** A message of the peer named `heads` of `docId`, all of which we have: it holds ours up to there, by live sync. */
  | { type: 'engine.shared'; docId: DocId; heads: string[] }
  | { type: 'engine.error'; error: BackchannelError }
  | { type: 'engine.closed'; reason: string };

/** What the sync engine takes. */
export interface SyncEngineOptions {
  docs: DocumentStore;
  storage: StorageAdapter;
  channel: Transport;
  /** Our device id (32 hex digits), sent in hello. */
  deviceId: string;
  /** The documents this channel syncs; each must be open in `docs`. */
  docIds: DocId[];
  /** Largest sync message we reassemble from a peer (default {@link LIMITS}.syncMessageBytes). */
  maxMessageBytes?: number;
  /** What one sync message from the peer may unpack to, checked before Automerge unpacks it (default {@link MAX_UNPACKED_BYTES}). */
  maxUnpackedBytes?: number;
  /** Bytes of received, not yet applied sync messages before the peer counts as flooding (default {@link LIMITS}.syncQueueBytes). */
  maxQueuedBytes?: number;
  /**
   * Who the peer is: a contact (the default), whose changes may only add its own messages to a
   * channel, or another device of this user, trusted with any valid change (db/peerRules.ts).
   */
  trust?: Trust;
  /**
   * The optional frame types this side accepts, announced after hello (default: every one this version
   * knows, i.e. file frames, for the file session beside it). `[]` announces nothing, as a peer from
   * before features did. See src/sync/frame.ts.
   */
  features?: readonly number[];
  /** Where the engine reports: the peer's hello, busy/idle as changes flow, and errors (the sync machine passes its `sendBack`). */
  emit(event: EngineEvent): void;
}

export function syncStateKey(docId: DocId, peer: string): string[] {
  return ['sync', docId, peer];
}

/** Starts the engine; returns a stop function (persists sync states, detaches from the channel). */
export function startSyncEngine(options: SyncEngineOptions): () => void {
  const { docs, storage, channel, emit } = options;
  const docIds = new Set(options.docIds);
  const reassembler = new Reassembler(options.maxMessageBytes ?? LIMITS.syncMessageBytes);
  const maxQueued = options.maxQueuedBytes ?? LIMITS.syncQueueBytes;
  const trust = options.trust ?? 'contact';
  let queued = 0; // bytes of received sync messages waiting for their turn
  const states = new Map<DocId, A.SyncState>();
  const quiet = new Set<DocId>(); // docs whose last generateSyncMessage returned nothing
  let peer: string | undefined;
  let seq = 0;
  let queue: Promise<void> = Promise.resolve();
  let pending = 0;
  let stopped = false;
  let busy = false;
  const accepts = new Set(options.features ?? OPTIONAL_FRAME_TYPES);
  /** The optional frame types the peer said it accepts. */
  const peerAccepts = new Set<number>();
  /** Entries waiting for the next bundle (only with a peer that accepts bundles). */
  let outbox: BundleEntry[] = [];
  let drainQueued = false;
  /** Documents we sent a snapshot of: nothing more of them is sent until the peer answers it. */
  const snapshotSent = new Set<DocId>();
  const answering = new Set<DocId>();

  const setBusy = (value: boolean) => {
    if (busy === value) return;
    busy = value;
    emit({ type: value ? 'engine.busy' : 'engine.idle' });
  };

  /** The peer's heads it last named, per document (each message names them). */
  const named = new Map<DocId, string>();

  /**
   * A message from the peer names its heads: once we have them all, the peer has at least that much of
   * ours. Read as it arrives, before it waits its turn: the channel may close before its turn comes
   * (the peer answered and left), and what the peer has is known all the same.
   */
  const peerHas = (docId: DocId, message: Uint8Array) => {
    let heads: string[];
    try {
      heads = syncMessageHeads(message);
    } catch {
      return; // malformed: its turn will fail it
    }
    if (heads.length === 0 || named.get(docId) === heads.join() || !A.hasHeads(docs.get(docId), heads)) return;
    named.set(docId, heads.join());
    emit({ type: 'engine.shared', docId, heads });
  };

  /** The heads each of a bundle's sync entries names (a snapshot entry is answered by sync messages). */
  const peerHasBundle = (entries: readonly BundleEntry[]) => {
    for (const e of entries) if (e.kind === 'sync' && docIds.has(e.docId)) peerHas(e.docId, e.data);
  };

  /**
   * A bundle is decoded once, as it arrives: its heads are read then, and its entries wait for their
   * turn. One that cannot be read keeps its error, for its turn to fail with (after what came before).
   */
  const readBundle = (body: Uint8Array): BundleEntry[] | Error => {
    try {
      return decodeBundleBody(body, options.maxMessageBytes ?? LIMITS.syncMessageBytes);
    } catch (err) {
      return err as Error;
    }
  };

  const fail = (error: BackchannelError) => {
    if (stopped) return;
    emit({ type: 'engine.error', error });
    channel.send(encodeError(error.message)).catch(() => {});
    stop();
    channel.close(error.message);
  };

  const run = (task: () => Promise<void>) => {
    pending++;
    setBusy(true);
    queue = queue
      .then(() => (stopped ? undefined : task()))
      .catch((err: unknown) => {
        if (err instanceof TransportClosedError) return;
        fail(toBackchannelError(err, (message) => new ProtocolError(`sync failed: ${message}`)));
      })
      .finally(() => {
        pending--;
        if (pending === 0 && quiet.size === docIds.size) setBusy(false);
      });
  };

  const sendMessage = async (frames: (seq: number) => Uint8Array[]) => {
    const numbered = frames(seq);
    seq = (seq + 1) % SYNC_SEQ_MODULUS;
    for (const frame of numbered) await channel.send(frame);
  };

  /** The outbox's next bundle (as much as {@link BUNDLE_BYTES} allows), taken out of it. */
  const nextBundle = () => {
    let size = 0;
    let n = 0;
    while (n < outbox.length && (n === 0 || size + outbox[n]!.data.length <= BUNDLE_BYTES)) size += outbox[n++]!.data.length;
    const body = encodeBundleBody(outbox.slice(0, n));
    outbox = outbox.slice(n);
    return (s: number) => encodeBundle(s, body, channel.maxFrameBytes);
  };

  /** Send what waits in the outbox, as few bundles as {@link BUNDLE_BYTES} allows. */
  const drain = async () => {
    drainQueued = false;
    while (outbox.length > 0) await sendMessage(nextBundle());
  };

  /** Queue an entry for the next bundle, which leaves once the tasks queued before it have run. */
  const post = (entry: BundleEntry) => {
    outbox.push(entry);
    if (drainQueued) return;
    drainQueued = true;
    run(drain);
  };

  const flush = async (docId: DocId) => {
    if (!peer) return;
    if (snapshotSent.has(docId)) return; // the peer's answer to the snapshot comes first
    const [state, message] = A.generateSyncMessage(docs.get(docId), states.get(docId) ?? A.initSyncState());
    states.set(docId, state);
    if (!message) {
      quiet.add(docId);
      return;
    }
    quiet.delete(docId);
    if (peerAccepts.has(BUNDLE_FRAME)) return post({ kind: 'sync', docId, data: message });
    await sendMessage((s) => encodeSync(docId, s, message, channel.maxFrameBytes));
  };

  /**
   * On the peer's first message of a first sync (it names no shared heads, and has nothing we lack):
   * whether it lacks so much of the document that one snapshot beats the changes one by one.
   */
  const wantsSnapshot = (docId: DocId, message: A.DecodedSyncMessage): boolean => {
    if (!peerAccepts.has(BUNDLE_FRAME) || answering.has(docId)) return false;
    const have = message.have[0];
    if (message.changes.length > 0 || message.need.length > 0 || message.have.length !== 1 || have!.lastSync.length > 0) return false;
    const doc = docs.get(docId);
    if (!A.hasHeads(doc, message.heads)) return false;
    const ours = A.stats(doc).numChanges;
    const theirs = bloomEntries(have!.bloom);
    return ours - theirs >= SNAPSHOT_MIN_CHANGES && theirs * 8 <= ours;
  };

  /** The store's verdict on what the peer sent: refused, the sync ends; accepted, its new sync state is kept and saved. */
  const accept = async (docId: DocId, result: Verdict, after: A.SyncState) => {
    if (!result.accepted) throw result.error;
    states.set(docId, after);
    quiet.delete(docId);
    await storage.save(syncStateKey(docId, peer!), A.encodeSyncState(after));
  };

  const receive = async (docId: DocId, message: Uint8Array) => {
    // Deflated changes are measured as they inflate, before Automerge would unpack them whole.
    const decoded = checkUnpackedSize(message, options.maxUnpackedBytes ?? MAX_UNPACKED_BYTES);
    // The peer's answer to our snapshot names what it now shares with us; what it sent before (it
    // asking for our heads, not knowing the snapshot was coming) must not make us send the changes too.
    if (decoded.have.some((h) => h.lastSync.length > 0)) snapshotSent.delete(docId);
    const snapshot = wantsSnapshot(docId, decoded);
    answering.add(docId); // a snapshot only ever answers the peer's first message on this channel
    const before = states.get(docId) ?? A.initSyncState();
    let after = before;
    let result: Verdict;
    try {
      result = await docs.update(
        docId,
        (doc) => {
          const [next, state] = A.receiveSyncMessage(doc, before, message);
          after = state;
          return next;
        },
        { trust, peer },
      );
    } catch (err) {
      throw toBackchannelError(err, (message) => new ProtocolError(`malformed sync message for ${docId}: ${message}`));
    }
    await accept(docId, result, after);
    if (snapshot) {
      snapshotSent.add(docId);
      post({ kind: 'snapshot', docId, data: A.save(docs.get(docId)) });
      return;
    }
    await flush(docId);
  };

  /**
   * A snapshot from the peer: measured before it is unpacked, merged into ours through the document
   * store's checks (as any change from the peer), then the sync state says the peer has what it sent.
   */
  const receiveSnapshot = async (docId: DocId, snapshot: Uint8Array) => {
    checkChangesUnpackedSize(snapshot, options.maxUnpackedBytes ?? MAX_UNPACKED_BYTES);
    const before = states.get(docId) ?? A.initSyncState();
    let after = before;
    let whole = false; // the snapshot is all there is: stored as it came, not saved again
    let result: Verdict;
    try {
      result = await docs.update(
        docId,
        (doc) => {
          const loaded = A.load(snapshot);
          const heads = A.getHeads(loaded);
          // We now share the snapshot's heads with the peer. Only that is kept (the state as persisted,
          // decoded afresh): so our next message names them as shared, with a bloom of only what we have
          // since, and it is sent even though our heads are the peer's (the peer waits for it).
          const told = A.encodeSyncMessage({ heads, need: [], have: [{ lastSync: heads, bloom: new Uint8Array(0) }], changes: [] });
          const [withState, state] = A.receiveSyncMessage(loaded, before, told);
          after = A.decodeSyncState(A.encodeSyncState(state));
          const next = A.merge(withState, doc);
          whole = A.getHeads(next).join() === heads.join();
          return next;
        },
        { trust, peer },
        () => (whole ? snapshot : undefined),
      );
    } catch (err) {
      throw toBackchannelError(err, (message) => new ProtocolError(`malformed snapshot for ${docId}: ${message}`));
    }
    await accept(docId, result, after);
    await flush(docId);
  };

  /** A bundle from the peer: each entry in turn, as if it had come alone. */
  const receiveBundle = async (bundle: BundleEntry[] | Error) => {
    if (bundle instanceof Error) throw bundle;
    const entries = bundle;
    for (const e of entries) if (!docIds.has(e.docId)) throw new ProtocolError(`the peer offered a document this channel does not carry: ${e.docId}`);
    for (const e of entries) {
      if (stopped) return;
      if (e.kind === 'sync') await receive(e.docId, e.data);
      else await receiveSnapshot(e.docId, e.data);
    }
  };

  const onFrame = (bytes: Uint8Array) => {
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      return fail(err as BackchannelError);
    }
    // File frames are the file session's (src/files/session.ts); features are read there too; a frame
    // type we do not know is a later version's, sent only if we had announced it: ignored either way.
    if (frame.type === 'file' || frame.type === 'unknown') return;
    if (frame.type === 'error') return fail(new ProtocolError(`the peer gave up: ${frame.reason}`));
    if (frame.type === 'hello') {
      if (peer !== undefined) return fail(new ProtocolError('a second hello on one channel'));
      const who = frame.deviceId;
      // A peer speaking as this device could then add messages in our name.
      if (who === options.deviceId) return fail(new ProtocolError('the peer said hello with this device’s own id'));
      peer = who;
      run(async () => {
        for (const id of docIds) {
          const saved = await storage.load(syncStateKey(id, who));
          states.set(id, saved ? A.decodeSyncState(saved) : A.initSyncState());
        }
        emit({ type: 'engine.hello', peer: who });
        for (const id of docIds) await flush(id);
      });
      return;
    }
    if (peer === undefined) return fail(new ProtocolError('sync data before hello'));
    if (frame.type === 'features') {
      for (const t of frame.accepts) peerAccepts.add(t);
      return;
    }
    if (frame.type === 'bundle' && !accepts.has(BUNDLE_FRAME)) return; // not announced: as an unknown type
    if (frame.type === 'sync' && !docIds.has(frame.docId))
      return fail(new ProtocolError(`the peer offered a document this channel does not carry: ${frame.docId}`));
    let message: Uint8Array | undefined;
    try {
      message = reassembler.push(frame);
    } catch (err) {
      return fail(err as BackchannelError);
    }
    if (message) {
      const { docId, type } = frame;
      const m = message;
      const bundle = type === 'bundle' ? readBundle(m) : undefined;
      // What waits holds the message, and a deflated bundle its entries inflated too (a plain one's are
      // views of the message). Each also costs its task: a flood of tiny ones is bounded too.
      const entryBytes = Array.isArray(bundle) ? bundle.reduce((n, e) => n + e.data.length, 0) : 0;
      const cost = m.length + (entryBytes > m.length ? entryBytes : 0) + 1024;
      if (queued + cost > maxQueued) return fail(new TooLargeError('the backlog of unapplied sync messages from the peer', queued + cost, maxQueued));
      queued += cost;
      if (Array.isArray(bundle)) peerHasBundle(bundle);
      else if (bundle === undefined) peerHas(docId, m);
      run(async () => {
        queued -= cost;
        await (bundle === undefined ? receive(docId, m) : receiveBundle(bundle));
      });
    }
  };

  const offFrame = channel.on('message', onFrame);
  const offClose = channel.on('close', (reason) => {
    stop();
    emit({ type: 'engine.closed', reason });
  });
  const offChange = docs.onChange((id) => {
    if (docIds.has(id)) run(() => flush(id));
  });

  function stop(): void {
    if (stopped) return;
    stopped = true;
    // What waits for the next bundle goes now, best effort: an answer tells the peer what we have (a
    // contact that removed us forgets us on seeing its notice here, with no deposit to wait for).
    while (outbox.length > 0) for (const frame of nextBundle()(seq++ % SYNC_SEQ_MODULUS)) channel.send(frame).catch(() => {});
    offFrame();
    offClose();
    offChange();
    const who = peer;
    if (who) for (const [id, state] of states) void storage.save(syncStateKey(id, who), A.encodeSyncState(state)).catch(() => {});
  }

  const features = [...accepts];
  run(async () => {
    await channel.send(encodeHello(options.deviceId));
    // Right after hello, before any sync frame: a peer that sees a sync frame first knows we have none.
    const first = options.docIds[0];
    if (features.length > 0 && first !== undefined) await channel.send(encodeFeatures(first, features));
  });
  return stop;
}
