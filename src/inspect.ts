/**
 * Watching the machines in the Stately inspector (@statelyai/inspect) without leaking secrets: every
 * inspection event passes through {@link redactInspection} before the host's observer sees it, so keys,
 * codes, PAKE state and plaintexts never reach an inspector window or a log.
 *
 * Redaction is structural, not a list of known machines: plain objects and arrays are copied with
 * sensitive fields replaced, byte arrays become their length, and class instances (stores, channels,
 * sockets) become their class name — an inspector needs states and event types, not internals.
 * @module
 */
import type { InspectionEvent, Observer } from 'xstate';

export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/** Field names whose values are secret (or carry secrets), anywhere in an event or a context. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'key',
  'contactKey',
  'channels', // a contact card's channel keys, in hex
  'pakeKey',
  'spake',
  'seed',
  'verifier',
  'plaintext',
  'body',
  'text',
  'blob',
  'outbox',
  'early',
  'rxBuffer',
  'sdp',
  'candidate',
]);

const MAX_DEPTH = 8;

function scrub(value: unknown, field: string | undefined, depth: number): unknown {
  if (field === 'code' && typeof value === 'string') return value.replace(/-.*$/, '-…'); // keep the nameplate
  if (field === 'pending' && Array.isArray(value)) return `[${value.length} pending]`;
  if (field !== undefined && SECRET_FIELDS.has(field) && value !== undefined && value !== null) return `[redacted ${field}]`;
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? '[function]' : value;
  if (value instanceof Uint8Array) return `[${value.length} bytes]`;
  if (depth > MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) return value.map((v) => scrub(v, undefined, depth + 1));
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null) {
    // An actor reference keeps its id (the inspector links actors by it); other instances, their name.
    const id = (value as { id?: unknown }).id;
    if (typeof id === 'string' && typeof (value as { send?: unknown }).send === 'function') return { id };
    return `[${(value as object).constructor?.name ?? 'object'}]`;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, k, depth + 1);
  return out;
}

/** A copy of `event` with secrets replaced. */
export function redactInspection(event: InspectionEvent): InspectionEvent {
  const e = { ...event } as InspectionEvent & Record<string, unknown>;
  for (const field of ['event', 'action', 'input'] as const) if (field in e) e[field] = scrub(e[field], undefined, 0);
  const snapshot = (e as { snapshot?: Record<string, unknown> }).snapshot;
  if (snapshot && typeof snapshot === 'object') {
    // Snapshot objects carry methods (matches, can…); keep them by prototype, scrub the data.
    const copy = Object.create(Object.getPrototypeOf(snapshot) as object) as Record<string, unknown>;
    Object.assign(copy, snapshot);
    for (const field of ['context', 'input', 'output', 'error']) if (field in copy) copy[field] = scrub(copy[field], undefined, 0);
    (e as Record<string, unknown>).snapshot = copy;
  }
  return e;
}

/** Wrap a host's inspect option so it only ever sees redacted events. */
export function redactingInspector(inspect: InspectOption): (event: InspectionEvent) => void {
  return (event) => {
    const redacted = redactInspection(event);
    if (typeof inspect === 'function') inspect(redacted);
    else inspect.next?.(redacted);
  };
}

/**
 * The one `inspect` function XState takes, for two listeners: the host's inspector, which only ever
 * sees redacted events, and the journal, which sees them whole (it seals secrets itself).
 */
export function observers(options: { inspect?: InspectOption; journal?: (event: InspectionEvent) => void }): ((event: InspectionEvent) => void) | undefined {
  const redacted = options.inspect ? redactingInspector(options.inspect) : undefined;
  const journal = options.journal;
  if (!redacted) return journal;
  if (!journal) return redacted;
  return (event) => {
    journal(event);
    redacted(event);
  };
}
