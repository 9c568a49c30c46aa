/** The contact list: presence, last seen, unread, who removed me; and the ways to add someone. */
import type { Device } from '../device.js';
import type { Prefs } from '../prefs.js';
import { presenceText, unreadCount } from './presence.js';
import type { Send } from './types.js';

export function Contacts({ device, prefs, send }: { device: Device; prefs: Prefs; send: Send }) {
  const contacts = [...device.bc.contacts()].sort((a, b) => a.moniker.localeCompare(b.moniker));
  return (
    <section aria-labelledby="contacts-title">
      <div className="row between">
        <h1 id="contacts-title">Contacts</h1>
        <button type="button" className="link" onClick={() => send({ type: 'OPEN_SETTINGS' })}>
          Settings
        </button>
      </div>
      {contacts.length === 0 ? (
        <p className="muted">No contacts yet. Invite someone, or enter the code someone gave you.</p>
      ) : (
        <ul className="contacts">
          {contacts.map((c) => {
            const unread = unreadCount(device, prefs, c);
            // They removed me: nothing reaches them any more; the chat stays readable.
            const removedMe = c.removed_by === 'peer';
            const presence = removedMe ? 'Removed you' : presenceText(device, c);
            const online = presence.startsWith('Connected');
            return (
              <li key={c.id}>
                <button type="button" className={removedMe ? 'contact removed' : 'contact'} onClick={() => send({ type: 'OPEN_CHAT', contactId: c.id })}>
                  <span className={online ? 'dot on' : 'dot'} aria-hidden="true" />
                  <span className="name">{c.moniker}</span>
                  <span className={removedMe ? 'presence removed-badge' : 'presence'}>
                    <span className="visually-hidden">, </span>
                    {presence}
                  </span>
                  {unread > 0 && (
                    <span className="badge">
                      <span className="visually-hidden">, </span>
                      {unread}
                      <span className="visually-hidden"> unread</span>
                    </span>
                  )}
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <div className="row">
        <button type="button" onClick={() => send({ type: 'INVITE' })}>
          Invite someone
        </button>
        <button type="button" onClick={() => send({ type: 'REDEEM' })}>
          Enter a code
        </button>
      </div>
    </section>
  );
}
