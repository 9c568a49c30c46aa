/**
 * VERIFY for Backchannel: pair two people with a one-time code and end with a 32-byte contact key.
 *
 * On top of the wormhole exchange, each side sends one sealed `{"paired": …}` message after it has
 * verified the key, and resolves only when the other's arrives: both sides then know that both hold
 * the key, and the code is spent (the nameplate was released, the mailbox closes "happy").
 * @module
 */
import { formatVerifier, deriveContactKey } from './crypto/keys.js';
import type { Clock } from './effects/clock.js';
import type { RandomBytes } from './effects/random.js';
import type { SocketConnector } from './effects/socket.js';
import { BackchannelError, InvalidArgumentError, ProtocolError } from './errors.js';
import { parseCode } from './code/code.js';
import type { WormholeTimeouts } from './machines/wormholeMachine.js';
import { Wormhole, type WormholeOptions } from './wormhole/wormhole.js';

/** The appid Backchannel pairs under; a wormhole client on another appid never meets ours. */
export const BACKCHANNEL_APPID = 'backchannel.dev/pair/v1';

export interface PairingOptions {
  /** Mailbox relay URL, `ws://host:port/v1`. */
  relay: string;
  connector: SocketConnector;
  randomBytes?: RandomBytes;
  clock?: Clock;
  timeouts?: Partial<WormholeTimeouts>;
  inspect?: WormholeOptions['inspect'];
  journal?: WormholeOptions['journal'];
  /** Override the appid, e.g. to keep test traffic apart. */
  appid?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/**
 * Where a pairing is, for a progress display: `connecting` to the relay, `waiting` for the other
 * person (the code is out), `verifying` (both SPAKE2 messages are in; the key is being confirmed),
 * `confirming` (the key is proven; both sides acknowledge the pairing).
 */
export type PairingPhase = 'connecting' | 'waiting' | 'verifying' | 'confirming';

export interface PairingCallOptions extends CallOptions {
  onProgress?: (phase: PairingPhase) => void;
}

export interface PairResult {
  /** The 32-byte contact key: the secret both sides now share. Store it sealed. */
  contactKey: Uint8Array;
  /** A short string both people can compare, e.g. `3a7f-09c2-51be-d410`. Equal on both sides. */
  verifier: string;
  /** The code that was used; spent now. */
  code: string;
}

export interface Invitation {
  /** Show this to the other person; they type it into `accept`. */
  code: string;
  /** Resolves when they have accepted and both sides verified the key. */
  done: Promise<PairResult>;
  /** Give up on this invitation (closes the mailbox "lonely"). */
  cancel(): void;
}

export interface Pairing {
  invite(options?: PairingCallOptions): Promise<Invitation>;
  accept(code: string, options?: PairingCallOptions): Promise<PairResult>;
}

/** Report a wormhole's progress: its key (both SPAKE2 messages in), then its verification. */
function track(wormhole: Wormhole, onProgress: PairingCallOptions['onProgress']): void {
  if (!onProgress) return;
  wormhole.actor.on('key', () => onProgress('verifying'));
  wormhole.verified.then(() => onProgress('confirming'), () => {});
}

async function complete(wormhole: Wormhole, code: string, caller: string): Promise<PairResult> {
  try {
    const verified = await wormhole.verified;
    const contactKey = deriveContactKey(verified.key);
    const verifier = formatVerifier(verified.verifier);
    wormhole.send({ paired: 1 });
    const ack = await wormhole.nextJson<{ paired?: unknown }>();
    if (ack?.paired !== 1) throw new ProtocolError('The other side did not confirm the pairing.', { got: ack });
    await wormhole.close('happy');
    return { contactKey, verifier, code };
  } catch (err) {
    await wormhole.close('errory').catch(() => {});
    if (err instanceof BackchannelError) err.caller = caller;
    throw err;
  }
}

/**
 * @example
 * const pair = createPairing({ relay: 'ws://127.0.0.1:4000/v1', connector: nodeSocketConnector() });
 * const { code, done } = await pair.invite();     // show `code`
 * const { contactKey, verifier } = await done;     // the other side ran pair.accept(code)
 */
export function createPairing(options: PairingOptions): Pairing {
  if (!options || typeof options !== 'object') throw new InvalidArgumentError('createPairing expects an options object');
  const base = (signal?: AbortSignal): WormholeOptions => ({
    relay: options.relay,
    appid: options.appid ?? BACKCHANNEL_APPID,
    connector: options.connector,
    randomBytes: options.randomBytes,
    clock: options.clock,
    timeouts: options.timeouts,
    inspect: options.inspect,
    journal: options.journal,
    signal,
  });
  return {
    async invite(call = {}) {
      const controller = new AbortController();
      const onAbort = () => controller.abort(call.signal?.reason);
      call.signal?.addEventListener('abort', onAbort, { once: true });
      call.onProgress?.('connecting');
      const wormhole = new Wormhole(base(controller.signal));
      track(wormhole, call.onProgress);
      let code: string;
      try {
        code = await wormhole.code;
        call.onProgress?.('waiting');
      } catch (err) {
        call.signal?.removeEventListener('abort', onAbort);
        if (err instanceof BackchannelError) err.caller = 'pair.invite';
        throw err;
      }
      const done = complete(wormhole, code, 'pair.invite').finally(() => call.signal?.removeEventListener('abort', onAbort));
      done.catch(() => {});
      return { code, done, cancel: () => controller.abort() };
    },
    async accept(input, call = {}) {
      const code = parseCode(input, { words: 2 }).text;
      call.onProgress?.('connecting');
      const wormhole = new Wormhole({ ...base(call.signal), code });
      track(wormhole, call.onProgress);
      // Joining knows its code at once; the wait is for the inviter's SPAKE2 message.
      call.onProgress?.('waiting');
      return complete(wormhole, code, 'pair.accept');
    },
  };
}
