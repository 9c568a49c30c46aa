/**
 * A chat, both directions; a file received; what the relay keeps for an absent contact; a contact
 * who removed me (history readable, composer off); contact settings, also caught mid-rename and
 * mid-removal; settings.
 */
import type { Meta, StoryObj } from '@storybook/react-vite';
import { renderScene, ready } from '../render.js';
import { transferKey } from '../../web/src/device.js';
import { chatSceneOf, sceneOf, settle, until, World } from '../world.js';

const meta: Meta = { title: 'Screens/Chat and settings', render: renderScene, decorators: [ready] };
export default meta;
type Story = StoryObj;

/** Alice and Bob paired and talked; Alice's UI is on the contact list. */
async function talked(world = new World()) {
  const [alice, bob] = await Promise.all([world.person('Alice'), world.person('Bob')]);
  const [bobOnAlice, aliceOnBob] = await world.pair(alice, bob);
  await alice.device.bc.send(bobOnAlice.id, { text: 'Hi Bob! Sealed end to end; the relay only forwards.' });
  await settle(() => bob.device.bc.messages(aliceOnBob.id).length === 1, bob.device);
  await bob.device.bc.send(aliceOnBob.id, { text: 'Hi Alice, got it.' });
  await settle(() => alice.device.bc.messages(bobOnAlice.id).length === 2, alice.device);
  const scene = await sceneOf(alice);
  await until(scene.ui, (s) => s.matches('contacts'));
  return { world, alice, bob, bobOnAlice, aliceOnBob, scene };
}

export const Conversation: Story = {
  loaders: [
    async () => {
      const { scene, bobOnAlice } = await talked();
      scene.ui.send({ type: 'OPEN_CHAT', contactId: bobOnAlice.id });
      return { scene };
    },
  ],
};

/** Bob removed Alice: her chat with him stays readable, the composer is off, and he is marked in her list. */
async function removedByBob() {
  const { alice, bob, bobOnAlice, aliceOnBob } = await talked();
  await bob.device.bc.removeContact(aliceOnBob.id);
  await settle(() => alice.device.bc.contacts().find((c) => c.id === bobOnAlice.id)?.removed_by === 'peer', alice.device);
  return { alice, bobOnAlice };
}

export const RemovedYou: Story = {
  loaders: [
    async () => {
      const { alice, bobOnAlice } = await removedByBob();
      return { scene: await chatSceneOf(alice, bobOnAlice.id) };
    },
  ],
};

export const RemovedYouInContacts: Story = {
  loaders: [
    async () => {
      const { alice } = await removedByBob();
      const scene = await sceneOf(alice);
      await until(scene.ui, (s) => s.matches('contacts'));
      return { scene };
    },
  ],
};

/** Alice sent Bob a file; on Bob's side it arrived, its hash checked: open or save it. */
export const FileReceived: Story = {
  loaders: [
    async () => {
      const { alice, bob, bobOnAlice, aliceOnBob } = await talked();
      const data = new TextEncoder().encode('Day 1: the ferry at dawn. Day 2: the lighthouse.\n'.repeat(200));
      const sent = await alice.device.bc.send(bobOnAlice.id, { text: 'The itinerary', file: { data, filename: 'itinerary.txt', mimetype: 'text/plain' } });
      await settle(() => bob.device.transfers.get(transferKey(aliceOnBob.id, sent.file!.hash))?.status === 'done', bob.device);
      return { scene: await chatSceneOf(bob, aliceOnBob.id) };
    },
  ],
};

/**
 * A file on its way: Bob's device has stored part of it when his disk is held (the story's stand-in
 * for a slow one), so the transfer stays in `progress` — the bar part way, and a cancel.
 */
export const FileArriving: Story = {
  loaders: [
    async () => {
      const { alice, bob, bobOnAlice, aliceOnBob } = await talked();
      const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
      // Hold Bob's disk at the first chunk stored (synchronously, so the next one waits).
      const off = bob.device.bc.subscribe((e) => {
        if (e.type === 'transfer' && e.direction === 'in' && e.status === 'progress' && e.done > 0) {
          bob.storage.hold();
          off();
        }
      });
      const sent = await alice.device.bc.send(bobOnAlice.id, { file: { data, filename: 'holiday-video.mp4', mimetype: 'video/mp4' } });
      await settle(() => bob.device.transfers.get(transferKey(aliceOnBob.id, sent.file!.hash))?.status === 'progress', bob.device);
      return { scene: await chatSceneOf(bob, aliceOnBob.id) };
    },
  ],
};

/** Bob went away; Alice wrote on, and the relay keeps it (sealed) for him. */
export const KeptByTheRelay: Story = {
  loaders: [
    async () => {
      const { scene, alice, bob, bobOnAlice } = await talked();
      bob.device.bc.goOffline();
      await settle(() => alice.device.bc.presence(bobOnAlice.id) === undefined, alice.device);
      const sent = await alice.device.bc.send(bobOnAlice.id, { text: 'Are you there? I will keep writing.' });
      await settle(() => {
        const depot = alice.device.depot.get(bobOnAlice.id);
        return !!depot && 'kept' in depot && depot.kept === sent.id;
      }, alice.device);
      scene.ui.send({ type: 'OPEN_CHAT', contactId: bobOnAlice.id });
      return { scene };
    },
  ],
};

export const ContactSettings: Story = {
  loaders: [
    async () => {
      const { scene, bobOnAlice } = await talked();
      scene.ui.send({ type: 'OPEN_CHAT', contactId: bobOnAlice.id });
      scene.ui.send({ type: 'OPEN_CONTACT_SETTINGS' });
      return { scene };
    },
  ],
};

/** Alice renames Bob; her disk is slow, so the app machine is still `contactSettings.renaming`. */
export const Renaming: Story = {
  loaders: [
    async () => {
      const { scene, alice, bobOnAlice } = await talked();
      scene.ui.send({ type: 'OPEN_CHAT', contactId: bobOnAlice.id });
      scene.ui.send({ type: 'OPEN_CONTACT_SETTINGS' });
      alice.storage.hold();
      scene.ui.send({ type: 'RENAME', moniker: 'Bobby' });
      await until(scene.ui, (s) => s.matches({ contactSettings: 'renaming' }));
      return { scene };
    },
  ],
};

/** Alice removes Bob; the removal is still being saved (`contactSettings.removing`). */
export const Removing: Story = {
  loaders: [
    async () => {
      const { scene, alice, bobOnAlice } = await talked();
      scene.ui.send({ type: 'OPEN_CHAT', contactId: bobOnAlice.id });
      scene.ui.send({ type: 'OPEN_CONTACT_SETTINGS' });
      alice.storage.hold();
      scene.ui.send({ type: 'REMOVE' });
      await until(scene.ui, (s) => s.matches({ contactSettings: 'removing' }));
      return { scene };
    },
  ],
};

export const Settings: Story = {
  loaders: [
    async () => {
      const { scene } = await talked();
      scene.ui.send({ type: 'OPEN_SETTINGS' });
      return { scene };
    },
  ],
};

/** A relay URL the SDK refuses (not ws:// or wss://). */
export const SettingsRefused: Story = {
  loaders: [
    async () => {
      const { scene } = await talked();
      scene.ui.send({ type: 'OPEN_SETTINGS' });
      scene.ui.send({ type: 'SAVE_SETTINGS', patch: { relay_server: 'https://relay.example/v1' } });
      await until(scene.ui, (s) => s.matches({ settings: 'idle' }) && s.context.saveError !== undefined);
      return { scene };
    },
  ],
};
