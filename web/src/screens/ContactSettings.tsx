/** Rename or remove a contact. */
import { useState, type FormEvent } from 'react';
import type { Device } from '../device.js';
import type { Send } from './types.js';

export function ContactSettings({
  device,
  contactId,
  busy,
  error,
  send,
}: {
  device: Device;
  contactId: string;
  /** The app machine is renaming or removing the contact right now. */
  busy: 'renaming' | 'removing' | undefined;
  error: Error | undefined;
  send: Send;
}) {
  const contact = device.bc.contacts().find((c) => c.id === contactId);
  const [name, setName] = useState(contact?.moniker ?? '');
  const [confirming, setConfirming] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim()) send({ type: 'RENAME', moniker: name.trim() });
  };
  return (
    <section aria-labelledby="contact-settings-title" className="card">
      <button type="button" className="link" onClick={() => send({ type: 'BACK' })}>
        ← Back to the chat
      </button>
      <h1 id="contact-settings-title">{contact?.moniker ?? 'Contact'}: settings</h1>
      <form onSubmit={submit}>
        <label htmlFor="rename">Name</label>
        <input id="rename" value={name} onChange={(e) => setName(e.target.value)} maxLength={200} required />
        <button type="submit" disabled={!!busy}>
          {busy === 'renaming' ? 'Renaming…' : 'Rename'}
        </button>
      </form>
      <h2>Remove</h2>
      <p>
        {contact?.removed_by === 'peer'
          ? `${contact.moniker} removed you already. Removing forgets them and your chat with them on this device.`
          : 'Removing forgets this contact and your chat with them on this device; they are told.'}
      </p>
      {confirming ? (
        <div className="row">
          <button type="button" className="danger" disabled={!!busy} onClick={() => send({ type: 'REMOVE' })}>
            {busy === 'removing' ? `Removing ${contact?.moniker ?? 'the contact'}…` : `Yes, remove ${contact?.moniker ?? 'the contact'}`}
          </button>
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>
            Keep
          </button>
        </div>
      ) : (
        <button type="button" className="danger" disabled={!!busy} onClick={() => setConfirming(true)}>
          Remove contact…
        </button>
      )}
      <p role="status" className="muted">
        {busy === 'renaming' ? 'Saving the new name…' : busy === 'removing' ? `Removing ${contact?.moniker ?? 'the contact'} from this device…` : ''}
      </p>
      {error && (
        <p role="alert" className="error">
          {error.message}
        </p>
      )}
    </section>
  );
}
