/**
 * The developer panel (off by default; one switch in the header): the live actor tree with each
 * actor's state, the chosen actor's state on its machine's diagram, and the event stream, from the
 * redacted inspection stream — and the journal viewer.
 * Nothing here shows a secret: the inspection stream is redacted, and the journal viewer shows state
 * values and event types only.
 */
import { useState } from 'react';
import type { Device } from '../device.js';
import { JournalViewer } from './JournalViewer.js';
import { liveTree, type ActorNode } from './liveTree.js';
import { MachineDiagram } from './MachineDiagram.js';

function Tree({ nodes, chosen, choose }: { nodes: ActorNode[]; chosen: string | undefined; choose: (sessionId: string) => void }) {
  return (
    <ul className="tree">
      {nodes.map((n) => (
        <li key={n.sessionId}>
          <button type="button" className="link" aria-pressed={chosen === n.sessionId} onClick={() => choose(n.sessionId)} title="Show on its diagram">
            <code>{n.id}</code>
          </button>{' '}
          <span className="state">{n.state}</span>
          {n.status !== 'active' && <span className="muted"> ({n.status})</span>}
          {n.children.length > 0 && <Tree nodes={n.children} chosen={chosen} choose={choose} />}
        </li>
      ))}
    </ul>
  );
}

function find(nodes: ActorNode[], sessionId: string | undefined): ActorNode | undefined {
  for (const n of nodes) {
    if (n.sessionId === sessionId) return n;
    const inner = find(n.children, sessionId);
    if (inner) return inner;
  }
  return undefined;
}

export function DevPanel({ device }: { device: Device }) {
  const [tab, setTab] = useState<'live' | 'journal'>('live');
  const [chosen, choose] = useState<string>();
  const { roots, stream } = liveTree(device.inspection);
  // The app machine's diagram until another actor is chosen.
  const shown = find(roots, chosen) ?? roots.find((n) => n.logic?.id === 'app') ?? roots[0];
  return (
    <aside className="devpanel" aria-label="Developer panel">
      <div role="tablist" className="row">
        <button type="button" role="tab" aria-selected={tab === 'live'} onClick={() => setTab('live')}>
          Live actors
        </button>
        <button type="button" role="tab" aria-selected={tab === 'journal'} onClick={() => setTab('journal')}>
          Journal
        </button>
      </div>
      {tab === 'live' ? (
        <div role="tabpanel" aria-label="Live actors">
          <h2>Actors</h2>
          <Tree nodes={roots} chosen={shown?.sessionId} choose={choose} />
          {shown && (
            <>
              <h2>
                <code>{shown.id}</code>
                {shown.logic?.id && shown.logic.id !== shown.id ? ` (${shown.logic.id})` : ''} on its diagram
              </h2>
              <MachineDiagram actorId={shown.id} logic={shown.logic} value={shown.value} />
            </>
          )}
          <h2>Events</h2>
          <ol className="stream" aria-label="Event stream" tabIndex={0}>
            {stream.slice(-60).map((e) => (
              <li key={e.n}>
                <code>{e.from}</code> → <code>{e.to}</code>: <strong>{e.type}</strong>
              </li>
            ))}
          </ol>
        </div>
      ) : (
        <div role="tabpanel" aria-label="Journal">
          <JournalViewer device={device} />
        </div>
      )}
    </aside>
  );
}
