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
  | { type: 'welcome'; welcome: { motd?: string; error?: string; current_cli_version?: string; [k: string]: unknown } }
  | { type: 'ack'; id: string | null }
  | { type: 'nameplates'; nameplates: { id: string }[] }
  | { type: 'allocated'; nameplate: string }
  | { type: 'claimed'; mailbox: string }
  | { type: 'released' }
  | { type: 'message'; side: string; phase: string; body: string; server_rx: number; id: string | null }
  | { type: 'closed' }
  | { type: 'pong'; pong: number }
  | { type: 'error'; error: string; orig?: unknown };

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

/** Validate a frame a client received. Unknown types are returned as-is for forward compatibility. */
export function parseServerMessage(text: unknown): Stamped<ServerMessage> | { type: string; [k: string]: unknown } {
  const m = parseFrame(text);
  switch (m.type) {
    case 'welcome':
      if (!isRecord(m.welcome)) throw new ProtocolError("'welcome' frame needs an object 'welcome'");
      break;
    case 'allocated':
      str(m, 'nameplate');
      break;
    case 'claimed':
      str(m, 'mailbox');
      break;
    case 'message':
      str(m, 'side');
      str(m, 'phase');
      str(m, 'body');
      break;
    case 'nameplates':
      if (!Array.isArray(m.nameplates)) throw new ProtocolError("'nameplates' frame needs an array");
      break;
    case 'error':
      if (typeof m.error !== 'string') throw new ProtocolError("'error' frame needs a string 'error'");
      break;
  }
  return m as Stamped<ServerMessage>;
}
