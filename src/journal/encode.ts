/**
 * How values go into the journal: JSON, with secrets sealed and effects named.
 *
 * - A secret field (the inspector's list, plus `code`) and every byte array is *sealed*: secretbox under
 *   the device's journal key, so the journal never holds a code, key or plaintext in clear, and replay
 *   (which has the key) gets the very value back.
 * - Errors keep name, code, message and data; a Backchannel error decodes to its own class again. Functions, actor references and class instances (stores,
 *   channels, sockets) are effects, not state: they become named markers.
 *
 * {@link canonical} is the same walk without sealing and with sorted keys: two values are the same
 * state exactly when their canonical strings are equal (live snapshot ≡ replayed snapshot).
 * @module
 */
import { fromBase64, fromUtf8, toBase64, utf8 } from '../crypto/bytes.js';
import { BackchannelError, ERROR_CODES } from '../errors.js';
import { SECRET_FIELDS } from '../inspect.js';

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Seals and opens the secret parts (secretbox under the journal key, in practice). */
export interface Sealer {
  /** Encrypt a secret field for the journal file (text, so it fits in JSON). */
  seal(plain: Uint8Array): string;
  /** Decrypt what `seal` made; throws when it was sealed under another key. */
  open(sealed: string): Uint8Array;
}

const MAX_DEPTH = 32;
const isSecret = (field: string | undefined) => field !== undefined && (field === 'code' || SECRET_FIELDS.has(field));

function isActorRef(v: object): v is { id: string } {
  return typeof (v as { send?: unknown }).send === 'function' && typeof (v as { sessionId?: unknown }).sessionId === 'string';
}

/** `value` as JSON; with a sealer, secrets are sealed, otherwise written as they are (inside a seal). */
function walk(value: unknown, sealer: Sealer | undefined, field: string | undefined, depth: number): Json | undefined {
  if (sealer && value !== undefined && value !== null && (isSecret(field) || value instanceof Uint8Array)) {
    return { $sealed: sealer.seal(utf8(JSON.stringify(walk(value, undefined, undefined, depth) ?? { $undefined: 1 }))) };
  }
  if (value === undefined) return undefined;
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $number: String(value) };
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (typeof value === 'function') return { $fn: value.name };
  if (typeof value !== 'object') return { $unknown: typeof value };
  if (depth > MAX_DEPTH) return { $deep: 1 };
  if (value instanceof Uint8Array) return { $bytes: toBase64(value) };
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown; data?: unknown };
    return {
      $error: {
        name: e.name,
        message: e.message,
        ...(e.code !== undefined ? { code: String(e.code) } : {}),
        ...(e.data !== undefined ? { data: walk(e.data, sealer, 'data', depth + 1) ?? null } : {}),
      },
    };
  }
  if (Array.isArray(value)) return value.map((v) => walk(v, sealer, undefined, depth + 1) ?? { $undefined: 1 });
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null) {
    if (isActorRef(value)) return { $actor: value.id };
    return { $instance: (value as object).constructor?.name ?? 'object' };
  }
  const out: Record<string, Json> = {};
  for (const k of Object.keys(value)) {
    const v = walk((value as Record<string, unknown>)[k], sealer, k, depth + 1);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** Encode for the journal: secrets and bytes sealed. */
export function encode(value: unknown, sealer: Sealer): Json {
  return walk(value, sealer, undefined, 0) ?? { $undefined: 1 };
}

/** Decode what {@link encode} wrote. Effect markers stay markers (plain objects). */
export function decode(json: Json, sealer: Sealer): unknown {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map((v) => decode(v, sealer));
  if (typeof json.$sealed === 'string') return decode(JSON.parse(fromUtf8(sealer.open(json.$sealed))) as Json, sealer);
  if (json.$undefined === 1) return undefined;
  if (typeof json.$bytes === 'string') return fromBase64(json.$bytes);
  if (typeof json.$number === 'string') return Number(json.$number);
  if (typeof json.$bigint === 'string') return BigInt(json.$bigint);
  if (json.$error && typeof json.$error === 'object' && !Array.isArray(json.$error)) {
    const { name, message, code, data } = json.$error as Record<string, Json>;
    // A Backchannel error comes back as its own class (replay sees a TimeoutError, not an Error).
    if (typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code)) {
      return BackchannelError.fromJSON({ code, message, data: data === undefined ? {} : decode(data, sealer) });
    }
    const error = new Error(String(message)) as Error & { code?: unknown; data?: unknown };
    error.name = String(name);
    if (code !== undefined) error.code = code;
    if (data !== undefined) error.data = decode(data, sealer);
    return error;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) out[k] = decode(v, sealer);
  return out;
}

function sortKeys(json: Json): Json {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map(sortKeys);
  return Object.fromEntries(
    Object.keys(json)
      .sort()
      .map((k) => [k, sortKeys(json[k]!)]),
  );
}

/** A stable string of `value`'s state (nothing sealed, keys sorted), for comparing snapshots. */
export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(walk(value, undefined, undefined, 0) ?? { $undefined: 1 }));
}
