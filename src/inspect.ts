/**
 * Watching the machines in the Stately inspector (@statelyai/inspect) without leaking secrets: every
 * inspection event passes through {@link redactInspection} before the host's observer sees it, so keys,
 * codes, PAKE state and plaintexts never reach an inspector window or a log.
 *
 * Redaction is structural, not a list of known machines: plain objects and arrays are copied with
 * sensitive fields replaced, byte arrays become their length, and class instances (stores, channels,
 * sockets) become their class name — an inspector needs states and event types, not internals.
 *
 * Nor does the host get the actors themselves: every actor reference in an event (`actorRef`,
 * `sourceRef`, a snapshot's `children`) is an {@link InspectedActor}, a read-only view with what the
 * Stately inspector reads and no `send`, `start` or `stop` — the app machine stays the only owner of
 * its actors. The journal reads the raw stream; it is ours.
 * @module
 */
import type { InspectionEvent, Observer } from 'xstate';

/** An inspector for `inspect`: an XState observer or a function; it only ever gets redacted events. */
export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/** Field names whose values are secret (or carry secrets), anywhere in an event or a context. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'key',
  'contactKey',
  'channels', // a contact card's channel keys, in hex
  'earlierKeys', // a rotated contact's earlier keys, in a link bundle
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

/**
 * What a host's inspector gets of an actor: what the Stately inspector reads to draw it (`id`,
 * `sessionId`, the parent for the tree, the machine's `logic.config` for the diagram, a redacted
 * `getSnapshot()`), and nothing to drive it with — no `send`, `start`, `stop` or `subscribe`.
 */
export interface InspectedActor {
  readonly id: string;
  readonly sessionId: string;
  readonly systemId: string | undefined;
  readonly _parent: InspectedActor | undefined;
  readonly logic: { readonly id: string | undefined; readonly config: unknown };
  /** The actor's current snapshot, with secrets (keys, codes) redacted. */
  getSnapshot(): unknown;
  /** How the actor appears inside an inspected event: a reference by id, as XState serialises actors. */
  toJSON(): { xstate$$type: 1; id: string };
}

interface RawActor {
  id: string;
  sessionId: string;
  _parent?: RawActor;
  logic?: { id?: string; config?: unknown };
  options?: { systemId?: string };
  getSnapshot(): unknown;
}

const isActor = (v: unknown): v is RawActor =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { sessionId?: unknown }).sessionId === 'string' &&
  typeof (v as { getSnapshot?: unknown }).getSnapshot === 'function';

// One view per actor, so parents and children are the same objects from event to event.
const views = new WeakMap<object, InspectedActor>();

/** The read-only view of `ref` (or `ref` itself when it is not an actor). */
export function inspectedActor(ref: unknown): unknown {
  if (!isActor(ref)) return ref;
  const known = views.get(ref);
  if (known) return known;
  const view: InspectedActor = Object.freeze({
    id: ref.id,
    sessionId: ref.sessionId,
    systemId: ref.options?.systemId,
    get _parent() {
      return ref._parent ? (inspectedActor(ref._parent) as InspectedActor) : undefined;
    },
    logic: Object.freeze({ id: ref.logic?.id, config: ref.logic?.config }),
    getSnapshot: () => redactSnapshot(ref.getSnapshot()),
    toJSON: () => ({ xstate$$type: 1 as const, id: ref.id }),
  });
  views.set(ref, view);
  return view;
}

function redactSnapshot(snapshot: unknown): unknown {
  if (!snapshot || typeof snapshot !== 'object') return snapshot;
  // Snapshot objects carry methods (matches, can…); keep them by prototype, scrub the data.
  const copy = Object.create(Object.getPrototypeOf(snapshot) as object) as Record<string, unknown>;
  Object.assign(copy, snapshot);
  for (const field of ['context', 'input', 'output', 'error']) if (field in copy) copy[field] = scrub(copy[field], undefined, 0);
  const children = copy.children as Record<string, unknown> | undefined;
  if (children && typeof children === 'object') {
    copy.children = Object.fromEntries(Object.entries(children).map(([id, child]) => [id, inspectedActor(child)]));
  }
  return copy;
}

/** A copy of `event` with secrets replaced and every actor a read-only {@link InspectedActor}. */
export function redactInspection(event: InspectionEvent): InspectionEvent {
  const e = { ...event } as Record<string, unknown>;
  for (const field of ['event', 'action', 'input'] as const) if (field in e) e[field] = scrub(e[field], undefined, 0);
  if ('snapshot' in e) e.snapshot = redactSnapshot(e.snapshot);
  // Typed as XState's event so a Stately inspector plugs in as it is; at run time the refs are views.
  if ('actorRef' in e) e.actorRef = inspectedActor(e.actorRef);
  if ('sourceRef' in e) e.sourceRef = inspectedActor(e.sourceRef);
  return e as unknown as InspectionEvent;
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
