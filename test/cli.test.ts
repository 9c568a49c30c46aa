/** The `backchannel` CLI as a user runs it: real processes, a real relay. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { COMMANDS, PUBLIC_WORMHOLE_RELAY, type CommandName, type CommandSpec } from '../cli/commands.js';
import { describeStorage } from '../cli/relayStatus.js';
import { packageVersion } from '../cli/version.js';
import { backchannelCli, freePort, ROOT, startRelayProcess } from './helpers/processes.js';
import { codeToDigits } from '../src/code/digits.js';
import { tempDirs } from './helpers/wait.js';

let relay: Relay;
const dirs = tempDirs('bc-cli-');
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay.close();
  dirs.removeAll();
});

/** Each pattern matches, and each after the one before it. */
function expectInOrder(text: string, patterns: RegExp[]): void {
  let from = 0;
  for (const pattern of patterns) {
    const at = text.slice(from).search(pattern);
    expect(at, `${pattern} after offset ${from} in:\n${text}`).toBeGreaterThanOrEqual(0);
    from += at + 1;
  }
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('backchannel CLI', () => {
  it('invite / accept print the same verifier, and their progress on stderr in order', async () => {
    const inviter = backchannelCli(['invite', '--relay', relay.url]);
    const [, code] = await inviter.waitFor(/code: (\S+)\r?\n/);
    await inviter.waitFor(/waiting for the other side…/);
    const accepter = backchannelCli(['accept', code!, '--relay', relay.url]);
    const [i, a] = await Promise.all([inviter.result, accepter.result]);
    expect(i.code, i.stderr).toBe(0);
    expect(a.code, a.stderr).toBe(0);
    const vi = i.stdout.match(/verifier: (\S+)/)![1];
    const va = a.stdout.match(/verifier: (\S+)/)![1];
    expect(vi).toMatch(/^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/);
    expect(va).toBe(vi);
    const steps = [/^the other side is here; verifying/m, /^key verified; confirming/m, /^Paired\./m];
    const connecting = new RegExp(`^connecting to ${escape(relay.url)}…$`, 'm');
    expectInOrder(i.stderr, [connecting, new RegExp(`^Give this code .* accept ${escape(code!)}$`, 'm'), /^waiting for the other side…$/m, ...steps]);
    expectInOrder(a.stderr, [connecting, /^waiting for the other side…$/m, ...steps]);
    // Progress is for people: stdout stays the code and the verifier.
    expect(i.stdout).toBe(`code: ${code}\nverifier: ${vi}\n`);
    expect(a.stdout).toBe(`verifier: ${va}\n`);
  });

  it('invite --refresh prints a new code (and its QR under --qr) every period until one is answered; the latest pairs (a relay process)', async () => {
    const relayProcess = await startRelayProcess([]);
    try {
      const inviter = backchannelCli(['invite', '--relay', relayProcess.url, '--refresh', '10', '--qr'], 120_000);
      const [, first, second] = await inviter.waitFor(/^code: (\S+)\r?\n[\s\S]*^code: (\S+)\r?\n/m);
      expect(second).not.toBe(first);
      const accepter = backchannelCli(['accept', second!, '--relay', relayProcess.url]);
      const [i, a] = await Promise.all([inviter.result, accepter.result]);
      expect(i.code, i.stderr).toBe(0);
      expect(a.code, a.stderr).toBe(0);
      const verifier = i.stdout.match(/verifier: (\S+)/)![1];
      expect(a.stdout).toBe(`verifier: ${verifier}\n`);
      // Every code shown came with its digits, its QR and when it is replaced; stdout is codes, then the verifier.
      const codes = [...i.stdout.matchAll(/^code: (\S+)$/gm)].map((m) => m[1]!);
      expect(codes.length).toBeGreaterThanOrEqual(2);
      expect(new Set(codes).size).toBe(codes.length);
      expect(i.stdout).toBe(`${codes.map((c) => `code: ${c}\n`).join('')}verifier: ${verifier}\n`);
      for (const c of codes) expect(i.stderr).toContain(`or type it as digits: ${codeToDigits(c)}`);
      expect(i.stderr.match(/The QR holds the whole code/g)).toHaveLength(codes.length);
      expect(i.stderr.match(/This code is replaced in 10 s unless/g)).toHaveLength(codes.length);
      expect(codes.at(-1)).toBe(second); // once answered, no newer code
    } finally {
      await relayProcess.stop();
    }
  });

  it('invite --refresh takes whole seconds, at least 1', async () => {
    for (const bad of ['0', '1.5', 'soon']) {
      const r = await backchannelCli(['invite', '--relay', relay.url, '--refresh', bad]).result;
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toContain(`--refresh must be a whole number of seconds, at least 1; got '${bad}'`);
    }
  });

  it('`relay` serves on the port it was given and stops on SIGTERM', async () => {
    const port = await freePort();
    const server = backchannelCli(['relay', '--port', String(port), '--quiet', '--memory']);
    await server.waitFor(new RegExp(`relay listening on ws://127.0.0.1:${port}/v1`));
    await server.waitFor(/^data: in memory: pairing state and depot are lost when the relay stops$/m);
    await server.waitFor(/^Ctrl-C to stop$/m);
    const inviter = backchannelCli(['invite', '--relay', `ws://127.0.0.1:${port}/v1`]);
    const [, code] = await inviter.waitFor(/code: (\S+)\r?\n/);
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
    expect(noRedis.stderr.trim()).toBe(
      `error: Cannot reach Redis at redis://127.0.0.1:${deadPort}: connect ECONNREFUSED 127.0.0.1:${deadPort}. [CONNECTION_LOST]`,
    );
  });

  it('--help lists every command; each `<command> --help` lists every option with its default', async () => {
    const names = Object.keys(COMMANDS) as CommandName[];
    const [main, ...each] = await Promise.all([
      backchannelCli(['--help']).result,
      ...names.map((name) => backchannelCli([...name.split(' '), '--help']).result),
    ]);
    expect(main.code, main.stderr).toBe(0);
    for (const name of names) expect(main.stdout).toMatch(new RegExp(`^  backchannel ${name} `, 'm'));
    expect(main.stdout).toContain(`--relay defaults to $BACKCHANNEL_RELAY, else ${PUBLIC_WORMHOLE_RELAY}: the public\nmagic-wormhole mailbox`);
    names.forEach((name, n) => {
      const help = each[n]!;
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toContain(`usage: backchannel ${name}`);
      const spec: CommandSpec = COMMANDS[name];
      for (const [key, o] of Object.entries(spec.options)) {
        const shown = o.required ? 'required' : `default: ${o.defaultText ?? o.default}`;
        expect(help.stdout, `${name} --${key}`).toMatch(new RegExp(`^  --${key}\\b.*\\(${escape(shown)}\\)$`, 'm'));
      }
    });
    // What the table says, spelled out once, so a wrong table cannot pass by agreeing with itself.
    const relayHelp = each[names.indexOf('relay')]!.stdout;
    expect(relayHelp).toMatch(/^  --port N .*\(default: 4000\)$/m);
    expect(relayHelp).toMatch(/^  --host H .*\(default: 127\.0\.0\.1\)$/m);
    expect(relayHelp).toMatch(/^  --data DIR .*\(default: \.\/backchannel-relay-data\)$/m);
    expect(relayHelp).toMatch(/^  --memory .*\(default: off\)$/m);
    expect(relayHelp).toContain('--data, --memory, --redis: give at most one.');
    expect(each[names.indexOf('invite')]!.stdout).toMatch(
      /^  --relay URL .*\(default: \$BACKCHANNEL_RELAY if set.*, else ws:\/\/relay\.magic-wormhole\.io:4000\/v1, the public magic-wormhole mailbox\)$/m,
    );
    expect(each[names.indexOf('wormhole send')]!.stdout).toMatch(/^  --text TEXT .*\(default: none\)$/m);
    expect(each[names.indexOf('wormhole send')]!.stdout).toMatch(
      /^  --transit-helper tcp:HOST:PORT .*\(default: \$BACKCHANNEL_TRANSIT_HELPER if set, else tcp:transit\.magic-wormhole\.io:4001, the public transit relay\)$/m,
    );
    expect(relayHelp).toMatch(/^  --transit-port N .*\(default: off\)$/m);
  });

  it('--version prints the version in package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const run = await backchannelCli(['--version']).result;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`${version}\n`);
    // Installed: the package's own package.json, found from dist/cli/ past a bare {"type":"module"}.
    const installed = join(dirs.make(), 'node_modules', '@scope', 'renamed');
    mkdirSync(join(installed, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(installed, 'package.json'), JSON.stringify({ name: '@scope/renamed', version: '9.8.7' }));
    writeFileSync(join(installed, 'dist', 'package.json'), JSON.stringify({ type: 'module' }));
    expect(packageVersion(pathToFileURL(join(installed, 'dist', 'cli', 'version.js')).href)).toBe('9.8.7');
  });

  it('refuses --data, --memory and --redis together, and unknown options, with one line and the usage (exit 2)', async () => {
    const pairs = [
      ['--memory', '--data', 'X'],
      ['--memory', '--redis', 'redis://127.0.0.1:1'],
      ['--data', 'X', '--redis', 'redis://127.0.0.1:1'],
    ];
    const runs = await Promise.all([...pairs, ['--bogus']].map((args) => backchannelCli(['relay', '--port', '0', ...args]).result));
    const usage =
      /\n\nusage: backchannel relay \[--port N\] \[--host H\] \[--data DIR \| --memory \| --redis URL\] \[--transit-port N\] \[--quiet\] \[--config FILE\] \[--limit NAME=N,…\] \[--trust-proxy ADDRS\] \[--metrics WHO\] \[--print-config\]\nRun 'backchannel relay --help' for details\.\n$/;
    pairs.forEach((pair, n) => {
      const [a, b] = pair.filter((w) => w.startsWith('--')).sort();
      expect(runs[n]!.code).toBe(2);
      expect(runs[n]!.stderr).toMatch(new RegExp(`^error: ${a} and ${b} cannot be used together: pick one${usage.source}`));
    });
    expect(runs[3]!.code).toBe(2);
    expect(runs[3]!.stderr).toMatch(new RegExp(`^error: unknown option '--bogus'${usage.source}`));
    const wormhole = await backchannelCli(['wormhole', 'send', '--text', 'hi', '--nope']).result;
    expect(wormhole.code).toBe(2);
    expect(wormhole.stderr).toBe(
      "error: unknown option '--nope'\n\nusage: backchannel wormhole send [<path>] [--text TEXT] [--code CODE] [--relay URL | --relay-url URL] [--transit-helper tcp:HOST:PORT] [--hide-progress]\nRun 'backchannel wormhole send --help' for details.\n",
    );
  });

  it('a relay on a port already taken says so in one line and exits 1', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      const run = await backchannelCli(['relay', '--port', String(port), '--memory']).result;
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`error: port ${port} on 127.0.0.1 is already in use — pick another with --port\n`);
      expect(run.stdout).toBe('');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('the relay says where it keeps its data (absolute), how to stop it, and stops on Ctrl-C', async () => {
    const dir = join(dirs.make(), 'relay-data');
    const server = backchannelCli(['relay', '--port', '0', '--quiet', '--data', relative(ROOT, dir)]);
    await server.waitFor(/^Ctrl-C to stop$/m);
    server.child.kill('SIGINT');
    const run = await server.result;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^relay listening on ws://127\\.0\\.0\\.1:\\d+/v1\\ndata: depot and pairing state in ${escape(dir)}\\n$`));
    // With Redis: the URL is shown, its password never (here in the failure; the start-up line is the same function).
    expect(describeStorage({ memory: false, data: 'ignored', redis: 'redis://:hunter2@127.0.0.1:6379/0' })).toBe(
      'pairing state and depot in Redis at redis://127.0.0.1:6379/0',
    );
    const deadPort = await freePort();
    const noRedis = await backchannelCli(['relay', '--port', '0', '--quiet', '--redis', `redis://:hunter2@127.0.0.1:${deadPort}`]).result;
    expect(noRedis.code).toBe(1);
    expect(noRedis.stderr).toContain(`Cannot reach Redis at redis://127.0.0.1:${deadPort}:`);
    expect(noRedis.stderr).not.toContain('hunter2');
  });
});
