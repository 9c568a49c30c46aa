/** Paired: compare the verifier with the other screen, then name the contact. */
import { useState, type FormEvent } from 'react';
import type { PairedContact } from '../uiMachine.js';
import type { Send } from './types.js';

export function Verify({ contact, saving, error, send }: { contact: PairedContact; saving: boolean; error: Error | undefined; send: Send }) {
  const [name, setName] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim()) send({ type: 'NAME_CONTACT', moniker: name.trim() });
  };
  return (
    <section aria-labelledby="verify-title" className="card">
      <h1 id="verify-title">Paired</h1>
      <p>Check that the other screen shows the same verifier. If it differs, someone is in between: remove this contact.</p>
      <p className="verifier" data-testid="verifier" aria-label="Verifier">
        {contact.verifier}
      </p>
      <form onSubmit={submit}>
        <label htmlFor="contact-name">Name this contact</label>
        <input id="contact-name" value={name} onChange={(e) => setName(e.target.value)} maxLength={200} placeholder="e.g. Bob" autoFocus required />
        {error && (
          <p role="alert" className="error">
            {error.message}
          </p>
        )}
        <button type="submit" disabled={saving}>
          {saving ? 'Saving…' : 'Save and chat'}
        </button>
      </form>
    </section>
  );
}
