/** First start: name this device; then start afresh, or link it to another device of mine. */
import { useState, type FormEvent } from 'react';
import type { Send } from './types.js';

export function Welcome({ send }: { send: Send }) {
  const [name, setName] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return;
    // Which button sent the form (both need the name): start afresh, or join my other device.
    const join = ((e.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null)?.value === 'join';
    send(join ? { type: 'JOIN', name } : { type: 'NAME_DEVICE', name });
  };
  return (
    <section aria-labelledby="welcome-title" className="card">
      <h1 id="welcome-title">Welcome to Backchannel</h1>
      <p>Pair with someone by sharing a short code, then talk end to end encrypted. The relay only forwards sealed messages.</p>
      <form onSubmit={submit}>
        <label htmlFor="device-name">Name this device</label>
        <input id="device-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. Alice's laptop" maxLength={200} autoFocus required />
        <div className="row">
          <button type="submit">Continue</button>
          <button type="submit" className="secondary" value="join">
            Link to my other device
          </button>
        </div>
      </form>
    </section>
  );
}
