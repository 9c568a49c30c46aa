/**
 * Invite: the code as words, digits, a QR of its redeem link, how long it has left before a new one
 * replaces it; copy and share. The app machine is in
 * `ready.pairing.inviting` meanwhile (read from the façade's snapshot).
 */
import { codeToDigits, redeemLink, type PairingStep } from '@backchannel/sdk';
import { useEffect, useState } from 'react';
import type { Device } from '../device.js';
import { CodeQr } from './CodeQr.js';
import { Progress } from './Progress.js';
import type { Send } from './types.js';

export interface InviteProps {
  device: Device;
  code: string | undefined;
  step: PairingStep | 'naming' | undefined;
  linkBase: () => string;
  send: Send;
}

/** Re-render every `ms` while mounted: for a countdown on screen. */
function useTick(ms: number): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((n) => n + 1), ms);
    return () => clearInterval(timer);
  }, [ms]);
}

/** How long the code on screen has left before the SDK replaces it (`getSnapshot().invite`). */
function Countdown({ device }: { device: Device }) {
  useTick(1_000);
  const remaining = device.bc.getSnapshot().invite?.remainingMs;
  if (remaining === undefined) return null;
  const seconds = Math.ceil(remaining / 1_000);
  const text = seconds >= 60 ? `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s` : `${seconds} s`;
  return (
    <p className="muted countdown" data-testid="invite-countdown">
      A new code replaces this one in <span role="timer">{text}</span>.
    </p>
  );
}

export function Invite({ device, code, step, linkBase, send }: InviteProps) {
  const link = code ? redeemLink(code, linkBase()) : undefined;
  const [copied, setCopied] = useState<string>();
  const copy = async (what: string, text: string) => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(what);
    } catch {
      setCopied(undefined);
    }
  };
  const pairing = device.bc.getSnapshot().matches({ ready: { pairing: 'inviting' } });
  return (
    <section aria-labelledby="invite-title" className="card">
      <h1 id="invite-title">Invite someone</h1>
      {!code ? (
        <p role="status">Getting a code from the relay…</p>
      ) : (
        <>
          <p>Give them this code. It works once; whoever has it can pair with you, so share it only with them.</p>
          <p className="code" data-testid="invite-code" aria-label="Invite code">
            {code}
          </p>
          <p>
            As digits:{' '}
            <span className="digits" data-testid="invite-digits">
              {codeToDigits(code)}
            </span>
          </p>
          <Countdown device={device} />
          <CodeQr text={link} alt="QR code of the invite link" />
          <p className="link-line">
            Link:{' '}
            <a href={link} data-testid="invite-link">
              {link}
            </a>
          </p>
          <div className="row">
            <button type="button" onClick={() => void copy('code', code)}>
              Copy code
            </button>
            <button type="button" onClick={() => void copy('link', link!)}>
              Copy link
            </button>
            {'share' in navigator && (
              <button type="button" onClick={() => void navigator.share({ title: 'Backchannel invite', text: `My Backchannel code: ${code}`, url: link })}>
                Share…
              </button>
            )}
          </div>
          <p role="status" className="muted">
            {copied ? `Copied the ${copied}.` : ''}
          </p>
        </>
      )}
      {pairing && <Progress step={step} />}
      <div className="row">
        <button type="button" onClick={() => send({ type: 'REFRESH' })}>
          New code
        </button>
        <button type="button" className="secondary" onClick={() => send({ type: 'CANCEL' })}>
          Cancel
        </button>
      </div>
    </section>
  );
}
