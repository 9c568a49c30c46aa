/**
 * The wormhole machine's input, context, events, emitted events and output.
 * @module
 */
import type { RandomBytes } from '../../effects/random.js';
import type { SocketConnector } from '../../effects/socket.js';
import type { BackchannelError } from '../../errors.js';
import type { Mood } from '../../wormhole/messages.js';
import type { SocketEvent } from '../socketActor.js';
import type { WormholeTimeouts } from './timeouts.js';

/** What a wormhole exchange is started with: the appid, the relay, the injected effects, and the code to join (if any). */
export interface WormholeInput {
  /** Application id: both sides must use the same one. */
  appid: string;
  /** Mailbox server URL, e.g. `ws://127.0.0.1:4000/v1`. */
  url: string;
  connector: SocketConnector;
  randomBytes: RandomBytes;
  /** A full code to join; without one the machine allocates a nameplate and makes a code. */
  code?: string;
  /** Words in an allocated code. */
  codeWords?: number;
  /** Our `app_versions`, sent inside the encrypted `version` message. */
  appVersions?: Record<string, unknown>;
  timeouts?: Partial<WormholeTimeouts>;
  /** Our side id (10 hex digits); random when absent. */
  side?: string;
  /**
   * Joining a code whose inviter stores its PAKE message before showing the code (Backchannel's
   * pairing does): if our own PAKE comes back from the relay before anything of the peer's, nobody was
   * waiting in the mailbox, and we fail with CodeExpiredError instead of waiting for `peerMs`.
   */
  expectPeer?: boolean;
}

/** One mailbox message: a phase (`pake`, `version`, `0`, `1`, …) and its hex body. */
export interface Outbound {
  phase: string;
  body: string;
}

/** The wormhole machine's state data: the code, nameplate and mailbox, the key, and the phases sent and received. */
export interface WormholeContext {
  appid: string;
  url: string;
  connector: SocketConnector;
  /** Secret; every random value a transition needs is derived from it (see crypto/derive.ts). */
  seed: Uint8Array;
  side: string;
  codeWords: number;
  /** See {@link WormholeInput.expectPeer}. */
  expectPeer: boolean;
  appVersions: Record<string, unknown>;
  timeouts: WormholeTimeouts;
  code?: string;
  nameplate?: string;
  mailbox?: string;
  key?: Uint8Array;
  verified: boolean;
  theirSide?: string;
  theirVersions?: Record<string, unknown>;
  /** Outbound `add`s the server has not echoed back yet: re-sent after a reconnect. */
  pending: Outbound[];
  /** Plaintexts the owner sent before the key was known. */
  outbox: Uint8Array[];
  nextTxPhase: number;
  /** Peer phases already handled: the server replays everything on re-open. */
  processed: string[];
  /** Peer messages that arrived before the key. */
  early: Outbound[];
  /** Peer numbered phases waiting for a gap to fill, delivered strictly in order. */
  rxBuffer: Record<number, Uint8Array>;
  nextRxPhase: number;
  socketOpen: boolean;
  mailboxOpened: boolean;
  attempts: number;
  /** The relay has welcomed us at least once. */
  everConnected: boolean;
  /** The last connection attempt was refused as busy (HTTP 429 / 503), with the relay's hint when it sent one. */
  refusal?: UpgradeRefusal;
  mood?: Mood;
  error?: BackchannelError;
}

/** A WebSocket upgrade the relay refused because it is busy. */
export interface UpgradeRefusal {
  status: number;
  retryAfterMs?: number;
}

/** What the wormhole machine takes: socket reports, its owner's SEND/CLOSE/ABORT, and the steps its regions raise. */
export type WormholeEvent =
  | SocketEvent
  | { type: 'SEND'; plaintext: Uint8Array }
  | { type: 'CLOSE'; mood?: Mood }
  | { type: 'ABORT'; reason?: unknown }
  | { type: 'connected' }
  | { type: 'rx.allocated'; nameplate: string }
  | { type: 'rx.claimed'; mailbox: string }
  | { type: 'rx.released' }
  | { type: 'rx.closed' }
  | { type: 'rx.pake'; body: string }
  | { type: 'rx.phase'; phase: string; body: string }
  | { type: 'code.known' }
  | { type: 'key.known' }
  | { type: 'key.verified' }
  | { type: 'fail'; error: BackchannelError; mood: Mood }
  | { type: 'close.requested' };

/** What the wormhole tells its owner: the code, that the relay holds our PAKE, the key, verification and each message. */
export type WormholeEmitted =
  | { type: 'code'; code: string; nameplate: string }
  /** The relay holds our PAKE message: a peer joining now finds us (an inviter shows its code after this). */
  | { type: 'stored' }
  | { type: 'key'; key: Uint8Array }
  | { type: 'verified'; key: Uint8Array; verifier: Uint8Array; versions: Record<string, unknown> }
  | { type: 'message'; phase: number; plaintext: Uint8Array };

/** How the exchange ended: the mood sent to the relay on close, and the error when it failed. */
export interface WormholeOutput {
  mood: Mood;
  error?: BackchannelError;
}

/**
 * The slice of XState's `enqueue` (inside `enqueueActions`) the region helpers use; `announce` is the
 * machine's named action that tells the outside (emitted, or sendParent under a parent).
 */
export interface Enqueue {
  /** Enqueue a named action, e.g. `announce` (see {@link announce}). */
  (action: never): void;
  sendTo: (actor: 'socket', event: { type: 'socket.send'; text: string }) => void;
  assign: (update: Partial<WormholeContext>) => void;
  raise: (event: WormholeEvent) => void;
}

/** Tell the outside through the machine's `announce` action (declared in `setup`, so untyped here). */
export const announce = (enqueue: Enqueue, params: WormholeEmitted): void => enqueue({ type: 'announce', params } as never);
