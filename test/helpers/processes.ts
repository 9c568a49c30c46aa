/**
 * Real processes for interop tests: the Python mailbox server, the `wormhole` CLI and our own CLI.
 * Everything listens on 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, whether this runs from test/ (vitest) or from dist/test/ (benchmarks). */
export const ROOT = ((dir: string) => (existsSync(join(dir, 'package.json')) ? dir : join(dir, '..')))(fileURLToPath(new URL('../..', import.meta.url)));
/** Debian's python3: the mailbox server and wormhole modules live in its dist-packages. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
export const WORMHOLE = '/usr/bin/wormhole';

export function requireSystemTools(): void {
  for (const tool of [SYSTEM_PYTHON, WORMHOLE]) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing: run scripts/install-system-deps.sh first`);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts on 127.0.0.1:`port`; throws when `child` exits first or the deadline passes (with `log()`). */
export async function waitForPort(port: number, deadlineMs: number, child: ChildProcess, log: () => string = () => ''): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`process exited early (${child.exitCode}):\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${deadlineMs} ms:\n${log()}`);
}

/** A Python twisted plugin (`python3 -m twisted <plugin> --port tcp:P:interface=127.0.0.1 …`) on a free loopback port, in a fresh directory. */
async function startTwisted(plugin: string, extraArgs: (dir: string) => string[]): Promise<{ port: number; close(): Promise<void> }> {
  requireSystemTools();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `bc-${plugin}-`));
  const child = spawn(SYSTEM_PYTHON, ['-m', 'twisted', plugin, '--port', `tcp:${port}:interface=127.0.0.1`, ...extraArgs(dir)], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await waitForPort(port, 20_000, child, () => output);
  return {
    port,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The Debian transit relay (magic-wormhole-transit-relay) on a free loopback port: `tcp:127.0.0.1:P`. */
export async function startPythonTransitRelay(): Promise<{ hint: string; port: number; close(): Promise<void> }> {
  const relay = await startTwisted('transitrelay', () => []);
  return { ...relay, hint: `tcp:127.0.0.1:${relay.port}` };
}

export interface PythonMailbox {
  url: string;
  close(): Promise<void>;
}

/** Start wormhole-mailbox-server 0.4.1 on a free loopback port with a fresh database. */
export async function startPythonMailbox(): Promise<PythonMailbox> {
  const mailbox = await startTwisted('wormhole-mailbox', (dir) => ['--channel-db', join(dir, 'relay.sqlite')]);
  return { url: `ws://127.0.0.1:${mailbox.port}/v1`, close: mailbox.close };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  /** Resolves when the process exits (killed after `timeoutMs`). */
  result: Promise<RunResult>;
  /** Resolves with the first match of `pattern` in stderr+stdout. */
  /**
   * The first match of `pattern` in what the process printed so far. Output arrives in chunks: a pattern
   * that captures a value must end where its line does (`\r?\n`), or it can match half of it.
   */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
}

export function run(command: string, args: string[], timeoutMs = 30_000, options: { cwd?: string } = {}): Running {
  const child = spawn(command, args, { cwd: options.cwd ?? ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const check = () => {
    for (const w of [...watchers]) {
      const m = (stderr + stdout).match(w.pattern);
      if (m) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout!.on('data', (d) => {
    stdout += d;
    check();
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
    check();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = new Promise<RunResult>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return {
    child,
    result,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        watchers.push({ pattern, resolve });
        check();
        result.then((r) => reject(new Error(`exited (${r.code}) before ${pattern}:\n${r.stderr}\n${r.stdout}`)));
      }),
  };
}

/** The real magic-wormhole CLI against `relayUrl`, with no transit listener. */
export function wormholeCli(relayUrl: string, args: string[], timeoutMs?: number): Running {
  const [sub, ...rest] = args;
  return run(WORMHOLE, ['--relay-url', relayUrl, sub!, '--hide-progress', '--no-listen', ...rest], timeoutMs);
}

/** Our CLI from the build (npm test builds first). */
export function backchannelCli(args: string[], timeoutMs?: number): Running {
  return run(process.execPath, [join(ROOT, 'bin/backchannel.js'), ...args], timeoutMs);
}

export interface RelayProcess {
  /** `ws://127.0.0.1:<port>/v1` */
  url: string;
  port: number;
  running: Running;
  /** SIGTERM, then wait for it to exit. */
  stop(): Promise<RunResult>;
}

/**
 * `backchannel relay` as its own process on 127.0.0.1 (a free port unless given), once it listens.
 * `timeoutMs` only reaps a relay a crashed test never stopped: long enough for the slowest file on a
 * loaded CI machine (a relay killed mid-test fails it for no reason of its own).
 */
export async function startRelayProcess(args: string[], options: { port?: number; timeoutMs?: number } = {}): Promise<RelayProcess> {
  const port = options.port ?? (await freePort());
  const running = backchannelCli(['relay', '--port', String(port), '--quiet', ...args], options.timeoutMs ?? 15 * 60_000);
  await running.waitFor(/relay listening/);
  return {
    url: `ws://127.0.0.1:${port}/v1`,
    port,
    running,
    stop: async () => {
      running.child.kill('SIGTERM');
      return running.result;
    },
  };
}

/** Resident memory of a process, from /proc (bytes). */
export function residentBytes(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}
