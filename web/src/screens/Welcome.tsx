/** First start: name this device. */
import { useState, type FormEvent } from 'react';
import type { Send } from './types.js';

export function Welcome({ send }: { send: Send }) {
  const [name, setName] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim()) send({ type: 'NAME_DEVICE', name });
  };
  return (
    <section aria-labelledby="welcome-title" className="card">
      <h1 id="welcome-title">Welcome to Backchannel</h1>
      <p>Pair with someone by sharing a short code, then talk end to end encrypted. The relay only forwards sealed messages.</p>
      <form onSubmit={submit}>
        <label htmlFor="device-name">Name this device</label>
        <input id="device-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. Alice's laptop" maxLength={200} autoFocus required />
        <button type="submit">Continue</button>
      </form>
    </section>
  );
}
