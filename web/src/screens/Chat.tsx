/** One contact's chat: the messages, both directions, and a composer. */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { Device } from '../device.js';
import type { Prefs } from '../prefs.js';
import { AttachControl, FileAttachment, StoringList, useFileSender } from './FileSlot.js';
import { presenceText } from './presence.js';
import type { Send } from './types.js';

export function Chat({ device, prefs, contactId, send }: { device: Device; prefs: Prefs; contactId: string; send: Send }) {
  const contact = device.bc.contacts().find((c) => c.id === contactId);
  const messages = contact ? device.bc.messages(contactId) : [];
  const me = device.bc.deviceId;
  const depot = device.depot.get(contactId);
  const kept = depot && 'kept' in depot ? depot.kept : undefined;
  const [text, setText] = useState('');
  const [problem, setProblem] = useState<string>();
  const [dragging, setDragging] = useState(false);
  const files = useFileSender(device, contactId, contact?.moniker ?? 'them');
  const end = useRef<HTMLLIElement>(null);
  useEffect(() => {
    prefs.setReadCount(contactId, messages.length);
    end.current?.scrollIntoView?.({ block: 'end' });
  }, [prefs, contactId, messages.length]);
  if (!contact) {
    return (
      <section className="card">
        <p role="alert">This contact is gone.</p>
        <button type="button" onClick={() => send({ type: 'BACK' })}>
          Back to contacts
        </button>
      </section>
    );
  }
  // The contact removed me: the history stays readable, but nothing more reaches them.
  const removedMe = contact.removed_by === 'peer';
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = text.trim();
    if (!body) return;
    setText('');
    try {
      await device.bc.send(contactId, { text: body });
      setProblem(undefined);
    } catch (error) {
      setText(body);
      setProblem((error as Error).message);
    }
  };
  return (
    <section
      aria-labelledby="chat-title"
      className={dragging ? 'chat dragging' : 'chat'}
      onDragOver={(e) => {
        if (removedMe || ![...e.dataTransfer.types].includes('Files')) return;
        e.preventDefault(); // lets the drop happen
        e.dataTransfer.dropEffect = 'copy';
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        const dropped = [...e.dataTransfer.files];
        if (dropped.length) void files.sendFiles(dropped);
      }}
    >
      {dragging && (
        <p className="drop-hint" aria-hidden="true">
          Drop to send to {contact.moniker}
        </p>
      )}
      <div className="row between">
        <button type="button" className="link" onClick={() => send({ type: 'BACK' })}>
          ← Contacts
        </button>
        <button type="button" className="link" onClick={() => send({ type: 'OPEN_CONTACT_SETTINGS' })}>
          Contact settings
        </button>
      </div>
      <h1 id="chat-title">{contact.moniker}</h1>
      {removedMe ? (
        <p role="status" className="note removed-note">
          {contact.moniker} removed you. Your chat stays here to read; nothing more can be sent. Remove them in Contact settings to forget it.
        </p>
      ) : (
        <p className="muted">{presenceText(device, contact)}</p>
      )}
      <div role="log" aria-label={`Messages with ${contact.moniker}`} aria-live="polite">
        <ol className="messages">
          {messages.map((m) => (
            <li key={m.id} className={m.sender === me ? 'mine' : 'theirs'}>
              <span className="visually-hidden">{m.sender === me ? 'You: ' : `${contact.moniker}: `}</span>
              <span className="text">{m.text}</span>
              {m.file && <FileAttachment device={device} contactId={contactId} moniker={contact.moniker} file={m.file} mine={m.sender === me} />}
              {m.id === kept && <span className="kept">Kept by the relay for {contact.moniker}</span>}
              <time dateTime={new Date(m.timestamp).toISOString()}>{new Date(m.timestamp).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</time>
            </li>
          ))}
          <li ref={end} aria-hidden="true" className="end" />
        </ol>
      </div>
      {depot && 'refused' in depot && (
        <p role="status" className="note">
          The relay would not keep your messages for {contact.moniker} ({depot.refused}). They stay on this device and go out when {contact.moniker} is online.
        </p>
      )}
      <form className="composer" onSubmit={(e) => void submit(e)}>
        <label htmlFor="message" className="visually-hidden">
          Message to {contact.moniker}
        </label>
        <textarea
          id="message"
          rows={2}
          disabled={removedMe}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
          placeholder={removedMe ? `${contact.moniker} removed you` : 'Write a message'}
        />
        <AttachControl moniker={contact.moniker} disabled={removedMe} onFiles={(picked) => void files.sendFiles(picked)} />
        <button type="submit" disabled={removedMe}>
          Send
        </button>
      </form>
      <StoringList storing={files.storing} />
      {(problem ?? files.problem) && (
        <p role="alert" className="error">
          {problem ?? files.problem}
        </p>
      )}
    </section>
  );
}
