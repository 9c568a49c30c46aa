/**
 * Network namespaces the test makes itself: WebRTC gathers every interface, so WebRTC tests run
 * inside a namespace with loopback and one veth pair (10.77.x.1/24 and .2/24), and nothing leaves it.
 */
import { execFileSync } from 'node:child_process';

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
