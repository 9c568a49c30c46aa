/**
 * Settings → Linked devices: this device and the others of mine (the SDK's `devices()`), a link code
 * (words, digits, QR) for a new one while linking, and unlink (with a confirm) for each other one.
 * The SDK keeps no names for my other devices, so they show by a short form of their device id.
 */
import { codeToDigits } from '@backchannel/sdk';
import { useState } from 'react';
import type { Device } from '../device.js';
import { CodeQr } from './CodeQr.js';
import type { Send } from './types.js';

export interface LinkedDevicesProps {
  device: Device;
  /** This device's name (the app's prefs). */
  name: string | undefined;
  /** A link is being offered: its code once the relay gave one. */
  linking: boolean;
  code: string | undefined;
  unlinking: boolean;
  /** The device the last link added. */
  linked: string | undefined;
  error: Error | undefined;
  send: Send;
}

/** A device id short enough to read and compare between screens. */
export const shortId = (id: string) => id.slice(0, 8);

export function LinkedDevices({ device, name, linking, code, unlinking, linked, error, send }: LinkedDevicesProps) {
  const [confirming, setConfirming] = useState<string>();
  const others = device.bc.devices().filter((d) => d.device_id !== device.bc.deviceId);
  return (
    <section aria-labelledby="devices-title">
      <h2 id="devices-title">Linked devices</h2>
      <p className="muted">Your devices share your contacts and conversations. Link a new one with a code shown here.</p>
      <ul className="devices" aria-label="My devices">
        <li>
          <span>
            <span className="name">{name ?? 'This device'}</span> <span className="muted">({shortId(device.bc.deviceId)}, this device)</span>
          </span>
        </li>
        {others.map((d) => (
          <li key={d.device_id}>
            <span className="name">Device {shortId(d.device_id)}</span>
            {confirming === d.device_id ? (
              <span className="row">
                <button
                  type="button"
                  className="danger"
                  disabled={unlinking}
                  onClick={() => {
                    setConfirming(undefined);
                    send({ type: 'UNLINK', deviceId: d.device_id });
                  }}
                >
                  Yes, unlink device {shortId(d.device_id)}
                </button>
                <button type="button" className="secondary" onClick={() => setConfirming(undefined)}>
                  Keep it
                </button>
              </span>
            ) : (
              <button type="button" className="danger" disabled={unlinking} onClick={() => setConfirming(d.device_id)}>
                Unlink device {shortId(d.device_id)}…
              </button>
            )}
          </li>
        ))}
      </ul>
      {confirming && <p className="muted">It deletes its copy of your contacts and messages the next time it is online, and stops connecting.</p>}
      {unlinking && <p role="status">Unlinking…</p>}
      {linked && <p role="status">Linked device {shortId(linked)}.</p>}
      {error && (
        <p role="alert" className="error">
          {error.message}
        </p>
      )}
      {linking ? (
        <div className="link-offer">
          {!code ? (
            <p role="status">Getting a link code from the relay…</p>
          ) : (
            <>
              <p>
                On the new device, choose “Link to my other device” and enter this code. Whoever has it gets your contacts, so enter it only on a device of
                yours.
              </p>
              <p className="code" data-testid="link-code" aria-label="Link code">
                {code}
              </p>
              <p>
                As digits:{' '}
                <span className="digits" data-testid="link-digits">
                  {codeToDigits(code)}
                </span>
              </p>
              <CodeQr text={code} alt="QR code of the link code" />
            </>
          )}
          <button type="button" className="secondary" onClick={() => send({ type: 'CANCEL' })}>
            Cancel linking
          </button>
        </div>
      ) : (
        <button type="button" onClick={() => send({ type: 'LINK_DEVICE' })}>
          Link a new device
        </button>
      )}
    </section>
  );
}
