/**
 * DISCOVER for one contact: find the contact's devices by its topic on the relay (proven with the
 * topic key, crypto/topicKey.ts) and connect to each of them — a contact's linked devices share the
 * topic, and each gets a channel of its own.
 *
 *   session: connecting → announcing → then, summing up the peers (context.peers, by session id):
 *            waiting (no peer proved the key yet) · negotiating (WebRTC) · falling (after `directMs`,
 *            or at once without WebRTC: asking a peer for the relayed transport until it agrees; with
 *            `relayed: false`, that peer is dropped instead — or, alone, a fresh session) ·
 *            connected.direct (some peer direct) | connected.relayed (all connected peers relayed)
 *   reconnecting (exponential backoff — at least a busy relay's Retry-After — then a fresh session)
 *   · failed (out of attempts: RelayBusyError when the relay kept refusing as busy, else
 *     ConnectionLostError; or at once when the relay refused the topic proof) · stopped
 *
 * The `session` actor (discover/session.ts) does the I/O through injected effects; this machine owns
 * the phases and the clock: each peer's wait for WebRTC is a delayed event of its own, and one tick
 * every `retryMs` repeats hellos and fallback requests. Each peer's channel is emitted as `connected`
 * (with the peer) for SYNC to use, and its end as `disconnected`; a peer that goes leaves the others
 * alone. The session starts over only when its last peer went.
 *
 * A peer here is a device's DISCOVER session (random per session: `sid` in the sealed envelopes), not
 * its device id. Events and context name it `peer` / `peers`: the names recorded journals hold, which
 * replay reads, and the events `connected` / `disconnected` that hosts listen to.
 * @module
 */
import { assign, emit, enqueueActions, sendTo, setup } from 'xstate';
import type { Transport } from '../effects/transport.js';
import { AbortedError, ConnectionLostError, type BackchannelError } from '../errors.js';
import { backoffMs } from './backoff.js';
import { busyDelayMs, busyRefusal, relayBusyError } from './relayBusy.js';
import type { UpgradeRefusal } from './wormhole/types.js';
import { discoverSession, type SessionEvent, type SessionInput, type Via } from '../discover/session.js';

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

/** What the DISCOVER machine is started with: the session's input, its timeouts, and whether the relayed fallback is allowed. */
export interface DiscoverInput extends SessionInput {
  timeouts?: Partial<DiscoverTimeouts>;
  /** Allow the relayed fallback (default true). */
  relayed?: boolean;
}

/** One peer device as DISCOVER follows it: negotiating, falling back to the relay, or connected (with its channel). */
export interface DiscoverPeer {
  phase: 'negotiating' | 'falling' | 'connected';
  channel?: Transport;
  via?: Via;
}

/** The DISCOVER machine's state data: its attempts, its peers (by session id) and their channels, the last refusal or error. */
export interface DiscoverContext {
  input: SessionInput;
  timeouts: DiscoverTimeouts;
  relayed: boolean;
  attempts: number;
  /** Every peer that proved the key in this session, by its session id. */
  peers: Record<string, DiscoverPeer>;
  rejected: number;
  /** The relay's last refusal of our connection as busy (HTTP 429/503), while it lasts. */
  refusal?: UpgradeRefusal;
  error?: BackchannelError;
}

/** The machine's own delayed events: the retry tick, and a peer's wait for WebRTC running out. */
export type DiscoverTimerEvent =
  | { type: 'discover.tick' }
  /** `peer`: the session id of the peer whose wait ran out. */
  | { type: 'discover.direct'; peer: string };

/** What the DISCOVER machine takes: its session's reports, its own timers, and STOP. */
export type DiscoverEvent = SessionEvent | DiscoverTimerEvent | { type: 'STOP' };
/** What DISCOVER tells its owner: a channel to one of the contact's devices (and how), its loss, or a rejected signal; `peer` is the device's session id. */
export type DiscoverEmitted =
  | { type: 'connected'; peer: string; channel: Transport; via: Via }
  | { type: 'disconnected'; peer: string; reason: string }
  | { type: 'rejected'; error: BackchannelError };

/** The params of `announceDisconnected`: which peer's channel ended, and why. */
export interface DisconnectedParams {
  /** The peer's session id. */
  peer: string;
  reason: string;
}

/** Where the peers put the session: the state its summary names. */
type Summary = 'waiting' | 'negotiating' | 'falling' | 'direct' | 'relayed';
function summaryOf(peers: Record<string, DiscoverPeer>): Summary {
  const all = Object.values(peers);
  if (all.some((p) => p.via === 'direct')) return 'direct';
  if (all.some((p) => p.via === 'relayed')) return 'relayed';
  if (all.some((p) => p.phase === 'falling')) return 'falling';
  return all.length > 0 ? 'negotiating' : 'waiting';
}
const SUMMARY_STATES: Record<Summary, string> = {
  waiting: '#discover.session.waiting',
  negotiating: '#discover.session.negotiating',
  falling: '#discover.session.falling',
  direct: '#discover.session.connected.direct',
  relayed: '#discover.session.connected.relayed',
};
/** From the summary state `here`, move to whichever the peers now name. */
const follow = (here: Summary) =>
  (Object.keys(SUMMARY_STATES) as Summary[])
    .filter((s) => s !== here)
    .map((s) => ({ guard: ({ context }: { context: DiscoverContext }) => summaryOf(context.peers) === s, target: SUMMARY_STATES[s] }));

const without = (peers: Record<string, DiscoverPeer>, sid: string) => Object.fromEntries(Object.entries(peers).filter(([s]) => s !== sid));

/** DISCOVER for one contact: find the contact's devices on the relay by topic and connect to each, directly or relayed. */
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
    announceTimeout: ({ context }) => context.timeouts.announceMs,
    // A busy relay's Retry-After outranks our shorter backoff: retrying sooner would be refused again.
    backoff: ({ context }) =>
      busyDelayMs(backoffMs(context.attempts, { baseMs: context.timeouts.reconnectBaseMs, maxMs: context.timeouts.reconnectMaxMs }), context.refusal),
  },
  actions: {
    // How the outside hears of a channel: emitted by default; a parent machine provides sendParent.
    announceConnected: emit(({ event }) => {
      const e = event as Extract<SessionEvent, { type: 'session.connected' }>;
      return { type: 'connected' as const, peer: e.peer, channel: e.channel, via: e.via };
    }),
    announceDisconnected: emit((_, params: DisconnectedParams) => ({ type: 'disconnected' as const, ...params })),
    tick: enqueueActions(({ context, enqueue }) => {
      enqueue.sendTo('session', { type: 'session.retry' });
      // Peers asked for the relayed transport that did not agree yet: ask again.
      for (const [sid, p] of Object.entries(context.peers)) if (p.phase === 'falling') enqueue.sendTo('session', { type: 'session.fallback', peer: sid });
      enqueue.raise({ type: 'discover.tick' }, { delay: context.timeouts.retryMs, id: 'tick' });
    }),
  },
  guards: {
    outOfAttempts: ({ context }) => context.attempts >= context.timeouts.maxAttempts,
  },
}).createMachine({
  id: 'discover',
  context: ({ input }) => {
    const { timeouts, relayed, ...session } = input;
    return { input: session, timeouts: { ...DEFAULT_DISCOVER_TIMEOUTS, ...timeouts }, relayed: relayed ?? true, attempts: 0, peers: {}, rejected: 0 };
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
      // However the session ends (relay lost, last peer gone, stopped), whoever listens hears of every channel it held.
      exit: enqueueActions(({ context, event, enqueue }) => {
        enqueue.cancel('tick');
        const reason = event.type === 'session.channelClosed' ? event.reason : event.type;
        for (const [sid, p] of Object.entries(context.peers)) if (p.channel) enqueue({ type: 'announceDisconnected', params: { peer: sid, reason } });
        enqueue.assign({ peers: {} });
      }),
      on: {
        'session.lost': { target: 'reconnecting', actions: assign({ refusal: ({ event }) => busyRefusal(event) }) },
        // The relay refused our proof of the topic key: trying again would be refused again.
        'session.error': [
          { guard: ({ event }) => event.error.code === 'TOPIC_UNPROVEN', target: '#discover.failed', actions: assign({ error: ({ event }) => event.error }) },
          { target: 'reconnecting' },
        ],
        'session.verified': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { peer: sid } = event;
            if (!context.input.rtc) {
              // Nothing to negotiate: ask for the relayed transport at once.
              enqueue.assign({ peers: { ...context.peers, [sid]: { phase: 'falling' } } });
              enqueue.sendTo('session', { type: 'session.fallback', peer: sid });
              return;
            }
            enqueue.assign({ peers: { ...context.peers, [sid]: { phase: 'negotiating' } } });
            enqueue.cancel(`direct:${sid}`);
            enqueue.raise({ type: 'discover.direct', peer: sid }, { delay: context.timeouts.directMs, id: `direct:${sid}` });
          }),
        },
        'discover.direct': [
          // WebRTC to this peer did not open in time: the relayed fallback, if allowed.
          {
            guard: ({ context, event }) => context.peers[event.peer]?.phase === 'negotiating' && context.relayed,
            actions: [
              assign({ peers: ({ context, event }) => ({ ...context.peers, [event.peer]: { phase: 'falling' } }) }),
              sendTo('session', ({ event }) => ({ type: 'session.fallback' as const, peer: event.peer })),
            ],
          },
          // Without it, an attempt that never opens (ICE failed) is dropped: waiting on it would hang
          // the link for good. Alone, the whole session starts over; beside others, only this peer goes.
          {
            guard: ({ context, event }) => context.peers[event.peer]?.phase === 'negotiating' && Object.keys(context.peers).length === 1,
            target: 'reconnecting',
          },
          {
            guard: ({ context, event }) => context.peers[event.peer]?.phase === 'negotiating',
            actions: sendTo('session', ({ event }) => ({ type: 'session.drop' as const, peer: event.peer })),
          },
        ],
        // A channel to a peer opened (a reopened one replaces the old).
        'session.connected': {
          actions: [
            assign({ peers: ({ context, event }) => ({ ...context.peers, [event.peer]: { phase: 'connected', channel: event.channel, via: event.via } }) }),
            'announceConnected',
          ],
        },
        // A peer's channel ended (or the peer left before one opened): the last one starts the session over.
        'session.channelClosed': [
          { guard: ({ context, event }) => Object.keys(context.peers).every((sid) => sid === event.peer), target: 'reconnecting' },
          {
            actions: enqueueActions(({ context, event, enqueue }) => {
              if (context.peers[event.peer]?.channel) enqueue({ type: 'announceDisconnected', params: { peer: event.peer, reason: event.reason } });
              enqueue.assign({ peers: without(context.peers, event.peer) });
            }),
          },
        ],
        'discover.tick': { actions: 'tick' },
      },
      states: {
        connecting: {
          on: { 'session.open': 'announcing' },
          after: { announceTimeout: '#discover.reconnecting' },
        },
        announcing: {
          on: {
            'session.announced': {
              target: 'waiting',
              actions: [
                assign({ attempts: 0, refusal: undefined }),
                // Hellos can be lost (or arrive out of order and be refused): say them again while the session lasts.
                enqueueActions(({ context, enqueue }) => enqueue.raise({ type: 'discover.tick' }, { delay: context.timeouts.retryMs, id: 'tick' })),
              ],
            },
          },
          after: { announceTimeout: '#discover.reconnecting' },
        },
        waiting: { always: follow('waiting') },
        negotiating: { always: follow('negotiating') },
        falling: { always: follow('falling') },
        connected: {
          initial: 'direct',
          states: { direct: { always: follow('direct') }, relayed: { always: follow('relayed') } },
        },
      },
    },
    reconnecting: {
      entry: assign({ attempts: ({ context }) => context.attempts + 1 }),
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
