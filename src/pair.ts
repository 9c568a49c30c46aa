/**
 * VERIFY for Backchannel: pair two people with a one-time code and end with a 32-byte contact key.
 *
 * On top of the wormhole exchange, each side sends one sealed `{"paired": …}` message after it has
 * verified the key, and resolves only when the other's arrives: both sides then know that both hold
 * the key, and the code is spent (the nameplate was released, the mailbox closes "happy"). The steps
 * are `pairingMachine`'s (machines/pairingMachine.ts); this is its promise API.
 * @module
 */
import { createActor, type InspectionEvent } from 'xstate';
import { systemClock, type Clock } from './effects/clock.js';
import { cryptoRandomBytes, type RandomBytes } from './effects/random.js';
import type { SocketConnector } from './effects/socket.js';
import { AbortedError, InvalidArgumentError, toBackchannelError } from './errors.js';
import { parseCode } from './code/code.js';
import { observers, type InspectOption } from './inspect.js';
import { pairingMachine, type PairingStep } from './machines/pairingMachine.js';
import type { WormholeTimeouts } from './machines/wormholeMachine.js';
import { BACKCHANNEL_APPID } from './wormhole/appid.js';

export type { PairingStep } from './machines/pairingMachine.js';

export { BACKCHANNEL_APPID };

/** What `createPairing` takes: the mailbox relay, the socket connector and optional effects. */
export interface PairingOptions {
  /** Mailbox relay URL, `ws://host:port/v1`. */
  relay: string;
  connector: SocketConnector;
  randomBytes?: RandomBytes;
  clock?: Clock;
  timeouts?: Partial<WormholeTimeouts>;
  /** Watch the pairing and its wormhole in a Stately inspector (redacted, see docs/inspector.md). */
  inspect?: InspectOption;
  /** The event journal's observer (`Journal.observe`). */
  journal?: (event: InspectionEvent) => void;
  /** Override the appid, e.g. to keep test traffic apart. */
  appid?: string;
}

/** Options every long call takes: an `AbortSignal` to cancel it. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Options of `invite` and `accept`: cancellation and progress. */
export interface PairingCallOptions extends CallOptions {
  /** Called on each step of the pairing (connecting, waiting, verifying, confirming). */
  onProgress?: (step: PairingStep) => void;
}

/** What a pairing ends with: the shared contact key and the verifier to compare. */
export interface PairResult {
  /** The 32-byte contact key: the secret both sides now share. Store it sealed. */
  contactKey: Uint8Array;
  /** A short string both people can compare, e.g. `3a7f-09c2-51be-d410`. Equal on both sides. */
  verifier: string;
  /** The code that was used; spent now. */
  code: string;
}

/** What `invite()` resolves with: the code to show, and the pairing that completes when the other side types it. */
export interface Invitation {
  /** Show this to the other person; they type it into `accept`. */
  code: string;
  /** Resolves when they have accepted and both sides verified the key. */
  done: Promise<PairResult>;
  /** Give up on this invitation (closes the mailbox "lonely"). */
  cancel(): void;
}

/** A code is valid for at least this long when an invite renews it (`refreshMs`). */
export const MIN_INVITE_REFRESH_MS = 1_000;

/** Options of `createPairing`'s `invite`: those of every call, and renewing the code. */
export interface PairingInviteOptions extends PairingCallOptions {
  /**
   * Replace the code with a new one every `refreshMs` (on the pairing's clock) while nobody has answered
   * it; the old code's nameplate is released, and whoever types it then fails with CodeExpiredError.
   * Once someone answers, that pairing runs to its end. Default: one code.
   */
  refreshMs?: number;
  /** Every code this invite shows: the first (also `invite()`'s `code`) and each renewal. */
  onCode?: (code: string) => void;
}

/** Pairing alone (VERIFY), made by `createPairing`: `invite()` and `accept(code)`. */
export interface Pairing {
  /** Allocate a code to show the other person; the pairing completes when they accept it. */
  invite(options?: PairingInviteOptions): Promise<Invitation>;
  /** Redeem the code the other person shows; resolves once both sides verified the shared key. */
  accept(code: string, options?: PairingCallOptions): Promise<PairResult>;
}

/** Run one pairing machine: its code (when it knows one), its result, and the way to cancel it. */
function runPairing(options: PairingOptions, call: PairingCallOptions, caller: string, code?: string) {
  if (call.signal?.aborted) throw new AbortedError(undefined, call.signal.reason);
  const actor = createActor(pairingMachine, {
    input: {
      appid: options.appid ?? BACKCHANNEL_APPID,
      url: options.relay,
      connector: options.connector,
      randomBytes: options.randomBytes ?? cryptoRandomBytes,
      timeouts: options.timeouts,
      code,
    },
    ...(options.clock ? { clock: options.clock } : {}),
    inspect: observers(options),
  });
  const cancel = (reason?: unknown) => actor.send({ type: 'CANCEL', reason });
  const onAbort = () => cancel(call.signal?.reason);
  call.signal?.addEventListener('abort', onAbort, { once: true });
  if (call.onProgress) actor.on('pairing.progress', (e) => call.onProgress!(e.step));
  const done = new Promise<PairResult>((resolve, reject) => {
    actor.subscribe({
      complete: () => {
        call.signal?.removeEventListener('abort', onAbort);
        const out = actor.getSnapshot().output!;
        if (out.error) {
          out.error.caller = caller;
          reject(out.error);
        } else resolve({ contactKey: out.contactKey!, verifier: out.verifier!, code: out.code! });
      },
      error: (err) => reject(toBackchannelError(err)),
    });
  });
  done.catch(() => {});
  const known = new Promise<string>((resolve, reject) => {
    actor.on('pairing.code', (e) => resolve(e.code));
    done.then(() => {}, reject); // it ended before a code: the same error
  });
  known.catch(() => {});
  actor.start();
  return { code: known, done, cancel };
}

/**
 * An invite whose code is renewed every `refreshMs` while nobody answered it: each period the pairing
 * still `waiting` is cancelled (its nameplate released) and another starts; the one answered runs on.
 */
async function renewingInvite(options: PairingOptions, call: PairingCallOptions, refreshMs: number, onCode?: (code: string) => void): Promise<Invitation> {
  const clock = options.clock ?? systemClock;
  let settle!: { resolve: (r: PairResult) => void; reject: (e: unknown) => void };
  const done = new Promise<PairResult>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => {});
  let current: ReturnType<typeof runPairing> | undefined;
  let step: PairingStep = 'connecting';
  let timer: unknown;
  let over = false;
  let cancelled = false;
  const replaced = new Set<ReturnType<typeof runPairing>>();
  const end = (fn: () => void) => {
    if (over) return;
    over = true;
    clock.clearTimeout(timer);
    fn();
  };
  const start = async (): Promise<string> => {
    step = 'connecting';
    const run = runPairing(options, { ...call, onProgress: (next) => ((step = next), call.onProgress?.(next)) }, 'pair.invite');
    current = run;
    run.done.then(
      (result) => end(() => settle.resolve(result)),
      (error: unknown) => replaced.has(run) || end(() => settle.reject(error)),
    );
    const code = await run.code;
    timer = clock.setTimeout(() => void renew(run), refreshMs);
    onCode?.(code);
    return code;
  };
  const renew = async (run: ReturnType<typeof runPairing>) => {
    // Someone typed this code: the pairing under way runs to its end.
    if (over || run !== current || step !== 'waiting') return;
    replaced.add(run);
    run.cancel('refresh');
    await run.done.catch(() => {});
    if (cancelled) return end(() => settle.reject(new AbortedError()));
    if (!over) await start().catch((error: unknown) => end(() => settle.reject(error)));
  };
  const code = await start();
  const cancel = () => {
    cancelled = true;
    clock.clearTimeout(timer);
    // Between two codes the next one is not started; otherwise the pairing under way ends cancelled.
    if (current && !replaced.has(current)) current.cancel();
  };
  return { code, done, cancel };
}

/**
 * @example
 * const pair = createPairing({ relay: 'ws://127.0.0.1:4000/v1', connector: nodeSocketConnector() });
 * const { code, done } = await pair.invite();     // show `code`
 * const { contactKey, verifier } = await done;     // the other side ran pair.accept(code)
 */
export function createPairing(options: PairingOptions): Pairing {
  if (!options || typeof options !== 'object') throw new InvalidArgumentError('createPairing expects an options object');
  if (typeof options.relay !== 'string' || !/^wss?:\/\//.test(options.relay)) {
    throw new InvalidArgumentError(`"relay" must be a ws:// or wss:// URL, got ${JSON.stringify(options.relay)}`);
  }
  if (typeof options.connector !== 'function') throw new InvalidArgumentError('"connector" is required (see @backchannel/sdk/adapters/node)');
  return {
    async invite(call = {}) {
      const { refreshMs, onCode, ...rest } = call;
      if (refreshMs !== undefined && !(Number.isSafeInteger(refreshMs) && refreshMs >= MIN_INVITE_REFRESH_MS)) {
        throw new InvalidArgumentError(`refreshMs must be a whole number of milliseconds, at least ${MIN_INVITE_REFRESH_MS}; got ${String(refreshMs)}`);
      }
      if (refreshMs === undefined) {
        const run = runPairing(options, rest, 'pair.invite');
        const code = await run.code;
        onCode?.(code);
        return { code, done: run.done, cancel: () => run.cancel() };
      }
      return renewingInvite(options, rest, refreshMs, onCode);
    },
    async accept(input, call = {}) {
      const code = parseCode(input, { words: 2 }).text;
      return runPairing(options, call, 'pair.accept', code).done;
    },
  };
}
