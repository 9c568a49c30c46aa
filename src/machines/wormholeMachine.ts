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
 * @module
 */
import { and, assign, emit, enqueueActions, raise, setup, stateIn } from 'xstate';
import { fromUtf8, toHex, utf8 } from '../crypto/bytes.js';
import { deriveBytes, derivedSource } from '../crypto/derive.js';
import { deriveVerifier } from '../crypto/keys.js';
import { Spake2Symmetric } from '../crypto/spake2.js';
import type { RandomBytes } from '../effects/random.js';
import type { SocketConnector } from '../effects/socket.js';
import {
  AbortedError,
  BackchannelError,
  ConnectionLostError,
  CrowdedError,
  CryptoError,
  ProtocolError,
  ServerError,
  TimeoutError,
  WrongCodeError,
} from '../errors.js';
import { chooseWords, formatCode } from '../code/code.js';
import { parseServerMessage, type ClientMessage, type Mood } from '../wormhole/messages.js';
import { decodePakeBody, encodePakeBody, openPhase, sealPhase } from '../wormhole/phases.js';
import { backoffMs } from './backoff.js';
import { socketActor, type SocketEvent } from './socketActor.js';

export interface WormholeTimeouts {
  /** Waiting for a socket to open. */
  connectMs: number;
  /** First reconnect delay; doubles per failed attempt up to `reconnectMaxMs`. */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** Failed connection attempts in a row before giving up with ConnectionLostError. */
  maxReconnects: number;
  /**
   * Attempts before the relay ever answered: a relay that never answers is more likely a wrong URL
   * than a flaky network, so fail fast (as magic-wormhole does).
   */
  maxInitialAttempts: number;
  /** The whole exchange: the other side shows up, proves the key and we are done (closed). */
  peerMs: number;
  /** Waiting for the server to confirm `close`. */
  closeMs: number;
}

export const DEFAULT_TIMEOUTS: Readonly<WormholeTimeouts> = Object.freeze({
  connectMs: 15_000,
  reconnectBaseMs: 250,
  reconnectMaxMs: 10_000,
  maxReconnects: 8,
  maxInitialAttempts: 3,
  peerMs: 10 * 60_000,
  closeMs: 5_000,
});

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
}

interface Outbound {
  phase: string;
  body: string;
}

export interface WormholeContext {
  appid: string;
  url: string;
  connector: SocketConnector;
  /** Secret; every random value a transition needs is derived from it (see crypto/derive.ts). */
  seed: Uint8Array;
  side: string;
  codeWords: number;
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
  mood?: Mood;
  error?: BackchannelError;
}

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

export type WormholeEmitted =
  | { type: 'code'; code: string; nameplate: string }
  | { type: 'key'; key: Uint8Array }
  | { type: 'verified'; key: Uint8Array; verifier: Uint8Array; versions: Record<string, unknown> }
  | { type: 'message'; phase: number; plaintext: Uint8Array };

export interface WormholeOutput {
  mood: Mood;
  error?: BackchannelError;
}

/** The `welcome` error text and other server errors become typed errors. */
function serverError(error: string, orig: unknown): BackchannelError {
  if (error === 'crowded') return new CrowdedError();
  return new ServerError(`The mailbox server refused: ${error}`, { error, orig });
}

/** The slice of XState's `enqueue` the helpers below use. */
interface Enqueue {
  sendTo: (actor: 'socket', event: { type: 'socket.send'; text: string }) => void;
  assign: (update: Partial<WormholeContext>) => void;
}

/** The nonce source for sealing one phase: each phase is sealed once, so each nonce is used once. */
const nonceFor = (context: WormholeContext, phase: string): RandomBytes => derivedSource(context.seed, `nonce:${phase}`);

/**
 * Our SPAKE2 side, rebuilt from the seed whenever needed rather than kept in context: the context
 * stays plain data (the journal stores it; replay rebuilds the same side).
 */
const pakeOf = (context: WormholeContext) => new Spake2Symmetric(utf8(context.code!), utf8(context.appid), derivedSource(context.seed, 'spake2'));

/** Enqueue the `announce` action (declared in `setup` below, so its name is not typed in here yet). */
const announce = (enqueue: (action: never) => void, params: WormholeEmitted) => enqueue({ type: 'announce', params } as never);

/** Send one command if the socket is open; otherwise the region re-sends it on `connected`. */
function transmit(context: WormholeContext, enqueue: Pick<Enqueue, 'sendTo'>, command: ClientMessage): void {
  if (!context.socketOpen) return;
  // The id only pairs a command with the server's ack: derived from the command, like a random one.
  const id = toHex(deriveBytes(context.seed, `id:${JSON.stringify(command)}`, 2));
  enqueue.sendTo('socket', { type: 'socket.send', text: JSON.stringify({ ...command, id }) });
}

/** Queue outbound `add`s until the server echoes them; send now if the mailbox is open. */
function addOutbound(context: WormholeContext, enqueue: Enqueue, outbound: Outbound[]): void {
  enqueue.assign({ pending: [...context.pending, ...outbound] });
  if (!context.mailboxOpened) return;
  for (const o of outbound) transmit(context, enqueue, { type: 'add', phase: o.phase, body: o.body });
}

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
    reconnectDelay: ({ context }) => backoffMs(context.attempts, { baseMs: context.timeouts.reconnectBaseMs, maxMs: context.timeouts.reconnectMaxMs }),
    peerTimeout: ({ context }) => context.timeouts.peerMs,
    closeTimeout: ({ context }) => context.timeouts.closeMs,
  },
  guards: {
    hasCode: ({ context }) => context.code !== undefined,
    hasNameplate: ({ context }) => context.nameplate !== undefined,
    outOfRetries: ({ context }) =>
      context.attempts > (context.everConnected ? context.timeouts.maxReconnects : context.timeouts.maxInitialAttempts - 1),
    closedEverything: and([stateIn('#wormhole.active.mailbox.closed'), stateIn('#wormhole.active.nameplate.done')]),
  },
  actions: {
    // How the outside hears of the code, the key, verification and messages: emitted by default (the
    // Wormhole handle listens); a parent machine provides sendParent instead (pairingMachine).
    announce: emit((_, params: WormholeEmitted) => params),
    txAllocate: enqueueActions(({ context, enqueue }) => transmit(context, enqueue, { type: 'allocate' })),
    txClaim: enqueueActions(({ context, enqueue }) => transmit(context, enqueue, { type: 'claim', nameplate: context.nameplate! })),
    txRelease: enqueueActions(({ context, enqueue }) => transmit(context, enqueue, { type: 'release', nameplate: context.nameplate! })),
    txClose: enqueueActions(({ context, enqueue }) =>
      transmit(context, enqueue, { type: 'close', mailbox: context.mailbox!, mood: context.mood! }),
    ),
    markOpen: assign({ socketOpen: true }),
    markClosed: assign({ socketOpen: false }),
    countAttempt: assign({ attempts: ({ context }) => context.attempts + 1 }),
    bind: enqueueActions(({ context, enqueue }) => {
      transmit(context, enqueue, { type: 'bind', appid: context.appid, side: context.side, client_version: ['backchannel', '0.1.0'] });
      enqueue.raise({ type: 'connected' });
    }),

    /** Turn a server frame into one typed internal event, or a failure. */
    route: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'socket.frame') return;
      let m: Record<string, unknown>;
      try {
        m = parseServerMessage(event.text) as Record<string, unknown>;
      } catch (err) {
        enqueue.raise({ type: 'fail', error: err as BackchannelError, mood: 'errory' });
        return;
      }
      switch (m.type) {
        case 'welcome': {
          const welcome = m.welcome as { error?: unknown };
          enqueue.assign({ attempts: 0, everConnected: true });
          if (typeof welcome.error === 'string') {
            enqueue.raise({ type: 'fail', error: serverError(welcome.error, undefined), mood: 'errory' });
          }
          return;
        }
        case 'allocated':
          enqueue.raise({ type: 'rx.allocated', nameplate: m.nameplate as string });
          return;
        case 'claimed':
          enqueue.raise({ type: 'rx.claimed', mailbox: m.mailbox as string });
          return;
        case 'released':
          enqueue.raise({ type: 'rx.released' });
          return;
        case 'closed':
          enqueue.raise({ type: 'rx.closed' });
          return;
        case 'error':
          enqueue.raise({ type: 'fail', error: serverError(m.error as string, m.orig), mood: 'errory' });
          return;
        case 'message': {
          const side = m.side as string;
          const phase = m.phase as string;
          const body = m.body as string;
          if (side === context.side) {
            // Our own message came back: the server has it, stop re-sending it.
            enqueue.assign({ pending: context.pending.filter((p) => p.phase !== phase) });
            return;
          }
          if (context.theirSide !== undefined && side !== context.theirSide) return;
          if (context.processed.includes(phase)) return;
          enqueue.assign({ theirSide: side, processed: [...context.processed, phase] });
          enqueue.raise(phase === 'pake' ? { type: 'rx.pake', body } : { type: 'rx.phase', phase, body });
          return;
        }
        default:
          return; // ack, pong, nameplates, and types from newer servers
      }
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

    // nameplate
    assignAllocatedCode: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'rx.allocated') return;
      const words = chooseWords(derivedSource(context.seed, 'code-words'), context.codeWords);
      const code = formatCode({ nameplate: event.nameplate, words });
      enqueue.assign({ nameplate: event.nameplate, code });
      announce(enqueue, { type: 'code', code, nameplate: event.nameplate });
      enqueue.raise({ type: 'code.known' });
    }),

    // mailbox
    assignMailbox: assign({
      mailbox: ({ event }) => (event.type === 'rx.claimed' ? event.mailbox : undefined),
    }),
    openAndDrain: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ mailboxOpened: true });
      transmit(context, enqueue, { type: 'open', mailbox: context.mailbox! });
      for (const p of context.pending) transmit(context, enqueue, { type: 'add', phase: p.phase, body: p.body });
    }),

    // key
    startPake: enqueueActions(({ context, enqueue }) => {
      const body = encodePakeBody(pakeOf(context).start());
      addOutbound(context, enqueue, [{ phase: 'pake', body }]);
    }),
    finishPake: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'rx.pake') return;
      let key: Uint8Array;
      try {
        const spake = pakeOf(context);
        spake.start(); // the same scalar and message as in startPake: both come from the seed
        key = spake.finish(decodePakeBody(event.body));
      } catch (err) {
        const error = err instanceof BackchannelError ? err : new CryptoError(String(err));
        enqueue.raise({ type: 'fail', error, mood: 'scary' });
        return;
      }
      enqueue.assign({ key });
      announce(enqueue, { type: 'key', key });
      enqueue.raise({ type: 'key.known' });
    }),
    sendVersionAndFlush: enqueueActions(({ context, enqueue }) => {
      const key = context.key!;
      const version = utf8(JSON.stringify({ app_versions: context.appVersions }));
      const outbound = [{ phase: 'version', body: sealPhase(key, context.side, 'version', version, nonceFor(context, 'version')) }];
      let next = context.nextTxPhase;
      for (const plaintext of context.outbox) {
        const phase = String(next++);
        outbound.push({ phase, body: sealPhase(key, context.side, phase, plaintext, nonceFor(context, phase)) });
      }
      enqueue.assign({ outbox: [], nextTxPhase: next, early: [] });
      addOutbound(context, enqueue, outbound);
      for (const early of context.early) enqueue.raise({ type: 'rx.phase', ...early });
    }),
    send: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SEND') return;
      if (!context.key) {
        enqueue.assign({ outbox: [...context.outbox, event.plaintext] });
        return;
      }
      const phase = String(context.nextTxPhase);
      enqueue.assign({ nextTxPhase: context.nextTxPhase + 1 });
      addOutbound(context, enqueue, [{ phase, body: sealPhase(context.key, context.side, phase, event.plaintext, nonceFor(context, phase)) }]);
    }),
    stashEarly: assign({
      early: ({ context, event }) => (event.type === 'rx.phase' ? [...context.early, { phase: event.phase, body: event.body }] : context.early),
    }),
    receivePhase: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'rx.phase') return;
      let plaintext: Uint8Array;
      try {
        plaintext = openPhase(context.key!, context.theirSide!, event.phase, event.body);
      } catch {
        const error = context.verified
          ? new CryptoError('A message from the other side failed to decrypt: it was tampered with.', { phase: event.phase })
          : new WrongCodeError();
        enqueue.raise({ type: 'fail', error, mood: 'scary' });
        return;
      }
      let theirVersions = context.theirVersions;
      if (event.phase === 'version') {
        try {
          const parsed = JSON.parse(fromUtf8(plaintext)) as { app_versions?: Record<string, unknown> };
          theirVersions = parsed.app_versions ?? {};
        } catch {
          enqueue.raise({ type: 'fail', error: new ProtocolError('The version message is not JSON.'), mood: 'errory' });
          return;
        }
        enqueue.assign({ theirVersions });
      }
      if (!context.verified) {
        enqueue.assign({ verified: true });
        announce(enqueue, { type: 'verified', key: context.key!, verifier: deriveVerifier(context.key!), versions: theirVersions ?? {} });
        enqueue.raise({ type: 'key.verified' });
      }
      if (!/^\d+$/.test(event.phase)) return; // "version", and phases from newer peers
      // Deliver numbered phases strictly in order, with no gaps, as wormhole's Boss does.
      const buffer = { ...context.rxBuffer, [Number(event.phase)]: plaintext };
      let next = context.nextRxPhase;
      while (buffer[next] !== undefined) {
        announce(enqueue, { type: 'message', phase: next, plaintext: buffer[next]! });
        delete buffer[next];
        next++;
      }
      enqueue.assign({ rxBuffer: buffer, nextRxPhase: next });
    }),
  },
}).createMachine({
  id: 'wormhole',
  context: ({ input }) => ({
    appid: input.appid,
    url: input.url,
    connector: input.connector,
    side: input.side ?? toHex(input.randomBytes(5)),
    seed: input.randomBytes(32),
    codeWords: input.codeWords ?? 2,
    appVersions: input.appVersions ?? {},
    timeouts: { ...DEFAULT_TIMEOUTS, ...input.timeouts },
    code: input.code,
    nameplate: input.code?.split('-')[0],
    verified: false,
    pending: [],
    outbox: [],
    nextTxPhase: 0,
    processed: [],
    early: [],
    rxBuffer: {},
    nextRxPhase: 0,
    socketOpen: false,
    mailboxOpened: false,
    attempts: 0,
    everConnected: false,
  }),
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
                  after: { connectTimeout: '#wormhole.active.connection.offline' },
                },
                open: {
                  entry: ['markOpen', 'bind'],
                  exit: 'markClosed',
                },
              },
              on: { 'socket.closed': 'offline' },
            },
            offline: {
              entry: 'countAttempt',
              always: {
                guard: 'outOfRetries',
                target: '#wormhole.closed',
                actions: assign({
                  error: ({ context }) =>
                    context.everConnected
                      ? new ConnectionLostError(`Lost the connection to the relay and could not reconnect (${context.timeouts.maxReconnects} tries).`, {
                          url: context.url,
                        })
                      : new ConnectionLostError(`Could not reach the relay at ${context.url}.`, { url: context.url }),
                  mood: 'errory' as const,
                }),
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
            allocating: {
              entry: 'txAllocate',
              on: {
                connected: { actions: 'txAllocate' },
                'rx.allocated': { target: 'claiming', actions: 'assignAllocatedCode' },
                'close.requested': 'done',
              },
            },
            claiming: {
              entry: 'txClaim',
              on: {
                connected: { actions: 'txClaim' },
                'rx.claimed': 'claimed',
                'close.requested': 'releasing',
              },
            },
            claimed: {
              on: { 'key.known': 'releasing', 'close.requested': 'releasing' },
            },
            releasing: {
              entry: 'txRelease',
              on: {
                connected: { actions: 'txRelease' },
                'rx.released': 'done',
              },
            },
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
            open: {
              entry: 'openAndDrain',
              on: {
                connected: { actions: 'openAndDrain' },
                'close.requested': 'closing',
              },
            },
            closing: {
              entry: 'txClose',
              on: {
                // Re-open and drain first, so nothing we sent is lost behind the close.
                connected: { actions: ['openAndDrain', 'txClose'] },
                'rx.closed': 'closed',
              },
            },
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

export type WormholeMachine = typeof wormholeMachine;
