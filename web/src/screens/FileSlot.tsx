/**
 * Files in the chat: how a message's file shows (progress either way, waiting, failed, cancel, open
 * and save once complete), the composer's attach control, and sending what was picked or dropped.
 * Everything goes through the SDK's façade: `send` with `file`, `transfer` events (Device.transfers),
 * `cancelFile`, `openFile` and `fileBlob`.
 */
import { AbortedError, type BackchannelError, type FileRef } from '@backchannel/sdk';
import { useCallback, useEffect, useId, useState } from 'react';
import { transferKey, type Device, type Transfer } from '../device.js';

/** "1.5 MB", "300 kB", "12 bytes". */
export function sizeText(bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(bytes < 1e4 ? 1 : 0)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
  return `${(bytes / 1e9).toFixed(1)} GB`;
}

/** A failed transfer in words a person can act on. */
export function fileFailureText(error: BackchannelError | Error | undefined, mine: boolean, moniker: string): string {
  const code = (error as BackchannelError | undefined)?.code;
  const data = (error as BackchannelError | undefined)?.data ?? {};
  if (code === 'FILE_TOO_LARGE') {
    const limit = typeof data.limit === 'number' ? sizeText(data.limit) : 'the limit';
    return mine ? `Too large: the largest file allowed is ${limit} (Settings).` : `Too large for this device: the largest file allowed is ${limit} (Settings).`;
  }
  if (code === 'FILE_CORRUPT')
    return mine
      ? `${moniker}'s device received it damaged (its hash did not match) and discarded it.`
      : 'It arrived damaged (its hash did not match what was sent) and was discarded.';
  if (code === 'ABORTED') return 'Cancelled.';
  return error?.message ?? 'The transfer failed.';
}

/** Whether this device holds the file's bytes, complete: probed with openFile when the transfer says nothing more. */
function useComplete(device: Device, hash: string, transfer: Transfer | undefined): boolean | undefined {
  const [complete, setComplete] = useState<boolean>();
  const status = transfer?.status;
  useEffect(() => {
    let live = true;
    device.bc.openFile(hash).then(
      (stream) => {
        void stream.cancel().catch(() => {});
        if (live) setComplete(true);
      },
      () => live && setComplete(false),
    );
    return () => {
      live = false;
    };
  }, [device, hash, status]);
  return complete;
}

/** Hand the browser a Blob URL of the file: saved as a download, or opened in a new tab. */
async function deliver(device: Device, file: FileRef, how: 'save' | 'open'): Promise<void> {
  const url = URL.createObjectURL(await device.bc.fileBlob(file.hash, file.mimetype));
  if (how === 'open') window.open(url, '_blank', 'noopener');
  else {
    const a = document.createElement('a');
    a.href = url;
    a.download = file.filename;
    document.body.append(a);
    a.click();
    a.remove();
  }
  // The browser has taken it by then; a minute is ample for a slow tab to start reading.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export interface FileAttachmentProps {
  device: Device;
  contactId: string;
  moniker: string;
  file: FileRef;
  /** Sent by this device. */
  mine: boolean;
}

export function FileAttachment({ device, contactId, moniker, file, mine }: FileAttachmentProps) {
  const transfer = device.transfers.get(transferKey(contactId, file.hash));
  const complete = useComplete(device, file.hash, transfer);
  const [problem, setProblem] = useState<string>();
  const statusId = useId();
  const queued = mine && !transfer && device.sentHere.has(transferKey(contactId, file.hash));
  const moving = queued || (transfer && (transfer.status === 'progress' || transfer.status === 'waiting'));
  const failed = transfer?.status === 'failed';
  const arrived = !mine && complete === true;
  let status: string;
  if (failed) status = fileFailureText(transfer.error, mine, moniker);
  else if (transfer?.status === 'waiting')
    status = transfer.route === 'relay' ? `Kept sealed on the relay until ${moniker} collects it.` : `Waits on this device until ${moniker} is online.`;
  else if (transfer?.status === 'progress') status = `${mine ? 'Sending' : 'Receiving'}: ${sizeText(transfer.done)} of ${sizeText(transfer.total)}`;
  else if (queued) status = `Stored here; it goes when ${moniker}'s device is connected.`;
  else if (transfer?.status === 'done') status = mine ? `Delivered to ${moniker}.` : 'Received.';
  else if (mine && complete === false) status = 'Its bytes are no longer on this device (the transfer was cancelled).';
  else if (mine || arrived) status = '';
  else status = complete === false ? `Not received yet: it comes when ${moniker} is online.` : '';

  const act = (how: 'save' | 'open') =>
    deliver(device, file, how).then(
      () => setProblem(undefined),
      (error: unknown) => setProblem((error as Error).message),
    );
  const cancel = () =>
    device.bc.cancelFile(contactId, file.hash).then(
      () => {
        // A transfer that never started hears no `transfer` event: cancelled is what it is now.
        const key = transferKey(contactId, file.hash);
        const last = device.transfers.get(key);
        if (last?.status !== 'failed' && last?.status !== 'done') {
          device.transfers.set(key, {
            contactId,
            hash: file.hash,
            direction: mine ? 'out' : 'in',
            status: 'failed',
            done: last?.done ?? 0,
            total: file.size,
            error: new AbortedError('The file transfer was cancelled.'),
          });
        }
        device.sentHere.delete(key);
        device.changed();
        setProblem(undefined);
      },
      (error: unknown) => setProblem((error as Error).message),
    );
  return (
    <div
      className={failed ? 'file failed' : 'file'}
      data-testid="file"
      data-hash={file.hash}
      data-status={transfer?.status ?? (complete ? 'complete' : 'unknown')}
    >
      <span className="file-name">
        <span className="visually-hidden">File: </span>
        {file.filename} <span className="muted">({sizeText(file.size)})</span>
      </span>
      {transfer?.status === 'progress' && (
        <progress
          value={transfer.done}
          max={Math.max(transfer.total, 1)}
          aria-label={`${mine ? 'Sending' : 'Receiving'} ${file.filename}`}
          aria-describedby={statusId}
        />
      )}
      {status && (
        <span id={statusId} className="file-status" role={failed ? 'alert' : undefined}>
          {status}
        </span>
      )}
      <span className="file-actions">
        {complete && !failed && (
          <>
            <button type="button" className="link" onClick={() => void act('open')} aria-label={`Open ${file.filename}`}>
              Open
            </button>
            <button type="button" className="link" onClick={() => void act('save')} aria-label={`Save ${file.filename}`}>
              Save
            </button>
          </>
        )}
        {(moving || (!mine && complete === false && !failed)) && (
          <button type="button" className="link" onClick={() => void cancel()} aria-label={`Cancel ${file.filename}`}>
            Cancel
          </button>
        )}
      </span>
      {problem && (
        <span role="alert" className="error">
          {problem}
        </span>
      )}
    </div>
  );
}

/** A file being stored on this device before its message goes out (send has not resolved yet). */
export interface Storing {
  key: number;
  filename: string;
  abort: AbortController;
}

let nextKey = 0;

/** Send picked or dropped files one after another; what is being stored, and what went wrong. */
export function useFileSender(device: Device, contactId: string, moniker: string) {
  const [storing, setStoring] = useState<Storing[]>([]);
  const [problem, setProblem] = useState<string>();
  const sendFiles = useCallback(
    async (files: Iterable<File>) => {
      for (const picked of files) {
        const item: Storing = { key: nextKey++, filename: picked.name, abort: new AbortController() };
        setStoring((s) => [...s, item]);
        try {
          const sent = await device.bc.send(
            contactId,
            { file: { data: picked, filename: picked.name || 'file', mimetype: picked.type || 'application/octet-stream' } },
            { signal: item.abort.signal },
          );
          if (sent.file) {
            device.sentHere.add(transferKey(contactId, sent.file.hash));
            device.changed();
          }
          setProblem(undefined);
        } catch (error) {
          setProblem(`${picked.name}: ${fileFailureText(error as Error, true, moniker)}`);
        } finally {
          setStoring((s) => s.filter((x) => x !== item));
        }
      }
    },
    [device, contactId, moniker],
  );
  return { storing, problem, sendFiles };
}

/** The composer's attach control: a labelled file input (several files at once). */
export function AttachControl({ onFiles, moniker, disabled = false }: { onFiles: (files: File[]) => void; moniker: string; disabled?: boolean }) {
  return (
    <label className={disabled ? 'button secondary attach disabled' : 'button secondary attach'} aria-disabled={disabled || undefined}>
      Attach
      <input
        type="file"
        multiple
        disabled={disabled}
        className="visually-hidden"
        aria-label={`Attach a file for ${moniker}`}
        onChange={(e) => {
          const files = [...(e.target.files ?? [])];
          e.target.value = '';
          if (files.length) onFiles(files);
        }}
      />
    </label>
  );
}

/** Files still being stored here, each with a cancel. */
export function StoringList({ storing }: { storing: Storing[] }) {
  if (!storing.length) return null;
  return (
    <ul className="storing" aria-label="Files being prepared">
      {storing.map((s) => (
        <li key={s.key}>
          <span role="status">Preparing {s.filename}…</span>{' '}
          <button type="button" className="link" onClick={() => s.abort.abort()} aria-label={`Cancel ${s.filename}`}>
            Cancel
          </button>
        </li>
      ))}
    </ul>
  );
}
