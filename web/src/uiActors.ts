/**
 * The UI machine's effects, all through the SDK's façade: pairing with progress, renaming, removing,
 * saving settings, and clearing every byte this app keeps.
 */
import { toBackchannelError, type BackchannelError } from '@backchannel/sdk';
import { fromCallback, fromPromise } from 'xstate';
import type { Device } from './device.js';
import type { Prefs } from './prefs.js';
import type { LinkEvent, PairingEvent, SettingsPatch, UiEvent } from './uiMachine.js';

/**
 * Invite: show a code until someone answers it. With `refreshMs` the SDK replaces the code every
 * period (each one reaches the screen as `pairing.code`, and `getSnapshot().invite` counts down).
 */
export const inviteActorWith = ({ refreshMs }: { refreshMs?: number } = {}) =>
  fromCallback<UiEvent, { device: Device }, PairingEvent>(({ input, sendBack }) => {
    let cancel: (() => void) | undefined;
    let stopped = false;
    input.device.bc
      .invite({
        onProgress: (step) => sendBack({ type: 'pairing.step', step }),
        ...(refreshMs ? { refreshMs, onCode: (code: string) => stopped || sendBack({ type: 'pairing.code', code }) } : {}),
      })
      .then(({ code, done, cancel: c }) => {
        cancel = c;
        if (stopped) return c();
        sendBack({ type: 'pairing.code', code });
        done.then(
          (contact) => sendBack({ type: 'pairing.done', contact }),
          (error: unknown) => stopped || sendBack({ type: 'pairing.failed', error: toBackchannelError(error) as BackchannelError }),
        );
      })
      .catch((error: unknown) => stopped || sendBack({ type: 'pairing.failed', error: toBackchannelError(error) as BackchannelError }));
    return () => {
      stopped = true;
      cancel?.();
    };
  });

export const acceptActor = fromCallback<UiEvent, { device: Device; code: string }, PairingEvent>(({ input, sendBack }) => {
  const abort = new AbortController();
  let stopped = false;
  Promise.resolve()
    .then(() => input.device.bc.accept(input.code, { signal: abort.signal, onProgress: (step) => sendBack({ type: 'pairing.step', step }) }))
    .then(
      (contact) => sendBack({ type: 'pairing.done', contact }),
      (error: unknown) => stopped || sendBack({ type: 'pairing.failed', error: toBackchannelError(error) as BackchannelError }),
    );
  return () => {
    stopped = true;
    abort.abort();
  };
});

export const renameActor = fromPromise(async ({ input }: { input: { device: Device; contactId: string; moniker: string } }) =>
  input.device.bc.renameContact(input.contactId, input.moniker),
);

export const removeActor = fromPromise(async ({ input }: { input: { device: Device; contactId: string } }) => input.device.bc.removeContact(input.contactId));

/** Save Settings (relay, ICE servers, largest file): the SDK checks them and refuses what is wrong. */
export const saveSettingsActor = fromPromise<void, { device: Device; patch: SettingsPatch }>(async ({ input }) => {
  await input.device.bc.updateSettings(input.patch);
});

/** Close the device, then drop its storage (`wipe`) and this app's prefs. */
export function clearDataActor(wipe: () => Promise<void>) {
  return fromPromise(async ({ input }: { input: { device: Device | undefined; prefs: Prefs } }) => {
    await input.device?.bc.close();
    await wipe();
    input.prefs.clear();
  });
}

/**
 * Link a new device of mine: the link code goes to the screen (`link.code`), then `link.done` once the
 * new device holds my contacts. Stopping the actor cancels the offer.
 */
export const linkDeviceActor = fromCallback<UiEvent, { device: Device }, LinkEvent>(({ input, sendBack }) => {
  let cancel: (() => void) | undefined;
  let stopped = false;
  const failed = (error: unknown) => stopped || sendBack({ type: 'link.failed', error: toBackchannelError(error) as BackchannelError });
  input.device.bc
    .linkDevice()
    .then(({ code, done, cancel: c }) => {
      cancel = c;
      if (stopped) return c();
      sendBack({ type: 'link.code', code });
      done.then((linked) => stopped || sendBack({ type: 'link.done', deviceId: linked.device_id }), failed);
    })
    .catch(failed);
  return () => {
    stopped = true;
    cancel?.();
  };
});

/** On a new device: enter the link code one of mine shows; resolves once my contacts are here. */
export const acceptLinkActor = fromPromise<void, { device: Device; code: string }>(async ({ input, signal }) => {
  await input.device.bc.acceptLink(input.code, { signal });
});

/** Unlink a device of mine: it is told, wipes its data and closes. */
export const unlinkDeviceActor = fromPromise<void, { device: Device; deviceId: string }>(async ({ input }) => {
  await input.device.bc.unlinkDevice(input.deviceId);
});

/** Tell the UI machine when a device of mine unlinked this one (the SDK wipes and closes it meanwhile). */
export const watchUnlinkActor = fromCallback<UiEvent, { device: Device }, UiEvent>(({ input, sendBack }) =>
  input.device.bc.subscribe((e) => {
    if (e.type === 'unlinked') sendBack({ type: 'UNLINKED', by: e.by });
  }),
);

/**
 * Every effect the UI machine names, for `uiMachine.provide({ actors })`: the web app and Storybook
 * differ only in how the device opens, how often an invite's code is renewed and how data is wiped.
 */
export function uiActors(options: { open: () => Promise<Device>; inviteRefreshMs?: number; wipe: () => Promise<void> }) {
  return {
    openDevice: fromPromise(options.open),
    invite: inviteActorWith({ refreshMs: options.inviteRefreshMs }),
    accept: acceptActor,
    rename: renameActor,
    remove: removeActor,
    saveSettings: saveSettingsActor,
    linkDevice: linkDeviceActor,
    acceptLink: acceptLinkActor,
    unlinkDevice: unlinkDeviceActor,
    watchUnlink: watchUnlinkActor,
    clearData: clearDataActor(options.wipe),
  };
}
