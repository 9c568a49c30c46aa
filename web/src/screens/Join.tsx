/**
 * Link to my other device: enter the link code it shows (Settings → Linked devices), same input as
 * redeeming an invite; this device then gets my contacts and settings (the SDK's `acceptLink`).
 */
import { CodeForm } from './CodeForm.js';
import type { Send } from './types.js';

export function Join({ joining, error, send }: { joining: boolean; error: Error | undefined; send: Send }) {
  return (
    <section aria-labelledby="join-title" className="card">
      <h1 id="join-title">Link to my other device</h1>
      {joining ? (
        <p role="status">Linking with your other device and receiving your contacts…</p>
      ) : (
        <>
          <p>On your other device, open Settings, choose “Link a new device”, and enter the code it shows here.</p>
          {error && (
            <p role="alert" className="error">
              {error.message}
            </p>
          )}
          <CodeForm label="Link code (words or digits)" submitLabel="Link" onCode={(code) => send({ type: 'SUBMIT_CODE', code })} />
        </>
      )}
      <button type="button" className="secondary" onClick={() => send({ type: 'CANCEL' })}>
        Cancel
      </button>
    </section>
  );
}
