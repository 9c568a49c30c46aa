/**
 * Files and directories between `backchannel wormhole send` / `receive` and the real tools — the
 * Python `wormhole` (Debian magic-wormhole 0.12) and the Go `wormhole-william` (Debian 1.0.6) — both
 * ways, through the Debian transit relay and through our relay's own transit port, hashes compared.
 *
 * Traffic stays on loopback: `wormhole` runs with --no-listen and our --transit-helper; we never
 * listen and dial only transit relays. `wormhole-william receive` dials only the sender's hints (ours:
 * the loopback relay). `wormhole-william send` has no option for the transit relay (it always dials
 * transit.magic-wormhole.io:4001 and listens on every interface), so it runs in a network namespace
 * this test makes with only a loopback interface, where `ip netns exec` gives that name 127.0.0.1
 * (/etc/netns/NAME/hosts) and the transit relay under test listens on 127.0.0.1:4001.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOT,
  SYSTEM_PYTHON,
  WORMHOLE,
  run,
  startPythonMailbox,
  startPythonTransitRelay,
  startRelayProcess,
  type PythonMailbox,
  type RelayProcess,
  type Running,
  type RunResult,
} from './helpers/processes.js';

const WORMHOLE_WILLIAM = '/usr/bin/wormhole-william';
const CODE_RE = /Wormhole code is: (\S+)\r?\n/;
const TIMEOUT = 120_000;
const BIN = join(ROOT, 'bin/backchannel.js');

for (const tool of [WORMHOLE, WORMHOLE_WILLIAM, SYSTEM_PYTHON]) {
  if (!existsSync(tool)) throw new Error(`${tool} is missing: run scripts/install-system-deps.sh first`);
}

const work = mkdtempSync(join(tmpdir(), 'bc-wormhole-files-'));
/** What is sent: a file of random bytes and a tree with nesting, an empty file and a non-ASCII name. */
const source = join(work, 'source');
const FILE = 'payload.bin';
const DIR = 'tree';

function makeFixtures(): void {
  mkdirSync(join(source, DIR, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(source, FILE), randomBytes(700_000 + Math.floor(Math.random() * 1000)));
  writeFileSync(join(source, DIR, 'a.txt'), 'hello from the tree\n');
  writeFileSync(join(source, DIR, 'empty.txt'), '');
  writeFileSync(join(source, DIR, 'sub', 'b.bin'), randomBytes(150_000));
  writeFileSync(join(source, DIR, 'sub', 'deeper', 'grüße.txt'), 'x'.repeat(40_000));
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** relative path → sha256 of every file under `dir`. */
function treeHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string) => {
    for (const e of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, e.name);
      if (e.isDirectory()) walk(path);
      else out[relative(dir, path)] = sha256(path);
    }
  };
  walk(dir);
  return out;
}

let nextDir = 0;
/** A fresh, empty directory for one receiver. */
function inbox(): string {
  const dir = join(work, `inbox-${nextDir++}`);
  mkdirSync(dir);
  return dir;
}

/** Send `name` from the fixtures and check it arrived whole in `into`. */
function expectArrived(name: string, into: string): void {
  if (name === FILE) expect(sha256(join(into, FILE))).toBe(sha256(join(source, FILE)));
  else expect(treeHashes(join(into, DIR))).toEqual(treeHashes(join(source, DIR)));
}

interface Where {
  mailbox: string;
  transit: string;
  /** Prefix for commands run inside a namespace. */
  prefix?: string[];
}

function inside(where: Where, command: string, args: string[], cwd: string, timeoutMs = TIMEOUT): Running {
  const [cmd, ...rest] = [...(where.prefix ?? []), command, ...args];
  return run(cmd!, rest, timeoutMs, { cwd });
}

/** Services live as long as the file runs (a loaded machine can take minutes), unlike one transfer. */
const SERVICE_TIMEOUT = 30 * 60_000;

const ours = (where: Where, args: string[], cwd: string) => inside(where, process.execPath, [BIN, ...args], cwd);
const oursSend = (where: Where, what: string) => ours(where, ['wormhole', 'send', what, '--relay', where.mailbox, '--transit-helper', where.transit], source);
const oursReceive = (where: Where, code: string, into: string) =>
  ours(where, ['wormhole', 'receive', code, '--relay', where.mailbox, '--transit-helper', where.transit, '--accept-file'], into);
const pythonSend = (where: Where, what: string) =>
  inside(where, WORMHOLE, ['--relay-url', where.mailbox, '--transit-helper', where.transit, 'send', '--hide-progress', '--no-listen', what], source);
const pythonReceive = (where: Where, code: string, into: string) =>
  inside(
    where,
    WORMHOLE,
    ['--relay-url', where.mailbox, '--transit-helper', where.transit, 'receive', '--hide-progress', '--no-listen', '--accept-file', code],
    into,
  );
const williamSend = (where: Where, what: string) => inside(where, WORMHOLE_WILLIAM, ['--relay-url', where.mailbox, 'send', '--hide-progress', what], source);
function williamReceive(where: Where, code: string, into: string): Running {
  const r = inside(where, WORMHOLE_WILLIAM, ['--relay-url', where.mailbox, 'receive', '--hide-progress', code], into);
  r.child.stdin!.end('y\n'); // its "ok? (y/N)"
  return r;
}

/** Our sender → a real receiver; our side's progress bar, relay and confirmed hash are checked. */
async function fromUs(where: Where, what: string, receiver: (code: string, into: string) => Running): Promise<void> {
  const into = inbox();
  const sender = oursSend(where, what);
  const [, code] = await sender.waitFor(CODE_RE);
  const [r, s] = await Promise.all([receiver(code!, into).result, sender.result]);
  expect(s.code, s.stderr).toBe(0);
  expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
  expect(s.stderr).toContain(`Sending (->relay:${where.transit})..`);
  expect(s.stderr).toMatch(/100% \| /); // the progress bar reached the end
  const confirmed = /Confirmation received\. Transfer complete\. \(sha256 ([0-9a-f]{64})\)/.exec(s.stderr)?.[1];
  if (what === FILE) expect(confirmed).toBe(sha256(join(source, FILE)));
  else expect(confirmed).toMatch(/^[0-9a-f]{64}$/);
  expectArrived(what, into);
}

/** A real sender → our receiver. */
async function toUs(where: Where, what: string, sender: Running, via: RegExp = new RegExp(`<-relay:${where.transit.replace(/[.]/g, '\\.')}`)): Promise<void> {
  const into = inbox();
  const [, code] = await sender.waitFor(CODE_RE);
  const receiver = oursReceive(where, code!, into);
  const [r, s] = await Promise.all([receiver.result, sender.result]);
  expect(r.code, r.stderr).toBe(0);
  expect(s.code, `${s.stderr}\n${s.stdout}`).toBe(0);
  expect(r.stderr).toMatch(via);
  expect(r.stderr).toMatch(/100% \| /);
  expect(r.stderr).toContain(what === FILE ? 'Received file written to' : 'Received files written to');
  expectArrived(what, into);
}

let relay: RelayProcess;
let ourTransit: string;
let debianTransit: Awaited<ReturnType<typeof startPythonTransitRelay>>;
let pythonMailbox: PythonMailbox;

beforeAll(async () => {
  makeFixtures();
  [relay, debianTransit, pythonMailbox] = await Promise.all([
    startRelayProcess(['--memory', '--transit-port', '0'], { timeoutMs: SERVICE_TIMEOUT }),
    startPythonTransitRelay(),
    startPythonMailbox(),
  ]);
  const [, hint] = await relay.running.waitFor(/transit relay listening on (tcp:\S+)\r?\n/);
  ourTransit = hint!;
}, TIMEOUT);

afterAll(async () => {
  await Promise.all([relay?.stop(), debianTransit?.close(), pythonMailbox?.close()]);
  rmSync(work, { recursive: true, force: true });
});

const RELAYS = [
  ['the Debian transit relay', (): Where => ({ mailbox: relay.url, transit: debianTransit.hint })],
  ["our relay's transit port", (): Where => ({ mailbox: relay.url, transit: ourTransit })],
] as const;

describe.each(RELAYS)('through %s', (_name, where) => {
  it.each([FILE, DIR])('our send %s → real `wormhole receive`', (what) => fromUs(where(), what, (code, into) => pythonReceive(where(), code, into)), TIMEOUT);
  it.each([FILE, DIR])('real `wormhole send` %s → our receive', (what) => toUs(where(), what, pythonSend(where(), what)), TIMEOUT);
  it.each([FILE, DIR])(
    'our send %s → real `wormhole-william receive`',
    (what) => fromUs(where(), what, (code, into) => williamReceive(where(), code, into)),
    TIMEOUT,
  );
});

it(
  'with the Python mailbox server: real `wormhole send` of a directory → our receive, through the Debian transit relay',
  () => {
    const where = { mailbox: pythonMailbox.url, transit: debianTransit.hint };
    return toUs(where, DIR, pythonSend(where, DIR));
  },
  TIMEOUT,
);

it(
  'answering "n" to our receiver\'s question refuses the file: nothing is written and the real sender is told',
  async () => {
    const where = { mailbox: relay.url, transit: debianTransit.hint };
    const into = inbox();
    const sender = pythonSend(where, FILE);
    const [, code] = await sender.waitFor(CODE_RE);
    const receiver = ours(where, ['wormhole', 'receive', code!, '--relay', where.mailbox, '--transit-helper', where.transit], into);
    receiver.child.stdin!.end('n\n');
    const [r, s] = await Promise.all([receiver.result, sender.result]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ok? (Y/n): ');
    expect(r.stderr).toContain('transfer rejected');
    expect(s.code).toBe(1);
    expect(s.stderr).toContain('remote error, transfer abandoned: transfer rejected');
    expect(readdirSync(into)).toEqual([]);
  },
  TIMEOUT,
);

it(
  'usage: a bad --transit-helper or nothing to send exits 2; a missing file exits 1 in one line',
  async () => {
    const [badHelper, nothing, missing] = (await Promise.all(
      [
        ['wormhole', 'send', FILE, '--relay', relay.url, '--transit-helper', '127.0.0.1:4001'],
        ['wormhole', 'send', '--relay', relay.url],
        ['wormhole', 'send', 'no-such-file', '--relay', relay.url, '--transit-helper', ourTransit],
      ].map((args) => run(process.execPath, [BIN, ...args], TIMEOUT, { cwd: source }).result),
    )) as [RunResult, RunResult, RunResult];
    expect(badHelper.code).toBe(2);
    expect(badHelper.stderr).toMatch(/^error: --transit-helper: a transit relay is tcp:HOST:PORT, got "127\.0\.0\.1:4001"\n/);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/^error: give a file or directory to send, or --text TEXT\n/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("error: Cannot send: no file/directory named 'no-such-file'\n");
  },
  TIMEOUT,
);

/** A namespace with only `lo`, in which transit.magic-wormhole.io is 127.0.0.1. */
function loopbackNamespace(tag: string): { name: string; prefix: string[]; remove(): void } {
  const name = `bcwh${process.pid}${tag}`;
  const hostsDir = `/etc/netns/${name}`;
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  mkdirSync(hostsDir, { recursive: true });
  writeFileSync(join(hostsDir, 'hosts'), '127.0.0.1 localhost\n127.0.0.1 transit.magic-wormhole.io\n');
  return {
    name,
    prefix: ['ip', 'netns', 'exec', name],
    remove() {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
      rmSync(hostsDir, { recursive: true, force: true });
    },
  };
}

/** Wait (from inside the namespace) until something listens on 127.0.0.1:port there. */
async function listeningInside(prefix: string[], port: number): Promise<void> {
  const probe = `const n=require('net');const t=Date.now();(function p(){const s=n.connect(${port},'127.0.0.1',()=>{s.destroy();process.exit(0)});s.on('error',()=>Date.now()-t>30000?process.exit(1):setTimeout(p,100))})()`;
  const [cmd, ...args] = [...prefix, process.execPath, '-e', probe];
  const { code } = await run(cmd!, args, 40_000).result;
  if (code !== 0) throw new Error(`nothing listened on 127.0.0.1:${port} inside the namespace`);
}

describe.each([
  ['the Debian transit relay', 'd'],
  ["our relay's transit port", 'o'],
] as const)('`wormhole-william send` (inside a loopback-only namespace) through %s', (_name, tag) => {
  let ns: ReturnType<typeof loopbackNamespace>;
  const services: Running[] = [];
  const where = (): Where => ({ mailbox: 'ws://127.0.0.1:4000/v1', transit: 'tcp:127.0.0.1:4001', prefix: ns.prefix });

  beforeAll(async () => {
    ns = loopbackNamespace(tag);
    const start = (command: string, args: string[]) => {
      const r = inside(where(), command, args, work, SERVICE_TIMEOUT);
      services.push(r);
      return r;
    };
    if (tag === 'o') {
      await start(process.execPath, [BIN, 'relay', '--memory', '--quiet', '--port', '4000', '--transit-port', '4001']).waitFor(
        /transit relay listening on tcp:127\.0\.0\.1:4001/,
      );
    } else {
      start(process.execPath, [BIN, 'relay', '--memory', '--quiet', '--port', '4000']);
      start(SYSTEM_PYTHON, ['-m', 'twisted', 'transitrelay', '--port', 'tcp:4001:interface=127.0.0.1']);
      await Promise.all([listeningInside(ns.prefix, 4000), listeningInside(ns.prefix, 4001)]);
    }
  }, TIMEOUT);

  afterAll(async () => {
    for (const s of services) s.child.kill('SIGTERM');
    await Promise.all(services.map((s) => s.result));
    ns?.remove();
  });

  // Its relay hint names transit.magic-wormhole.io (127.0.0.1 here); ours names 127.0.0.1: either leads to the relay under test.
  it.each([FILE, DIR])(
    'real `wormhole-william send` %s → our receive',
    (what) => toUs(where(), what, williamSend(where(), what), /<-relay:tcp:(127\.0\.0\.1|transit\.magic-wormhole\.io):4001/),
    TIMEOUT,
  );
});
