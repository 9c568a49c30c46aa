/**
 * A promise-shaped handle on one {@link wormholeMachine} actor, like magic-wormhole's `create()`:
 * `code`, `verified`, `send`, `nextMessage`, `close`. Every promise rejects with the typed error the
 * machine ended with; an AbortSignal cancels the whole exchange.
 * @module
 */
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import { observers, type InspectOption } from '../inspect.js';
import { fromUtf8, utf8 } from '../crypto/bytes.js';
import type { Clock } from '../effects/clock.js';
import { cryptoRandomBytes, type RandomBytes } from '../effects/random.js';
import type { SocketConnector } from '../effects/socket.js';
import { AbortedError, ClosedError, InvalidArgumentError, ProtocolError, toBackchannelError } from '../errors.js';
import { wormholeMachine, type WormholeOutput, type WormholeTimeouts } from '../machines/wormholeMachine.js';
import type { Mood } from './messages.js';

/** What a wormhole connection takes: the relay, app id, connector and optional effects. */
export interface WormholeOptions {
  /** Mailbox server URL, `ws://host:port/v1`. */
  relay: string;
  appid: string;
  connector: SocketConnector;
  /** A code to join; omit to allocate one (read it from {@link Wormhole.code}). */
  code?: string;
  codeWords?: number;
  randomBytes?: RandomBytes;
  clock?: Clock;
  signal?: AbortSignal;
  timeouts?: Partial<WormholeTimeouts>;
  appVersions?: Record<string, unknown>;
  /**
   * Receives XState inspection events, with keys, codes and plaintexts redacted: pass
   * `createBrowserInspector().inspect` (from @statelyai/inspect) to watch the machine. See docs/inspector.md.
   */
  inspect?: InspectOption;
  /** The event journal's observer (`Journal.observe`): sees events unredacted and seals them itself. */
  journal?: (event: InspectionEvent) => void;
}

/** What a wormhole resolves with once the key is confirmed: the verifier. */
export interface Verified {
  /** The 32-byte PAKE key. Derive what you keep from it; never store it as is. */
  key: Uint8Array;
  /** derive_key(key, "wormhole:verifier"): compare out of band to rule out a man in the middle. */
  verifier: Uint8Array;
  /** The peer's `app_versions`. */
  versions: Record<string, unknown>;
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // observed through the public getters; never an unhandled rejection
  return { promise, resolve, reject };
}

/** A magic-wormhole connection (the `wormhole` machine behind a promise API). */
export class Wormhole {
  /** Private: the handle's methods are the only way in (watch it with `inspect`). */
  readonly #actor: Actor<typeof wormholeMachine>;
  readonly #code = deferred<string>();
  readonly #verified = deferred<Verified>();
  readonly #done = deferred<WormholeOutput>();
  readonly #messages: Uint8Array[] = [];
  readonly #waiters: { resolve: (m: Uint8Array) => void; reject: (e: unknown) => void }[] = [];
  #ended: WormholeOutput | undefined;
  #onAbort: (() => void) | undefined;

  constructor(options: WormholeOptions) {
    if (typeof options.relay !== 'string' || !/^wss?:\/\//.test(options.relay)) {
      throw new InvalidArgumentError(`"relay" must be a ws:// or wss:// URL, got ${JSON.stringify(options.relay)}`);
    }
    if (typeof options.connector !== 'function') throw new InvalidArgumentError('"connector" is required (see @backchannel/sdk/adapters/node)');
    const signal = options.signal;
    if (signal?.aborted) throw new AbortedError(undefined, signal.reason);
    this.#actor = createActor(wormholeMachine, {
      input: {
        appid: options.appid,
        url: options.relay,
        connector: options.connector,
        randomBytes: options.randomBytes ?? cryptoRandomBytes,
        code: options.code,
        codeWords: options.codeWords,
        appVersions: options.appVersions,
        timeouts: options.timeouts,
      },
      ...(options.clock ? { clock: options.clock } : {}),
      inspect: observers(options),
    });
    if (options.code) this.#code.resolve(options.code);
    this.#actor.on('code', (e) => this.#code.resolve(e.code));
    this.#actor.on('verified', (e) => this.#verified.resolve({ key: e.key, verifier: e.verifier, versions: e.versions }));
    this.#actor.on('message', (e) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(e.plaintext);
      else this.#messages.push(e.plaintext);
    });
    this.#actor.subscribe({
      complete: () => this.#finish(this.#actor.getSnapshot().output!),
      error: (err) => this.#finish({ mood: 'errory', error: toBackchannelError(err, 'PROTOCOL') }),
    });
    if (signal) {
      this.#onAbort = () => this.#actor.send({ type: 'ABORT', reason: signal.reason });
      signal.addEventListener('abort', this.#onAbort, { once: true });
      const detach = () => signal.removeEventListener('abort', this.#onAbort!);
      this.#done.promise.then(detach, detach);
    }
    this.#actor.start();
  }

  #finish(output: WormholeOutput): void {
    if (this.#ended) return;
    this.#ended = output;
    const error = output.error ?? new ClosedError('The wormhole closed before this completed.');
    this.#code.reject(error);
    this.#verified.reject(error);
    for (const w of this.#waiters.splice(0)) w.reject(error);
    if (output.error) this.#done.reject(output.error);
    else this.#done.resolve(output);
  }

  /** The code, known at once when joining, or once the server allocates a nameplate. */
  get code(): Promise<string> {
    return this.#code.promise;
  }

  /** Resolves when the other side proved it holds the same key (its first message decrypted). */
  get verified(): Promise<Verified> {
    return this.#verified.promise;
  }

  /** Resolves with the final mood when closed cleanly; rejects with the error that ended it. */
  get done(): Promise<WormholeOutput> {
    return this.#done.promise;
  }

  /** Send bytes, or a JSON value, as the next numbered phase. Queued until the key is known. */
  send(data: Uint8Array | Record<string, unknown>): void {
    if (this.#ended) throw this.#ended.error ?? new ClosedError();
    const plaintext = data instanceof Uint8Array ? data : utf8(JSON.stringify(data));
    this.#actor.send({ type: 'SEND', plaintext });
  }

  /** The next message from the other side, in order. */
  nextMessage(): Promise<Uint8Array> {
    const queued = this.#messages.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#ended) return Promise.reject(this.#ended.error ?? new ClosedError());
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** The next message parsed as JSON; a message that is not JSON is a {@link ProtocolError}. */
  async nextJson<T = unknown>(): Promise<T> {
    const bytes = await this.nextMessage();
    try {
      return JSON.parse(fromUtf8(bytes)) as T;
    } catch {
      throw new ProtocolError(`The other side sent a message that is not JSON (${bytes.length} bytes).`);
    }
  }

  /** Close the mailbox with `mood` (default: happy once verified, lonely before) and wait for the server. */
  async close(mood?: Mood): Promise<WormholeOutput> {
    if (!this.#ended) this.#actor.send({ type: 'CLOSE', mood });
    return this.#done.promise;
  }
}
