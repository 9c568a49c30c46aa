/** The device did not open: say why, and offer to start anew. */
import type { Send } from './types.js';

export function Broken({ error, send }: { error: Error | undefined; send: Send }) {
  return (
    <section aria-labelledby="broken-title" className="card">
      <h1 id="broken-title">Backchannel could not open</h1>
      <p role="alert">{error?.message ?? 'Unknown error.'}</p>
      <button type="button" className="danger" onClick={() => send({ type: 'CLEAR_DATA' })}>
        Clear all data and start again
      </button>
    </section>
  );
}
