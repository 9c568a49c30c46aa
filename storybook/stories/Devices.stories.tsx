/** Linked devices: Settings showing a link code; a second device linked; entering a link code; unlinked. */
import type { Meta, StoryObj } from '@storybook/react-vite';
import { renderScene, ready } from '../render.js';
import { sceneOf, until, World, type Person } from '../world.js';

const meta: Meta = { title: 'Screens/Linked devices', render: renderScene, decorators: [ready] };
export default meta;
type Story = StoryObj;

/** Alice's second device, linked by the SDK's own calls (what the Settings and Join screens drive). */
async function linked(world: World): Promise<{ alice: Person; phone: Person }> {
  const [alice, bob, phone] = await Promise.all([world.person('Alice'), world.person('Bob'), world.person('Alice phone')]);
  await world.pair(alice, bob);
  const offer = await alice.device.bc.linkDevice();
  await Promise.all([offer.done, phone.device.bc.acceptLink(offer.code)]);
  return { alice, phone };
}

export const LinkCode: Story = {
  loaders: [
    async () => {
      const scene = await sceneOf(await new World().person('Alice'));
      await until(scene.ui, (s) => s.matches('contacts'));
      scene.ui.send({ type: 'OPEN_SETTINGS' });
      scene.ui.send({ type: 'LINK_DEVICE' });
      await until(scene.ui, (s) => s.context.linkCode !== undefined);
      return { scene };
    },
  ],
};

export const TwoDevices: Story = {
  loaders: [
    async () => {
      const { alice } = await linked(new World());
      const scene = await sceneOf(alice);
      await until(scene.ui, (s) => s.matches('contacts'));
      scene.ui.send({ type: 'OPEN_SETTINGS' });
      return { scene };
    },
  ],
};

export const EnterLinkCode: Story = {
  loaders: [
    async () => {
      const scene = await sceneOf(await new World().person('Alice phone', { named: false }));
      await until(scene.ui, (s) => s.matches('welcome'));
      scene.ui.send({ type: 'JOIN', name: 'Alice phone' });
      await until(scene.ui, (s) => s.matches('join'));
      return { scene };
    },
  ],
};

export const Unlinked: Story = {
  loaders: [
    async () => {
      const { alice, phone } = await linked(new World());
      const scene = await sceneOf(phone);
      await until(scene.ui, (s) => s.matches('contacts'));
      await alice.device.bc.unlinkDevice(phone.device.bc.deviceId);
      await until(scene.ui, (s) => s.matches('unlinked'));
      return { scene };
    },
  ],
};
