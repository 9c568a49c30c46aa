/**
 * File transfers with one peer over one {@link Transport}, beside SYNC on the same channel (file
 * frames: files/wire.ts). The receiver pulls: for every file the peer's messages name and we have not
 * got, it asks from the bytes it has stored (a resume after a cut or a restart), stores each chunk as it
 * fills (files/chunkStore.ts), hashes as it goes and acknowledges what is stored. The sender streams a
 * file it shared in this channel, never more than {@link FILE_WINDOW_BYTES} beyond the last
 * acknowledgement, each frame awaiting the transport's backpressure, so chat frames keep their turn.
 *
 * Bounds: what a peer can make us hold is a window per transfer (data beyond its credit, beyond the
 * announced size or out of order ends that transfer); at most {@link MAX_FETCHING} files in and
 * {@link MAX_SERVING} out at once (more wait their turn). A file over the size limit is refused before a
 * byte is stored. A finished file whose hash is not the announced one is discarded (FileCorruptError).
 * Either refusal is owed to the contact as a notice (files/refusal.ts), besides the `stop` frame.
 * @module
 */
import type { Transport } from '../effects/transport.js';
import type { DocId, DocumentStore } from '../db/documentStore.js';
import type { FileRef } from '../db/schema.js';
import {
  AbortedError,
  BackchannelError,
  FileCorruptError,
  FileTooLargeError,
  NotFoundError,
  ProtocolError,
  TransportClosedError,
  toBackchannelError,
} from '../errors.js';
import { FILE_FRAME, decodeFrame } from '../sync/frame.js';
import { systemClock, type Clock } from '../effects/clock.js';
import { createHasher, receivingKey, storedBytes, type ChunkStore, type FileMeta } from './chunkStore.js';
import { refusalOf, toldIn, type FileRefusal } from './refusal.js';
import { channelFiles } from './refs.js';
import { toHex } from '../crypto/bytes.js';
import {
  FILE_DATA_BYTES,
  FILE_FRAME_BYTES,
  FILE_WINDOW_BYTES,
  decodeFileFrame,
  encodeAck,
  encodeData,
  encodeStop,
  encodeWant,
  type FileFrame,
  type StopReason,
} from './wire.js';

export const MAX_FETCHING = 4;
export const MAX_SERVING = 4;
/**
 * A transfer under way and nothing at all from the peer for this long: the channel is dead (a direct
 * data channel can outlive the device on the other end by minutes), so the session closes it and the
 * link reconnects; the transfer resumes on the next channel.
 */
export const FILE_STALL_MS = 20_000;

/** Which way a file moves: `in` from the contact, `out` to them. */
export type Direction = 'in' | 'out';

/** What a session tells its owner (the contact link, then the app). */
export type FileEvent =
  | { type: 'file.progress'; hash: string; direction: Direction; done: number; total: number }
  /** In: stored and verified. Out: the peer stored and verified every byte. */
  | { type: 'file.done'; hash: string; direction: Direction; total: number }
  /**
   * `notify`: in, this device refused the file (too large, corrupt), by the relay's depot or a live
   * session alike: the app writes it into the channel as a notice (files/refusal.ts), so the sender's
   * transfer reads failed there too, after a restart as well (a `stop` frame is heard once, and only live).
   */
  | { type: 'file.failed'; hash: string; direction: Direction; error: BackchannelError; notify?: FileRefusal }
  /**
   * Out: the file waits, and `reason` says why. On this device (`route` 'device', the default): the
   * contact's app announced no file support (an older version; told once per file and connection), or
   * the relay's depot would not keep it; it goes once the contact's device takes it. On the relay
   * (`route` 'relay': sealed in its depot for the contact, `depot/`).
   */
  | { type: 'file.waiting'; hash: string; direction: 'out'; total: number; reason: string; route?: FileRoute };

/** Where a file for a contact who is away waits: on this device, or sealed in the relay's depot. */
export type FileRoute = 'device' | 'relay';

export interface FileSessionOptions {
  channel: Transport;
  store: ChunkStore;
  docs: DocumentStore;
  channelId: DocId;
  deviceId: string;
  /** Files larger than this are refused (Settings' `file_size_limit`). */
  maxFileBytes: number;
  emit(event: FileEvent): void;
  windowBytes?: number;
  /** See {@link FILE_STALL_MS}. */
  stallMs?: number;
  /** The watchdog's timers: the app's injected clock (only its timers are used; XState's clock has no `now`). */
  clock?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
}

export interface FileSession {
  /** Stop this file here and tell the peer (the app marks it cancelled in storage and tells the host: nothing is emitted here). */
  cancel(hash: string): void;
  stop(): void;
  /** Resolves once the saves under way when the session stopped are done. */
  idle(): Promise<void>;
  /** Resolves once every look at the channel's files, save, hash check and settlement under way (and any they lead to) has finished. */
  settled(): Promise<void>;
}

interface Fetch {
  ref: FileRef;
  meta: FileMeta;
  hasher: Awaited<ReturnType<typeof createHasher>>;
  /** The next byte we expect, and the chunk being filled. */
  next: number;
  buffer: Uint8Array;
  filled: number;
  /** Saves run in order. */
  writes: Promise<void>;
  ended: boolean;
}

interface Serve {
  hash: string;
  /** The file's size, once read (-1 before). */
  total: number;
  acked: number;
  ended: boolean;
  wake?: () => void;
  /** Bytes out so far, as `fileStatus` reads them while this runs (`ChunkStore.sending`). */
  progress: { done: number; total: number };
}

/** The typed error a peer's stop frame stands for. */
function stopError(hash: string, reason: StopReason, detail: string, size: number): BackchannelError {
  switch (reason) {
    case 'cancelled':
      return new AbortedError(`The contact cancelled the file ${hash.slice(0, 16)}….`);
    case 'too-large':
      return new FileTooLargeError(size, Number(/\d+/.exec(detail)?.[0] ?? 0), { hash });
    case 'corrupt':
      return new FileCorruptError(hash, `the contact found it damaged: ${detail}`);
    case 'unknown':
      return new NotFoundError('file at the contact', hash);
    default:
      return new ProtocolError(`the contact gave up on the file: ${detail}`);
  }
}

export function startFileSession(options: FileSessionOptions): FileSession {
  const { channel, store, docs, channelId, deviceId, emit } = options;
  const window = options.windowBytes ?? FILE_WINDOW_BYTES;
  const fetching = new Map<string, Fetch>();
  const serving = new Map<string, Serve>();
  const waitingToServe = new Map<string, number>();
  /** Sent in full, waiting for the receiver's final ack (it comes once the hash checked out). */
  const finishing = new Map<string, Serve>();
  /** Work under way (writes, hash checks, settlements), for `settled()`. */
  const underWay = new Set<Promise<unknown>>();
  function track<T>(work: Promise<T>): Promise<T> {
    underWay.add(work);
    const done = () => void underWay.delete(work);
    work.then(done, done);
    return work;
  }
  /** Files this session will not try again (complete, failed, cancelled). */
  const settled = new Set<string>();
  let stopped = false;
  /**
   * Whether the peer takes file frames: it said so in its features, or sent one (a version from before
   * features); `none` once its sync frames began without a word of them. Until `files`, we send none.
   */
  let peerFiles: 'unknown' | 'files' | 'none' = 'unknown';
  /** Our files the host was told wait for a contact without file support. */
  const toldWaiting = new Set<string>();
  let scans: Promise<void> = Promise.resolve();
  const clock = options.clock ?? systemClock;
  const stallMs = options.stallMs ?? FILE_STALL_MS;
  const tickMs = stallMs / 4;
  /** Watchdog ticks in a row with nothing from the peer. */
  let silentTicks = 0;
  let watchdog: unknown;
  /** While a transfer is under way, look now and then whether the peer still answers. */
  const watch = () => {
    if (watchdog !== undefined || stopped) return;
    watchdog = clock.setTimeout(() => {
      watchdog = undefined;
      if (stopped) return;
      const busy = fetching.size > 0 || serving.size > 0 || finishing.size > 0;
      if (!busy) return void (silentTicks = 0);
      if (++silentTicks * tickMs >= stallMs) return channel.close(`the contact sent nothing for ${stallMs} ms during a file transfer`);
      watch();
    }, tickMs);
  };

  /** The peer's device id, from its SYNC hello: a contact's linked devices are each a peer, each serving only its own files. */
  let peerDevice: string | undefined;
  const files = () => channelFiles(docs.has(channelId) ? (docs.get<{ messages?: unknown[] }>(channelId).messages ?? []) : [], deviceId, peerDevice);
  /** The refusal the contact is owed for `error`, unless a device of mine wrote its notice in the channel already. */
  const owed = (hash: string, error: BackchannelError): FileRefusal | undefined => {
    const messages = docs.has(channelId) ? (docs.get<{ messages?: { sender?: unknown; notice?: unknown }[] }>(channelId).messages ?? []) : [];
    return toldIn(messages, hash, (sender) => sender === deviceId || docs.isOwnDevice(sender)) ? undefined : refusalOf(hash, error);
  };
  const send = (frame: Uint8Array) => {
    if (stopped) return Promise.resolve();
    return channel.send(frame).catch((err: unknown) => {
      if (!(err instanceof TransportClosedError)) throw err;
    });
  };
  const sendSoon = (frame: Uint8Array) => void send(frame).catch(() => {});

  // ---- receiving -------------------------------------------------------------------------------

  let scanQueued = false;
  /** Messages seen at the last look: a change that adds none names no new file. */
  let lastCount = -1;
  const messageCount = () => (docs.has(channelId) ? (docs.get<{ messages?: unknown[] }>(channelId).messages?.length ?? 0) : 0);
  const scan = (onlyIfNew = false) => {
    if (scanQueued || (onlyIfNew && messageCount() === lastCount)) return;
    scanQueued = true;
    // A storage failure while looking: the next change or connection looks again.
    scans = scans
      .then(() => {
        scanQueued = false;
        lastCount = messageCount();
        return fetchMore();
      })
      .catch(() => {});
  };

  async function fetchMore(): Promise<void> {
    if (peerFiles !== 'files') return;
    for (const ref of files().theirs.values()) {
      if (stopped || fetching.size >= MAX_FETCHING) return;
      if (fetching.has(ref.hash) || settled.has(ref.hash)) continue;
      const meta = await store.received(ref.hash, channelId);
      if (meta && meta.state !== 'partial') {
        settled.add(ref.hash);
        continue;
      }
      if (ref.size > options.maxFileBytes) {
        settled.add(ref.hash);
        const error = new FileTooLargeError(ref.size, options.maxFileBytes, { filename: ref.filename, hash: ref.hash });
        const notify = owed(ref.hash, error);
        await store.settleCopy(ref.hash, channelId, 'failed', error, ref.size, notify);
        sendSoon(encodeStop(ref.hash, 'too-large', String(options.maxFileBytes)));
        emit({ type: 'file.failed', hash: ref.hash, direction: 'in', error, ...(notify ? { notify } : {}) });
        continue;
      }
      // Ours from here: the depot leaves this contact's chunks alone; `begin` runs after any chunk it is storing.
      const receiving = receivingKey(ref.hash, channelId);
      store.receiving.add(receiving);
      const begun = await store.begin(ref.hash, ref.size, channelId);
      if (begun.state !== 'partial') {
        store.receiving.delete(receiving);
        settled.add(ref.hash);
        continue;
      }
      // A resume: the hash so far is of what this contact's copy holds.
      const hasher = await createHasher();
      for await (const chunk of store.chunks(ref.hash, 0, channelId)) hasher.update(chunk);
      if (stopped) return void store.receiving.delete(receiving);
      const f: Fetch = {
        ref,
        meta: begun,
        hasher,
        next: storedBytes(begun),
        buffer: new Uint8Array(begun.chunkBytes),
        filled: 0,
        writes: Promise.resolve(),
        ended: false,
      };
      fetching.set(ref.hash, f);
      watch();
      // Asked even when every byte is here (an empty file, a restart after the last chunk): the
      // sender then waits for the final ack that tells it the file arrived.
      await send(encodeWant(ref.hash, f.next));
      if (f.next === begun.size) f.writes = track(f.writes.then(() => finish(f)));
    }
  }

  /** This transfer ends here: `discard` for good (its chunks go), else it resumes on the next connection. */
  function endFetch(f: Fetch, error: BackchannelError | undefined, discard?: { state: 'failed' | 'cancelled'; tell?: StopReason }): void {
    if (f.ended) return;
    f.ended = true;
    fetching.delete(f.ref.hash);
    const hash = f.ref.hash;
    store.receiving.delete(receivingKey(hash, channelId));
    if (discard) {
      settled.add(hash);
      if (discard.tell) sendSoon(encodeStop(hash, discard.tell, error?.message ?? ''));
      // Our refusal (its bytes were not the file): the stop tells the session, the notice tells the contact for good.
      const notify = discard.tell === 'corrupt' && error ? owed(hash, error) : undefined;
      // This contact's copy only: another contact sending the same file goes on.
      void track(
        f.writes
          .then(() => store.settleCopy(hash, channelId, discard.state, error ?? new AbortedError(), f.ref.size, notify))
          .catch(() => {})
          .then(() => error && emit({ type: 'file.failed', hash, direction: 'in', error, ...(notify ? { notify } : {}) })),
      );
    } else if (error && !stopped) emit({ type: 'file.failed', hash, direction: 'in', error });
    if (!stopped) scan();
  }

  async function finish(f: Fetch): Promise<void> {
    const actual = f.hasher.hex();
    if (actual !== f.ref.hash)
      return endFetch(f, new FileCorruptError(f.ref.hash, `its bytes hash to ${actual.slice(0, 16)}…`), { state: 'failed', tell: 'corrupt' });
    await store.complete(f.ref.hash, channelId);
    f.ended = true;
    fetching.delete(f.ref.hash);
    store.receiving.delete(receivingKey(f.ref.hash, channelId));
    settled.add(f.ref.hash);
    sendSoon(encodeAck(f.ref.hash, f.ref.size));
    emit({ type: 'file.done', hash: f.ref.hash, direction: 'in', total: f.ref.size });
    scan();
  }

  function onData(frame: Extract<FileFrame, { kind: 'data' }>): void {
    const f = fetching.get(frame.hash);
    if (!f) return; // late frames of a transfer that ended here
    const { size } = f.ref;
    if (frame.offset !== f.next) return endFetch(f, new ProtocolError(`file data at ${frame.offset}, expected ${f.next}`), { state: 'failed', tell: 'failed' });
    if (f.next + frame.bytes.length > size) {
      return endFetch(f, new ProtocolError(`the contact sent more than the ${size} bytes its message announced`), { state: 'failed', tell: 'failed' });
    }
    if (f.next + frame.bytes.length - storedBytes(f.meta) > window + FILE_FRAME_BYTES) {
      return endFetch(f, new ProtocolError('the contact sent file data beyond its credit'), { state: 'failed', tell: 'failed' });
    }
    let bytes = frame.bytes;
    while (bytes.length > 0) {
      const n = Math.min(bytes.length, f.buffer.length - f.filled);
      f.buffer.set(bytes.subarray(0, n), f.filled);
      f.filled += n;
      f.next += n;
      bytes = bytes.subarray(n);
      if (f.filled === f.buffer.length || f.next === size) {
        const chunk = f.buffer.subarray(0, f.filled);
        f.buffer = new Uint8Array(f.meta.chunkBytes);
        f.filled = 0;
        const last = f.next === size;
        const index = Math.ceil(f.next / f.meta.chunkBytes) - 1;
        f.writes = track(
          f.writes.then(async () => {
            if (f.ended) return;
            try {
              f.meta = await store.append(f.ref.hash, channelId, index, chunk);
            } catch (err) {
              // Storage refused (or the file was cancelled meanwhile): stop; a resume starts from what is stored.
              return endFetch(f, err instanceof AbortedError ? undefined : toBackchannelError(err));
            }
            f.hasher.update(chunk);
            const done = storedBytes(f.meta);
            emit({ type: 'file.progress', hash: f.ref.hash, direction: 'in', done, total: size });
            if (last) return finish(f);
            await send(encodeAck(f.ref.hash, done));
          }),
        );
      }
    }
  }

  // ---- sending ---------------------------------------------------------------------------------

  function pump(): void {
    while (!stopped && serving.size < MAX_SERVING && waitingToServe.size > 0) {
      const [hash, from] = waitingToServe.entries().next().value as [string, number];
      waitingToServe.delete(hash);
      const s: Serve = { hash, total: -1, acked: from, ended: false, progress: { done: from, total: 0 } };
      serving.set(hash, s);
      watch();
      void serve(s, from).catch((err: unknown) => {
        if (!s.ended && !stopped) emit({ type: 'file.failed', hash, direction: 'out', error: toBackchannelError(err) });
        endServe(s);
      });
    }
  }

  function endServe(s: Serve): void {
    s.ended = true;
    if (store.sending.get(s.hash) === s.progress) store.sending.delete(s.hash);
    s.wake?.();
    if (serving.get(s.hash) === s) serving.delete(s.hash);
    pump();
  }

  async function serve(s: Serve, from: number): Promise<void> {
    const meta = await store.meta(s.hash);
    if (!files().mine.has(s.hash) || meta?.state !== 'complete') {
      await send(encodeStop(s.hash, meta?.state === 'cancelled' ? 'cancelled' : 'unknown'));
      return endServe(s);
    }
    s.total = meta.size;
    s.progress.done = from;
    s.progress.total = meta.size;
    if (!s.ended && !stopped) store.sending.set(s.hash, s.progress); // `fileStatus` reads it as progress, not waiting
    if (from > meta.size) {
      await send(encodeStop(s.hash, 'failed', `no byte ${from} in ${meta.size}`));
      return endServe(s);
    }
    let offset = from;
    for await (const chunk of store.chunks(s.hash, from)) {
      for (let at = 0; at < chunk.length; at += FILE_DATA_BYTES) {
        while (!s.ended && !stopped && offset >= s.acked + window) await new Promise<void>((resolve) => (s.wake = resolve));
        if (s.ended || stopped) return;
        const piece = chunk.subarray(at, at + FILE_DATA_BYTES);
        await channel.send(encodeData(s.hash, offset, piece));
        offset += piece.length;
      }
      s.progress.done = offset;
      emit({ type: 'file.progress', hash: s.hash, direction: 'out', done: offset, total: s.total });
    }
    // Every byte is out: the slot is free for another file; `done` comes with the final ack.
    if (serving.get(s.hash) === s) serving.delete(s.hash);
    if (!s.ended) finishing.set(s.hash, s);
    maybeDone(s); // the final ack may have come already (an empty file)
    pump();
  }

  function maybeDone(s: Serve): void {
    if (s.ended || s.total < 0 || s.acked !== s.total || !finishing.has(s.hash)) return;
    s.ended = true;
    finishing.delete(s.hash);
    if (store.sending.get(s.hash) === s.progress) store.sending.delete(s.hash);
    void track(store.delivered(s.hash, channelId).catch(() => {})); // queued before the host hears it: a status read after sees it
    emit({ type: 'file.done', hash: s.hash, direction: 'out', total: s.total });
  }

  function onAck(frame: Extract<FileFrame, { kind: 'ack' }>): void {
    const s = [...serving.values(), ...finishing.values()].find((x) => x.hash === frame.hash);
    if (!s) return;
    s.acked = Math.max(s.acked, frame.stored);
    s.wake?.();
    maybeDone(s);
  }
  function onWant(frame: Extract<FileFrame, { kind: 'want' }>): void {
    const running = serving.get(frame.hash) ?? finishing.get(frame.hash);
    if (running) endServe(running); // asked again (from elsewhere): the old stream stops
    finishing.delete(frame.hash);
    waitingToServe.set(frame.hash, frame.from);
    pump();
  }

  function onStop(frame: Extract<FileFrame, { kind: 'stop' }>): void {
    const out = serving.get(frame.hash) ?? finishing.get(frame.hash);
    if (out) {
      finishing.delete(frame.hash);
      endServe(out);
      emit({ type: 'file.failed', hash: frame.hash, direction: 'out', error: stopError(frame.hash, frame.reason, frame.detail, out.total) });
    }
    waitingToServe.delete(frame.hash);
    // Refused before it was ever asked for (over the receiver's limit): the sender hears it too.
    if (!out && frame.reason === 'too-large' && files().mine.has(frame.hash)) {
      const size = files().mine.get(frame.hash)!.size;
      emit({ type: 'file.failed', hash: frame.hash, direction: 'out', error: stopError(frame.hash, frame.reason, frame.detail, size) });
    }
    const f = fetching.get(frame.hash);
    if (f) {
      const error = stopError(frame.hash, frame.reason, frame.detail, f.ref.size);
      endFetch(f, error, { state: frame.reason === 'cancelled' ? 'cancelled' : 'failed' });
    }
  }

  /** The peer cannot take files: every file we sent in this channel waits, and the host hears it. */
  const tellWaiting = () => {
    scans = scans
      .then(async () => {
        for (const ref of files().mine.values()) {
          if (stopped || toldWaiting.has(ref.hash)) continue;
          toldWaiting.add(ref.hash);
          if ((await store.meta(ref.hash))?.state !== 'complete') continue; // cancelled or gone here
          const reason = 'the contact’s app does not take files yet: the file waits on this device';
          emit({ type: 'file.waiting', hash: ref.hash, direction: 'out', total: ref.size, reason });
        }
      })
      .catch(() => {});
  };
  /** Reads the peer's SYNC frames only for what they say about file support (src/sync/frame.ts). */
  const noteSync = (bytes: Uint8Array) => {
    if (peerFiles === 'files') return;
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch {
      return; // SYNC's to judge
    }
    if (frame.type === 'features' && frame.accepts.includes(FILE_FRAME)) {
      peerFiles = 'files';
      scan();
    } else if (peerFiles === 'unknown' && (frame.type === 'features' || frame.type === 'sync')) {
      peerFiles = 'none';
      tellWaiting();
    }
  };

  const onFrame = (bytes: Uint8Array) => {
    silentTicks = 0;
    if (bytes[0] !== 1) return;
    if (bytes[1] === 1 && bytes.length === 18) peerDevice = toHex(bytes.subarray(2));
    if (bytes[1] === 2) return noteSync(bytes);
    if (bytes[1] !== FILE_FRAME) return;
    if (peerFiles !== 'files') {
      // It speaks files (a version from before features): from now on, so do we.
      peerFiles = 'files';
      scan();
    }
    let frame: FileFrame;
    try {
      frame = decodeFileFrame(bytes.subarray(2));
    } catch {
      return; // a malformed file frame stops nothing else; the transfer it meant times out of credit
    }
    if (frame.kind === 'data') onData(frame);
    else if (frame.kind === 'ack') onAck(frame);
    else if (frame.kind === 'want') onWant(frame);
    else onStop(frame);
  };

  const offFrame = channel.on('message', onFrame);
  const offClose = channel.on('close', () => stop());
  const offChange = docs.onChange((id) => {
    if (id !== channelId) return;
    if (peerFiles === 'none') tellWaiting();
    scan(true);
  });
  scan();

  function stop(): void {
    if (stopped) return;
    stopped = true;
    offFrame();
    offClose();
    offChange();
    if (watchdog !== undefined) clock.clearTimeout(watchdog);
    for (const s of [...serving.values(), ...finishing.values()]) endServe(s);
    for (const f of fetching.values()) {
      f.ended = true;
      store.receiving.delete(receivingKey(f.ref.hash, channelId));
      pendingWrites.push(f.writes);
    }
    fetching.clear();
  }
  const pendingWrites: Promise<void>[] = [];

  return {
    cancel(hash: string): void {
      // The host hears this side's `failed` from the app (whether or not a transfer ran); the peer from our stop.
      const f = fetching.get(hash);
      if (f) endFetch(f, undefined, { state: 'cancelled', tell: 'cancelled' });
      const s = serving.get(hash) ?? finishing.get(hash);
      if (s) {
        finishing.delete(hash);
        endServe(s);
        sendSoon(encodeStop(hash, 'cancelled'));
      }
      waitingToServe.delete(hash);
      settled.add(hash);
    },
    stop,
    idle: () => Promise.all(pendingWrites).then(() => {}),
    async settled(): Promise<void> {
      await scans;
      while (underWay.size > 0) await Promise.allSettled([...underWay]);
    },
  };
}
