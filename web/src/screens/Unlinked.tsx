/** A device of mine unlinked this one: the SDK wiped its contacts, messages and settings, and closed it. */
import type { Send } from './types.js';

export function Unlinked({ send }: { send: Send }) {
  return (
    <section aria-labelledby="unlinked-title" className="card">
      <h1 id="unlinked-title">This device was unlinked</h1>
      <p role="alert">
        One of your other devices unlinked this one. Its contacts, messages and settings were deleted from this browser, and it no longer connects to anyone.
      </p>
      <button type="button" onClick={() => send({ type: 'CLEAR_DATA' })}>
        Start again
      </button>
    </section>
  );
}
