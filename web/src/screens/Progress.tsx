/** Pairing progress: the steps of the app machine's pairing, the current one marked. */
import type { PairingStep } from '@backchannel/sdk';

const STEPS: { step: PairingStep | 'naming'; label: string }[] = [
  { step: 'connecting', label: 'Connecting to the relay' },
  { step: 'waiting', label: 'Waiting for the other side' },
  { step: 'verifying', label: 'Checking the code' },
  { step: 'confirming', label: 'Confirming' },
  { step: 'naming', label: 'Saving the contact' },
];

export function Progress({ step }: { step: PairingStep | 'naming' | undefined }) {
  const at = STEPS.findIndex((s) => s.step === step);
  return (
    <ol className="steps" aria-label="Pairing progress">
      {STEPS.map((s, i) => (
        <li key={s.step} className={i < at ? 'done' : i === at ? 'now' : ''} aria-current={i === at ? 'step' : undefined}>
          {s.label}
        </li>
      ))}
    </ol>
  );
}
