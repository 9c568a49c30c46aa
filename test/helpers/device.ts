/** A Backchannel device as its own process (`test/fixtures/device.ts`), driven and read line by line. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './processes.js';

export class Device {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: string[] = [];
  #waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  /** `children` collects the process, so the test can kill whatever is left over. */
  constructor(dir: string, relay: string, children: { kill(): void }[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [join(ROOT, 'dist/test/fixtures/device.js'), dir, relay], { env: { ...process.env, ...env } });
    children.push(this.child);
    let buffer = '';
    this.child.stdout.on('data', (d) => {
      buffer += d;
      let i;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        this.lines.push(line);
        for (const w of [...this.#waiters]) {
          const m = line.match(w.re);
          if (m) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      }
    });
  }
  wait(re: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    const seen = this.lines.map((l) => l.match(re)).find(Boolean);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${re} in ${ms} ms; saw:\n${this.lines.join('\n')}`)), ms);
      this.#waiters.push({ re, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  }
  tell(line: string): void {
    this.child.stdin.write(line + '\n');
  }
  async quit(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.tell('quit');
    await exited;
  }
}

/**
 * Pair two running devices: `inviter` shows a code, `invitee` types it; both must print the same
 * verifier. Returns each one's id for the other.
 */
export async function pairDevices(
  inviter: Device,
  invitee: Device,
  names = { invitee: 'Bob', inviter: 'Alice' },
): Promise<{ inviteeId: string; inviterId: string; verifiers: [string, string] }> {
  inviter.tell(`invite ${names.invitee}`);
  const [, code] = await inviter.wait(/^code (\S+)$/);
  invitee.tell(`accept ${code} ${names.inviter}`);
  const [, inviteeId, v1] = await inviter.wait(/^paired (\S+) (\S+)$/);
  const [, inviterId, v2] = await invitee.wait(/^paired (\S+) (\S+)$/);
  return { inviteeId: inviteeId!, inviterId: inviterId!, verifiers: [v1!, v2!] };
}
