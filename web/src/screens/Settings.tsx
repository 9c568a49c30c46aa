/** Settings: the relay, this device's name, and clearing all data. */
import { useState, type FormEvent } from 'react';
import type { Device } from '../device.js';
import type { Prefs } from '../prefs.js';
import type { Send } from './types.js';

export function Settings({ device, prefs, saving, error, send }: { device: Device; prefs: Prefs; saving: boolean; error: Error | undefined; send: Send }) {
  const [relay, setRelay] = useState(device.bc.settings().relay_server);
  const [confirming, setConfirming] = useState(false);
  const status = device.bc.getSnapshot().relay;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    send({ type: 'SAVE_RELAY', relay });
  };
  return (
    <section aria-labelledby="settings-title" className="card">
      <button type="button" className="link" onClick={() => send({ type: 'BACK' })}>
        ← Contacts
      </button>
      <h1 id="settings-title">Settings</h1>
      <p>This device: {prefs.deviceName()}</p>
      <form onSubmit={submit}>
        <label htmlFor="relay">Relay URL</label>
        <input id="relay" type="url" value={relay} onChange={(e) => setRelay(e.target.value)} required aria-describedby="relay-status" />
        <p id="relay-status" className="muted">
          Relay status: {status}
        </p>
        {error && (
          <p role="alert" className="error">
            {error.message}
          </p>
        )}
        <button type="submit" disabled={saving}>
          {saving ? 'Saving…' : 'Save relay'}
        </button>
      </form>
      <h2>Clear all data</h2>
      <p>Deletes every contact, every message and this device's identity from this browser. Contacts will not reach you here again.</p>
      {confirming ? (
        <div className="row">
          <button type="button" className="danger" onClick={() => send({ type: 'CLEAR_DATA' })}>
            Yes, delete everything
          </button>
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>
            Keep my data
          </button>
        </div>
      ) : (
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Clear all data…
        </button>
      )}
    </section>
  );
}
