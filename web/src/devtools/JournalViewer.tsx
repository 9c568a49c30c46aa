/**
 * Load a journal (this device's, or a file of opened records), step forward and back through it, and
 * see every machine's state at that point: `replay()` over the records up to the step.
 */
import { replay, type OpenedRecord, type ReplayedActor } from '@backchannel/sdk';
import { useEffect, useState } from 'react';
import type { Device } from '../device.js';
import { stateText } from './liveTree.js';

function describe(r: OpenedRecord): string {
  if (r.k === 'event') return `event ${r.event.type}`;
  if (r.k === 'spawn') return `spawn ${r.path} (${r.effect})`;
  if (r.k === 'end') return `end (${r.status})`;
  return `${r.k} ${r.path} (${r.machine})`;
}

export function JournalViewer({ device }: { device: Device }) {
  const [records, setRecords] = useState<OpenedRecord[]>();
  const [step, setStep] = useState(0);
  const [actors, setActors] = useState<ReplayedActor[]>([]);
  const [problem, setProblem] = useState<string>();

  useEffect(() => {
    if (!records) return;
    let live = true;
    replay(records.slice(0, step + 1)).then(
      (a) => live && setActors(a),
      (e: unknown) => live && setProblem((e as Error).message),
    );
    return () => {
      live = false;
    };
  }, [records, step]);

  const load = (rs: OpenedRecord[]) => {
    const sorted = [...rs].sort((a, b) => a.seq - b.seq);
    setRecords(sorted);
    setStep(Math.max(0, sorted.length - 1));
    setProblem(undefined);
  };
  const loadOwn = async () => {
    const journal = device.bc.journal;
    if (!journal) return setProblem('This device keeps no journal.');
    await journal.flush();
    load(await journal.records());
  };
  const loadFile = async (file: File | undefined) => {
    if (!file) return;
    try {
      const parsed: unknown = JSON.parse(await file.text());
      if (!Array.isArray(parsed)) throw new Error('A journal file is a JSON array of records.');
      load(parsed as OpenedRecord[]);
    } catch (e) {
      setProblem((e as Error).message);
    }
  };
  const at = records?.[step];
  return (
    <div className="journal">
      <div className="row">
        <button type="button" onClick={() => void loadOwn()}>
          Load this device's journal
        </button>
        <label className="file-pick">
          Load a journal file <input type="file" accept="application/json,.json" onChange={(e) => void loadFile(e.target.files?.[0])} />
        </label>
      </div>
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      {records && (
        <>
          <div className="row">
            <button type="button" onClick={() => setStep((s) => Math.max(0, s - 1))} disabled={step === 0}>
              ◀ Back
            </button>
            <label htmlFor="journal-step">
              Step {step + 1} of {records.length}
            </label>
            <input id="journal-step" type="range" min={0} max={records.length - 1} value={step} onChange={(e) => setStep(Number(e.target.value))} />
            <button type="button" onClick={() => setStep((s) => Math.min(records.length - 1, s + 1))} disabled={step >= records.length - 1}>
              Forward ▶
            </button>
          </div>
          <p data-testid="journal-record">
            #{at?.seq}: {at ? describe(at) : ''}
          </p>
          <table className="replayed">
            <caption>Every machine at this step</caption>
            <thead>
              <tr>
                <th scope="col">Actor</th>
                <th scope="col">State</th>
                <th scope="col">Events</th>
              </tr>
            </thead>
            <tbody>
              {actors
                .filter((a) => a.machine)
                .map((a) => (
                  <tr key={a.actor}>
                    <td>
                      <code>{a.path}</code>
                    </td>
                    <td>{a.failure ? `(${a.failure})` : `${stateText(a.snapshot?.value)}${a.ended ? ` — ${a.ended}` : ''}`}</td>
                    <td>{a.events}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
