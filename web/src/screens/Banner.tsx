/** The relay or the network is down: say so, and that nothing is lost (links retry by themselves); or the relay is outdated. */
import type { Device } from '../device.js';

export function Banner({ device }: { device: Device }) {
  const snapshot = device.bc.getSnapshot();
  if (snapshot.matches({ ready: { network: 'offline' } })) {
    return (
      <div role="status" className="banner offline">
        You are offline. Messages wait on this device and go out when you are back.
      </div>
    );
  }
  if (snapshot.relay === 'unreachable') {
    return (
      <div role="status" className="banner">
        The relay is unreachable; retrying. Messages wait on this device meanwhile.
      </div>
    );
  }
  if (snapshot.relay === 'unsupported') {
    return (
      <div role="alert" className="banner">
        {device.bc.relayError?.message ?? 'This relay cannot sync contacts.'} Change it in Settings.
      </div>
    );
  }
  if (device.bc.relayOutdated) {
    return (
      <div role="status" className="banner">
        This relay is from an earlier version: messages still sync, but what waits there for your contacts is less protected. Ask its operator to update it.
      </div>
    );
  }
  return null;
}
