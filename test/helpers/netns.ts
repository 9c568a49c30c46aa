/**
 * Network namespaces the test makes itself: WebRTC gathers every interface, so WebRTC tests run
 * inside a namespace with loopback and one veth pair (10.77.x.1/24 and .2/24), and nothing leaves it.
 */
import { execFileSync, spawn } from 'node:child_process';

export interface Netns {
  name: string;
  addresses: [string, string];
  exec(command: string[]): string[];
  remove(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function createNetns(subnet = 77): Netns {
  const name = `bc${process.pid}x${subnet}`;
  const [va, vb] = [`${name.slice(-6)}a`, `${name.slice(-6)}b`];
  const addresses: [string, string] = [`10.${subnet}.0.1`, `10.${subnet}.0.2`];
  try {
    ip('netns', 'del', name);
  } catch {
    // not there: fine
  }
  ip('netns', 'add', name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  ip('-n', name, 'link', 'add', va, 'type', 'veth', 'peer', 'name', vb);
  ip('-n', name, 'addr', 'add', `${addresses[0]}/24`, 'dev', va);
  ip('-n', name, 'addr', 'add', `${addresses[1]}/24`, 'dev', vb);
  ip('-n', name, 'link', 'set', va, 'up');
  ip('-n', name, 'link', 'set', vb, 'up');
  ip('-n', name, 'route', 'add', 'default', 'via', addresses[0], 'dev', va);
  return {
    name,
    addresses,
    exec: (command) => ['ip', 'netns', 'exec', name, ...command],
    remove: () => ip('netns', 'del', name),
  };
}

/**
 * Runs one suite of test/netns/ with vitest inside the namespace (the outer test made it); `env` is
 * added to the nested run's environment. Resolves with its exit code and everything it printed.
 */
export function vitestInNetns(ns: Netns, root: string, file: string, env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const vitest = `${root}/node_modules/vitest/vitest.mjs`;
  const [cmd, ...args] = ns.exec([process.execPath, vitest, 'run', '--config', 'test/netns/vitest.config.ts', file]);
  return new Promise((resolve) => {
    const child = spawn(cmd!, args, { cwd: root, env: { ...process.env, ...env, BACKCHANNEL_NETNS: ns.name, NO_COLOR: '1', FORCE_COLOR: '0' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, output }));
  });
}
