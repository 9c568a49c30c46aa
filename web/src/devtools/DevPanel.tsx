/**
 * The developer panel (off by default; one switch in the header): the live actor tree with each
 * actor's state and the event stream, from the redacted inspection stream — and the journal viewer.
 * Nothing here shows a secret: the inspection stream is redacted, and the journal viewer shows state
 * values and event types only.
 */
import { useState } from 'react';
import type { Device } from '../device.js';
import { JournalViewer } from './JournalViewer.js';
import { liveTree, type ActorNode } from './liveTree.js';

function Tree({ nodes }: { nodes: ActorNode[] }) {
  return (
    <ul className="tree">
      {nodes.map((n) => (
        <li key={n.sessionId}>
          <code>{n.id}</code> <span className="state">{n.state}</span>
          {n.status !== 'active' && <span className="muted"> ({n.status})</span>}
          {n.children.length > 0 && <Tree nodes={n.children} />}
        </li>
      ))}
    </ul>
  );
}

export function DevPanel({ device }: { device: Device }) {
  const [tab, setTab] = useState<'live' | 'journal'>('live');
  const { roots, stream } = liveTree(device.inspection);
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
          <Tree nodes={roots} />
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
