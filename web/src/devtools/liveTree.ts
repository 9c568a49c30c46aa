/**
 * The live actor tree and event stream, read from the redacted inspection stream (the same one the
 * journal records and a Stately inspector gets): actors by session, each with its latest state value.
 */
import type { InspectionEvent } from 'xstate';

export interface ActorNode {
  sessionId: string;
  id: string;
  parent?: string;
  state: string;
  /** The latest state value itself, for the diagram. */
  value?: unknown;
  /** The actor's logic as the redacted stream shows it: a machine's `config` draws its diagram. */
  logic?: { id?: string; config?: unknown };
  status: string;
  children: ActorNode[];
}

export interface StreamEntry {
  n: number;
  from: string;
  to: string;
  type: string;
}

/** `{ ready: { network: 'online', pairing: 'idle' } }` → `ready(network.online, pairing.idle)`. */
export function stateText(value: unknown): string {
  if (value === undefined || value === null) return '–';
  if (typeof value !== 'object') return String(value);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [k, v] = entries[0]!;
    return typeof v === 'object' && v !== null ? `${k}.${stateText(v)}` : `${k}.${String(v)}`;
  }
  return `(${entries.map(([k, v]) => `${k}.${stateText(v)}`).join(', ')})`;
}

interface RefView {
  id: string;
  sessionId: string;
  _parent?: { sessionId: string };
  logic?: { id?: string; config?: unknown };
}

export function liveTree(events: readonly InspectionEvent[]): { roots: ActorNode[]; stream: StreamEntry[] } {
  const nodes = new Map<string, ActorNode>();
  const stream: StreamEntry[] = [];
  const node = (ref: RefView): ActorNode => {
    let n = nodes.get(ref.sessionId);
    if (!n) {
      n = { sessionId: ref.sessionId, id: ref.id, parent: ref._parent?.sessionId, state: '–', logic: ref.logic, status: 'active', children: [] };
      nodes.set(ref.sessionId, n);
    }
    return n;
  };
  events.forEach((e, i) => {
    const ref = e.actorRef as unknown as RefView;
    if (e.type === '@xstate.actor') node(ref);
    else if (e.type === '@xstate.snapshot') {
      const n = node(ref);
      const snapshot = e.snapshot as { value?: unknown; status?: string };
      if ('value' in snapshot) {
        n.state = stateText(snapshot.value);
        n.value = snapshot.value;
      }
      n.status = snapshot.status ?? n.status;
    } else if (e.type === '@xstate.event') {
      const source = e.sourceRef as unknown as RefView | undefined;
      stream.push({ n: i, from: source?.id ?? '(outside)', to: ref.id, type: e.event.type });
    }
  });
  const roots: ActorNode[] = [];
  for (const n of nodes.values()) {
    const parent = n.parent ? nodes.get(n.parent) : undefined;
    if (parent) parent.children.push(n);
    else roots.push(n);
  }
  return { roots, stream };
}
