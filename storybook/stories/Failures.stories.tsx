/**
 * One story per failure a person can meet, each produced by the real machines: a wrong code, a crowded
 * nameplate, nobody coming (timeout), the relay down, the relay's depot refusing (quota), and a file
 * whose bytes do not match its hash.
 */
import { BACKCHANNEL_APPID } from '@backchannel/sdk';
import { transferKey } from '../../web/src/device.js';
import type { Meta, StoryObj } from '@storybook/react-vite';
import { renderScene, ready } from '../render.js';
import { MemoryRelay, RELAY_URL } from '../memoryRelay.js';
import { sceneOf, settle, until, World, type Person } from '../world.js';

const meta: Meta = { title: 'Failures', render: renderScene, decorators: [ready] };
export default meta;
type Story = StoryObj;

/** Bob's UI redeems `code`, and the story waits for the failure screen. */
async function redeemFails(bob: Person, code: string) {
  const scene = await sceneOf(bob);
  await until(scene.ui, (s) => s.matches('contacts'));
  scene.ui.send({ type: 'REDEEM' });
  scene.ui.send({ type: 'SUBMIT_CODE', code });
  await until(scene.ui, (s) => s.matches('failure'));
  return scene;
}

/** Another code's words on Alice's nameplate. */
function wrongWords(code: string): string {
  const [nameplate, first, second] = code.split('-') as [string, string, string];
  return `${nameplate}-${first === 'adroitness' ? 'adviser' : 'adroitness'}-${second}`;
}

export const WrongCode: Story = {
  loaders: [
    async () => {
      const world = new World();
      const [alice, bob] = await Promise.all([world.person('Alice'), world.person('Bob')]);
      const { code } = await alice.device.bc.invite();
      return { scene: await redeemFails(bob, wrongWords(code)) };
    },
  ],
};

/** Someone else already claimed the nameplate beside Alice: a third side is turned away. */
export const CrowdedNameplate: Story = {
  loaders: [
    async () => {
      const world = new World();
      const [alice, bob] = await Promise.all([world.person('Alice'), world.person('Bob')]);
      const { code } = await alice.device.bc.invite();
      const nameplate = code.split('-')[0]!;
      await new Promise<void>((resolve) => {
        const socket = world.relay.connector(RELAY_URL, {
          onOpen: () => {
            socket.send(JSON.stringify({ type: 'bind', appid: BACKCHANNEL_APPID, side: 'eavesdropper' }));
            socket.send(JSON.stringify({ type: 'claim', nameplate }));
          },
          onMessage: (text) => JSON.parse(text).type === 'claimed' && resolve(),
          onClose: () => {},
        });
      });
      return { scene: await redeemFails(bob, wrongWords(code)) };
    },
  ],
};

/** Nobody comes to the other side of the code in time. */
export const Timeout: Story = {
  loaders: [async () => ({ scene: await redeemFails(await new World().person('Bob', { pairingTimeouts: { peerMs: 1_000 } }), '17-adroitness-aardvark') })],
};

/** The relay cannot be reached at all. */
export const RelayDown: Story = {
  loaders: [
    async () => {
      const world = new World();
      const bob = await world.person('Bob', { pairingTimeouts: { maxInitialAttempts: 2, reconnectBaseMs: 50, connectMs: 500 } });
      world.relay.online = false;
      return { scene: await redeemFails(bob, '17-adroitness-aardvark') };
    },
  ],
};

/** Bob is away and the relay's depot will not keep more for him: Alice's messages wait on her device. */
export const QuotaRefused: Story = {
  loaders: [
    async () => {
      const world = new World(new MemoryRelay({ depotLimits: { maxBytesPerTopic: 64 } }));
      const [alice, bob] = await Promise.all([world.person('Alice'), world.person('Bob')]);
      const [bobOnAlice] = await world.pair(alice, bob);
      await settle(() => alice.device.bc.presence(bobOnAlice.id) !== undefined, alice.device);
      bob.device.bc.goOffline();
      await settle(() => alice.device.bc.presence(bobOnAlice.id) === undefined, alice.device);
      await alice.device.bc.send(bobOnAlice.id, { text: 'This one is too much for the relay to keep.' });
      await settle(() => alice.device.depot.has(bobOnAlice.id), alice.device);
      const scene = await sceneOf(alice);
      await until(scene.ui, (s) => s.matches('contacts'));
      scene.ui.send({ type: 'OPEN_CHAT', contactId: bobOnAlice.id });
      return { scene };
    },
  ],
};

/**
 * A file arrives damaged: while Bob was away, a byte of Alice's stored copy changed (a failing disk),
 * so the bytes Bob receives do not hash to what her message announced. Bob's device discards them.
 */
export const FileHashMismatch: Story = {
  loaders: [
    async () => {
      const world = new World();
      const [alice, bob] = await Promise.all([world.person('Alice'), world.person('Bob')]);
      const [bobOnAlice, aliceOnBob] = await world.pair(alice, bob);
      await settle(() => alice.device.bc.presence(bobOnAlice.id) !== undefined, alice.device);
      bob.device.bc.goOffline();
      await settle(() => alice.device.bc.presence(bobOnAlice.id) === undefined, alice.device);
      const data = new TextEncoder().encode('Quarterly figures, final version.\n'.repeat(500));
      const sent = await alice.device.bc.send(bobOnAlice.id, { text: 'The figures', file: { data, filename: 'figures.csv', mimetype: 'text/csv' } });
      const hash = sent.file!.hash;
      // Flip one byte of the stored chunk: ['fileIndex', hash] names its blob, ['files', blob, '0'] is the chunk.
      const disk = alice.storage.inner;
      const blob = new TextDecoder().decode(await disk.load(['fileIndex', hash]));
      const chunk = (await disk.load(['files', blob, '0']))!.slice();
      chunk[0]! ^= 0x01;
      await disk.save(['files', blob, '0'], chunk);
      bob.device.bc.goOnline();
      await settle(() => bob.device.transfers.get(transferKey(aliceOnBob.id, hash))?.status === 'failed', bob.device);
      const scene = await sceneOf(bob);
      await until(scene.ui, (s) => s.matches('contacts'));
      scene.ui.send({ type: 'OPEN_CHAT', contactId: aliceOnBob.id });
      return { scene };
    },
  ],
};
