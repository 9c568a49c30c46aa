/** The `backchannel` CLI as a user runs it: real processes, a real relay. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { backchannelCli, freePort } from './helpers/processes.js';

let relay: Relay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(() => relay.close());

describe('backchannel CLI', () => {
  it('invite / accept print the same verifier', async () => {
    const inviter = backchannelCli(['invite', '--relay', relay.url]);
    const [, code] = await inviter.waitFor(/code: (\S+)/);
    const accepter = backchannelCli(['accept', code!, '--relay', relay.url]);
    const [i, a] = await Promise.all([inviter.result, accepter.result]);
    expect(i.code, i.stderr).toBe(0);
    expect(a.code, a.stderr).toBe(0);
    const vi = i.stdout.match(/verifier: (\S+)/)![1];
    const va = a.stdout.match(/verifier: (\S+)/)![1];
    expect(vi).toMatch(/^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/);
    expect(va).toBe(vi);
  });

  it('`relay` serves on the port it was given and stops on SIGTERM', async () => {
    const port = await freePort();
    const server = backchannelCli(['relay', '--port', String(port), '--quiet', '--memory']);
    await server.waitFor(new RegExp(`relay listening on ws://127.0.0.1:${port}/v1`));
    const inviter = backchannelCli(['invite', '--relay', `ws://127.0.0.1:${port}/v1`]);
    const [, code] = await inviter.waitFor(/code: (\S+)/);
    const accepter = backchannelCli(['accept', code!, '--relay', `ws://127.0.0.1:${port}/v1`]);
    expect((await accepter.result).code).toBe(0);
    expect((await inviter.result).code).toBe(0);
    server.child.kill('SIGTERM');
    expect((await server.result).code).toBe(0);
  });

  it('runs the demo', async () => {
    const demo = await backchannelCli(['demo']).result;
    expect(demo.code, demo.stderr).toBe(0);
    const verifiers = [...demo.stdout.matchAll(/verifier (\S+)/g)].map((m) => m[1]);
    expect(verifiers).toHaveLength(2);
    expect(verifiers[0]).toBe(verifiers[1]);
    expect(demo.stdout).toContain('bob:   received "Hi Bob!');
    expect(demo.stdout).toContain('alice: received "Hi Alice, got it."');
    // Bob was offline for these two and still gets both, in order, after the relay restarted.
    expect(demo.stdout).toMatch(/relay: restarted[\s\S]*bob: {3}back online, received "Are you there\?"\nbob: {3}back online, received "I will keep writing/);
  });

  it('bad usage exits 2, a bad code exits 1 with a clear message, an unreachable relay exits 1', async () => {
    const usage = await backchannelCli(['frobnicate']).result;
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('unknown command');
    const badCode = await backchannelCli(['accept', 'swirl-motor', '--relay', relay.url]).result;
    expect(badCode.code).toBe(1);
    expect(badCode.stderr).toMatch(/must start with a number.*\[BAD_CODE\]/);
    const deadPort = await freePort();
    const dead = await backchannelCli(['wormhole', 'receive', '5-guitarist-revenge', '--relay', `ws://127.0.0.1:${deadPort}/v1`], 60_000).result;
    expect(dead.code).toBe(1);
    expect(dead.stderr).toContain('CONNECTION_LOST');
    // A relay told to use a Redis that is not there says so, once, and exits 1.
    const noRedis = await backchannelCli(['relay', '--port', '0', '--quiet', '--redis', `redis://127.0.0.1:${deadPort}`]).result;
    expect(noRedis.code).toBe(1);
    expect(noRedis.stderr.trim()).toBe(`error: Cannot reach Redis at redis://127.0.0.1:${deadPort}: connect ECONNREFUSED 127.0.0.1:${deadPort}. [CONNECTION_LOST]`);
  });
});
