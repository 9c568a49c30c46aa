/**
 * The depot client: while the contact's device cannot be reached, every local change to the shared
 * channel is deposited on the relay's depot, sealed under a subkey of the contact key; what the
 * contact deposited for us is fetched, applied (validated, saved) and only then acknowledged, so the
 * relay deletes it. A device never acknowledges its own deposits, and the relay leaves them out of its
 * fetches (`skip`: the opaque tag it deposits with). A deposit lists its readers, the contact's
 * verified devices, each with a token sealed to it: the relay keeps it until each acked with its
 * token, so every device of the contact gets it and none acks for another, and a fetch leaves out what
 * we acked.
 *
 *   relay: connection (the socket) · connecting (until the relay's challenge: prove the topic) → open (fetch at once; poll every `fetchEvery`;
 *            writes: debouncing → depositing → idle; inbox: idle → applying) · retrying (backoff)
 *   ledger: idle → saving (the relay stored a deposit: remember its heads, then announce `deposited`)
 *           | savingChunk (it stored a file's chunk: count it, then announce the file's progress, or `done`)
 *
 * Files (`depot/depotFiles.ts`): a file this device sent, up to `relayFileBytes`, goes after the
 * changes as one deposit per chunk; the relay's acknowledgement of its last chunk is the file's `done`.
 * A chunk the relay refuses leaves the file waiting on the device (`file.waiting`, route 'device').
 * Fetched chunks are stored and checked like a direct transfer's, and heard the same way (`file.*`).
 *
 * A deposit counts only once the relay answers `deposited`; on a new connection whatever was not
 * acknowledged is sent again (a duplicate is harmless: Automerge applies a change once). An `error`
 * answering a deposit is a refusal (`refused`), but for a relay from before ack tokens refusing the
 * readers' form: then the deposits go again, on that connection, listing readers by bare tag; errors answering fetch or ack are not. What is new goes
 * as several deposits under `maxDepositChars`; a `deposits` reply with `more` is followed by a fetch `after`
 * its last id.
 *
 * Effects are actors named in `setup` (the socket over the injected `SocketConnector`; the document
 * store and storage in `depotActors.ts`); time is the actor system's clock, through named delays.
 * Announcements are emitted; the contact link provides `sendParent` instead.
 * @module
 */
import type * as A from '@automerge/automerge';
import { assign, emit, enqueueActions, sendTo, setup } from 'xstate';
import type { TopicKey } from '../crypto/topicKey.js';
import { proofFor, topicKeyOf } from '../discover/topicProofs.js';
import { parseChallenge, UNPROVEN, type ProveFrame } from '../discover/wire.js';
import { TopicUnprovenError } from '../errors.js';
import type { DocId, DocumentStore } from '../db/documentStore.js';
import type { RandomBytes } from '../effects/random.js';
import type { SocketConnector } from '../effects/socket.js';
import type { StorageAdapter } from '../effects/storage.js';
import { backoffMs } from '../machines/backoff.js';
import { socketActor, type SocketEvent } from '../machines/socketActor.js';
import {
  applyDeposits,
  DEFAULT_MAX_BATCH_CHARS,
  DEFAULT_MAX_DEPOSIT_CHARS,
  docChanges,
  prepareDeposit,
  saveChunk,
  saveHeads,
  type PreparedDeposit,
} from './depotActors.js';
import { DEFAULT_RELAY_FILE_BYTES } from './fileRoute.js';
import type { FileEvent } from '../files/session.js';
import { depotKey, depotTag } from './payload.js';
import {
  isBareReadersRefusal,
  MAX_DEPOSIT_READERS,
  MINE_PROBLEM,
  parseDepotReply,
  readerTagOf,
  type AckFrame,
  type DepositFrame,
  type DepositItem,
  type DepotRequestType,
  type FetchFrame,
} from './wire.js';

export interface DepotTimeouts {
  /** Wait this long after a change before depositing, to batch bursts. */
  debounceMs: number;
  /**
   * Ask the relay again this often: deposits can land after our last fetch, and only a fetch collects
   * (and so deletes) them. Our own relay says `waiting` when one lands; the poll covers deposits made
   * through other relays on the same Redis.
   */
  fetchEveryMs: number;
  /** Reconnect backoff (see `backoffMs`). */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
}

export const DEFAULT_DEPOT_TIMEOUTS: Readonly<DepotTimeouts> = Object.freeze({
  debounceMs: 50,
  fetchEveryMs: 10_000,
  reconnectBaseMs: 100,
  reconnectMaxMs: 10_000,
});

export interface DepotInput {
  /** The relay's `/backchannel/v2` endpoint. */
  url: string;
  connector: SocketConnector;
  contactKey: Uint8Array;
  channelId: DocId;
  docs: DocumentStore;
  storage: StorageAdapter;
  deviceId: string;
  randomBytes: RandomBytes;
  /** Deposit local changes (while the contact is unreachable); false only collects what waits (default true). */
  deposit?: boolean;
  timeouts?: Partial<DepotTimeouts>;
  /** Largest deposit blob (base64 characters); more changes go as several deposits (default 512 KiB). */
  maxDepositChars?: number;
  /**
   * Files this device sent, up to this many bytes, wait for the contact on the relay (sealed, one deposit
   * per chunk); larger ones on the device. Default {@link DEFAULT_RELAY_FILE_BYTES}; -1: none.
   */
  relayFileBytes?: number;
  /**
   * My devices' own channel (devices/selfLink.ts): what my other devices deposit is for me — applied,
   * and acknowledged with my token (it goes once each of my devices has it); one without a token for
   * me is left on the relay for the others (the first to acknowledge would delete it for all).
   */
  own?: boolean;
}

/** A deposit sent and not yet acknowledged: the heads it brings the contact to, or the file chunk it carries. */
export type InFlight = Omit<PreparedDeposit, 'blob'>;

export interface DepotContext {
  input: DepotInput;
  /** The topic key: what proves the topic to the relay on each connection. */
  topicKey: TopicKey;
  topic: string;
  key: Uint8Array;
  /** This device's opaque tag on its deposits (`depotTag`): its fetches skip them at the relay. */
  tag: string;
  /**
   * In a contact's channel, the tags of my other devices seen depositing there (what they deposit is
   * for the contact): fetches name them (`mine`) and the relay leaves their deposits out, so a file one
   * of them left for an away contact is not fetched again at every poll. At most `MAX_DEPOSIT_READERS`.
   */
  mine: string[];
  /** The relay refused a fetch over `mine` (one that reads it otherwise): fetches leave it out from then on. */
  mineRefused?: boolean;
  timeouts: DepotTimeouts;
  /** Failed connection attempts in a row. */
  attempts: number;
  /** Deposits sent on this connection and not yet acknowledged, oldest first. */
  pending: InFlight[];
  /** Next chunk of each file already sent on this connection. */
  sentFiles: Record<string, number>;
  /** Files the relay refused (or no deposit can carry): they wait on the device; not tried again in this run. */
  refusedFiles: string[];
  /** Heads of the newest deposit sent on this connection: the next one starts there. */
  sent?: A.Heads;
  /**
   * Replies still due on this connection for deposits forgotten after a refusal: they come first (the
   * relay answers in order) and must not be taken for the newer deposits' acknowledgements.
   */
  voided: number;
  /**
   * The relay refused readers with tokens (a relay from before them: `isBareReadersRefusal`): on this
   * connection deposits list their readers by bare tag, as earlier clients did.
   */
  bareReaders?: boolean;
  /** A change arrived while a deposit was being prepared: prepare another right after. */
  again: boolean;
  /** Fetched deposit lists, waiting to be applied, oldest first. */
  inbox: DepositItem[][];
  /** Deposits the relay stored, whose heads (or file chunk) are still to be saved here, oldest first. */
  stored: ({ id: string } & InFlight)[];
}

export type DepotEvent =
  | SocketEvent
  | { type: 'doc.changed' }
  // A relay reply, read from `socket.frame` and raised.
  | { type: 'relay.challenge'; challenge: string }
  | { type: 'relay.deposited'; id: string }
  | { type: 'relay.deposits'; items: DepositItem[]; more: boolean }
  | { type: 'relay.waiting' }
  | { type: 'relay.error'; re: DepotRequestType; reason: string; code?: string };

/** What the depot client announces (emitted; the contact link turns them into `link.*` events). */
export type DepotEmitted =
  /** The relay stored (and acknowledged) our changes up to `heads`. */
  | { type: 'deposited'; id: string; heads: A.Heads }
  /**
   * The relay refused a deposit (its quota for the topic, the size bound): the changes stay local.
   * `error`: a TopicUnprovenError when it refused because the topic was not proven on the connection.
   */
  | { type: 'refused'; reason: string; error?: TopicUnprovenError }
  /** The connection to the relay came up or went down (it reconnects by itself). */
  | { type: 'relay'; up: boolean }
  /** A fetch was applied: `applied` deposits from the contact. */
  | { type: 'fetched'; applied: number }
  /**
   * The relay is one from before ack tokens (it refused readers with tokens, `reason`): on this
   * connection deposits list their readers by bare tag, which anyone holding the contact key can ack.
   */
  | { type: 'bareReaders'; reason: string }
  /**
   * A file moved: ours deposited (progress, `done` once the relay holds all of it), refused by the relay
   * (`file.waiting`, route 'device'), or the contact's fetched (progress, `done`, `failed`). Inside a
   * contact link it also goes to the link, which tells the app as it tells the file session's.
   */
  | FileEvent;

/** What a refusal tells: the relay's reason, and a typed error when it is one the host can act on. */
export interface RefusedParams {
  reason: string;
  error?: TopicUnprovenError;
}

/** The relay's refusal of a deposit as the outside hears it: `unproven` → {@link TopicUnprovenError}. */
export function refusal(reason: string, code?: string): RefusedParams {
  return code === UNPROVEN ? { reason, error: new TopicUnprovenError(`the relay refused deposit: ${reason}`, { re: 'deposit', reason }) } : { reason };
}

/** A file the relay will not carry: it waits on this device for the contact. */
const refusedFile = (hash: string, total: number, reason: string): FileEvent => ({
  type: 'file.waiting',
  hash,
  direction: 'out',
  total,
  reason,
  route: 'device',
});

/** A fetch for our topic (from just after `after`), leaving out our deposits and my other devices' seen here. */
const fetchFrame = (context: DepotContext, after?: string): FetchFrame => ({
  type: 'fetch',
  topic: context.topic,
  ...(after === undefined ? {} : { after }),
  skip: context.tag,
  ...(context.mine.length > 0 && context.mineRefused !== true ? { mine: context.mine } : {}),
});

/** `context.mine` with the tags of `devices` (my other devices seen depositing here) added, up to the cap. */
function withMine(context: DepotContext, devices: readonly string[] = []): string[] {
  const tags = devices.map((id) => depotTag(context.input.contactKey, id)).filter((t) => !context.mine.includes(t));
  return tags.length === 0 ? context.mine : [...context.mine, ...tags].slice(0, MAX_DEPOSIT_READERS);
}

const ledgerOf = (context: DepotContext) => ({ docs: context.input.docs, storage: context.input.storage, channelId: context.input.channelId });

export const depotMachine = setup({
  types: {
    input: {} as DepotInput,
    context: {} as DepotContext,
    events: {} as DepotEvent,
    emitted: {} as DepotEmitted,
  },
  actors: { socket: socketActor, changes: docChanges, prepareDeposit, applyDeposits, saveHeads, saveChunk },
  delays: {
    debounce: ({ context }) => context.timeouts.debounceMs,
    fetchEvery: ({ context }) => context.timeouts.fetchEveryMs,
    backoff: ({ context }) => backoffMs(context.attempts, { baseMs: context.timeouts.reconnectBaseMs, maxMs: context.timeouts.reconnectMaxMs }),
  },
  guards: {
    mayDeposit: ({ context }) => context.input.deposit !== false,
    // Once what is in flight is acknowledged: the relay bounds the bytes a connection has in flight.
    again: ({ context }) => context.again && context.pending.length === 0,
    nothingInFlight: ({ context }) => context.pending.length === 0,
    voidedReply: ({ context }) => context.voided > 0,
    inboxWaiting: ({ context }) => context.inbox.length > 0,
    storedWaiting: ({ context }) => context.stored.length > 0,
    storedChunk: ({ context }) => context.stored[0]?.file !== undefined,
    firstFailure: ({ context }) => context.attempts === 0,
  },
  actions: {
    // Before any request: the relay answers only on topics proven on this connection.
    sendProof: sendTo('socket', ({ context, event }) => ({
      type: 'socket.send' as const,
      text: JSON.stringify({
        type: 'prove',
        ...proofFor(context.topicKey, event.type === 'relay.challenge' ? event.challenge : ''),
      } satisfies ProveFrame),
    })),
    sendFetch: sendTo('socket', ({ context }) => ({
      type: 'socket.send' as const,
      text: JSON.stringify(fetchFrame(context)),
    })),
    /** Parse a relay frame; a depot reply for our topic is raised as a `relay.*` event, anything else is dropped. */
    readFrame: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'socket.frame') return;
      const challenge = parseChallenge(event.text);
      if (challenge) return enqueue.raise({ type: 'relay.challenge', challenge: challenge.challenge });
      const reply = parseDepotReply(event.text);
      if (!reply) return;
      if (reply.type === 'error')
        enqueue.raise({ type: 'relay.error', re: reply.re, reason: reply.reason, ...(reply.code === undefined ? {} : { code: reply.code }) });
      else if (reply.topic !== context.topic) return;
      else if (reply.type === 'deposited') enqueue.raise({ type: 'relay.deposited', id: reply.id });
      else if (reply.type === 'deposits') enqueue.raise({ type: 'relay.deposits', items: reply.items, more: reply.more === true });
      else if (reply.type === 'waiting') enqueue.raise({ type: 'relay.waiting' });
    }),
    // The next deposit starts again from what the relay acknowledged, on a new connection (deposits
    // unacknowledged on the last one may never have been stored; their replies will never come)...
    forgetUnacknowledged: assign({ pending: [], sent: undefined, voided: 0, sentFiles: {}, bareReaders: false }),
    // ...and after a refusal, when the deposits sent after the refused one are still to be answered.
    forgetAfterRefusal: assign(({ context }) => ({
      pending: [],
      sent: undefined,
      sentFiles: {},
      voided: context.voided + Math.max(0, context.pending.length - 1),
    })),
    consumeVoided: assign(({ context }) => ({ voided: context.voided - 1 })),
    // How the outside hears: emitted by default; the contact link provides sendParent.
    announceDeposited: emit(({ context }) => ({ type: 'deposited' as const, id: context.stored[0]!.id, heads: context.stored[0]!.heads })),
    announceRefused: emit((_, params: RefusedParams) => ({ type: 'refused' as const, ...params })),
    announceUp: emit({ type: 'relay' as const, up: true }),
    announceDown: emit({ type: 'relay' as const, up: false }),
    announceFetched: emit((_, params: { applied: number }) => ({ type: 'fetched' as const, applied: params.applied })),
    announceBareReaders: emit((_, params: { reason: string }) => ({ type: 'bareReaders' as const, reason: params.reason })),
    /** Emitted, and sent to the parent when there is one (the contact link forwards `file.*` to the app like its file session's). */
    announceFile: enqueueActions(({ enqueue, self }, params: FileEvent) => {
      enqueue.emit(params);
      if (self._parent) enqueue.sendParent(params);
    }),
  },
}).createMachine({
  id: 'depot',
  context: ({ input }) => {
    const key = topicKeyOf(input.contactKey);
    return {
      input,
      topicKey: key,
      topic: key.topic,
      key: depotKey(input.contactKey),
      tag: depotTag(input.contactKey, input.deviceId),
      mine: [],
      timeouts: { ...DEFAULT_DEPOT_TIMEOUTS, ...input.timeouts },
      attempts: 0,
      pending: [],
      sentFiles: {},
      refusedFiles: [],
      voided: 0,
      again: false,
      inbox: [],
      stored: [],
    };
  },
  type: 'parallel',
  states: {
    relay: {
      initial: 'connection',
      states: {
        connection: {
          invoke: { id: 'socket', src: 'socket', input: ({ context }) => ({ url: context.input.url, connector: context.input.connector }) },
          on: {
            'socket.frame': { actions: 'readFrame' },
            'socket.closed': 'retrying',
          },
          initial: 'connecting',
          states: {
            connecting: {
              // The relay's first frame: prove the topic, then every request (in order) is on a proven topic.
              on: { 'relay.challenge': { target: 'open', actions: 'sendProof' } },
            },
            open: {
              type: 'parallel',
              entry: ['announceUp', assign({ attempts: 0 }), 'forgetUnacknowledged', 'sendFetch'],
              on: {
                'relay.waiting': { actions: 'sendFetch' }, // someone deposited for this topic since our last fetch
                'relay.deposits': {
                  actions: enqueueActions(({ context, event, enqueue }) => {
                    // Nothing waits (the common answer, once per contact as a device opens): nothing to apply or acknowledge.
                    if (event.items.length > 0) enqueue.assign({ inbox: [...context.inbox, event.items] });
                    // A page: ask for the next one, after its last deposit (the relay leaves ours out: `skip`).
                    const last = event.items.at(-1);
                    if (!event.more || !last) return;
                    const frame = fetchFrame(context, last.id);
                    enqueue.sendTo('socket', { type: 'socket.send', text: JSON.stringify(frame) });
                  }),
                },
                'relay.deposited': [
                  // The answer to a deposit forgotten after a refusal: not the newer one's.
                  { guard: 'voidedReply', actions: 'consumeVoided' },
                  {
                    // Only now is it ours to forget: the relay stored it. Replies come in order: it is the oldest.
                    guard: ({ context }) => context.pending.length > 0,
                    actions: assign(({ context, event }) => ({
                      pending: context.pending.slice(1),
                      stored: [...context.stored, { id: event.id, ...context.pending[0]! }],
                    })),
                  },
                ],
                'relay.error': [
                  // A relay that will not take our `mine`: fetch without it (as before it, fetching my other devices' deposits again).
                  {
                    guard: ({ context, event }) => event.re === 'fetch' && event.reason === MINE_PROBLEM && context.mineRefused !== true,
                    actions: [assign({ mineRefused: true }), 'sendFetch'],
                  },
                  { guard: ({ context, event }) => event.re === 'deposit' && context.voided > 0, actions: 'consumeVoided' },
                  {
                    // A relay from before ack tokens: the same deposits go again, their readers by bare tag (not a refusal).
                    guard: ({ context, event }) =>
                      event.re === 'deposit' && context.pending.length > 0 && context.bareReaders !== true && isBareReadersRefusal(event.reason),
                    actions: [
                      'forgetAfterRefusal',
                      assign({ bareReaders: true, again: true }),
                      { type: 'announceBareReaders', params: ({ event }) => ({ reason: event.reason }) },
                    ],
                  },
                  {
                    // A file's chunk refused (the topic's quota): the file waits on the device; the rest goes on.
                    guard: ({ context, event }) => event.re === 'deposit' && context.pending[0]?.file !== undefined,
                    actions: enqueueActions(({ context, event, enqueue }) => {
                      const file = context.pending[0]!.file!;
                      enqueue('forgetAfterRefusal');
                      enqueue.assign({ refusedFiles: [...context.refusedFiles, file.hash], again: true });
                      enqueue({ type: 'announceFile', params: refusedFile(file.hash, file.size, `the relay would not keep it: ${event.reason}`) });
                    }),
                  },
                  {
                    // Refused (a full depot): the next deposit starts again from what the relay acknowledged.
                    guard: ({ context, event }) => event.re === 'deposit' && context.pending.length > 0,
                    actions: ['forgetAfterRefusal', { type: 'announceRefused', params: ({ event }) => refusal(event.reason, event.code) }],
                  },
                ],
              },
              states: {
                poll: {
                  after: { fetchEvery: { target: 'poll', reenter: true, actions: 'sendFetch' } },
                },
                writes: {
                  initial: 'choosing',
                  states: {
                    // Anything written while we could not reach anyone goes out first.
                    choosing: { always: [{ guard: 'mayDeposit', target: 'debouncing' }, { target: 'collecting' }] },
                    collecting: {},
                    idle: {
                      always: { guard: 'again', target: 'depositing' },
                      on: { 'doc.changed': 'debouncing' },
                    },
                    debouncing: {
                      on: { 'doc.changed': { target: 'debouncing', reenter: true } },
                      // One batch in flight at a time (it is at most maxBatchChars): the rest waits in idle.
                      after: {
                        debounce: [
                          { guard: 'nothingInFlight', target: 'depositing' },
                          { target: 'idle', actions: assign({ again: true }) },
                        ],
                      },
                    },
                    depositing: {
                      entry: assign({ again: false }),
                      on: { 'doc.changed': { actions: assign({ again: true }) } },
                      invoke: {
                        src: 'prepareDeposit',
                        input: ({ context }) => ({
                          ...ledgerOf(context),
                          key: context.key,
                          contactKey: context.input.contactKey,
                          deviceId: context.input.deviceId,
                          randomBytes: context.input.randomBytes,
                          sent: context.sent,
                          ...(context.input.own ? { own: true } : {}),
                          maxBlobChars: context.input.maxDepositChars ?? DEFAULT_MAX_DEPOSIT_CHARS,
                          maxBatchChars: DEFAULT_MAX_BATCH_CHARS,
                          files: { limit: context.input.relayFileBytes ?? DEFAULT_RELAY_FILE_BYTES, sent: context.sentFiles, skip: context.refusedFiles },
                        }),
                        onDone: {
                          target: 'idle',
                          actions: enqueueActions(({ context, event, enqueue }) => {
                            const { deposits, refused, more, refusedFiles = [] } = event.output;
                            if (more) enqueue.assign({ again: true });
                            const sentFiles = { ...context.sentFiles };
                            for (const d of deposits) {
                              const frame: DepositFrame = {
                                type: 'deposit',
                                topic: context.topic,
                                blob: d.blob,
                                tag: context.tag,
                                ...(d.readers ? { readers: context.bareReaders === true ? d.readers.map(readerTagOf) : d.readers } : {}),
                              };
                              enqueue.sendTo('socket', { type: 'socket.send', text: JSON.stringify(frame) });
                              if (d.file) sentFiles[d.file.hash] = d.file.index + 1;
                            }
                            if (deposits.length > 0)
                              enqueue.assign({
                                sent: deposits.at(-1)!.heads,
                                sentFiles,
                                pending: [...context.pending, ...deposits.map(({ blob: _, readers: __, ...d }) => d)],
                              });
                            if (refused) enqueue({ type: 'announceRefused', params: { reason: refused } });
                            if (refusedFiles.length > 0) enqueue.assign({ refusedFiles: [...context.refusedFiles, ...refusedFiles.map((f) => f.hash)] });
                            for (const f of refusedFiles) enqueue({ type: 'announceFile', params: refusedFile(f.hash, f.size, f.reason) });
                          }),
                        },
                        onError: 'idle',
                      },
                    },
                  },
                },
                inbox: {
                  initial: 'idle',
                  states: {
                    idle: { always: { guard: 'inboxWaiting', target: 'applying' } },
                    applying: {
                      invoke: {
                        src: 'applyDeposits',
                        input: ({ context }) => ({
                          ...ledgerOf(context),
                          key: context.key,
                          deviceId: context.input.deviceId,
                          tag: context.tag,
                          items: context.inbox[0]!,
                          sent: context.sent,
                          ...(context.input.own ? { own: true } : {}),
                        }),
                        onDone: {
                          target: 'idle',
                          actions: [
                            assign({
                              inbox: ({ context }) => context.inbox.slice(1),
                              mine: ({ context, event }) => withMine(context, event.output.mine),
                            }),
                            enqueueActions(({ context, event, enqueue }) => {
                              if (event.output.ids.length === 0) return;
                              // Our token for each (our tag for deposits of earlier clients): a deposit listing readers waits
                              // for the others' acks, and is listed to us no more.
                              const { ids, tokens } = event.output;
                              const frame: AckFrame = {
                                type: 'ack',
                                topic: context.topic,
                                ids,
                                tag: context.tag,
                                ...(tokens.some((t) => t !== '') ? { tokens } : {}),
                              };
                              enqueue.sendTo('socket', { type: 'socket.send', text: JSON.stringify(frame) });
                            }),
                            { type: 'announceFetched', params: ({ event }) => ({ applied: event.output.applied }) },
                            enqueueActions(({ event, enqueue }) => {
                              for (const file of event.output.files ?? []) enqueue({ type: 'announceFile', params: file });
                            }),
                          ],
                        },
                        onError: { target: 'idle', actions: assign({ inbox: ({ context }) => context.inbox.slice(1) }) },
                      },
                    },
                  },
                },
              },
            },
          },
        },
        retrying: {
          // Down once, when a working connection drops or the very first attempt fails; quiet after.
          entry: [
            enqueueActions(({ check, enqueue }) => {
              if (check('firstFailure')) enqueue('announceDown');
            }),
            assign({ attempts: ({ context }) => context.attempts + 1, inbox: [] }),
          ],
          after: { backoff: 'connection' },
        },
      },
    },
    // Outside the connection: a save the relay acknowledged finishes even if the socket drops meanwhile.
    ledger: {
      initial: 'idle',
      states: {
        idle: {
          always: [
            { guard: 'storedChunk', target: 'savingChunk' },
            { guard: 'storedWaiting', target: 'saving' },
          ],
        },
        savingChunk: {
          invoke: {
            src: 'saveChunk',
            input: ({ context }) => ({ storage: context.input.storage, channelId: context.input.channelId, file: context.stored[0]!.file! }),
            onDone: {
              target: 'idle',
              actions: [
                enqueueActions(({ context, enqueue }) => {
                  const file = context.stored[0]!.file!;
                  enqueue({ type: 'announceFile', params: { type: 'file.progress', hash: file.hash, direction: 'out', done: file.upTo, total: file.size } });
                  if (file.index + 1 === file.chunks)
                    enqueue({ type: 'announceFile', params: { type: 'file.done', hash: file.hash, direction: 'out', total: file.size } });
                }),
                assign({ stored: ({ context }) => context.stored.slice(1) }),
              ],
            },
            onError: { target: 'idle', actions: assign({ stored: ({ context }) => context.stored.slice(1) }) },
          },
        },
        saving: {
          invoke: {
            src: 'saveHeads',
            input: ({ context }) => ({ ...ledgerOf(context), heads: context.stored[0]!.heads, devices: context.stored[0]!.devices }),
            onDone: { target: 'idle', actions: ['announceDeposited', assign({ stored: ({ context }) => context.stored.slice(1) })] },
            onError: { target: 'idle', actions: assign({ stored: ({ context }) => context.stored.slice(1) }) },
          },
        },
      },
    },
  },
  invoke: { id: 'changes', src: 'changes', input: ({ context }) => ({ docs: context.input.docs, channelId: context.input.channelId }) },
});
