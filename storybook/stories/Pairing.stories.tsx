/** Inviting and redeeming: each state of the UI machine's invite, redeem and verify. */
import type { Meta, StoryObj } from '@storybook/react-vite';
import { renderScene, ready } from '../render.js';
import { sceneOf, until, World } from '../world.js';

const meta: Meta = { title: 'Screens/Pairing', render: renderScene, decorators: [ready] };
export default meta;
type Story = StoryObj;

/** The relay is not answering yet: the code is on its way. */
export const InviteGettingCode: Story = {
  loaders: [
    async () => {
      const world = new World();
      const alice = await world.person('Alice', { pairingTimeouts: { reconnectBaseMs: 60_000, maxInitialAttempts: 1000 } });
      world.relay.online = false;
      const scene = await sceneOf(alice);
      await until(scene.ui, (s) => s.matches('contacts'));
      scene.ui.send({ type: 'INVITE' });
      return { scene };
    },
  ],
};

export const InviteShowingCode: Story = {
  loaders: [
    async () => {
      const scene = await sceneOf(await new World().person('Alice'));
      await until(scene.ui, (s) => s.matches('contacts'));
      scene.ui.send({ type: 'INVITE' });
      await until(scene.ui, (s) => s.context.code !== undefined);
      return { scene };
    },
  ],
};

/** The code is replaced every minute until someone answers it: the countdown shows how long it has left. */
export const InviteCountingDown: Story = {
  loaders: [
    async () => {
      const scene = await sceneOf(await new World().person('Alice'), { inviteRefreshMs: 60_000 });
      await until(scene.ui, (s) => s.matches('contacts'));
      scene.ui.send({ type: 'INVITE' });
      await until(scene.ui, (s) => s.context.code !== undefined);
      return { scene };
    },
  ],
};

export const RedeemTyping: Story = {
  loaders: [
    async () => {
      const scene = await sceneOf(await new World().person('Bob'));
      await until(scene.ui, (s) => s.matches('contacts'));
      scene.ui.send({ type: 'REDEEM' });
      return { scene };
    },
  ],
};

/** Opened through a redeem link: the code is filled in, Bob confirms. */
export const RedeemFromLink: Story = {
  loaders: [
    async () => {
      const world = new World();
      const [alice, bob] = await Promise.all([world.person('Alice'), world.person('Bob')]);
      const { code } = await alice.device.bc.invite();
      const scene = await sceneOf(bob, { pendingCode: code });
      await until(scene.ui, (s) => s.matches('redeem'));
      return { scene };
    },
  ],
};

/** Bob entered a code; nobody is on the other side yet. */
export const RedeemWaiting: Story = {
  loaders: [
    async () => {
      const scene = await sceneOf(await new World().person('Bob'));
      await until(scene.ui, (s) => s.matches('contacts'));
      scene.ui.send({ type: 'REDEEM' });
      scene.ui.send({ type: 'SUBMIT_CODE', code: '42-adroitness-aardvark' });
      await until(scene.ui, (s) => s.context.step === 'waiting');
      return { scene };
    },
  ],
};

/** Alice invited, Bob accepted: Alice's scene shows the verifier (`verify`). */
async function atVerify() {
  const world = new World();
  const [alice, bob] = await Promise.all([world.person('Alice'), world.person('Bob')]);
  const scene = await sceneOf(alice);
  await until(scene.ui, (s) => s.matches('contacts'));
  scene.ui.send({ type: 'INVITE' });
  await until(scene.ui, (s) => s.context.code !== undefined);
  await bob.device.bc.accept(scene.ui.getSnapshot().context.code!);
  await until(scene.ui, (s) => s.matches('verify'));
  return { alice, scene };
}

/** Paired: the verifier to compare, and the contact to name. */
export const Verify: Story = {
  loaders: [
    async () => {
      const { scene } = await atVerify();
      return { scene };
    },
  ],
};

/** Alice named the contact; the card is still being saved (`verify.naming`). */
export const NamingContact: Story = {
  loaders: [
    async () => {
      const { alice, scene } = await atVerify();
      alice.storage.hold();
      scene.ui.send({ type: 'NAME_CONTACT', moniker: 'Bob' });
      await until(scene.ui, (s) => s.matches({ verify: 'naming' }));
      return { scene };
    },
  ],
};
