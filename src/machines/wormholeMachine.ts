/**
 * The client side of the magic-wormhole mailbox protocol and its PAKE, as one XState v5 machine with a
 * region per concern, mirroring magic-wormhole's own split (_rendezvous, _nameplate, _mailbox, _key,
 * _receive, _terminator):
 *
 * - `connection`: open the socket, bind, reconnect with backoff when it drops, give up after a budget.
 * - `nameplate`: allocate (inviter) or take the code's nameplate, claim it, release it once the peer's
 *   PAKE arrives, so the nameplate is free again within seconds.
 * - `mailbox`: open the mailbox, (re)send every outbound message the server has not echoed yet, close.
 * - `key`: SPAKE2, then key confirmation: the first peer message that decrypts proves the key; one
 *   that does not is "scary" and kills the code.
 * - `lifecycle`: running → closing (with a mood) → closed.
 *
 * Every effect is injected: the socket (`input.connector`, run by the `socket` actor), randomness
 * (`input.randomBytes`, drawn once into a seed that transitions expand with `deriveBytes`, so they
 * stay pure and replayable) and time (the actor's clock; delays are named in `setup`). Reconnects resume
 * without loss or duplicates: each region re-sends its own frame on `connected`, outbound messages stay
 * pending until the server echoes them, and peer messages are de-duplicated by phase.
 *
 * The work of each region lives next to this file, in `wormhole/`: `nameplate.ts`, `mailbox.ts`,
 * `key.ts`, `route.ts` (server frames → events; a throttling `error` frame is a RelayBusyError),
 * `connection.ts` (why we gave up on the relay: busy upgrades, HTTP 429 / 503, or a lost connection), `transmit.ts` (commands, and `resending`: send on
 * entry and again on every reconnect), `types.ts` and `timeouts.ts`; this file is the chart.
 * @module
 */
import { and, assign, emit, enqueueActions, raise, setup, stateIn } from 'xstate';
import { AbortedError, TimeoutError } from '../errors.js';
import { backoffMs } from './backoff.js';
import { socketActor } from './socketActor.js';
import { giveUpError, reconnectDelayMs, upgradeRefusal } from './wormhole/connection.js';
import { openAndDrain } from './wormhole/mailbox.js';
import { finishPake, receivePhase, sendPlaintext, sendVersionAndFlush, startPake } from './wormhole/key.js';
import { assignAllocatedCode } from './wormhole/nameplate.js';
import { route } from './wormhole/route.js';
import { initialContext } from './wormhole/context.js';
import { resending, transmit } from './wormhole/transmit.js';
import type { WormholeContext, WormholeEmitted, WormholeEvent, WormholeInput, WormholeOutput } from './wormhole/types.js';

export { DEFAULT_TIMEOUTS, type WormholeTimeouts } from './wormhole/timeouts.js';
export type { WormholeContext, WormholeEmitted, WormholeEvent, WormholeInput, WormholeOutput } from './wormhole/types.js';

/** The magic-wormhole mailbox protocol as a machine: claim a nameplate, run SPAKE2, exchange encrypted phases, close. */
export const wormholeMachine = setup({
  types: {
    context: {} as WormholeContext,
    events: {} as WormholeEvent,
    input: {} as WormholeInput,
    emitted: {} as WormholeEmitted,
    output: {} as WormholeOutput,
  },
  actors: { socket: socketActor },
  delays: {
    connectTimeout: ({ context }) => context.timeouts.connectMs,
    reconnectDelay: ({ context }) =>
      reconnectDelayMs(context, backoffMs(context.attempts, { baseMs: context.timeouts.reconnectBaseMs, maxMs: context.timeouts.reconnectMaxMs })),
    peerTimeout: ({ context }) => context.timeouts.peerMs,
    closeTimeout: ({ context }) => context.timeouts.closeMs,
  },
  guards: {
    hasCode: ({ context }) => context.code !== undefined,
    hasNameplate: ({ context }) => context.nameplate !== undefined,
    outOfRetries: ({ context }) => context.attempts > (context.everConnected ? context.timeouts.maxReconnects : context.timeouts.maxInitialAttempts - 1),
    closedEverything: and([stateIn('#wormhole.active.mailbox.closed'), stateIn('#wormhole.active.nameplate.done')]),
  },
  actions: {
    // How the outside hears of the code, the key, verification and messages: emitted by default (the
    // Wormhole handle listens); a parent machine provides sendParent instead (pairingMachine).
    announce: emit((_, params: WormholeEmitted) => params),
    txAllocate: enqueueActions(({ context, enqueue }) => transmit(context, enqueue, { type: 'allocate' })),
    txClaim: enqueueActions(({ context, enqueue }) => transmit(context, enqueue, { type: 'claim', nameplate: context.nameplate! })),
    txRelease: enqueueActions(({ context, enqueue }) => transmit(context, enqueue, { type: 'release', nameplate: context.nameplate! })),
    txClose: enqueueActions(({ context, enqueue }) => transmit(context, enqueue, { type: 'close', mailbox: context.mailbox!, mood: context.mood! })),
    markOpen: assign({ socketOpen: true }),
    markClosed: assign({ socketOpen: false }),
    countAttempt: assign({ attempts: ({ context }) => context.attempts + 1 }),
    bind: enqueueActions(({ context, enqueue }) => {
      transmit(context, enqueue, { type: 'bind', appid: context.appid, side: context.side, client_version: ['backchannel', '0.1.0'] });
      enqueue.raise({ type: 'connected' });
    }),

    /** Turn a server frame into one typed internal event, or a failure (wormhole/route.ts). */
    route: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'socket.frame') route(context, event.text, enqueue);
    }),

    fail: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'fail' || context.error) return;
      enqueue.assign({ error: event.error, mood: event.mood });
      enqueue.raise({ type: 'close.requested' });
    }),
    requestClose: enqueueActions(({ context, event, enqueue }) => {
      if (context.mood) return;
      if (event.type === 'ABORT') {
        enqueue.assign({ error: new AbortedError(undefined, event.reason), mood: 'lonely' });
      } else {
        const mood = (event.type === 'CLOSE' && event.mood) || (context.verified ? 'happy' : 'lonely');
        enqueue.assign({ mood });
      }
      enqueue.raise({ type: 'close.requested' });
    }),

    // nameplate (wormhole/nameplate.ts)
    assignAllocatedCode: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'rx.allocated') assignAllocatedCode(context, event.nameplate, enqueue);
    }),

    // mailbox (wormhole/mailbox.ts)
    assignMailbox: assign({
      mailbox: ({ event }) => (event.type === 'rx.claimed' ? event.mailbox : undefined),
    }),
    openAndDrain: enqueueActions(({ context, enqueue }) => openAndDrain(context, enqueue)),

    // key (wormhole/key.ts)
    startPake: enqueueActions(({ context, enqueue }) => startPake(context, enqueue)),
    finishPake: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'rx.pake') finishPake(context, event.body, enqueue);
    }),
    sendVersionAndFlush: enqueueActions(({ context, enqueue }) => sendVersionAndFlush(context, enqueue)),
    send: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'SEND') sendPlaintext(context, event.plaintext, enqueue);
    }),
    stashEarly: assign({
      early: ({ context, event }) => (event.type === 'rx.phase' ? [...context.early, { phase: event.phase, body: event.body }] : context.early),
    }),
    receivePhase: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'rx.phase') receivePhase(context, event.phase, event.body, enqueue);
    }),
  },
}).createMachine({
  id: 'wormhole',
  context: ({ input }) => initialContext(input),
  initial: 'active',
  states: {
    active: {
      type: 'parallel',
      on: {
        'socket.frame': { actions: 'route' },
        SEND: { actions: 'send' },
        CLOSE: { actions: 'requestClose' },
        ABORT: { actions: 'requestClose' },
        fail: { actions: 'fail' },
      },
      states: {
        connection: {
          initial: 'online',
          states: {
            online: {
              invoke: {
                id: 'socket',
                src: 'socket',
                input: ({ context }) => ({ url: context.url, connector: context.connector }),
              },
              initial: 'opening',
              states: {
                opening: {
                  on: { 'socket.open': 'open' },
                  after: { connectTimeout: { target: '#wormhole.active.connection.offline', actions: assign({ refusal: undefined }) } },
                },
                open: {
                  entry: ['markOpen', 'bind'],
                  exit: 'markClosed',
                },
              },
              on: { 'socket.closed': { target: 'offline', actions: assign({ refusal: ({ event }) => upgradeRefusal(event) }) } },
            },
            offline: {
              entry: 'countAttempt',
              always: {
                guard: 'outOfRetries',
                target: '#wormhole.closed',
                actions: assign({ error: ({ context }) => giveUpError(context), mood: 'errory' as const }),
              },
              after: { reconnectDelay: 'online' },
            },
          },
        },

        nameplate: {
          initial: 'deciding',
          states: {
            deciding: {
              always: [{ guard: 'hasNameplate', target: 'claiming' }, { target: 'allocating' }],
            },
            allocating: resending('txAllocate', {
              'rx.allocated': { target: 'claiming', actions: 'assignAllocatedCode' },
              'close.requested': 'done',
            }),
            claiming: resending('txClaim', {
              'rx.claimed': 'claimed',
              'close.requested': 'releasing',
            }),
            claimed: {
              on: { 'key.known': 'releasing', 'close.requested': 'releasing' },
            },
            releasing: resending('txRelease', { 'rx.released': 'done' }),
            done: {},
          },
        },

        mailbox: {
          initial: 'unknown',
          states: {
            unknown: {
              on: {
                'rx.claimed': { target: 'open', actions: 'assignMailbox' },
                'close.requested': 'closed',
              },
            },
            open: resending('openAndDrain', { 'close.requested': 'closing' }),
            // On a reconnect, re-open and drain first, so nothing we sent is lost behind the close.
            closing: resending('txClose', { 'rx.closed': 'closed' }, 'openAndDrain'),
            closed: {},
          },
        },

        key: {
          initial: 'unverified',
          states: {
            unverified: {
              initial: 'waitingForCode',
              states: {
                waitingForCode: {
                  always: { guard: 'hasCode', target: 'waitingForPake' },
                  on: { 'code.known': 'waitingForPake', 'rx.phase': { actions: 'stashEarly' } },
                },
                waitingForPake: {
                  entry: 'startPake',
                  on: {
                    'rx.pake': { actions: 'finishPake' },
                    'key.known': 'waitingForConfirmation',
                    'rx.phase': { actions: 'stashEarly' },
                  },
                },
                waitingForConfirmation: {
                  entry: 'sendVersionAndFlush',
                  on: {
                    'rx.phase': { actions: 'receivePhase' },
                    'key.verified': '#wormhole.active.key.verified',
                  },
                },
              },
            },
            verified: {
              on: { 'rx.phase': { actions: 'receivePhase' } },
            },
          },
        },

        lifecycle: {
          initial: 'running',
          states: {
            running: {
              on: { 'close.requested': 'closing' },
              // One budget for the whole exchange, so a peer that vanishes after the PAKE cannot leave us waiting.
              after: {
                peerTimeout: {
                  actions: raise(({ context }) => ({
                    type: 'fail' as const,
                    error: new TimeoutError(`The other side did not complete the exchange within ${Math.round(context.timeouts.peerMs / 1000)} s.`, {
                      phase: context.verified ? 'exchanging messages' : 'waiting for the other side',
                      ms: context.timeouts.peerMs,
                    }),
                    mood: 'lonely' as const,
                  })),
                },
              },
            },
            closing: {
              always: { guard: 'closedEverything', target: '#wormhole.closed' },
              after: { closeTimeout: '#wormhole.closed' },
            },
          },
        },
      },
    },
    closed: {
      type: 'final',
    },
  },
  output: ({ context }) => ({ mood: context.mood ?? 'errory', error: context.error }),
});

/** The wormhole machine's type, for parents that invoke it. */
export type WormholeMachine = typeof wormholeMachine;
