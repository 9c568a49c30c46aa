/** The web app's entry: the UI machine on this browser's device, rendered by React. */
import { createRoot } from 'react-dom/client';
import { createActor, fromPromise } from 'xstate';
import { App } from './App.js';
import { linkBase, openBrowserDevice, pageParams, takeLinkCode, wipeBrowserData } from './platform.js';
import { storagePrefs } from './prefs.js';
import {
  acceptActor,
  acceptLinkActor,
  clearDataActor,
  inviteActorWith,
  removeActor,
  renameActor,
  saveSettingsActor,
  linkDeviceActor,
  unlinkDeviceActor,
  watchUnlinkActor,
} from './uiActors.js';
import { uiMachine } from './uiMachine.js';
import './styles.css';

const prefs = storagePrefs();
const ui = createActor(
  uiMachine.provide({
    actors: {
      openDevice: fromPromise(() => openBrowserDevice()),
      invite: inviteActorWith({ refreshMs: pageParams().inviteRefreshMs }),
      accept: acceptActor,
      rename: renameActor,
      remove: removeActor,
      saveSettings: saveSettingsActor,
      linkDevice: linkDeviceActor,
      acceptLink: acceptLinkActor,
      unlinkDevice: unlinkDeviceActor,
      watchUnlink: watchUnlinkActor,
      clearData: clearDataActor(wipeBrowserData),
    },
  }),
  { input: { prefs, pendingCode: takeLinkCode() } },
);
ui.subscribe((s) => {
  if (s.matches('cleared')) location.replace(linkBase());
});
window.addEventListener('hashchange', () => {
  const code = takeLinkCode();
  if (code) ui.send({ type: 'REDEEM', code });
});
ui.start();

createRoot(document.getElementById('root')!).render(<App ui={ui} prefs={prefs} linkBase={linkBase} />);

// Built app only: the dev server (hot reloading) serves fresh files.
if ('serviceWorker' in navigator && !import.meta.hot) {
  navigator.serviceWorker.register('./sw.js').catch((error: unknown) => console.warn('No offline copy:', error));
}
