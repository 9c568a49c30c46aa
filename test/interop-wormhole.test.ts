/**
 * Interop with the real magic-wormhole: its CLI and its Python mailbox server, both directions.
 */
import { describe, expect, it } from 'vitest';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { toHex } from '../src/crypto/bytes.js';
import { CrowdedError } from '../src/errors.js';
import { Wormhole } from '../src/wormhole/wormhole.js';
import { rawClient } from './helpers/rawClient.js';
import { useBothServers } from './helpers/bothServers.js';
import { backchannelCli, wormholeCli } from './helpers/processes.js';

const CODE_RE = /Wormhole code is: (\S+)\r?\n/;
const both = useBothServers();
const servers = () =>
  [
    ['the Python mailbox server', both.python.url],
    ['our relay', both.ours.url],
  ] as const;

describe.each([0, 1])('server %#', (index) => {
  const name = () => servers()[index]![0];
  const url = () => servers()[index]![1];

  it('our client ↔ our client pair through it', async () => {
    const connector = nodeSocketConnector();
    const a = new Wormhole({ relay: url(), appid: 'example.com/interop', connector });
    const b = new Wormhole({ relay: url(), appid: 'example.com/interop', connector, code: await a.code });
    const [va, vb] = await Promise.all([a.verified, b.verified]);
    expect(toHex(va.key), name()).toBe(toHex(vb.key));
    a.send({ n: 1 });
    expect(await b.nextJson()).toEqual({ n: 1 });
    await Promise.all([a.close(), b.close()]);
  });

  it('a third side is told "crowded" and fails with CrowdedError', async () => {
    // Two sides hold nameplate 4343 without ever sending a PAKE, so neither releases it.
    const holders = await Promise.all([rawClient(url()), rawClient(url())]);
    for (const [i, h] of holders.entries()) {
      h.send({ type: 'bind', appid: 'example.com/crowd', side: `holder${i}`, id: '0001' });
      h.send({ type: 'claim', nameplate: '4343', id: '0002' });
      await h.next((f) => f.type === 'claimed');
    }
    const z = new Wormhole({ relay: url(), appid: 'example.com/crowd', connector: nodeSocketConnector(), code: '4343-acme-adroitness' });
    await expect(z.done).rejects.toBeInstanceOf(CrowdedError);
    holders.forEach((h) => h.close());
  });

  it('real `wormhole send --text` → our `backchannel wormhole receive`', async () => {
    const sender = wormholeCli(url(), ['send', '--text', `from python via ${name()}`]);
    const [, code] = await sender.waitFor(CODE_RE);
    const receiver = backchannelCli(['wormhole', 'receive', code!, '--relay', url()]);
    const [r, s] = await Promise.all([receiver.result, sender.result]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`from python via ${name()}`);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toContain('text message sent');
  });

  it('our `backchannel wormhole send --text` → real `wormhole receive`', async () => {
    const sender = backchannelCli(['wormhole', 'send', '--text', `from ts via ${name()} ✓`, '--relay', url()]);
    const [, code] = await sender.waitFor(CODE_RE);
    const receiver = wormholeCli(url(), ['receive', '--only-text', code!]);
    const [r, s] = await Promise.all([receiver.result, sender.result]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`from ts via ${name()} ✓`);
    expect(s.code, s.stderr).toBe(0);
  });

  it('real `wormhole send` → real `wormhole receive`', async () => {
    const sender = wormholeCli(url(), ['send', '--text', 'python to python']);
    const [, code] = await sender.waitFor(CODE_RE);
    const receiver = wormholeCli(url(), ['receive', '--only-text', code!]);
    const [r, s] = await Promise.all([receiver.result, sender.result]);
    expect(r.stdout.trim()).toBe('python to python');
    expect(s.code).toBe(0);
  });

  it('a wrong code: both the real CLI and ours exit 1 with key confirmation failure', async () => {
    const sender = wormholeCli(url(), ['send', '--text', 'secret', '--code', '31-guitarist-revenge']);
    await sender.waitFor(CODE_RE);
    const receiver = backchannelCli(['wormhole', 'receive', '31-guitarist-revolver', '--relay', url()]);
    const [r, s] = await Promise.all([receiver.result, sender.result]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('WRONG_CODE');
    expect(r.stdout).not.toContain('secret');
    expect(s.code).toBe(1);
    expect(s.stderr).toContain('Key confirmation failed');
  });

  it('a wrong code the other way: our sender and the real receiver both fail', async () => {
    const sender = backchannelCli(['wormhole', 'send', '--text', 'secret', '--code', '32-guitarist-revenge', '--relay', url()]);
    await sender.waitFor(CODE_RE);
    const receiver = wormholeCli(url(), ['receive', '--only-text', '32-guitarist-revolver']);
    const [r, s] = await Promise.all([receiver.result, sender.result]);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain('WRONG_CODE');
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain('secret');
  });
});
