/**
 * `backchannel relay` as its own process, where an operator meets it: its memory stays bounded while
 * adversarial clients push big phases, long names, many appids and many connections, and honest
 * pairings still succeed meanwhile; with `--data` a pairing survives a relay restart between the two
 * sides' messages; limits come from flags and a config file, and `--print-config` shows them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEPOT_LIMITS } from '../server/depot.js';
import { DEFAULT_DISCOVERY_LIMITS } from '../server/discoveryServer.js';
import { DEFAULT_LIMITS } from '../server/limits.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createPairing } from '../src/pair.js';
import { backchannelCli, residentBytes as rss, startRelayProcess, wormholeCli, type RelayProcess } from './helpers/processes.js';
import { rawClient, type RawClient } from './helpers/rawClient.js';
import { tempDirs } from './helpers/wait.js';

const dirs = tempDirs('bc-relay-abuse-');
const running: RelayProcess[] = [];
afterAll(async () => {
  for (const r of running) await r.stop();
  dirs.removeAll();
});

let marks = 0;
/** Send `frame` and wait until the relay has handled it (a ping after it is answered in order). */
async function push(c: RawClient, frame: object): Promise<void> {
  const mark = ++marks;
  c.send(frame);
  c.send({ type: 'ping', ping: mark });
  await c.next((f) => f.type === 'pong' && f.pong === mark, 30_000);
  c.frames.splice(0); // keep the test's own memory flat
}

const connector = nodeSocketConnector();

describe('a relay process under abuse', () => {
  it(
    'stays under 384 MiB resident while attackers push, and honest pairings (ours and the real wormhole CLI’s) succeed meanwhile',
    { timeout: 240_000 },
    async () => {
      // The store holds at most 4 × 8 MiB of theirs; the rest is frames in flight (1 MB each) and garbage.
      const BOUND = 384 * 1024 * 1024;
      // Behind a proxy on 127.0.0.1: attackers come from four addresses, honest users from another.
      // With --data (the default): pairing state is written to disk as it changes, under attack too.
      const relay = await startRelayProcess(['--data', dirs.make(), '--trust-proxy', '127.0.0.1']);
      running.push(relay);
      const pid = relay.running.child.pid!;
      let peak = rss(pid);
      const sample = () => (peak = Math.max(peak, rss(pid)));

      const honest = createPairing({ relay: relay.url, connector });
      const invitation = await honest.invite();

      const deadline = Date.now() + 90_000; // every loop also stops at this time, whatever its count
      const MB = 1_000_000;
      const attacker = async (address: string, n: number) => {
        const headers = { 'X-Forwarded-For': address };
        const c = await rawClient(relay.url, { headers });
        // A long appid, then one per connection: per-appid caps would multiply with invented appids.
        await push(c, { type: 'bind', appid: 'a'.repeat(MB / 2), side: 'x' });
        await push(c, { type: 'bind', appid: `attack-${address}-${n}`, side: 'x'.repeat(60) });
        await push(c, { type: 'claim', nameplate: 'n'.repeat(MB / 2) });
        await push(c, { type: 'open', mailbox: `m${n}` });
        for (let i = 0; i < 40 && Date.now() < deadline; i++) {
          // Big phases (uncounted before), big bodies, long message ids.
          await push(c, i % 2 ? { type: 'add', phase: 'p'.repeat(MB), body: '00' } : { type: 'add', phase: String(i), body: 'ab'.repeat(MB / 2) });
          if (n === 0) sample();
        }
        return c;
      };
      /** Many connections per address, held open, each trying to claim. */
      const crowd = async (address: string) => {
        const held: RawClient[] = [];
        for (let i = 0; i < 150 && Date.now() < deadline; i++) {
          const c = await rawClient(relay.url, { headers: { 'X-Forwarded-For': address } }).catch(() => undefined);
          if (!c) continue; // refused: 429
          held.push(c);
          await push(c, { type: 'bind', appid: `crowd-${i}`, side: 's' });
          await push(c, { type: 'claim', nameplate: String(1000 + i) });
        }
        return held;
      };
      const addresses = ['10.7.0.1', '10.7.0.2', '10.7.0.3', '10.7.0.4'];
      const attacks = Promise.all([...addresses.flatMap((a) => [0, 1, 2, 3].map((n) => attacker(a, n))), ...addresses.map((a) => crowd(a))]);

      // Meanwhile, someone types the code; and two people use the real `wormhole` CLI on the same relay.
      const sender = wormholeCli(relay.url, ['send', '--text', 'through the storm'], 120_000);
      const accepted = await createPairing({ relay: relay.url, connector }).accept(invitation.code);
      const invited = await invitation.done;
      expect(accepted.verifier).toBe(invited.verifier);
      const [, code] = await sender.waitFor(/Wormhole code is: (\S+)\r?\n/);
      const received = await wormholeCli(relay.url, ['receive', '--only-text', code!], 120_000).result;
      expect(received.stdout.trim(), received.stderr).toBe('through the storm');
      expect((await sender.result).code).toBe(0);

      const clients = (await attacks).flat();
      sample();
      // And after the attack, still serving pairings.
      const again = await createPairing({ relay: relay.url, connector }).invite();
      const [b] = await Promise.all([createPairing({ relay: relay.url, connector }).accept(again.code), again.done]);
      expect(b.verifier).toMatch(/\S/);
      sample();
      for (const c of clients) c.close();

      expect(peak, `peak resident memory ${Math.round(peak / 2 ** 20)} MiB`).toBeLessThan(BOUND);
      const metrics = await (await fetch(`http://127.0.0.1:${relay.port}/metrics`)).text();
      const storeBytes = Number(/^backchannel_pairing_store_bytes (\d+)$/m.exec(metrics)?.[1]);
      expect(storeBytes).toBeLessThanOrEqual(DEFAULT_LIMITS.maxStoreBytes);
      expect(metrics).toMatch(/^backchannel_refusals_total\{reason="field-too-long"\} [1-9]/m);
      expect(metrics).toMatch(/^backchannel_refusals_total\{reason="(connection|address)-quota"\} [1-9]/m);
    },
  );
});

describe('a relay process with --data', () => {
  it('keeps a pairing in flight across a restart: the inviter reconnects by itself and the pairing completes', { timeout: 120_000 }, async () => {
    const data = dirs.make();
    const first = await startRelayProcess(['--data', data]);
    const pairing = createPairing({ relay: first.url, connector });
    const invitation = await pairing.invite(); // nameplate allocated, the inviter's PAKE message stored
    expect((await first.stop()).code).toBe(0);
    const second = await startRelayProcess(['--data', data], { port: first.port });
    running.push(second);
    const accepted = await createPairing({ relay: second.url, connector }).accept(invitation.code);
    expect(accepted.verifier).toBe((await invitation.done).verifier);
  });
});

describe('backchannel relay limits from flags and --config', () => {
  it('--print-config shows defaults < config file < flags, and a bad limit is a usage error', async () => {
    const file = join(dirs.make(), 'relay.json');
    writeFileSync(
      file,
      JSON.stringify({
        limits: { maxStoreBytes: 1000, claimBurstPerNameplate: 5 },
        depotLimits: { ttlMs: 60_000 },
        trustProxy: ['10.0.0.1'],
        metrics: 'public',
      }),
    );
    const run = await backchannelCli([
      'relay',
      '--config',
      file,
      '--limit',
      'claimBurstPerNameplate=3,maxAppids=7,discover.maxPeersPerTopic=4',
      '--print-config',
    ]).result;
    expect(run.code).toBe(0);
    const config = JSON.parse(run.stdout) as { limits: Record<string, number>; depotLimits: Record<string, number>; discoveryLimits: Record<string, number> };
    expect(config.limits).toMatchObject({ maxStoreBytes: 1000, claimBurstPerNameplate: 3, maxAppids: 7, maxFrameBytes: DEFAULT_LIMITS.maxFrameBytes });
    expect(config.depotLimits).toMatchObject({ ttlMs: 60_000, maxItemsPerTopic: DEFAULT_DEPOT_LIMITS.maxItemsPerTopic });
    expect(config.discoveryLimits).toMatchObject({ maxPeersPerTopic: 4, maxTopicsPerConnection: DEFAULT_DISCOVERY_LIMITS.maxTopicsPerConnection });
    expect(config).toMatchObject({ trustProxy: ['10.0.0.1'], metrics: 'public' });

    const bad = await backchannelCli(['relay', '--limit', 'maxBogus=3']).result;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: --limit: unknown limit 'maxBogus'\n/);
    const badDepot = await backchannelCli(['relay', '--limit', 'depot.nope=3']).result;
    expect(badDepot.code).toBe(2);
    expect(badDepot.stderr).toMatch(/^error: --limit depot\.: unknown limit 'nope' \(known: ttlMs, /);
    writeFileSync(file, JSON.stringify({ limits: { maxStoreBytes: -1 } }));
    const badFile = await backchannelCli(['relay', '--config', file]).result;
    expect(badFile.code).toBe(2);
    expect(badFile.stderr).toContain("limit 'maxStoreBytes' must be a whole number ≥ 0, got -1");

    const help = await backchannelCli(['relay', '--help']).result;
    for (const name of Object.keys(DEFAULT_LIMITS)) expect(help.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
  });

  it('a relay started with --limit enforces it, and logs its effective limits at start', { timeout: 60_000 }, async () => {
    const relay = await startRelayProcess(['--memory', '--limit', 'maxNameChars=8']);
    running.push(relay);
    const c = await rawClient(relay.url);
    c.send({ type: 'bind', appid: 'nine-char', side: 's' });
    expect((await c.next((f) => f.type === 'error')).error).toBe("'appid' must be a string of at most 8 characters");
    c.close();
    // --quiet is passed by startRelayProcess; the log line is checked without it.
    const loud = backchannelCli(['relay', '--port', '0', '--memory', '--limit', 'maxNameChars=8']);
    const [line] = await loud.waitFor(/^\{.*"event":"limits".*\}$/m);
    expect(JSON.parse(line)).toMatchObject({ maxNameChars: 8, maxStoreBytes: DEFAULT_LIMITS.maxStoreBytes, metrics: 'loopback' });
    loud.child.kill('SIGTERM');
    await loud.result;
  });
});
