/**
 * The depot's wire: the frames a device and the relay exchange at `/backchannel/v2` to keep sealed
 * changes for a contact who is offline. One JSON object per WebSocket text frame, told apart by
 * `type`. Used by the client (`depot/depotMachine.ts`) and the relay (`server/discoveryServer.ts`,
 * `server/depot.ts`); DISCOVER's frames on the same endpoint are in `discover/wire.ts`.
 *
 *   → {type:"deposit", topic, blob, tag?, readers?}   ← {type:"deposited", topic, id}
 *   → {type:"fetch", topic, after?, skip?, mine?}     ← {type:"deposits", topic, items:[{id, blob}], more?}
 *   → {type:"ack", topic, ids:[…distinct], tag?, tokens?}  ← {type:"acked", topic}
 *                                        ← {type:"waiting", topic}  (to earlier fetchers, on a deposit)
 *                                        ← {type:"error", re, reason}  (answers the request `re`)
 *
 * The relay answers a connection's requests in order, so a reply belongs to the oldest request of its
 * kind still unanswered. Every request needs its topic proven on the connection first (DISCOVER's
 * `prove`, answering the relay's `challenge`: `discover/wire.ts`); knowing the topic is not enough, and
 * a request on an unproven topic is refused with `code: 'unproven'`.
 *
 * Tags (`depot/payload.ts` depotTag) are opaque: a keyed hash of a device id under the contact key.
 * A deposit lists its `readers`, one entry per device it is for: `tag:check`, the device's tag and
 * {@link ackCheck} of a random ack token made for this deposit and sealed to that device's key inside
 * the blob (`depot/payload.ts`), so only that device can ack for it: an ack carries the token, and
 * the relay takes it for the entry whose check it hashes to. (A bare `tag`, as earlier clients list
 * them, is acked by the tag alone: anyone holding the contact key could.) A reader fetches with its tag
 * as `skip`; the relay deletes the deposit once every listed reader acked, and lists it no more to a
 * reader that did. A deposit without `readers` goes at the first ack; an ack takes nothing else
 * without a token or tag that a deposit's entry names. In a contact's channel a fetch may name the
 * tags of the fetcher's other devices (`mine`): what they deposited is for the contact, so the relay
 * leaves it out too (a relay from before `mine` ignores it and sends them, as before).
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex } from '../crypto/bytes.js';
import { isBase64, isTopic, type ErrorFrame as WireErrorFrame } from '../discover/wire.js';

/** The depot protocol's version: the `v2` of the `/backchannel/v2` endpoint it is spoken on (2: proven topics). */
export const DEPOT_PROTOCOL_VERSION = 2;

/** Keep `blob` (sealed, base64) for whoever fetches `topic`. */
export interface DepositFrame {
  type: 'deposit';
  /** Where the contact will look: the contact's topic (crypto/topicKey.ts), proven on this connection. */
  topic: string;
  /** The sealed changes, base64; the relay never sees inside. */
  blob: string;
  /** The depositing device's opaque tag (`depot/payload.ts` depotTag, 16 hex digits): its own fetches skip this deposit. */
  tag?: string;
  /**
   * The devices that must each acknowledge it before the relay deletes it: `tag:check` each (a bare
   * `tag` from earlier clients), distinct tags, at most {@link MAX_DEPOSIT_READERS}; without it the
   * first acknowledgement deletes it.
   */
  readers?: string[];
}

/** Hand over everything kept for `topic`; also asks to hear `waiting` when more lands there. */
export interface FetchFrame {
  type: 'fetch';
  /** The topic to collect. */
  topic: string;
  /** Start just after this deposit id (the last of the previous page); from the oldest without it. */
  after?: string;
  /**
   * The fetching device's own tag (16 hex digits): the relay leaves out the deposits made with it and
   * those this device acknowledged already.
   */
  skip?: string;
  /**
   * The tags of the fetching device's other devices (my devices; at most {@link MAX_DEPOSIT_READERS},
   * distinct), in a contact's channel: what they deposited there is for the contact, never for this
   * device, so the relay leaves those deposits out too. The relay learns that these tags are one
   * side's devices: little it could not infer (the contact's deposits list them as their readers).
   */
  mine?: string[];
}

/** The listed deposits are applied here: the relay may delete them. */
export interface AckFrame {
  type: 'ack';
  /** The topic they were fetched from. */
  topic: string;
  /** The `id`s of the deposits received in `deposits`. */
  ids: string[];
  /** The acknowledging device's tag: what a reader listed by its bare tag acks with. */
  tag?: string;
  /**
   * The ack token each deposit sealed to this device (32 hex digits), by position in `ids`; '' where
   * there is none. The relay takes a token for the reader entry whose check is {@link ackCheck} of it.
   */
  tokens?: string[];
}

/** The relay stored a deposit (on disk or Redis): only now may the depositor forget it. */
export interface DepositedFrame {
  type: 'deposited';
  /** The topic it was deposited under. */
  topic: string;
  /** The relay's id for it: arrival time, a counter and the relay instance. */
  id: string;
}

/** One kept deposit, as fetched. */
export interface DepositItem {
  /** The relay's id, to acknowledge it with. */
  id: string;
  /** The sealed changes, base64, as deposited. */
  blob: string;
}

/** The answer to `fetch`: what waits for the topic, oldest first. */
export interface DepositsFrame {
  type: 'deposits';
  /** The topic fetched. */
  topic: string;
  /** Deposits kept for it, oldest first (possibly none): one page, bounded by the relay's `maxFetchChars`. */
  items: DepositItem[];
  /** True when later deposits wait: fetch again with `after` = the last item's id. */
  more?: boolean;
}

/** The answer to `ack`: those deposits are gone. */
export interface AckedFrame {
  type: 'acked';
  /** The topic acknowledged. */
  topic: string;
}

/** Someone deposited for a topic this connection fetched before: fetch again now. */
export interface WaitingFrame {
  type: 'waiting';
  /** The topic with a new deposit. */
  topic: string;
}

/** The requests the relay can refuse. */
export type DepotRequestType = 'deposit' | 'fetch' | 'ack';

/**
 * A refused depot request: the endpoint's one error envelope (`discover/wire.ts`), answering a depot
 * request, so a client reads a refused deposit as such and nothing else. Depot requests carry no `id`:
 * replies come in order. `reason` is for people, e.g. `depot full for this topic (3 deposits)`.
 */
export type ErrorFrame = WireErrorFrame & { re: DepotRequestType };

export type DepotRequest = DepositFrame | FetchFrame | AckFrame;
export type DepotReply = DepositedFrame | DepositsFrame | AckedFrame | WaitingFrame | ErrorFrame;

type Unknown = Record<string, unknown>;
const isObject = (v: unknown): v is Unknown => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const distinct = (v: readonly string[]): boolean => new Set(v).size === v.length;
const TAG = /^[0-9a-f]{16}$/;
/** A device's depot tag: 16 lower-case hex digits. */
export const isDepotTag = (v: unknown): v is string => typeof v === 'string' && TAG.test(v);
const optionalTag = (v: unknown): boolean => v === undefined || isDepotTag(v);

/** The most reader tags one deposit may list: the relay's peers per topic (DISCOVER's `maxPeersPerTopic`). */
export const MAX_DEPOSIT_READERS = 16;
const READER = /^[0-9a-f]{16}(:[0-9a-f]{32})?$/;
const TOKEN = /^[0-9a-f]{32}$/;
/** One entry of a deposit's `readers`: `tag:check` (16 and 32 hex digits), or a bare tag. */
export const isReaderEntry = (v: unknown): v is string => typeof v === 'string' && READER.test(v);
/** The device tag a reader entry names. */
export const readerTagOf = (entry: string): string => entry.slice(0, 16);
/** The check a reader entry names ({@link ackCheck} of its token), or undefined for a bare tag. */
export const readerCheckOf = (entry: string): string | undefined => (entry.length > 16 ? entry.slice(17) : undefined);
/** A deposit's `readers`: 1 to {@link MAX_DEPOSIT_READERS} entries, their tags distinct. */
export const isReaderTags = (v: unknown): v is string[] =>
  Array.isArray(v) && v.length > 0 && v.length <= MAX_DEPOSIT_READERS && v.every(isReaderEntry) && new Set(v.map(readerTagOf)).size === v.length;
/** An ack's `tokens` for its `ids`: one each, 32 hex digits or '' (none). */
export const isAckTokens = (v: unknown, ids: unknown): v is string[] =>
  Array.isArray(v) && Array.isArray(ids) && v.length === ids.length && v.every((t) => t === '' || (typeof t === 'string' && TOKEN.test(t)));
/**
 * What a deposit lists for an ack token (16 bytes, hex): the first 16 bytes of its SHA-256, hex. The
 * relay compares checks, not tokens: how long a comparison takes tells nothing of a token.
 */
export const ackCheck = (token: string): string => toHex(sha256(fromHex(token)).subarray(0, 16));
const optionalReaders = (v: unknown): boolean => v === undefined || isReaderTags(v);
/** A fetch's `mine`: 1 to {@link MAX_DEPOSIT_READERS} distinct tags. */
const optionalMine = (v: unknown): boolean =>
  v === undefined || (Array.isArray(v) && v.length > 0 && v.length <= MAX_DEPOSIT_READERS && v.every(isDepotTag) && distinct(v as string[]));

export const isDepotRequestType = (v: unknown): v is DepotRequestType => v === 'deposit' || v === 'fetch' || v === 'ack';

export const isDepositFrame = (v: unknown): v is DepositFrame =>
  isObject(v) && v.type === 'deposit' && isTopic(v.topic) && isBase64(v.blob) && optionalTag(v.tag) && optionalReaders(v.readers);
export const isFetchFrame = (v: unknown): v is FetchFrame =>
  isObject(v) &&
  v.type === 'fetch' &&
  isTopic(v.topic) &&
  (v.after === undefined || typeof v.after === 'string') &&
  optionalTag(v.skip) &&
  optionalMine(v.mine);
export const isAckFrame = (v: unknown): v is AckFrame =>
  isObject(v) &&
  v.type === 'ack' &&
  isTopic(v.topic) &&
  isStrings(v.ids) &&
  distinct(v.ids) &&
  optionalTag(v.tag) &&
  (v.tokens === undefined || isAckTokens(v.tokens, v.ids));

export const isDepositedFrame = (v: unknown): v is DepositedFrame => isObject(v) && v.type === 'deposited' && isTopic(v.topic) && typeof v.id === 'string';
export const isDepositItem = (v: unknown): v is DepositItem => isObject(v) && typeof v.id === 'string' && typeof v.blob === 'string';
export const isDepositsFrame = (v: unknown): v is DepositsFrame =>
  isObject(v) &&
  v.type === 'deposits' &&
  isTopic(v.topic) &&
  Array.isArray(v.items) &&
  v.items.every(isDepositItem) &&
  (v.more === undefined || typeof v.more === 'boolean');
export const isAckedFrame = (v: unknown): v is AckedFrame => isObject(v) && v.type === 'acked' && isTopic(v.topic);
export const isWaitingFrame = (v: unknown): v is WaitingFrame => isObject(v) && v.type === 'waiting' && isTopic(v.topic);
export const isErrorFrame = (v: unknown): v is ErrorFrame =>
  isObject(v) &&
  v.type === 'error' &&
  isDepotRequestType(v.re) &&
  typeof v.reason === 'string' &&
  (v.id === undefined || typeof v.id === 'string') &&
  (v.code === undefined || typeof v.code === 'string');

const replyGuards = [isDepositedFrame, isDepositsFrame, isAckedFrame, isWaitingFrame, isErrorFrame];

/** A relay's frame, if it is a well-formed depot reply; anything else (DISCOVER's frames, garbage) is undefined. */
export function parseDepotReply(text: string): DepotReply | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  return replyGuards.some((guard) => guard(v)) ? (v as DepotReply) : undefined;
}

/** Why a deposit's `readers` were refused. */
export const READERS_PROBLEM = `deposit's 'readers' must be 1 to ${MAX_DEPOSIT_READERS} entries 'tag:check' (16 and 32 hex digits) or 'tag', their tags distinct`;
/** Why an ack's `ids` were refused when one repeats (each id is acked once: a repeat could only prove more readers in one request). */
export const ACK_IDS_PROBLEM = "ack's 'ids' must be distinct";
/**
 * The reason a relay from before ack tokens gives for `readers` it does not take (it takes only bare
 * tags, at most 16): its text exactly, as that relay sent it.
 */
export const BARE_READERS_PROBLEM = "deposit's 'readers' must be 1 to 16 distinct tags of 16 hex digits";
/**
 * Whether a deposit's refusal is that older relay's ({@link BARE_READERS_PROBLEM}, matched whole, not
 * guessed from its start: another relay's reason is a refusal): the client then lists its readers by
 * bare tag on that connection (`depot/depotMachine.ts`), as clients did before tokens, rather than
 * deposit nothing there.
 */
export const isBareReadersRefusal = (reason: string): boolean => reason === BARE_READERS_PROBLEM;
/** Why a fetch's `mine` was refused. */
export const MINE_PROBLEM = `fetch's 'mine' must be 1 to ${MAX_DEPOSIT_READERS} distinct tags of 16 hex digits`;
/** Why an ack's `tokens` were refused. */
export const TOKENS_PROBLEM = "ack's 'tokens' must be one per id, each 32 hex digits or ''";

/**
 * What is wrong with a request whose `type` is a depot request's, for the error frame; undefined when
 * it is well formed.
 */
export function depotRequestProblem(m: Unknown & { type: DepotRequestType }): string | undefined {
  if (!isTopic(m.topic)) return `${m.type} needs a 'topic' of 64 hex digits`;
  if (m.type === 'deposit' && !isBase64(m.blob)) return 'blob must be base64';
  if (m.type === 'deposit' && !optionalTag(m.tag)) return "deposit's 'tag' must be 16 hex digits";
  if (m.type === 'deposit' && !optionalReaders(m.readers)) return READERS_PROBLEM;
  if (m.type === 'fetch' && !optionalTag(m.skip)) return "fetch's 'skip' must be a tag of 16 hex digits";
  if (m.type === 'fetch' && !optionalMine(m.mine)) return MINE_PROBLEM;
  if (m.type === 'fetch' && m.after !== undefined && (typeof m.after !== 'string' || m.after.length > 64)) return "fetch's 'after' must be a deposit id";
  if (m.type === 'ack' && !isStrings(m.ids)) return "ack needs 'ids', a list of deposit ids";
  if (m.type === 'ack' && !distinct(m.ids as string[])) return ACK_IDS_PROBLEM;
  if (m.type === 'ack' && !optionalTag(m.tag)) return "ack's 'tag' must be 16 hex digits";
  if (m.type === 'ack' && m.tokens !== undefined && !isAckTokens(m.tokens, m.ids)) return TOKENS_PROBLEM;
  return undefined;
}
