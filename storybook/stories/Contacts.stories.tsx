/** The contact list: empty; with contacts (presence, last seen, unread); the relay or network down. */
import type { Meta, StoryObj } from '@storybook/react-vite';
import { renderScene, ready } from '../render.js';
import { sceneOf, settle, until, World, type Person } from '../world.js';

const meta: Meta = { title: 'Screens/Contacts', render: renderScene, decorators: [ready] };
export default meta;
type Story = StoryObj;

async function contactsOf(person: Person) {
  const scene = await sceneOf(person);
  await until(scene.ui, (s) => s.matches('contacts'));
  return scene;
}

export const Empty: Story = {
  loaders: [async () => ({ scene: await contactsOf(await new World().person('Alice')) })],
};

/** Bob is connected; Carol wrote once and went away (one unread, last seen). */
async function aliceBobCarol(world: World) {
  const [alice, bob, carol] = await Promise.all([world.person('Alice'), world.person('Bob'), world.person('Carol')]);
  const [bobOnAlice] = await world.pair(alice, bob);
  const [carolOnAlice, aliceOnCarol] = await world.pair(alice, carol);
  await settle(() => alice.device.bc.presence(bobOnAlice.id) !== undefined && alice.device.bc.presence(carolOnAlice.id) !== undefined, alice.device);
  await carol.device.bc.send(aliceOnCarol.id, { text: 'Call me when you can.' });
  await settle(() => alice.device.bc.messages(carolOnAlice.id).length === 1, alice.device);
  carol.device.bc.goOffline();
  await settle(() => alice.device.bc.presence(carolOnAlice.id) === undefined, alice.device);
  return { alice, bob, carol };
}

export const WithContacts: Story = {
  loaders: [async () => ({ scene: await contactsOf((await aliceBobCarol(new World())).alice) })],
};

export const RelayUnreachable: Story = {
  loaders: [
    async () => {
      const world = new World();
      const { alice } = await aliceBobCarol(world);
      world.relay.online = false;
      await settle(() => alice.device.bc.relayStatus === 'unreachable', alice.device);
      return { scene: await contactsOf(alice) };
    },
  ],
};

export const DeviceOffline: Story = {
  loaders: [
    async () => {
      const { alice } = await aliceBobCarol(new World());
      alice.device.bc.goOffline();
      return { scene: await contactsOf(alice) };
    },
  ],
};
