/** Re-render when the device changes: the app machine's snapshot, contacts, messages, presence. */
import { useSyncExternalStore } from 'react';
import type { Device } from './device.js';

const none = () => () => {};
export function useDevice(device: Device | undefined): number {
  return useSyncExternalStore(device?.subscribe ?? none, device?.getVersion ?? (() => -1));
}
