/**
 * DISCOVER for one contact: find the contact's other device by its topic on the relay (proven with the
 * topic key, crypto/topicKey.ts) and connect.
 *
 *   session: connecting → announcing → waiting (for the other device to prove the key)
 *            → negotiating (WebRTC) → falling (after `directMs`, or at once without WebRTC: asking
 *              the other device for the relayed transport until it agrees; with `relayed: false`,
 *              reconnecting instead)
 *            → connected.direct | connected.relayed
 *   reconnecting (exponential backoff — at least a busy relay's Retry-After — then a fresh session)
 *   · failed (out of attempts: RelayBusyError when the relay kept refusing as busy, else
 *     ConnectionLostError; or at once when the relay refused the topic proof) · stopped
 *
 * The `session` actor (discover/session.ts) does the I/O through injected effects; this machine owns
 * the phases and the clock. A connected channel is emitted as `connected` for SYNC to use.
 * @module
 */
import { assign, emit, sendTo, setup } from 'xstate';
import type { Transport } from '../effects/transport.js';
import { AbortedError, ConnectionLostError, type BackchannelError } from '../errors.js';
import { backoffMs } from './backoff.js';
import { busyDelayMs, busyRefusal, relayBusyError } from './relayBusy.js';
import type { UpgradeRefusal } from './wormhole/types.js';
import { discoverSession, type SessionEvent, type SessionInput } from '../discover/session.js';

/** How long DISCOVER waits for each step, and how it retries the relay. */
export interface DiscoverTimeouts {
  /** Waiting for WebRTC to open before the relayed fallback. */
  directMs: number;
  /** While nothing moves (no proof from the other device, no channel), say hello again this often. */
  retryMs: number;
  /** Waiting for the relay to answer a connection and an announce. */
  announceMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** Failed attempts in a row (never reaching the relay) before giving up. */
  maxAttempts: number;
}

/** The DISCOVER timeouts used when the input sets none. */
export const DEFAULT_DISCOVER_TIMEOUTS: Readonly<DiscoverTimeouts> = Object.freeze({
  directMs: 10_000,
  retryMs: 3_000,
  announceMs: 15_000,
  reconnectBaseMs: 500,
  reconnectMaxMs: 30_000,
  maxAttempts: 10,
});

export interface DiscoverInput extends SessionInput {
  timeouts?: Partial<DiscoverTimeouts>;
  /** Allow the relayed fallback (default true). */
  relayed?: boolean;
}

/** The DISCOVER machine's state data: its attempts, the channel once connected and how, the last refusal or error. */
export interface DiscoverContext {
  input: SessionInput;
  timeouts: DiscoverTimeouts;
  relayed: boolean;
  attempts: number;
  channel?: Transport;
  via?: 'direct' | 'relayed';
  peer?: string;
  rejected: number;
  /** The relay's last refusal of our connection as busy (HTTP 429/503), while it lasts. */
  refusal?: UpgradeRefusal;
  error?: BackchannelError;
}

/** What the DISCOVER machine takes: its session's reports, and STOP. */
export type DiscoverEvent = SessionEvent | { type: 'STOP' };
/** What DISCOVER tells its owner: a channel to the other device (and how), its loss, or a rejected signal. */
export type DiscoverEmitted =
  | { type: 'connected'; channel: Transport; via: 'direct' | 'relayed' }
  | { type: 'disconnected'; reason: string }
  | { type: 'rejected'; error: BackchannelError };

/** DISCOVER for one contact: find the contact's device on the relay by topic and connect, directly or relayed. */
export const discoverMachine = setup({
  types: {
    input: {} as DiscoverInput,
    context: {} as DiscoverContext,
    events: {} as DiscoverEvent,
    emitted: {} as DiscoverEmitted,
    output: {} as { error?: BackchannelError },
  },
  actors: { session: discoverSession },
  delays: {
    directTimeout: ({ context }) => context.timeouts.directMs,
    retry: ({ context }) => context.timeouts.retryMs,
    announceTimeout: ({ context }) => context.timeouts.announceMs,
    // A busy relay's Retry-After outranks our shorter backoff: retrying sooner would be refused again.
    backoff: ({ context }) =>
      busyDelayMs(backoffMs(context.attempts, { baseMs: context.timeouts.reconnectBaseMs, maxMs: context.timeouts.reconnectMaxMs }), context.refusal),
  },
  actions: {
    adopt: assign(({ event }) => (event.type === 'session.connected' ? { channel: event.channel, via: event.via } : {})),
    // How the outside hears of a channel: emitted by default; a parent machine provides sendParent.
    announceConnected: emit(({ context }) => ({ type: 'connected' as const, channel: context.channel!, via: context.via! })),
    announceDisconnected: emit(({ event }) => ({ type: 'disconnected' as const, reason: event.type === 'session.channelClosed' ? event.reason : event.type })),
  },
  guards: {
    relayedAllowed: ({ context }) => context.relayed,
    noRtc: ({ context }) => !context.input.rtc,
    outOfAttempts: ({ context }) => context.attempts >= context.timeouts.maxAttempts,
  },
}).createMachine({
  id: 'discover',
  context: ({ input }) => {
    const { timeouts, relayed, ...session } = input;
    return { input: session, timeouts: { ...DEFAULT_DISCOVER_TIMEOUTS, ...timeouts }, relayed: relayed ?? true, attempts: 0, rejected: 0 };
  },
  initial: 'session',
  on: {
    STOP: { target: '.stopped', actions: assign({ error: () => new AbortedError('Discovery was stopped.') }) },
    'session.rejected': {
      actions: [assign({ rejected: ({ context }) => context.rejected + 1 }), emit(({ event }) => ({ type: 'rejected' as const, error: event.error }))],
    },
  },
  states: {
    session: {
      invoke: { id: 'session', src: 'session', input: ({ context }) => context.input },
      initial: 'connecting',
      on: {
        'session.lost': { target: 'reconnecting', actions: assign({ refusal: ({ event }) => busyRefusal(event) }) },
        // The relay refused our proof of the topic key: trying again would be refused again.
        'session.error': [
          { guard: ({ event }) => event.error.code === 'TOPIC_UNPROVEN', target: '#discover.failed', actions: assign({ error: ({ event }) => event.error }) },
          { target: 'reconnecting' },
        ],
        // While negotiating or falling back: a channel opened, or the attempt died.
        'session.connected': [
          { guard: ({ event }) => event.via === 'direct', target: '.connected.direct', actions: 'adopt' },
          { target: '.connected.relayed', actions: 'adopt' },
        ],
        'session.channelClosed': 'reconnecting',
      },
      states: {
        connecting: {
          on: { 'session.open': 'announcing' },
          after: { announceTimeout: '#discover.reconnecting' },
        },
        announcing: {
          on: { 'session.announced': { target: 'waiting', actions: assign({ attempts: 0, refusal: undefined }) } },
          after: { announceTimeout: '#discover.reconnecting' },
        },
        waiting: {
          on: { 'session.verified': { target: 'negotiating', actions: assign({ peer: ({ event }) => event.peer }) } },
          // Hellos can be lost (or arrive out of order and be refused): ask again while waiting.
          after: { retry: { target: 'waiting', reenter: true, actions: sendTo('session', { type: 'session.retry' }) } },
        },
        negotiating: {
          always: { guard: 'noRtc', target: 'falling', actions: sendTo('session', { type: 'session.fallback' }) },
          after: {
            // Without the relayed fallback, a WebRTC attempt that never opens (ICE failed) is dropped for a
            // fresh session: waiting on it would hang the link for good.
            directTimeout: [
              { guard: 'relayedAllowed', target: 'falling', actions: sendTo('session', { type: 'session.fallback' }) },
              { target: '#discover.reconnecting' },
            ],
          },
        },
        // Asked the other device for the relayed transport; repeat until it agrees (its answer opens ours).
        falling: {
          after: { retry: { target: 'falling', reenter: true, actions: sendTo('session', { type: 'session.fallback' }) } },
        },
        connected: {
          entry: 'announceConnected',
          // However the channel ends (closed, relay lost, stopped), whoever listens hears it.
          exit: 'announceDisconnected',
          initial: 'direct',
          states: { direct: {}, relayed: {} },
          on: {
            'session.channelClosed': '#discover.reconnecting',
          },
        },
      },
    },
    reconnecting: {
      entry: assign({ attempts: ({ context }) => context.attempts + 1, channel: undefined, via: undefined }),
      always: {
        guard: 'outOfAttempts',
        target: 'failed',
        actions: assign({
          error: ({ context }) =>
            context.refusal
              ? relayBusyError(context.input.url, context.refusal)
              : new ConnectionLostError(`Could not reach the relay at ${context.input.url}.`, { url: context.input.url }),
        }),
      },
      after: { backoff: 'session' },
    },
    failed: { type: 'final' },
    stopped: { type: 'final' },
  },
  output: ({ context }) => ({ error: context.error }),
});
