/** Settings: the relay, ICE servers, the largest file, this device's name, linked devices, and clearing all data. */
import type { IceServer } from '@backchannel/sdk';
import { useState, type FormEvent } from 'react';
import type { Device } from '../device.js';
import type { Prefs } from '../prefs.js';
import { LinkedDevices, type LinkedDevicesProps } from './LinkedDevices.js';
import type { Send } from './types.js';

/** ICE servers as lines: `stun:host:port`, or `turn:host:port username credential`. */
export function iceText(servers: IceServer[]): string {
  return servers.map((s) => [s.urls.join(','), s.username, s.credential].filter((x) => x !== undefined).join(' ')).join('\n');
}

export function parseIce(text: string): IceServer[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [urls, username, credential] = line.split(/\s+/) as [string, string?, string?];
      return { urls: urls.split(','), ...(username ? { username } : {}), ...(credential ? { credential } : {}) };
    });
}

const MB = 1_000_000;

export interface SettingsProps {
  device: Device;
  prefs: Prefs;
  saving: boolean;
  error: Error | undefined;
  /** Linked devices: what the UI machine's settings state says about linking and unlinking. */
  devices: Omit<LinkedDevicesProps, 'device' | 'name' | 'send'>;
  send: Send;
}

export function Settings({ device, prefs, saving, error, devices, send }: SettingsProps) {
  const current = device.bc.settings();
  const [relay, setRelay] = useState(current.relay_server);
  const [ice, setIce] = useState(iceText(current.ice_servers));
  const [largest, setLargest] = useState(current.file_size_limit === undefined ? '' : String(current.file_size_limit / MB));
  const [confirming, setConfirming] = useState(false);
  const status = device.bc.getSnapshot().relay;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const mb = Number(largest);
    send({
      type: 'SAVE_SETTINGS',
      patch: {
        relay_server: relay.trim(),
        ice_servers: parseIce(ice),
        ...(largest.trim() && Number.isFinite(mb) && mb >= 0 ? { file_size_limit: Math.round(mb * MB) } : {}),
      },
    });
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
        <label htmlFor="ice">ICE servers (for direct connections)</label>
        <textarea
          id="ice"
          rows={3}
          value={ice}
          onChange={(e) => setIce(e.target.value)}
          aria-describedby="ice-help"
          spellCheck={false}
          placeholder="stun:stun.example.org:3478"
        />
        <p id="ice-help" className="muted">
          One per line: <code>stun:host:port</code>, or <code>turn:host:port username credential</code>. Connections made after saving use them.
        </p>
        <label htmlFor="largest">Largest file to send or receive (MB)</label>
        <input id="largest" type="number" min={0} step="any" value={largest} onChange={(e) => setLargest(e.target.value)} placeholder="2147" />
        {error && (
          <p role="alert" className="error">
            {error.message}
          </p>
        )}
        <button type="submit" disabled={saving}>
          {saving ? 'Saving…' : 'Save settings'}
        </button>
      </form>
      <LinkedDevices device={device} name={prefs.deviceName()} {...devices} send={send} />
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
