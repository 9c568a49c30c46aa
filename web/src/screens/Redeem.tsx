/**
 * Redeem: type the code (words complete as you type; digits and redeem links work too) or scan the
 * invite's QR with the camera, then pairing progress while the app machine is in `ready.pairing.accepting`.
 */
import type { PairingStep } from '@backchannel/sdk';
import type { Device } from '../device.js';
import { CodeForm } from './CodeForm.js';
import { Progress } from './Progress.js';
import type { Send } from './types.js';

export interface RedeemProps {
  device: Device;
  pairing: boolean;
  initial: string | undefined;
  step: PairingStep | 'naming' | undefined;
  send: Send;
}

export function Redeem({ device, pairing, initial, step, send }: RedeemProps) {
  const accepting = device.bc.getSnapshot().matches({ ready: { pairing: 'accepting' } });
  return (
    <section aria-labelledby="redeem-title" className="card">
      <h1 id="redeem-title">Enter a code</h1>
      {pairing ? (
        <>
          <p role="status">Pairing with the code you entered…</p>
          {(accepting || step) && <Progress step={step} />}
        </>
      ) : (
        <CodeForm label="Code (words, digits or a link)" submitLabel="Pair" initial={initial} onCode={(code) => send({ type: 'SUBMIT_CODE', code })}>
          <p className="muted">
            A code from another device of yours?{' '}
            <button type="button" className="link" onClick={() => send({ type: 'JOIN' })}>
              Link to my other device
            </button>
          </p>
        </CodeForm>
      )}
      <button type="button" className="secondary" onClick={() => send({ type: 'CANCEL' })}>
        Cancel
      </button>
    </section>
  );
}
