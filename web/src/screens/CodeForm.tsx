/**
 * The code input the redeem and link screens share: words complete as you type (Tab takes the only
 * completion left), digits and links work too; or scan a QR code with the camera.
 */
import { completeCode, parseAnyCode } from '@backchannel/sdk';
import { useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { QrScanner } from './QrScanner.js';

/** Completions for what is typed so far (words only; digits and links need none). */
function completions(text: string): string[] {
  if (!/^\s*\d+-/.test(text) || /[:/#]/.test(text)) return [];
  try {
    return completeCode(text.trim().toLowerCase(), 2).slice(0, 8);
  } catch {
    return [];
  }
}

export interface CodeFormProps {
  label: string;
  submitLabel: string;
  initial?: string;
  /** A code that parsed (the SDK's own parser): what the person typed, scanned or pasted. */
  onCode: (code: string) => void;
  /** Below the buttons (another way in). */
  children?: ReactNode;
}

export function CodeForm({ label, submitLabel, initial, onCode, children }: CodeFormProps) {
  const [text, setText] = useState(initial ?? '');
  const [problem, setProblem] = useState<string>();
  const [scanning, setScanning] = useState(false);
  const options = completions(text);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    try {
      onCode(parseAnyCode(text, { words: 2 }).text);
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
  return (
    <>
      <form onSubmit={submit}>
        <label htmlFor="code">{label}</label>
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
          <button type="submit">{submitLabel}</button>
          {!scanning && (
            <button type="button" className="secondary" onClick={() => setScanning(true)}>
              Scan a QR code
            </button>
          )}
        </div>
        {children}
      </form>
      {scanning && <QrScanner onCode={onCode} onClose={() => setScanning(false)} />}
    </>
  );
}
