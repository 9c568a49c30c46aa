/**
 * The shapes of Backchannel's documents, their validators and their migrations. Every document root
 * carries `kind` and `schema` (its version); a document is validated on every load, and migrated
 * forward when its version is older. Validators return a list of problems rather than throwing, so the
 * caller can quarantine with a precise message.
 * @module
 */

import { isImmutableString } from '@automerge/automerge';

/** A document's kind: `system`, `settings`, `contact` or `channel`. */
export type DocumentKind = 'system' | 'settings' | 'contact' | 'channel';

/** Every document's header: its kind and schema version. */
export interface Versioned {
  kind: DocumentKind;
  schema: number;
}

/** This device. Kept apart from app data (its own storage key) so clearing data never loses it. */
export interface SystemDoc extends Versioned {
  kind: 'system';
  device_id: string;
  created_at: number;
  /** Optional public key, hex; the secret half never enters a document. */
  public_key?: string;
}

/** A STUN or TURN server for WebRTC, as Settings keep it. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** The device's settings document: relay URL and ICE servers. */
export interface SettingsDoc extends Versioned {
  kind: 'settings';
  relay_server: string;
  ice_servers: IceServer[];
  /** The largest file this device sends or accepts, in bytes (default {@link DEFAULT_FILE_SIZE_LIMIT}). */
  file_size_limit?: number;
}

/** Files up to 2 GiB unless Settings say otherwise (`file_size_limit`). */
export const DEFAULT_FILE_SIZE_LIMIT = 2 * 1024 * 1024 * 1024;

/** A contact's card document. */
export interface ContactDoc extends Versioned {
  kind: 'contact';
  moniker: string;
  /** Document keys (hex) of the channels shared with this contact. */
  channels: string[];
  last_seen?: number;
  public_key?: string;
  /**
   * Set once the contact is removed but its card is kept: `peer` — the contact removed me (the
   * history stays readable, the link is stopped); `me` — I removed it, and the card waits here only
   * until my removal notice has reached the relay's depot (never listed; devices/notices.ts).
   */
  removed_by?: 'peer' | 'me';
}

/** A file attached to a message: its name, type and size. */
export interface FileRef {
  filename: string;
  mimetype: string;
  size: number;
  /** Hex digest of the content. */
  hash: string;
}

/** One message in a channel: its sender, time, text and optional file. */
export interface Message {
  id: string;
  /** Milliseconds since the epoch, sender's clock, for display. */
  timestamp: number;
  /** device_id of the sender. */
  sender: string;
  text: string;
  file?: FileRef;
  /**
   * A notice for the devices, not a chat message (JSON, devices/notices.ts): a removal, or the
   * sender's device set signed by its System key. Never listed by `messages()`.
   */
  notice?: string;
  /**
   * The writer's Ed25519 signature (64 bytes) by its System key over the message in its channel
   * (db/messageSignature.ts). Every message this version writes has one; older messages may not, and
   * those of the first signing version hold it as 128 hex digits.
   */
  sig?: Uint8Array | string;
}

/** A channel document: the messages shared with one contact. */
export interface ChannelDoc extends Versioned {
  kind: 'channel';
  messages: Message[];
}

/** Any of the documents a device stores. */
export type AnyDoc = SystemDoc | SettingsDoc | ContactDoc | ChannelDoc;

/** Current schema version per kind. Bump it and add a migration below when a shape changes. */
export const SCHEMA_VERSIONS: Record<DocumentKind, number> = { system: 1, settings: 1, contact: 1, channel: 1 };

/** The public magic-wormhole mailbox relay: the seed's default `relay_server`. */
export const DEFAULT_RELAY_SERVER = 'ws://relay.magic-wormhole.io:4000/v1';

/**
 * Every bound on what a document may hold, in one place (docs/protocol.md lists them). Field lengths
 * are in characters. A change, local or from a peer, that would cross one is refused and nothing of
 * it is stored.
 */
export const LIMITS = {
  moniker: 200,
  text: 64 * 1024,
  filename: 1024,
  mimetype: 255,
  url: 2048,
  /** A message's `sig`: an Ed25519 signature, in bytes (the first signing version's hex: twice as many digits). */
  signature: 64,
  /** Messages in one channel. */
  messages: 100_000,
  /**
   * Bytes one document may take: in storage (its chunks), and as the text of its messages (a
   * compressed sync message can unpack to far more than it weighs on the wire).
   */
  documentBytes: 64 * 1024 * 1024,
  /** The largest sync message reassembled from a peer: room for a whole document at the cap. */
  syncMessageBytes: 64 * 1024 * 1024 + 64 * 1024,
  /** Bytes of a peer's sync messages received but not yet applied; past it the sync ends (a flood). */
  syncQueueBytes: 2 * (64 * 1024 * 1024 + 64 * 1024),
} as const;

const SIG = new RegExp(`^[0-9a-f]{${2 * LIMITS.signature}}$`);

/** The bounds a {@link DocumentStore} enforces per document; tests may lower them. */
export interface DocumentLimits {
  messages: number;
  documentBytes: number;
}

/** The fields each shape may have: anything else is refused (a peer cannot smuggle data in). */
const FIELDS: Record<DocumentKind | 'message' | 'file' | 'ice', readonly string[]> = {
  system: ['kind', 'schema', 'device_id', 'created_at', 'public_key'],
  settings: ['kind', 'schema', 'relay_server', 'ice_servers', 'file_size_limit'],
  contact: ['kind', 'schema', 'moniker', 'channels', 'last_seen', 'public_key', 'removed_by'],
  channel: ['kind', 'schema', 'messages'],
  message: ['id', 'timestamp', 'sender', 'text', 'file', 'notice', 'sig'],
  file: ['filename', 'mimetype', 'size', 'hash'],
  ice: ['urls', 'username', 'credential'],
};

/** What {@link validate} found wrong with a document, one line each; empty when it is valid. */
export type Problems = string[];

/**
 * The text of a string field: a JS string, or Automerge's ImmutableString (what Backchannel writes for
 * values nobody edits character by character: ids, message text, URLs; ten times smaller and faster
 * to load than collaborative text). Undefined for anything else.
 */
export function textOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isImmutableString(v)) return v.val;
  return undefined;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && textOf(v) === undefined;
const str = (p: Problems, o: Record<string, unknown>, k: string, max: number, optional = false) => {
  const v = o[k];
  if (v === undefined && optional) return;
  const t = textOf(v);
  if (t === undefined) p.push(`${k} must be a string`);
  else if (t.length > max) p.push(`${k} is longer than ${max} characters`);
};
const onlyKnown = (p: Problems, o: Record<string, unknown>, shape: keyof typeof FIELDS, where: string) => {
  for (const k of Object.keys(o)) if (!FIELDS[shape].includes(k)) p.push(`${where} has an unknown field ${JSON.stringify(k.slice(0, 64))}`);
};
const num = (p: Problems, o: Record<string, unknown>, k: string, optional = false) => {
  const v = o[k];
  if (v === undefined && optional) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) p.push(`${k} must be a non-negative number`);
};

export function isRelayUrl(value: unknown): boolean {
  const v = textOf(value);
  if (v === undefined || v.length > LIMITS.url) return false;
  try {
    const u = new URL(v);
    return u.protocol === 'ws:' || u.protocol === 'wss:';
  } catch {
    return false;
  }
}

/** What is wrong with a list of ICE servers (nothing: it holds), by the rules the Settings document keeps. */
export function iceServerProblems(v: unknown): Problems {
  const p: Problems = [];
  validateIce(p, v);
  return p;
}

function validateIce(p: Problems, v: unknown): void {
  if (!Array.isArray(v)) return void p.push('ice_servers must be an array');
  v.forEach((s, i) => {
    if (!isObj(s) || !Array.isArray(s.urls) || s.urls.length === 0) return void p.push(`ice_servers[${i}].urls must be a non-empty array`);
    onlyKnown(p, s, 'ice', `ice_servers[${i}]`);
    for (const u of s.urls) if (!/^(stun|stuns|turn|turns):/.test(textOf(u) ?? '')) p.push(`ice_servers[${i}] has a bad url ${JSON.stringify(u)}`);
    str(p, s, 'username', 256, true);
    str(p, s, 'credential', 256, true);
  });
}

export function validateMessage(p: Problems, m: unknown, where = 'message'): void {
  if (!isObj(m)) return void p.push(`${where} must be an object`);
  onlyKnown(p, m, 'message', where);
  str(p, m, 'id', 64);
  num(p, m, 'timestamp');
  str(p, m, 'sender', 64);
  str(p, m, 'text', LIMITS.text);
  str(p, m, 'notice', LIMITS.text, true);
  if (m.sig !== undefined && !(m.sig instanceof Uint8Array ? m.sig.length === LIMITS.signature : SIG.test(textOf(m.sig) ?? '')))
    p.push(`${where}.sig must be ${LIMITS.signature} bytes`);
  if (m.file !== undefined) {
    if (!isObj(m.file)) return void p.push(`${where}.file must be an object`);
    onlyKnown(p, m.file, 'file', `${where}.file`);
    str(p, m.file, 'filename', LIMITS.filename);
    str(p, m.file, 'mimetype', LIMITS.mimetype);
    num(p, m.file, 'size');
    str(p, m.file, 'hash', 128);
  }
}

/**
 * Problems with `doc` as a document of `kind` at the current schema version; empty when valid.
 * `onlyMessages` limits the per-message checks of a channel to those indices (the ones a change
 * touched): validating 10,000 untouched messages on every new one would make sending O(n).
 */
export function validate(kind: DocumentKind, doc: unknown, onlyMessages?: Iterable<number>): Problems {
  const p: Problems = [];
  if (!isObj(doc)) return ['the document root is not an object'];
  if (doc.kind !== kind) p.push(`kind is ${JSON.stringify(doc.kind)}, expected "${kind}"`);
  if (doc.schema !== SCHEMA_VERSIONS[kind]) p.push(`schema is ${JSON.stringify(doc.schema)}, expected ${SCHEMA_VERSIONS[kind]}`);
  onlyKnown(p, doc, kind, 'the document');
  switch (kind) {
    case 'system':
      if (!/^[0-9a-f]{32}$/.test(textOf(doc.device_id) ?? '')) p.push('device_id must be 32 hex digits');
      num(p, doc, 'created_at');
      str(p, doc, 'public_key', 128, true);
      break;
    case 'settings':
      if (!isRelayUrl(doc.relay_server)) p.push('relay_server must be a ws:// or wss:// URL');
      validateIce(p, doc.ice_servers);
      num(p, doc, 'file_size_limit', true);
      break;
    case 'contact':
      str(p, doc, 'moniker', LIMITS.moniker);
      if (!Array.isArray(doc.channels) || doc.channels.some((c) => !/^[0-9a-f]{64}$/.test(textOf(c) ?? ''))) {
        p.push('channels must be a list of 32-byte hex keys');
      }
      num(p, doc, 'last_seen', true);
      str(p, doc, 'public_key', 128, true);
      if (doc.removed_by !== undefined && !['peer', 'me'].includes(textOf(doc.removed_by) ?? '')) p.push('removed_by must be "peer" or "me"');
      break;
    case 'channel':
      if (!Array.isArray(doc.messages)) p.push('messages must be an array');
      else if (onlyMessages) for (const i of onlyMessages) validateMessage(p, doc.messages[i], `messages[${i}]`);
      else doc.messages.forEach((m, i) => validateMessage(p, m, `messages[${i}]`));
      break;
  }
  return p;
}

/**
 * Migrations: `MIGRATIONS[kind][v]` turns a version-v document into version v+1, in place, inside an
 * Automerge change. None exist yet (every kind is at version 1); the loader applies them in order.
 */
export const MIGRATIONS: Record<DocumentKind, Record<number, (doc: Record<string, unknown>) => void>> = {
  system: {},
  settings: {},
  contact: {},
  channel: {},
};
