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
 * @module
 */
import * as A from '@automerge/automerge';
import type { Transport } from '../effects/transport.js';
import type { StorageAdapter } from '../effects/storage.js';
import { BackchannelError, TransportClosedError, ProtocolError, TooLargeError, toBackchannelError } from '../errors.js';
import type { DocId, DocumentStore } from '../db/documentStore.js';
import type { Trust } from '../db/peerRules.js';
import { LIMITS } from '../db/schema.js';
import { MAX_UNPACKED_BYTES, checkUnpackedSize } from './unpackBound.js';
import { OPTIONAL_FRAME_TYPES, Reassembler, SYNC_SEQ_MODULUS, decodeFrame, encodeError, encodeFeatures, encodeHello, encodeSync } from './frame.js';

/** What the sync engine reports to its machine. */
export type EngineEvent =
  | { type: 'engine.hello'; peer: string }
  | { type: 'engine.busy' }
  | { type: 'engine.idle' }
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

  const setBusy = (value: boolean) => {
    if (busy === value) return;
    busy = value;
    emit({ type: value ? 'engine.busy' : 'engine.idle' });
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

  const flush = async (docId: DocId) => {
    if (!peer) return;
    const [state, message] = A.generateSyncMessage(docs.get(docId), states.get(docId) ?? A.initSyncState());
    states.set(docId, state);
    if (!message) {
      quiet.add(docId);
      return;
    }
    quiet.delete(docId);
    const frames = encodeSync(docId, seq, message, channel.maxFrameBytes);
    seq = (seq + 1) % SYNC_SEQ_MODULUS;
    for (const frame of frames) await channel.send(frame);
  };

  const receive = async (docId: DocId, message: Uint8Array) => {
    // Deflated changes are measured as they inflate, before Automerge would unpack them whole.
    checkUnpackedSize(message, options.maxUnpackedBytes ?? MAX_UNPACKED_BYTES);
    const before = states.get(docId) ?? A.initSyncState();
    let after = before;
    let result: Awaited<ReturnType<DocumentStore['update']>>;
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
    if (!result.accepted) throw result.error;
    states.set(docId, after);
    quiet.delete(docId);
    await storage.save(syncStateKey(docId, peer!), A.encodeSyncState(after));
    await flush(docId);
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
    if (frame.type === 'features') return;
    if (!docIds.has(frame.docId)) return fail(new ProtocolError(`the peer offered a document this channel does not carry: ${frame.docId}`));
    let message: Uint8Array | undefined;
    try {
      message = reassembler.push(frame);
    } catch (err) {
      return fail(err as BackchannelError);
    }
    if (message) {
      const docId = frame.docId;
      const m = message;
      // Each message also costs its task: a flood of tiny ones is bounded too.
      const cost = m.length + 1024;
      if (queued + cost > maxQueued) return fail(new TooLargeError('the backlog of unapplied sync messages from the peer', queued + cost, maxQueued));
      queued += cost;
      run(async () => {
        queued -= cost;
        await receive(docId, m);
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
    offFrame();
    offClose();
    offChange();
    const who = peer;
    if (who) for (const [id, state] of states) void storage.save(syncStateKey(id, who), A.encodeSyncState(state)).catch(() => {});
  }

  const features = options.features ?? OPTIONAL_FRAME_TYPES;
  run(async () => {
    await channel.send(encodeHello(options.deviceId));
    // Right after hello, before any sync frame: a peer that sees a sync frame first knows we have none.
    const first = options.docIds[0];
    if (features.length > 0 && first !== undefined) await channel.send(encodeFeatures(first, features));
  });
  return stop;
}
