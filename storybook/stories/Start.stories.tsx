/** Opening the device: opening, first start (name this device), a device that cannot open. */
import type { Meta, StoryObj } from '@storybook/react-vite';
import { renderScene, ready } from '../render.js';
import { sceneOf, until, World } from '../world.js';
import { Device } from '../../web/src/device.js';

const meta: Meta = { title: 'Screens/Start', render: renderScene, decorators: [ready] };
export default meta;
type Story = StoryObj;

export const Opening: Story = {
  loaders: [
    async () => {
      const world = new World();
      const person = await world.person('Alice', { named: false });
      // The storage is still opening: this story holds it there.
      return { scene: await sceneOf(person, { open: () => new Promise<Device>(() => {}) }) };
    },
  ],
};

export const Welcome: Story = {
  loaders: [
    async () => {
      const person = await new World().person('Alice', { named: false });
      const scene = await sceneOf(person);
      await until(scene.ui, (s) => s.matches('welcome'));
      return { scene };
    },
  ],
};

/** First start with no relay given: the SDK refuses to open (it would pair but never sync). */
export const CannotOpen: Story = {
  loaders: [
    async () => {
      const world = new World();
      const person = await world.person('Alice', { named: false });
      const scene = await sceneOf(person, { open: () => Device.open({ ...world.options(), relay: undefined }) });
      await until(scene.ui, (s) => s.matches('broken'));
      return { scene };
    },
  ],
};
