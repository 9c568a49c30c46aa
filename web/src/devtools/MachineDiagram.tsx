/**
 * An actor's current state on its machine's diagram, for the developer panel. The machine is rebuilt
 * from the `logic.config` the redacted inspection stream carries (so it is the definition that runs,
 * it cannot drift), and drawn the way the docs site's Mermaid diagrams are (scripts/docs/
 * machineDiagram.ts, whose edges this reuses): a level at a time — each state on the active path
 * with its children, the active ones marked, and the transitions that leave them.
 */
import { createMachine, type AnyStateMachine, type AnyStateNode } from 'xstate';
import { eventLabel, machineEdges } from '../../../scripts/docs/machineDiagram.js';

const built = new WeakMap<object, AnyStateMachine | null>();
const edgesOf = new WeakMap<AnyStateMachine, ReturnType<typeof machineEdges>>();

/** The machine for a logic's config, or undefined when the actor is not a machine (a promise, a callback). */
export function machineOf(logic: { config?: unknown } | undefined): AnyStateMachine | undefined {
  const config = logic?.config;
  if (!config || typeof config !== 'object' || !('states' in config)) return undefined;
  let machine = built.get(config);
  if (machine === undefined) {
    try {
      machine = createMachine(config as Parameters<typeof createMachine>[0]) as unknown as AnyStateMachine;
    } catch {
      machine = null;
    }
    built.set(config, machine);
  }
  return machine ?? undefined;
}

/** The state nodes a state value makes active, the root's descendants only. */
export function activeNodes(machine: AnyStateMachine, value: unknown): Set<AnyStateNode> {
  const active = new Set<AnyStateNode>();
  const walk = (node: AnyStateNode, v: unknown): void => {
    if (typeof v === 'string') {
      const child = node.states[v];
      if (child) active.add(child);
    } else if (v && typeof v === 'object') {
      for (const [key, inner] of Object.entries(v as Record<string, unknown>)) {
        const child = node.states[key];
        if (!child) continue;
        active.add(child);
        walk(child, inner);
      }
    }
  };
  walk(machine.root, value);
  return active;
}

export function MachineDiagram({ actorId, logic, value }: { actorId: string; logic: { config?: unknown } | undefined; value: unknown }) {
  const machine = machineOf(logic);
  if (!machine) return <p className="muted">{actorId} is not a state machine (no diagram).</p>;
  const name = machine.id;
  const active = activeNodes(machine, value);
  let edges = edgesOf.get(machine);
  if (!edges) edgesOf.set(machine, (edges = machineEdges(machine)));
  // The levels to draw: the root, then every active state that has children.
  const levels = [machine.root, ...[...active].filter((n) => Object.keys(n.states).length > 0)];
  return (
    <div className="diagram" aria-label={`State diagram of ${name}`} role="group">
      {levels.map((level) => {
        const children = Object.values(level.states) as AnyStateNode[];
        const now = children.filter((c) => active.has(c));
        const leaving = edges.filter((e) => now.some((c) => e.from === c.id) && e.to !== e.from);
        const keyOf = (id: string) => id.slice(id.lastIndexOf('.') + 1);
        return (
          <figure key={level.id} className="level">
            <figcaption>
              <code>{level.id.replace(/\./g, ' › ')}</code>
              {level.type === 'parallel' && <span className="muted"> (parallel regions)</span>}
            </figcaption>
            <ul className="states">
              {children.map((c) => (
                <li key={c.key} className={active.has(c) ? 'now' : ''} aria-current={active.has(c) ? 'true' : undefined}>
                  {c.key}
                  {Object.keys(c.states).length > 0 ? ' …' : ''}
                  {c.type === 'final' ? ' ◉' : ''}
                </li>
              ))}
            </ul>
            {level.type !== 'parallel' && leaving.length > 0 && (
              <ul className="edges" aria-label={`Transitions from ${now.map((c) => c.key).join(', ')}`}>
                {leaving.slice(0, 12).map((e) => (
                  <li key={`${e.from}→${e.to}:${e.label}`}>
                    {e.label || eventLabel('')} → <code>{keyOf(e.to)}</code>
                  </li>
                ))}
                {leaving.length > 12 && <li className="muted">… and {leaving.length - 12} more</li>}
              </ul>
            )}
          </figure>
        );
      })}
    </div>
  );
}
