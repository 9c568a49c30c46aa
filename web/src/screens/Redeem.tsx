/**
 * Redeem: type the code (words complete as you type; digits and redeem links work too) or scan the
 * invite's QR with the camera, then pairing progress while the app machine is in `ready.pairing.accepting`.
 */
import { completeCode, parseAnyCode, type PairingStep } from '@backchannel/sdk';
import { useState, type FormEvent, type KeyboardEvent } from 'react';
import type { Device } from '../device.js';
import { Progress } from './Progress.js';
import { QrScanner } from './QrScanner.js';
import type { Send } from './types.js';

export interface RedeemProps {
  device: Device;
  pairing: boolean;
  initial: string | undefined;
  step: PairingStep | 'naming' | undefined;
  send: Send;
}

/** Completions for what is typed so far (words only; digits and links need none). */
function completions(text: string): string[] {
  if (!/^\s*\d+-/.test(text) || /[:/#]/.test(text)) return [];
  try {
    return completeCode(text.trim().toLowerCase(), 2).slice(0, 8);
  } catch {
    return [];
  }
}

export function Redeem({ device, pairing, initial, step, send }: RedeemProps) {
  const [text, setText] = useState(initial ?? '');
  const [problem, setProblem] = useState<string>();
  const [scanning, setScanning] = useState(false);
  const options = completions(text);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    try {
      send({ type: 'SUBMIT_CODE', code: parseAnyCode(text, { words: 2 }).text });
      setProblem(undefined);
    } catch (error) {
      setProblem((error as Error).message);
    }
  };
  // Tab takes the only completion left, as in a terminal.
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Tab' && !e.shiftKey && options.length === 1 && options[0] !== text.trim()) {
      e.preventDefault();
      setText(options[0]!);
    }
  };
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
        <form onSubmit={submit}>
          <label htmlFor="code">Code (words, digits or a link)</label>
          <input
            id="code"
            value={text}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={onKeyDown}
            list="code-completions"
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            placeholder="7-guitarist-revenge"
            aria-describedby={problem ? 'code-problem' : undefined}
            aria-invalid={problem ? true : undefined}
            autoFocus
          />
          <datalist id="code-completions">
            {options.map((o) => (
              <option key={o} value={o} />
            ))}
          </datalist>
          {problem && (
            <p id="code-problem" role="alert" className="error">
              {problem}
            </p>
          )}
          <div className="row">
            <button type="submit">Pair</button>
            {!scanning && (
              <button type="button" className="secondary" onClick={() => setScanning(true)}>
                Scan a QR code
              </button>
            )}
          </div>
        </form>
      )}
      {!pairing && scanning && <QrScanner onCode={(code) => send({ type: 'SUBMIT_CODE', code })} onClose={() => setScanning(false)} />}
      <button type="button" className="secondary" onClick={() => send({ type: 'CANCEL' })}>
        Cancel
      </button>
    </section>
  );
}
