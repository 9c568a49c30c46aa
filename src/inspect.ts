/**
 * Watching the machines in the Stately inspector (@statelyai/inspect) without leaking secrets: every
 * inspection event passes through {@link redactInspection} before the host's observer sees it, so keys,
 * codes, PAKE state and plaintexts never reach an inspector window or a log.
 * @module
 */
import type { InspectionEvent, Observer } from 'xstate';

export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/** Context fields that are secret or not serialisable, and what an inspector sees instead. */
const REDACT: Record<string, (value: unknown) => unknown> = {
  key: (v) => (v ? '[redacted key]' : v),
  spake: (v) => (v ? '[redacted PAKE state]' : v),
  code: (v) => (typeof v === 'string' ? v.replace(/-.*$/, '-…') : v),
  outbox: (v) => (Array.isArray(v) ? `[${v.length} queued plaintexts]` : v),
  pending: (v) => (Array.isArray(v) ? v.map((p: { phase: string; body: string }) => ({ phase: p.phase, bytes: p.body.length / 2 })) : v),
  early: (v) => (Array.isArray(v) ? v.map((p: { phase: string }) => ({ phase: p.phase })) : v),
  rxBuffer: (v) => (v && typeof v === 'object' ? Object.keys(v) : v),
  connector: () => '[function]',
  randomBytes: () => '[function]',
};

function redactContext(context: unknown): unknown {
  if (!context || typeof context !== 'object') return context;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(context)) out[k] = REDACT[k] ? REDACT[k](v) : v;
  return out;
}

function redactEvent(event: unknown): unknown {
  if (!event || typeof event !== 'object') return event;
  const e = event as Record<string, unknown>;
  const copy: Record<string, unknown> = { ...e };
  for (const field of ['plaintext', 'key', 'body', 'text']) if (field in copy) copy[field] = `[redacted ${field}]`;
  return copy;
}

/** A copy of `event` with secrets replaced. */
export function redactInspection(event: InspectionEvent): InspectionEvent {
  const e = { ...event } as InspectionEvent & Record<string, unknown>;
  if (e.type === '@xstate.snapshot' || e.type === '@xstate.microstep') {
    const snapshot = (e as { snapshot?: Record<string, unknown> }).snapshot;
    if (snapshot && 'context' in snapshot) {
      // Snapshot objects carry methods (matches, can…); keep them by prototype, replace only context.
      const redacted = Object.create(Object.getPrototypeOf(snapshot) as object) as Record<string, unknown>;
      Object.assign(redacted, snapshot, { context: redactContext(snapshot.context) });
      (e as Record<string, unknown>).snapshot = redacted;
    }
  }
  if ('event' in e) (e as Record<string, unknown>).event = redactEvent(e.event);
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
