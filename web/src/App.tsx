/**
 * The screen for the UI machine's state. Each screen reads the device (the SDK façade) for its data
 * and the app machine's state through `getSnapshot()`; the relay banner reads `relay` from it too.
 */
import { useSelector } from '@xstate/react';
import { useState, type ReactNode } from 'react';
import { DevPanel } from './devtools/DevPanel.js';
import { useDevice } from './useDevice.js';
import type { Prefs } from './prefs.js';
import type { UiActor } from './uiMachine.js';
import { Banner } from './screens/Banner.js';
import { Broken } from './screens/Broken.js';
import { Chat } from './screens/Chat.js';
import { ContactSettings } from './screens/ContactSettings.js';
import { Contacts } from './screens/Contacts.js';
import { Failure } from './screens/Failure.js';
import { Invite } from './screens/Invite.js';
import { Join } from './screens/Join.js';
import { Redeem } from './screens/Redeem.js';
import { Settings } from './screens/Settings.js';
import { Unlinked } from './screens/Unlinked.js';
import { Verify } from './screens/Verify.js';
import { Welcome } from './screens/Welcome.js';

export interface AppProps {
  ui: UiActor;
  prefs: Prefs;
  /** Where redeem links point (this page, without `#`). */
  linkBase: () => string;
}

export function App({ ui, prefs, linkBase }: AppProps) {
  // The developer panel: off by default, one switch.
  const [dev, setDev] = useState(false);
  const state = useSelector(ui, (s) => s);
  const device = state.context.device;
  useDevice(device);
  const send = ui.send;
  let screen: ReactNode;
  if (state.matches('opening') || state.matches('route') || state.matches('clearing') || state.matches('cleared')) {
    screen = (
      <p role="status" className="center">
        {state.matches('opening') ? 'Opening…' : 'Clearing…'}
      </p>
    );
  } else if (state.matches('broken')) screen = <Broken error={state.context.error} send={send} />;
  else if (state.matches('unlinked')) screen = <Unlinked send={send} />;
  else if (!device) screen = null;
  else if (state.matches('welcome')) screen = <Welcome send={send} />;
  else if (state.matches('join')) screen = <Join joining={state.matches({ join: 'joining' })} error={state.context.linkError} send={send} />;
  else if (state.matches('contacts')) screen = <Contacts device={device} prefs={prefs} send={send} />;
  else if (state.matches('invite')) screen = <Invite device={device} code={state.context.code} step={state.context.step} linkBase={linkBase} send={send} />;
  else if (state.matches('redeem'))
    screen = (
      <Redeem device={device} pairing={state.matches({ redeem: 'pairing' })} initial={state.context.pendingCode} step={state.context.step} send={send} />
    );
  else if (state.matches('verify'))
    screen = <Verify contact={state.context.paired!} saving={state.matches({ verify: 'naming' })} error={state.context.saveError} send={send} />;
  else if (state.matches('failure')) screen = <Failure error={state.context.error} from={state.context.failedFrom} send={send} />;
  else if (state.matches('chat')) screen = <Chat device={device} prefs={prefs} contactId={state.context.contactId!} send={send} />;
  else if (state.matches('contactSettings'))
    screen = (
      <ContactSettings
        device={device}
        contactId={state.context.contactId!}
        busy={state.matches({ contactSettings: 'renaming' }) ? 'renaming' : state.matches({ contactSettings: 'removing' }) ? 'removing' : undefined}
        error={state.context.saveError}
        send={send}
      />
    );
  else if (state.matches('settings'))
    screen = (
      <Settings
        device={device}
        prefs={prefs}
        saving={state.matches({ settings: 'saving' })}
        error={state.context.saveError}
        devices={{
          linking: state.matches({ settings: 'linking' }),
          code: state.context.linkCode,
          unlinking: state.matches({ settings: 'unlinking' }),
          linked: state.context.linked,
          error: state.context.linkError,
        }}
        send={send}
      />
    );

  const name = prefs.deviceName();
  return (
    <div className="app">
      <header className="topbar">
        <span className="brand" aria-hidden="true">
          ◧
        </span>
        <span className="title">Backchannel</span>
        {name && device && <span className="device">This device: {name}</span>}
        <label className="devtools-switch">
          <input type="checkbox" checked={dev} onChange={(e) => setDev(e.target.checked)} />
          Developer panel
        </label>
      </header>
      {device && !state.matches('unlinked') && <Banner device={device} />}
      <main>{screen}</main>
      {dev && device && <DevPanel device={device} />}
    </div>
  );
}
