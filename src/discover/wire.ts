/**
 * The DISCOVER wire: the JSON frames a device and the relay exchange at `/backchannel/v2` (one JSON
 * object per WebSocket text frame, always with `type`). One discriminated union per direction, one
 * parser per direction that never throws: a frame is either read into exactly the fields below, or
 * refused with a typed {@link ProtocolError} saying which request it was (`data.re`) and why.
 *
 *                                     ← challenge {challenge}   (first, once per connection)
 *   → prove {topic, key, signature}   ← proven {topic}
 *   → announce {topic}                ← announced {topic, peer, peers}   the others ← joined {topic, peer}
 *   → send {topic, to, kind, blob}    `to` ← message {topic, from, kind, blob}
 *   → leave {topic}                   the others ← left {topic, peer}
 *   → ping                            ← pong
 *   any refused request               ← error {re, id?, reason, code?}
 *
 * Any request may carry an `id` (a short string); the error frame refusing it echoes it.
 *
 * A topic is used only once proven on the connection: `prove` shows the topic key (crypto/topicKey.ts)
 * by signing the relay's challenge for this connection, so knowing (or having seen) a topic is not
 * enough to announce on it or to deposit, fetch or acknowledge under it. A request on a topic not
 * proven is refused with `code: 'unproven'`.
 *
 * The depot's frames (deposit, fetch, ack) share the endpoint and the {@link ErrorFrame};
 * they have their own wire module.
 * @module
 */
import { ProtocolError } from '../errors.js';

/**
 * DISCOVER's protocol version: the `v2` of the endpoint. A change old peers would misread gets a new
 * one (2: topics are proven with the topic key; version 1 took the topic alone).
 */
export const DISCOVER_VERSION = 2;
/** The relay path DISCOVER (and the depot) answer on. */
export const DISCOVER_PATH = `/backchannel/v${DISCOVER_VERSION}`;

/** What a blob carries: sealed signalling (`signal`, discover/signal.ts) or the relayed transport (`data`). */
export type BlobKind = 'signal' | 'data';

// ——— device → relay ———

/** Show the relay that we hold the topic key, so this connection may use the topic. */
export interface ProveFrame {
  type: 'prove';
  /** hex(blake3(key)): 64 lower-case hex digits. */
  topic: string;
  /** The topic's Ed25519 public key, 64 hex digits. */
  key: string;
  /** Ed25519 signature over the proof message for this connection's challenge (crypto/topicKey.ts), 128 hex digits. */
  signature: string;
}

export interface AnnounceFrame {
  type: 'announce';
  /** A topic this connection proved: 64 lower-case hex digits. */
  topic: string;
}

export interface SendFrame {
  type: 'send';
  /** A topic this connection announced. */
  topic: string;
  /** The addressee's peer id on that topic (16 hex digits, from `announced`/`joined`). */
  to: string;
  /** Which limit applies and what the addressee does with it. */
  kind: BlobKind;
  /** Sealed bytes, base64; the relay never sees inside. */
  blob: string;
}

export interface LeaveFrame {
  type: 'leave';
  /** A topic this connection announced. */
  topic: string;
}

export interface PingFrame {
  type: 'ping';
}

/** Every DISCOVER request a device sends. */
export type DiscoverRequest = ProveFrame | AnnounceFrame | SendFrame | LeaveFrame | PingFrame;

// ——— relay → device ———

/** The relay's first frame on a connection: what proofs on this connection sign. */
export interface ChallengeFrame {
  type: 'challenge';
  /** 32 random bytes, 64 hex digits, new for every connection. */
  challenge: string;
}

/** The topic's proof held: this connection may use the topic. */
export interface ProvenFrame {
  type: 'proven';
  topic: string;
}

export interface AnnouncedFrame {
  type: 'announced';
  /** The topic just announced. */
  topic: string;
  /** Our peer id on it: random, per (connection, topic). */
  peer: string;
  /** The peer ids already there. */
  peers: string[];
}

export interface JoinedFrame {
  type: 'joined';
  /** A topic we announced. */
  topic: string;
  /** The newcomer's peer id. */
  peer: string;
}

export interface LeftFrame {
  type: 'left';
  /** A topic we announced. */
  topic: string;
  /** The peer id that left (or whose connection closed). */
  peer: string;
}

export interface MessageFrame {
  type: 'message';
  /** The topic it came through. */
  topic: string;
  /** The sender's peer id on that topic. */
  from: string;
  /** As the sender gave it. */
  kind: BlobKind;
  /** As the sender gave it: sealed, base64. */
  blob: string;
}

export interface PongFrame {
  type: 'pong';
}

/**
 * The relay refused a request. Shared by every frame on the endpoint (DISCOVER and the offline
 * mailbox), so a client can tell which request failed.
 */
export interface ErrorFrame {
  type: 'error';
  /** The refused request's `type`, or null when the frame could not be read as a request at all. */
  re: string | null;
  /** The refused request's `id`, when it carried one. */
  id?: string;
  /** Why, in words. */
  reason: string;
  /** Why, for a program: {@link UNPROVEN} when the request's topic was not proven on this connection. */
  code?: string;
}

/** The error code of a request on a topic this connection has not proven. */
export const UNPROVEN = 'unproven';

/** Every DISCOVER frame the relay sends. */
export type DiscoverReply = ChallengeFrame | ProvenFrame | AnnouncedFrame | JoinedFrame | LeftFrame | MessageFrame | PongFrame | ErrorFrame;

// ——— limits and checks ———

export interface WireLimits {
  /** Largest `signal` blob, in base64 characters. */
  maxSignalChars: number;
  /** Largest `data` blob, in base64 characters. */
  maxDataChars: number;
  /** Most peer ids in one `announced`. */
  maxPeers: number;
  /** Longest error `reason` (and request `id`) a client accepts. */
  maxTextChars: number;
}

export const DEFAULT_WIRE_LIMITS: Readonly<WireLimits> = Object.freeze({
  maxSignalChars: 16 * 1024,
  maxDataChars: 128 * 1024,
  maxPeers: 1024,
  maxTextChars: 1024,
});

/** Read, or refused with a typed error (never thrown). */
export type WireResult<T> = { ok: true; frame: T } | { ok: false; error: ProtocolError };

const TOPIC = /^[0-9a-f]{64}$/;
const PEER = /^[0-9a-f]{16}$/;
const KEY = /^[0-9a-f]{64}$/;
const SIGNATURE = /^[0-9a-f]{128}$/;
const CODE = /^[a-z-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export const isTopic = (v: unknown): v is string => typeof v === 'string' && TOPIC.test(v);
/** Standard base64 with padding: how sealed blobs travel, on DISCOVER and in the depot. */
export const isBase64 = (v: unknown): v is string => typeof v === 'string' && BASE64.test(v);
export const isPeerId = (v: unknown): v is string => typeof v === 'string' && PEER.test(v);
/** A challenge or a public key: 32 bytes, 64 lower-case hex digits. */
export const isKeyHex = (v: unknown): v is string => typeof v === 'string' && KEY.test(v);
export const isSignatureHex = (v: unknown): v is string => typeof v === 'string' && SIGNATURE.test(v);
export const isBlobKind = (v: unknown): v is BlobKind => v === 'signal' || v === 'data';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Thrown only inside this module, to leave a parser early; the parsers turn it into a result. */
class Refusal {
  constructor(readonly reason: string) {}
}

/** A text frame as a JSON object with a string `type`. */
export function parseJsonFrame(text: unknown): WireResult<Record<string, unknown> & { type: string }> {
  if (typeof text !== 'string') return refuse(null, 'binary frames are not part of this protocol');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return refuse(null, 'frame is not a JSON object');
  }
  if (!isRecord(value)) return refuse(null, 'frame is not a JSON object');
  if (typeof value.type !== 'string') return refuse(null, "frame has no string 'type'");
  return { ok: true, frame: value as Record<string, unknown> & { type: string } };
}

/** The request's `type` and `id` as an error frame names them (bounded, so garbage is not echoed). */
export function requestOf(frame: Record<string, unknown>, limits: Pick<WireLimits, 'maxTextChars'> = DEFAULT_WIRE_LIMITS): { re: string | null; id?: string } {
  const re = typeof frame.type === 'string' && frame.type.length <= 32 ? frame.type : null;
  const id = typeof frame.id === 'string' && frame.id.length <= Math.min(64, limits.maxTextChars) ? frame.id : undefined;
  return id === undefined ? { re } : { re, id };
}

/** The error frame refusing `frame` (a request, or null when it could not be read); `code` for a program. */
export function errorFrame(frame: Record<string, unknown> | null, reason: string, code?: string): ErrorFrame {
  return { type: 'error', ...(frame ? requestOf(frame) : { re: null }), reason, ...(code === undefined ? {} : { code }) };
}

/** The relay's challenge, if `text` is a `challenge` frame (the depot client reads it without the rest of DISCOVER). */
export function parseChallenge(text: unknown): ChallengeFrame | undefined {
  const read = parseJsonFrame(text);
  if (!read.ok || read.frame.type !== 'challenge' || !isKeyHex(read.frame.challenge)) return undefined;
  return { type: 'challenge', challenge: read.frame.challenge };
}

/**
 * Read a device's request (relay side). `frame` is a text frame, or the object {@link parseJsonFrame}
 * made of one. Blobs over `limits` are refused here, before anything is routed.
 */
export function parseDiscoverRequest(
  frame: unknown,
  limits: Pick<WireLimits, 'maxSignalChars' | 'maxDataChars'> = DEFAULT_WIRE_LIMITS,
): WireResult<DiscoverRequest> {
  const read =
    isRecord(frame) && typeof frame.type === 'string'
      ? { ok: true as const, frame: frame as Record<string, unknown> & { type: string } }
      : parseJsonFrame(frame);
  if (!read.ok) return read;
  const m = read.frame;
  try {
    switch (m.type) {
      case 'prove': {
        const topic = topicOf(m);
        if (!isKeyHex(m.key)) throw new Refusal("prove needs a 'key' of 64 hex digits");
        if (!isSignatureHex(m.signature)) throw new Refusal("prove needs a 'signature' of 128 hex digits");
        return { ok: true, frame: { type: 'prove', topic, key: m.key, signature: m.signature } };
      }
      case 'announce':
        return { ok: true, frame: { type: 'announce', topic: topicOf(m) } };
      case 'leave':
        return { ok: true, frame: { type: 'leave', topic: topicOf(m) } };
      case 'ping':
        return { ok: true, frame: { type: 'ping' } };
      case 'send': {
        const topic = topicOf(m);
        if (!isPeerId(m.to)) throw new Refusal("send needs a 'to' peer id of 16 hex digits");
        if (!isBlobKind(m.kind)) throw new Refusal("kind must be 'signal' or 'data'");
        const max = m.kind === 'signal' ? limits.maxSignalChars : limits.maxDataChars;
        return { ok: true, frame: { type: 'send', topic, to: m.to, kind: m.kind, blob: blobOf(m, max) } };
      }
      default:
        throw new Refusal('unknown type');
    }
  } catch (err) {
    if (err instanceof Refusal) return refuse(m, err.reason);
    throw err;
  }
}

/**
 * Read a relay's reply (device side). A type this client does not know is refused with
 * `data.reason: 'unknown type'` and `data.unknown: true`, so a caller can ignore newer frames.
 */
export function parseDiscoverReply(text: unknown, limits: WireLimits = DEFAULT_WIRE_LIMITS): WireResult<DiscoverReply> {
  const read = parseJsonFrame(text);
  if (!read.ok) return read;
  const m = read.frame;
  try {
    switch (m.type) {
      case 'challenge':
        if (!isKeyHex(m.challenge)) throw new Refusal("challenge needs a 'challenge' of 64 hex digits");
        return { ok: true, frame: { type: 'challenge', challenge: m.challenge } };
      case 'proven':
        return { ok: true, frame: { type: 'proven', topic: topicOf(m) } };
      case 'announced': {
        const peers = m.peers;
        if (!Array.isArray(peers) || peers.length > limits.maxPeers || !peers.every(isPeerId)) {
          throw new Refusal(`'peers' must be at most ${limits.maxPeers} peer ids`);
        }
        return { ok: true, frame: { type: 'announced', topic: topicOf(m), peer: peerOf(m, 'peer'), peers: [...peers] } };
      }
      case 'joined':
      case 'left':
        return { ok: true, frame: { type: m.type, topic: topicOf(m), peer: peerOf(m, 'peer') } };
      case 'message': {
        const topic = topicOf(m);
        const from = peerOf(m, 'from');
        if (!isBlobKind(m.kind)) throw new Refusal("kind must be 'signal' or 'data'");
        const blob = blobOf(m, m.kind === 'signal' ? limits.maxSignalChars : limits.maxDataChars);
        return { ok: true, frame: { type: 'message', topic, from, kind: m.kind, blob } };
      }
      case 'pong':
        return { ok: true, frame: { type: 'pong' } };
      case 'error': {
        const { re, id, reason, code } = m;
        if (!(re === null || (typeof re === 'string' && re.length <= 32))) throw new Refusal("'re' must be a request type or null");
        if (!(id === undefined || (typeof id === 'string' && id.length <= 64))) throw new Refusal("'id' must be a short string");
        if (typeof reason !== 'string' || reason.length > limits.maxTextChars)
          throw new Refusal(`'reason' must be a string of at most ${limits.maxTextChars} characters`);
        if (!(code === undefined || (typeof code === 'string' && CODE.test(code)))) throw new Refusal("'code' must be a short lower-case word");
        return { ok: true, frame: { type: 'error', re, ...(id === undefined ? {} : { id }), reason, ...(code === undefined ? {} : { code }) } };
      }
      default:
        return {
          ok: false,
          error: new ProtocolError(`the relay sent an unknown frame type`, { re: m.type.slice(0, 32), reason: 'unknown type', unknown: true }),
        };
    }
  } catch (err) {
    if (err instanceof Refusal) return refuse(m, err.reason);
    throw err;
  }
}

function refuse(frame: Record<string, unknown> | null, reason: string): { ok: false; error: ProtocolError } {
  const re = frame ? requestOf(frame).re : null;
  return { ok: false, error: new ProtocolError(re ? `'${re}' frame refused: ${reason}` : reason, { re, reason }) };
}

function topicOf(m: Record<string, unknown>): string {
  if (!isTopic(m.topic)) throw new Refusal(`${m.type} needs a 'topic' of 64 hex digits`);
  return m.topic;
}

function peerOf(m: Record<string, unknown>, key: string): string {
  const v = m[key];
  if (!isPeerId(v)) throw new Refusal(`${m.type} needs a '${key}' peer id of 16 hex digits`);
  return v;
}

function blobOf(m: Record<string, unknown>, max: number): string {
  const blob = m.blob;
  if (!isBase64(blob)) throw new Refusal('blob must be base64');
  if (blob.length > max) throw new Refusal(`blob too large (${blob.length} > ${max} characters)`);
  return blob;
}

/** The reason an error result carries, for the relay's error frame. */
export const reasonOf = (error: ProtocolError): string => (typeof error.data.reason === 'string' ? error.data.reason : error.message);
