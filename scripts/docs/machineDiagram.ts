/**
 * A Mermaid `stateDiagram-v2` of an XState machine, read from the machine's own state nodes
 * (`machine.root`), so the diagrams on the docs site cannot drift from the definitions.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';

/** A Mermaid identifier for a state node (its id, with only word characters). */
const idOf = (node: AnyStateNode): string => 's_' + node.id.replace(/\W/g, '_');

/** What Mermaid may show in a label: no characters that end or nest a statement. */
const clean = (text: string): string => text.replace(/[:;#{}<>"`]/g, ' ').trim();

/** The event a transition takes, as a reader would name it. */
export function eventLabel(eventType: string): string {
  if (eventType === '') return 'always';
  const after = /^xstate\.after\.(\w+)\./.exec(eventType);
  if (after) return `after ${after[1]}`;
  const done = /^xstate\.done\.(actor|state)\.(.+)$/.exec(eventType);
  if (done) return done[1] === 'actor' ? `done ${done[2]!.replace(/^\d+\./, '')}` : 'done';
  const error = /^xstate\.error\.actor\.(.+)$/.exec(eventType);
  if (error) return `error ${error[1]!.replace(/^\d+\./, '')}`;
  return eventType;
}

interface GuardLike {
  type?: unknown;
}
function guardLabel(guard: unknown): string {
  if (guard === undefined) return '';
  if (typeof guard === 'string') return ` [${guard}]`;
  const type = (guard as GuardLike).type;
  return typeof type === 'string' ? ` [${type}]` : ' [guarded]';
}

interface TransitionLike {
  target?: readonly AnyStateNode[] | undefined;
  guard?: unknown;
}

/** Every edge of the machine: source, target, label (targetless transitions change no state and are left out). */
export function machineEdges(machine: AnyStateMachine): { from: string; to: string; label: string }[] {
  const edges = new Map<string, { from: string; to: string; label: string }>();
  const visit = (node: AnyStateNode): void => {
    const groups: [string, readonly TransitionLike[]][] = [...(node.transitions as Map<string, TransitionLike[]>).entries()];
    if (node.always) groups.push(['', node.always as TransitionLike[]]);
    for (const [eventType, transitions] of groups) {
      for (const t of transitions) {
        for (const target of t.target ?? []) {
          const edge = { from: node.id, to: target.id, label: clean(eventLabel(eventType) + guardLabel(t.guard)) };
          edges.set(`${edge.from}→${edge.to}:${edge.label}`, edge);
        }
      }
    }
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return [...edges.values()];
}

/** Every state node's id, the root's included. */
export function stateIds(machine: AnyStateMachine): string[] {
  const ids: string[] = [];
  const visit = (node: AnyStateNode): void => {
    ids.push(node.id);
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return ids;
}

/** One level of a machine: a state with children, drawn as a diagram of those children. */
export interface Level {
  /** The state's path, e.g. `app.ready.pairing` (the machine's id for the root). */
  path: string;
  /** Mermaid `stateDiagram-v2` text. */
  mermaid: string;
}

/**
 * The machine as Mermaid diagrams, one per state that has children: its children, its initial state,
 * and every transition between them (a transition from or to a deeper state is drawn between the
 * children it lies under; the deeper ones are in that child's own diagram). Flat diagrams, because
 * Mermaid's layout fails on edges into nested states, and a machine the size of the app's reads
 * better a level at a time. Parallel regions are drawn side by side, split by `--`.
 */
export function machineLevels(machine: AnyStateMachine): Level[] {
  const edges = machineEdges(machine);
  const levels: Level[] = [];
  const visit = (node: AnyStateNode): void => {
    const children = Object.values(node.states) as AnyStateNode[];
    if (children.length === 0) return;
    const lines = ['stateDiagram-v2'];
    if (node.type === 'parallel') {
      lines.push(`  state "${clean(node.key)} (parallel)" as ${idOf(node)} {`);
      children.forEach((child, i) => {
        if (i > 0) lines.push('    --');
        lines.push(`    state "${clean(child.key)}" as ${idOf(child)}`);
      });
      lines.push('  }');
    } else {
      for (const child of children) {
        const kind = child.type === 'parallel' ? ' (parallel)' : Object.keys(child.states).length > 0 ? ' …' : '';
        lines.push(`  state "${clean(child.key + kind)}" as ${idOf(child)}`);
        if (child.type === 'final') lines.push(`  ${idOf(child)} --> [*]`);
      }
      for (const initial of (node.initial?.target ?? []) as AnyStateNode[]) lines.push(`  [*] --> ${idOf(initial)}`);
      // The child of `node` that a state lies under, if it does.
      const under = (id: string): AnyStateNode | undefined => children.find((c) => id === c.id || id.startsWith(c.id + '.'));
      const drawn = new Set<string>();
      for (const edge of edges) {
        const from = under(edge.from);
        const to = under(edge.to);
        if (!from || !to || (from === to && edge.from !== edge.to)) continue; // outside, or inside one child (its own diagram)
        const line = `  ${idOf(from)} --> ${idOf(to)}${edge.label ? ` : ${edge.label}` : ''}`;
        if (!drawn.has(line)) lines.push(line);
        drawn.add(line);
      }
    }
    levels.push({ path: node.id, mermaid: lines.join('\n') });
    for (const child of children) visit(child);
  };
  visit(machine.root);
  return levels;
}
