/**
 * The transit client (magic-wormhole transit.py, relay hints only): connect to every transit relay at
 * once, say `please relay <token> for side <side>`, wait for `ok`, exchange the sender / receiver
 * handshakes, and let the sender pick one connection with `go` (the others get `nevermind`). The
 * winner carries records ({@link RecordSealer}, {@link RecordOpener}).
 * @module
 */
import { constantTimeEqual, fromUtf8, toHex, utf8 } from '../crypto/bytes.js';
import type { ByteStream, ByteStreamAddress, ByteStreamConnector } from '../effects/byteStream.js';
import { systemClock, type Clock } from '../effects/clock.js';
import type { RandomBytes } from '../effects/random.js';
import { AbortedError, ConnectionLostError, ProtocolError, TimeoutError, TransportClosedError } from '../errors.js';
import { formatTransitHelper } from './transitHints.js';
import { recordKeys, relayHandshake, transitHandshake, type TransitRole } from './transitKeys.js';
import { RecordOpener, RecordSealer } from './transitRecords.js';

/** The largest record plaintext we accept (the real tools send 16 KiB–64 KiB records). */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;
/** How long connecting and negotiating may take in all (transit.py: 2 × 60 s). */
export const TRANSIT_TIMEOUT_MS = 120_000;

const GO = utf8('go\n');
const OK = utf8('ok\n');
const NEVERMIND = utf8('nevermind\n');

/** Reads exact byte counts from a stream, keeping what arrives past them. */
class ExactReader {
  #held = new Uint8Array(0);
  constructor(readonly stream: ByteStream) {}

  async read(length: number): Promise<Uint8Array> {
    while (this.#held.length < length) {
      const chunk = await this.stream.read();
      if (chunk === undefined) throw new TransportClosedError('the transit connection closed during the handshake');
      const joined = new Uint8Array(this.#held.length + chunk.length);
      joined.set(this.#held);
      joined.set(chunk, this.#held.length);
      this.#held = joined;
    }
    const out = this.#held.slice(0, length);
    this.#held = this.#held.slice(length);
    return out;
  }

  /** What arrived after the handshake: the first record bytes. */
  rest(): Uint8Array {
    const rest = this.#held;
    this.#held = new Uint8Array(0);
    return rest;
  }
}

/** An established transit connection: sealed records both ways. */
export class TransitPipe {
  readonly #stream: ByteStream;
  readonly #sealer: RecordSealer;
  readonly #opener: RecordOpener;
  readonly #records: Uint8Array[] = [];
  /** Where it goes: `tcp:host:port` of the relay. */
  readonly via: string;

  constructor(stream: ByteStream, keys: { send: Uint8Array; receive: Uint8Array }, via: string, early: Uint8Array, maxRecordBytes = MAX_RECORD_BYTES) {
    this.#stream = stream;
    this.#sealer = new RecordSealer(keys.send);
    this.#opener = new RecordOpener(keys.receive, maxRecordBytes);
    this.via = via;
    if (early.length > 0) this.#records.push(...this.#opener.push(early));
  }

  /** Seal and send one record; resolves when the stream takes more. */
  sendRecord(plaintext: Uint8Array): Promise<void> {
    return this.#stream.write(this.#sealer.seal(plaintext));
  }

  /** The next record's plaintext; a closed connection is a {@link TransportClosedError}. */
  async receiveRecord(): Promise<Uint8Array> {
    while (this.#records.length === 0) {
      const chunk = await this.#stream.read();
      if (chunk === undefined) throw new TransportClosedError('the transit connection closed');
      this.#records.push(...this.#opener.push(chunk));
    }
    return this.#records.shift()!;
  }

  /** Close the underlying stream (after what was sent is flushed). */
  close(): void {
    this.#stream.close();
  }
}

/** What {@link connectTransit} needs: our role, the transit key, the relays to try and how to reach them. */
export interface ConnectTransitOptions {
  role: TransitRole;
  /** {@link deriveTransitKey} of the wormhole key. */
  transitKey: Uint8Array;
  /** Transit relays to try, ours and the peer's, each once (as `sendFile` and `receive` merge them). */
  relays: readonly ByteStreamAddress[];
  connector: ByteStreamConnector;
  randomBytes: RandomBytes;
  signal?: AbortSignal;
  clock?: Clock;
  timeoutMs?: number;
  maxRecordBytes?: number;
}

/** Connect through the first relay where both sides meet; the others are dropped. */
export async function connectTransit(options: ConnectTransitOptions): Promise<TransitPipe> {
  const { role, transitKey, connector, relays } = options;
  if (relays.length === 0) throw new ConnectionLostError('No transit relay to connect through: give one (--transit-helper tcp:HOST:PORT).');
  if (options.signal?.aborted) throw new AbortedError(undefined, options.signal.reason);
  const clock = options.clock ?? systemClock;
  const side = toHex(options.randomBytes(8));
  const ours = transitHandshake(transitKey, role);
  const theirs = transitHandshake(transitKey, role === 'sender' ? 'receiver' : 'sender');
  const all = new AbortController();
  const streams = new Set<ByteStream>();
  let winner: ByteStream | undefined;

  async function attempt(relay: ByteStreamAddress): Promise<TransitPipe> {
    const stream = await connector(relay, all.signal);
    if (all.signal.aborted) {
      stream.close();
      throw new AbortedError();
    }
    streams.add(stream);
    const reader = new ExactReader(stream);
    await stream.write(relayHandshake(transitKey, side));
    const ok = await reader.read(OK.length);
    if (!constantTimeEqual(ok, OK)) throw new ProtocolError(`the transit relay ${formatTransitHelper(relay)} refused: ${JSON.stringify(fromUtf8(ok))}…`);
    await stream.write(ours);
    if (!constantTimeEqual(await reader.read(theirs.length), theirs)) throw new ProtocolError('bad transit handshake: the peer holds another key');
    if (role === 'sender') {
      if (winner) {
        await stream.write(NEVERMIND);
        throw new AbortedError('another transit connection won');
      }
      winner = stream;
      await stream.write(GO);
    } else {
      if (!constantTimeEqual(await reader.read(GO.length), GO)) throw new ProtocolError('the sender did not choose this transit connection');
      if (winner) throw new AbortedError('another transit connection won');
      winner = stream;
    }
    return new TransitPipe(stream, recordKeys(transitKey, role), formatTransitHelper(relay), reader.rest(), options.maxRecordBytes);
  }

  const timeoutMs = options.timeoutMs ?? TRANSIT_TIMEOUT_MS;
  const onAbort = () => all.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: unknown;
  const timedOut = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => reject(new TimeoutError(`No transit connection within ${timeoutMs} ms.`, { phase: 'transit', ms: timeoutMs })), timeoutMs);
  });
  const aborted = new Promise<never>((_, reject) =>
    all.signal.addEventListener('abort', () => reject(new AbortedError(undefined, all.signal.reason)), { once: true }),
  );
  timedOut.catch(() => {});
  aborted.catch(() => {});
  try {
    const attempts = relays.map((r) => attempt(r));
    const first = firstSuccess(attempts, (errors) => {
      const why = errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
      return new ConnectionLostError(`Could not connect through any transit relay (${relays.map(formatTransitHelper).join(', ')}): ${why}`);
    });
    return await Promise.race([first, timedOut, aborted]);
  } finally {
    clock.clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    if (!all.signal.aborted) all.abort();
    for (const s of streams) if (s !== winner) s.close();
    if (winner === undefined) for (const s of streams) s.close();
  }
}

/** The first promise to fulfil; if all reject, `fail(reasons)`. Later results are ignored. */
function firstSuccess<T>(promises: Promise<T>[], fail: (errors: unknown[]) => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const errors: unknown[] = [];
    for (const p of promises) {
      p.then(resolve, (err: unknown) => {
        errors.push(err);
        if (errors.length === promises.length) reject(fail(errors));
      });
    }
  });
}
