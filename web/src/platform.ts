/**
 * The browser around the app: IndexedDB storage, the platform WebSocket, WebRTC (unless `?direct=0`),
 * the relay (`?relay=ws://…/v1`, else what Settings hold, else the build's default), how often an invite's
 * code is replaced (`?invite-refresh=ms`), the network's
 * online/offline events, and wiping this origin's data.
 */
import { browserSocketConnector, InvalidArgumentError, type BackchannelOptions } from '@backchannel/sdk';
import { LocalforageStorage } from '@backchannel/sdk/adapters/localforage';
import { Device } from './device.js';

/** The IndexedDB database the SDK's storage (and its journal) lives in. */
export const DATABASE = 'backchannel';
/** The relay when neither the page's `?relay=` nor Settings name one: `npm run web`'s, or loopback. */
export const DEFAULT_RELAY: string = (import.meta.env.VITE_BACKCHANNEL_RELAY as string | undefined) ?? 'ws://127.0.0.1:4000/v1';

/** How often an invite's code is replaced while nobody answers it (`?invite-refresh=ms`; 0: never). */
export const DEFAULT_INVITE_REFRESH_MS = 120_000;

export function pageParams(): { relay?: string; direct: boolean; inviteRefreshMs?: number } {
  const params = new URLSearchParams(location.search);
  const refresh = Number(params.get('invite-refresh') ?? DEFAULT_INVITE_REFRESH_MS);
  return {
    relay: params.get('relay') ?? undefined,
    direct: params.get('direct') !== '0',
    ...(Number.isSafeInteger(refresh) && refresh > 0 ? { inviteRefreshMs: refresh } : {}),
  };
}

/** The page address without its `#code`: where redeem links point. */
export const linkBase = () => location.href.replace(/#.*$/, '');

export async function openBrowserDevice(): Promise<Device> {
  const { relay, direct } = pageParams();
  const options: BackchannelOptions = {
    storage: new LocalforageStorage(DATABASE),
    connector: browserSocketConnector(),
    ...(direct ? { rtc: window } : {}),
    discoverTimeouts: { reconnectBaseMs: 500 },
  };
  let device: Device;
  try {
    device = await Device.open({ ...options, relay });
  } catch (error) {
    // First start without ?relay=: Settings hold none of ours yet.
    if (relay !== undefined || !(error instanceof InvalidArgumentError)) throw error;
    device = await Device.open({ ...options, relay: DEFAULT_RELAY });
  }
  watchNetwork(device);
  return device;
}

/** The browser says it went offline (or back): stop the links, or start them again. */
function watchNetwork(device: Device): void {
  const sync = () => {
    try {
      if (navigator.onLine) device.bc.goOnline();
      else device.bc.goOffline();
    } catch {
      // closed (data cleared): nothing to stop
    }
  };
  window.addEventListener('online', sync);
  window.addEventListener('offline', sync);
  if (!navigator.onLine) sync();
}

export async function wipeBrowserData(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const request = indexedDB.deleteDatabase(DATABASE);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error ?? new Error('IndexedDB refused to delete the data'));
    request.onblocked = () => resolve(); // deleted once the last connection closes
  });
}

/** The code in the page's `#fragment` (a redeem link), if any; taken off the address bar. */
export function takeLinkCode(): string | undefined {
  const code = decodeURIComponent(location.hash.slice(1)).trim();
  if (!code) return undefined;
  history.replaceState(null, '', linkBase());
  return code;
}
