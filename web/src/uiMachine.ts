/**
 * Which screen the person is on: navigation the SDK's app machine does not have (it has no screens),
 * and the flows that span screens — open the device, name it, invite or redeem, compare the verifier,
 * name the contact, chat, settings. Pairing itself runs in the SDK's app machine; the invite and redeem
 * screens also read its `pairing` region (inviting → naming) from the façade's snapshot. Effects are
 * actors provided from outside (uiActors.ts), so Storybook runs this same machine on in-memory devices.
 */
import type { Backchannel, BackchannelError, Contact, PairingStep } from '@backchannel/sdk';
import { assign, fromCallback, fromPromise, setup, spawnChild, type ActorRefFrom } from 'xstate';
import type { Device } from './device.js';
import type { Prefs } from './prefs.js';

/** What the Settings screen changes (the SDK's `updateSettings`). */
export type SettingsPatch = Parameters<Backchannel['updateSettings']>[0];

export type PairedContact = Contact & { verifier: string };
export type PairingEvent =
  | { type: 'pairing.code'; code: string }
  | { type: 'pairing.step'; step: PairingStep | 'naming' }
  | { type: 'pairing.done'; contact: PairedContact }
  | { type: 'pairing.failed'; error: BackchannelError };
/** What linking a new device of mine reports (linkDeviceActor): its code, then the new device or why not. */
export type LinkEvent = { type: 'link.code'; code: string } | { type: 'link.done'; deviceId: string } | { type: 'link.failed'; error: BackchannelError };

export type UiEvent =
  | { type: 'NAME_DEVICE'; name: string }
  | { type: 'INVITE' }
  | { type: 'REDEEM'; code?: string }
  | { type: 'SUBMIT_CODE'; code: string }
  | { type: 'REFRESH' }
  | { type: 'CANCEL' }
  | { type: 'BACK' }
  | { type: 'TRY_AGAIN' }
  | { type: 'OPEN_CHAT'; contactId: string }
  | { type: 'OPEN_CONTACT_SETTINGS' }
  | { type: 'OPEN_SETTINGS' }
  | { type: 'NAME_CONTACT'; moniker: string }
  | { type: 'RENAME'; moniker: string }
  | { type: 'REMOVE' }
  | { type: 'SAVE_SETTINGS'; patch: SettingsPatch }
  | { type: 'CLEAR_DATA' }
  /** Settings: show a link code for a new device of mine; unlink one. */
  | { type: 'LINK_DEVICE' }
  | { type: 'UNLINK'; deviceId: string }
  /** This is a new device of mine: enter the link code another one shows (`name` names it on first start). */
  | { type: 'JOIN'; name?: string }
  /** A device of mine unlinked this one: the SDK wiped its data and closed it. */
  | { type: 'UNLINKED'; by: string }
  | PairingEvent
  | LinkEvent;

export interface UiInput {
  prefs: Prefs;
  /** A code from a redeem link (`#code`) the app was opened with. */
  pendingCode?: string;
}

export interface UiContext {
  prefs: Prefs;
  device?: Device;
  pendingCode?: string;
  /** The invite's code while it is shown; the redeem's code once submitted. */
  code?: string;
  step?: PairingStep | 'naming';
  paired?: PairedContact;
  contactId?: string;
  /** Where a failed pairing came from, so "try again" goes back there. */
  failedFrom?: 'invite' | 'redeem';
  error?: Error;
  /** A settings or contact change the app machine refused. */
  saveError?: Error;
  /** The link code Settings shows while a new device of mine may enter it. */
  linkCode?: string;
  /** The device the last link added (Settings says so). */
  linked?: string;
  /** Linking, joining or unlinking failed: why. */
  linkError?: Error;
}

const notProvided = (name: string) => () => Promise.reject(new Error(`The web app's "${name}" actor was not provided.`));
const errorOf = (event: unknown) => (event as { error: Error }).error;

export const uiMachine = setup({
  types: { context: {} as UiContext, events: {} as UiEvent, input: {} as UiInput },
  actors: {
    openDevice: fromPromise<Device>(notProvided('openDevice')),
    invite: fromCallback<UiEvent, { device: Device }, PairingEvent>(() => {
      throw new Error('The web app\'s "invite" actor was not provided.');
    }),
    accept: fromCallback<UiEvent, { device: Device; code: string }, PairingEvent>(() => {
      throw new Error('The web app\'s "accept" actor was not provided.');
    }),
    rename: fromPromise<Contact, { device: Device; contactId: string; moniker: string }>(notProvided('rename')),
    remove: fromPromise<void, { device: Device; contactId: string }>(notProvided('remove')),
    saveSettings: fromPromise<void, { device: Device; patch: SettingsPatch }>(notProvided('saveSettings')),
    clearData: fromPromise<void, { device: Device | undefined; prefs: Prefs }>(notProvided('clearData')),
    linkDevice: fromCallback<UiEvent, { device: Device }, LinkEvent>(() => {
      throw new Error('The web app\'s "linkDevice" actor was not provided.');
    }),
    acceptLink: fromPromise<void, { device: Device; code: string }>(notProvided('acceptLink')),
    unlinkDevice: fromPromise<void, { device: Device; deviceId: string }>(notProvided('unlinkDevice')),
    watchUnlink: fromCallback<UiEvent, { device: Device }, UiEvent>(() => {
      throw new Error('The web app\'s "watchUnlink" actor was not provided.');
    }),
  },
  guards: {
    unnamed: ({ context }) => !context.prefs.deviceName(),
    hasPendingCode: ({ context }) => !!context.pendingCode,
  },
  actions: {
    saveDeviceName: ({ context, event }) => {
      if ((event.type === 'NAME_DEVICE' || event.type === 'JOIN') && event.name?.trim()) context.prefs.setDeviceName(event.name.trim());
    },
  },
}).createMachine({
  id: 'ui',
  context: ({ input }) => ({ prefs: input.prefs, pendingCode: input.pendingCode }),
  initial: 'opening',
  // A redeem link opened while the app runs (hashchange): go redeem it, unless mid-pairing.
  // A device of mine unlinked this one: whatever screen is up, say so.
  on: { REDEEM: { target: '.redeem', actions: assign({ pendingCode: ({ event }) => event.code }) }, UNLINKED: '.unlinked' },
  states: {
    opening: {
      on: { REDEEM: { actions: assign({ pendingCode: ({ event }) => event.code }) } },
      invoke: {
        src: 'openDevice',
        onDone: {
          target: 'route',
          actions: [assign({ device: ({ event }) => event.output }), spawnChild('watchUnlink', { input: ({ context }) => ({ device: context.device! }) })],
        },
        onError: { target: 'broken', actions: assign({ error: ({ event }) => errorOf(event) }) },
      },
    },
    /** The device did not open (damaged storage, no relay): say why; clearing data starts anew. */
    broken: { on: { CLEAR_DATA: 'clearing' } },
    route: {
      always: [{ guard: 'unnamed', target: 'welcome' }, { guard: 'hasPendingCode', target: 'redeem' }, { target: 'contacts' }],
    },
    welcome: {
      on: {
        REDEEM: { actions: assign({ pendingCode: ({ event }) => event.code }) },
        NAME_DEVICE: { target: 'route', actions: 'saveDeviceName' },
        JOIN: { target: 'join', actions: 'saveDeviceName' },
      },
    },
    /** A new device of mine: enter the link code another one shows; then its contacts are here. */
    join: {
      entry: assign({ linkError: undefined }),
      initial: 'typing',
      states: {
        typing: {
          on: {
            SUBMIT_CODE: { target: 'joining', actions: assign({ code: ({ event }) => event.code.trim(), linkError: undefined }) },
            CANCEL: '#ui.route',
          },
        },
        joining: {
          invoke: {
            src: 'acceptLink',
            input: ({ context }) => ({ device: context.device!, code: context.code! }),
            onDone: '#ui.contacts',
            onError: { target: 'typing', actions: assign({ linkError: ({ event }) => errorOf(event) }) },
          },
          on: { CANCEL: 'typing', REDEEM: {} },
        },
      },
    },
    contacts: {
      on: {
        INVITE: 'invite',
        OPEN_CHAT: { target: 'chat', actions: assign({ contactId: ({ event }) => event.contactId }) },
        OPEN_SETTINGS: 'settings',
      },
    },
    invite: {
      entry: assign({ code: undefined, step: undefined, error: undefined }),
      invoke: { src: 'invite', input: ({ context }) => ({ device: context.device! }) },
      on: {
        'pairing.code': { actions: assign({ code: ({ event }) => event.code }) },
        'pairing.step': { actions: assign({ step: ({ event }) => event.step }) },
        'pairing.done': { target: 'verify', actions: assign({ paired: ({ event }) => event.contact }) },
        'pairing.failed': { target: 'failure', actions: assign({ error: ({ event }) => event.error, failedFrom: 'invite' }) },
        REFRESH: { target: 'invite', reenter: true },
        CANCEL: 'contacts',
        REDEEM: {},
      },
    },
    redeem: {
      entry: assign({ code: undefined, step: undefined, error: undefined }),
      initial: 'typing',
      states: {
        typing: {
          on: {
            SUBMIT_CODE: { target: 'pairing', actions: assign({ code: ({ event }) => event.code.trim(), pendingCode: undefined }) },
            CANCEL: { target: '#ui.contacts', actions: assign({ pendingCode: undefined }) },
            JOIN: { target: '#ui.join', actions: assign({ pendingCode: undefined }) },
          },
        },
        pairing: {
          invoke: { src: 'accept', input: ({ context }) => ({ device: context.device!, code: context.code! }) },
          on: {
            'pairing.step': { actions: assign({ step: ({ event }) => event.step }) },
            'pairing.done': { target: '#ui.verify', actions: assign({ paired: ({ event }) => event.contact }) },
            'pairing.failed': { target: '#ui.failure', actions: assign({ error: ({ event }) => event.error, failedFrom: 'redeem' }) },
            CANCEL: '#ui.contacts',
            REDEEM: {},
          },
        },
      },
    },
    /** Paired: compare the verifier, then name the contact. */
    verify: {
      initial: 'comparing',
      states: {
        comparing: { on: { NAME_CONTACT: 'naming' } },
        naming: {
          invoke: {
            src: 'rename',
            input: ({ context, event }) => ({ device: context.device!, contactId: context.paired!.id, moniker: (event as { moniker: string }).moniker }),
            onDone: { target: '#ui.chat', actions: assign({ contactId: ({ context }) => context.paired!.id, paired: undefined }) },
            onError: { target: 'comparing', actions: assign({ saveError: ({ event }) => errorOf(event) }) },
          },
        },
      },
    },
    failure: {
      on: {
        TRY_AGAIN: [{ guard: ({ context }) => context.failedFrom === 'invite', target: 'invite' }, { target: 'redeem' }],
        BACK: 'contacts',
      },
    },
    chat: { on: { BACK: 'contacts', OPEN_CONTACT_SETTINGS: 'contactSettings' } },
    contactSettings: {
      initial: 'idle',
      entry: assign({ saveError: undefined }),
      on: { BACK: 'chat' },
      states: {
        idle: { on: { RENAME: 'renaming', REMOVE: 'removing' } },
        renaming: {
          invoke: {
            src: 'rename',
            input: ({ context, event }) => ({ device: context.device!, contactId: context.contactId!, moniker: (event as { moniker: string }).moniker }),
            onDone: 'idle',
            onError: { target: 'idle', actions: assign({ saveError: ({ event }) => errorOf(event) }) },
          },
        },
        removing: {
          invoke: {
            src: 'remove',
            input: ({ context }) => ({ device: context.device!, contactId: context.contactId! }),
            onDone: { target: '#ui.contacts', actions: assign({ contactId: undefined }) },
            onError: { target: 'idle', actions: assign({ saveError: ({ event }) => errorOf(event) }) },
          },
        },
      },
    },
    settings: {
      initial: 'idle',
      entry: assign({ saveError: undefined, linkError: undefined, linked: undefined }),
      on: { BACK: '#ui.contacts' },
      states: {
        idle: { on: { SAVE_SETTINGS: 'saving', CLEAR_DATA: '#ui.clearing', LINK_DEVICE: 'linking', UNLINK: 'unlinking' } },
        /** A link code on screen until a new device of mine enters it (or cancel). */
        linking: {
          entry: assign({ linkCode: undefined, linkError: undefined, linked: undefined }),
          exit: assign({ linkCode: undefined }),
          invoke: { src: 'linkDevice', input: ({ context }) => ({ device: context.device! }) },
          on: {
            'link.code': { actions: assign({ linkCode: ({ event }) => event.code }) },
            'link.done': { target: 'idle', actions: assign({ linked: ({ event }) => event.deviceId }) },
            'link.failed': { target: 'idle', actions: assign({ linkError: ({ event }) => event.error }) },
            CANCEL: 'idle',
          },
        },
        unlinking: {
          entry: assign({ linkError: undefined, linked: undefined }),
          invoke: {
            src: 'unlinkDevice',
            input: ({ context, event }) => ({ device: context.device!, deviceId: (event as { deviceId: string }).deviceId }),
            onDone: 'idle',
            onError: { target: 'idle', actions: assign({ linkError: ({ event }) => errorOf(event) }) },
          },
        },
        saving: {
          invoke: {
            src: 'saveSettings',
            input: ({ context, event }) => ({ device: context.device!, patch: (event as { patch: SettingsPatch }).patch }),
            onDone: { target: 'idle', actions: assign({ saveError: undefined }) },
            onError: { target: 'idle', actions: assign({ saveError: ({ event }) => errorOf(event) }) },
          },
        },
      },
    },
    /** Everything on this device goes: the SDK's storage and this app's prefs; then the app starts anew. */
    clearing: {
      invoke: {
        src: 'clearData',
        input: ({ context }) => ({ device: context.device, prefs: context.prefs }),
        onDone: 'cleared',
        onError: { target: 'broken', actions: assign({ error: ({ event }) => errorOf(event) }) },
      },
    },
    cleared: { type: 'final' },
    /** A device of mine unlinked this one: its data is gone (the SDK wiped it); starting again clears the rest. */
    unlinked: { on: { CLEAR_DATA: 'clearing', REDEEM: {} } },
  },
});

export type UiActor = ActorRefFrom<typeof uiMachine>;
