/**
 * The magic-wormhole mailbox protocol's frames (wormhole-mailbox-server 0.4.1, server_websocket.py):
 * one JSON object per WebSocket text frame, always with `type`. A union on `type`, with one parser per
 * direction that turns anything malformed into a {@link ProtocolError} instead of a crash.
 * @module
 */
import { ProtocolError } from '../errors.js';

/** Moods a side reports when it closes its mailbox. */
export type Mood = 'happy' | 'lonely' | 'scary' | 'errory';
export const MOODS: readonly Mood[] = ['happy', 'lonely', 'scary', 'errory'];

/** Client → server commands. `id` is a random 4-hex-digit tag the server echoes in its `ack`. */
export type ClientMessage =
  | { type: 'bind'; appid: string; side: string; client_version?: [string, string]; id?: string }
  | { type: 'list'; id?: string }
  | { type: 'allocate'; id?: string }
  | { type: 'claim'; nameplate: string; id?: string }
  | { type: 'release'; nameplate?: string; id?: string }
  | { type: 'open'; mailbox: string; id?: string }
  | { type: 'add'; phase: string; body: string; id?: string }
  | { type: 'close'; mailbox?: string; mood?: string; id?: string }
  | { type: 'ping'; ping: number; id?: string };

/** Server → client frames; every one carries `server_tx` (seconds, float). */
export type ServerMessage =
  /** First frame on a connection; `welcome.error` means the server refuses us (e.g. an old client). */
  | { type: 'welcome'; welcome: { motd?: string; error?: string; current_cli_version?: string; [k: string]: unknown } }
  /** Receipt for a command, echoing its `id` (null when it had none). */
  | { type: 'ack'; id: string | null }
  /** Answer to `list`: the nameplates in use. */
  | { type: 'nameplates'; nameplates: { id: string }[] }
  /** Answer to `allocate`: a free nameplate, now ours. */
  | { type: 'allocated'; nameplate: string }
  /** Answer to `claim`: the mailbox behind the nameplate. */
  | { type: 'claimed'; mailbox: string }
  /** Answer to `release`. */
  | { type: 'released' }
  /** A message in our open mailbox, ours or the peer's (`side`); the server replays all on `open`. */
  | { type: 'message'; side: string; phase: string; body: string; server_rx: number; id: string | null }
  /** Answer to `close`. */
  | { type: 'closed' }
  /** Answer to `ping`. */
  | { type: 'pong'; pong: number }
  /** The server refused a command: `error` is its reason, `orig` the command it refused. */
  | { type: 'error'; error: string; orig?: unknown }
  /** A type this client does not know (a newer server): ignored, not an error. */
  | { type: 'unknown'; received: string };

export type Stamped<T> = T & { server_tx?: number };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse one text frame into a JSON object; anything else is a {@link ProtocolError}. */
export function parseJsonObject(text: unknown): Record<string, unknown> {
  if (typeof text !== 'string') throw new ProtocolError('expected a text frame', { got: typeof text });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError('frame is not valid JSON', { length: text.length });
  }
  if (!isRecord(value)) throw new ProtocolError('frame is not a JSON object');
  return value;
}

/** A JSON object with a string `type`. */
export function parseFrame(text: unknown): Record<string, unknown> {
  const value = parseJsonObject(text);
  if (typeof value.type !== 'string') throw new ProtocolError("frame has no string 'type'");
  return value;
}

const str = (m: Record<string, unknown>, key: string): string => {
  const v = m[key];
  if (typeof v !== 'string') throw new ProtocolError(`'${m.type}' frame needs a string '${key}'`, { type: m.type, key });
  return v;
};

const num = (m: Record<string, unknown>, key: string): number => {
  const v = m[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ProtocolError(`'${m.type}' frame needs a number '${key}'`, { type: m.type, key });
  return v;
};

/** An optional `id`: a string, or null when absent (the server echoes what the command carried). */
const optionalId = (m: Record<string, unknown>): string | null => {
  if (m.id === undefined || m.id === null) return null;
  return str(m, 'id');
};

/**
 * Validate a frame a client received and return it as one member of {@link ServerMessage}, holding
 * only the fields that member names (plus `server_tx` when it is a number). Malformed frames throw a
 * {@link ProtocolError}; a type this client does not know comes back as `{type: 'unknown'}`.
 */
export function parseServerMessage(text: unknown): Stamped<ServerMessage> {
  const m = parseFrame(text);
  const stamp = typeof m.server_tx === 'number' ? { server_tx: m.server_tx } : {};
  return { ...readServerMessage(m), ...stamp };
}

function readServerMessage(m: Record<string, unknown>): ServerMessage {
  switch (m.type) {
    case 'welcome': {
      const welcome = m.welcome;
      if (!isRecord(welcome)) throw new ProtocolError("'welcome' frame needs an object 'welcome'");
      if (welcome.error !== undefined && typeof welcome.error !== 'string') throw new ProtocolError("'welcome.error' must be a string");
      return { type: 'welcome', welcome };
    }
    case 'ack':
      return { type: 'ack', id: optionalId(m) };
    case 'nameplates': {
      const list = m.nameplates;
      if (!Array.isArray(list) || !list.every((n) => isRecord(n) && typeof n.id === 'string')) {
        throw new ProtocolError("'nameplates' frame needs an array of {id}");
      }
      return { type: 'nameplates', nameplates: list.map((n: { id: string }) => ({ id: n.id })) };
    }
    case 'allocated':
      return { type: 'allocated', nameplate: str(m, 'nameplate') };
    case 'claimed':
      return { type: 'claimed', mailbox: str(m, 'mailbox') };
    case 'released':
      return { type: 'released' };
    case 'message':
      return { type: 'message', side: str(m, 'side'), phase: str(m, 'phase'), body: str(m, 'body'), server_rx: num(m, 'server_rx'), id: optionalId(m) };
    case 'closed':
      return { type: 'closed' };
    case 'pong':
      return { type: 'pong', pong: num(m, 'pong') };
    case 'error':
      return { type: 'error', error: str(m, 'error'), ...(m.orig === undefined ? {} : { orig: m.orig }) };
    default:
      return { type: 'unknown', received: String(m.type) };
  }
}

/**
 * How a Backchannel relay's `error` text starts when it throttles rather than refuses (a copy of
 * server/mailboxServer.ts's RATE_LIMITED and QUOTA_EXCEEDED: the client never imports server/;
 * test/relay-busy.test.ts checks that the two agree).
 */
export const RATE_LIMITED = 'rate limited';
export const QUOTA_EXCEEDED = 'quota exceeded';

/** What a throttling `error` text says: which limit, and how long to wait when it said (`try again in N s`). */
export interface BusyRefusal {
  reason: 'rate-limited' | 'quota';
  retryAfterMs?: number;
}

/** The throttle in a server's `error` text, or undefined when it refused for another reason. */
export function readBusyRefusal(error: string): BusyRefusal | undefined {
  const reason = error.startsWith(`${RATE_LIMITED}:`) ? 'rate-limited' : error.startsWith(`${QUOTA_EXCEEDED}:`) ? 'quota' : undefined;
  if (!reason) return undefined;
  const wait = /try again in (\d+(?:\.\d+)?) s\b/.exec(error);
  return wait ? { reason, retryAfterMs: Math.round(Number(wait[1]) * 1000) } : { reason };
}
