/** The web app's entry: the UI machine on this browser's device, rendered by React. */
import { createRoot } from 'react-dom/client';
import { createActor } from 'xstate';
import { App } from './App.js';
import { linkBase, openBrowserDevice, pageParams, takeLinkCode, wipeBrowserData } from './platform.js';
import { storagePrefs } from './prefs.js';
import { uiActors } from './uiActors.js';
import { uiMachine } from './uiMachine.js';
import './styles.css';

const prefs = storagePrefs();
const ui = createActor(
  uiMachine.provide({
    actors: uiActors({ open: openBrowserDevice, inviteRefreshMs: pageParams().inviteRefreshMs, wipe: wipeBrowserData }),
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
